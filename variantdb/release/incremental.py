"""Publish a release after adding a batch from the previous release and the new batch alone.

Every count of a release but one is a sum over samples: allele counts,
homozygotes, hemizygotes, carriers, failing calls and the AN track. Adding a
batch therefore adds the batch's own sums to the previous release's, variant by
variant and segment by segment, and every derived column (af, faf95, faf99,
faf95_max_region) is recomputed from the merged integers by the same code the
full rebuild uses (:func:`variantdb.release.aggregate.finish_contig`), so both paths
write the same bytes.

Two things are not sums over the new batch alone, and are handled by counting a
few *old* samples again, once with the previous release's flags (subtracted)
and once with the new ones (added):

- **founders**: a batch bringing a parent of an already loaded sample makes that
  child a non-founder; its calls and no-call intervals are re-read from its own
  batch's files and moved out of the founder-only columns;
- **carrier families**: ``n_carrier_families`` counts distinct families, so a
  family with members on both sides would be counted twice by a plain sum; the
  already loaded members of every family the batch adds to are re-read and the
  family is counted once over old and new members.

Only the batches holding those relatives are read (and only their rows); a batch
of unrelated samples reads nothing but its own files, the previous release's
variant table and its AN track. Anything that makes the previous release an
unsafe base (other code version, other strata, samples or batches that differ
from the registry) is reported by :func:`incremental_base` so the caller falls
back to a full rebuild.

The sub-cohort structures of a release (``subcohort/``, per-sample carriers and
no-call bins) are kept in one segment per batch, named by position and allele
hash rather than release row: :func:`variantdb.subcohort.extend_subcohort`
hard-links the previous release's segments and writes the batch's, so nothing
of the earlier batches is read or copied.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

import variantdb
from variantdb.genome import CONTIG_LENGTHS
from variantdb.release.aggregate import (
    Cohort,
    call_files_for,
    compute_an_track_from_files,
    count_calls,
    count_columns,
    finish_contig,
    make_cohort,
    subset_cohort,
)
from variantdb.release.coverage import compute_coverage_track, coverage_schema
from variantdb.release.meta import ReleaseMeta
from variantdb.schema import GAPS_SCHEMA, GROUPS, Stratum, an_schema, strata
from variantdb.store.layout import batch_dir

__all__ = [
    "Delta",
    "combine_tracks",
    "count_source_columns",
    "counts_from_variants",
    "incremental_base",
    "merge_contig",
    "merge_coverage_contig",
    "plan_delta",
    "sum_counts",
]


@dataclass(frozen=True)
class Delta:
    """What adding one batch changes, as sample sets whose counts are added or taken away.

    Attributes
    ----------
    plus, minus
        Samples whose calls are counted and added (the batch, and the already
        loaded ``relatives``, with the new release's flags) and taken away (those
        relatives, with the previous release's flags).
    plus_an, minus_an
        The same for the AN track; only relatives whose founder flag changes
        (the AN track does not depend on families).
    plus_call_dirs, minus_call_dirs, plus_gap_dirs, minus_gap_dirs
        Folders (``calls/batch=B`` and ``gaps/batch=B``) holding those samples.
    relatives
        Registry numbers of the already loaded samples counted again: those whose
        founder flag changes, and every member of a family (``family_id``) the
        batch adds members to.
    founder_changed
        Registry numbers of the already loaded samples that stop being founders.
    """

    plus: Cohort
    minus: Cohort
    plus_an: Cohort
    minus_an: Cohort
    plus_call_dirs: tuple[Path, ...]
    minus_call_dirs: tuple[Path, ...]
    plus_gap_dirs: tuple[Path, ...]
    minus_gap_dirs: tuple[Path, ...]
    relatives: tuple[int, ...]
    founder_changed: tuple[int, ...]

    @property
    def strata(self) -> tuple[Stratum, ...]:
        """The strata of every cohort here."""
        return self.plus.strata


def plan_delta(
    old_samples: pa.Table, samples: pa.Table, batch_calls: Path, batch_gaps: Path, db: Path
) -> Delta:
    """Work out which samples adding a batch counts, and with which flags.

    Parameters
    ----------
    old_samples
        Registry rows of the samples the previous release counts.
    samples
        Registry rows of the samples the new release counts: ``old_samples`` plus
        the new batch's (matched by ``sample_idx``).
    batch_calls, batch_gaps
        The new batch's calls and gaps folders.
    db
        The database; the already loaded samples' files are under
        ``DB/calls/batch=B`` and ``DB/gaps/batch=B`` (``B`` their ``batch``).

    Returns
    -------
    Delta
    """
    old = make_cohort(old_samples)
    new = make_cohort(samples)
    batch_idx = np.setdiff1d(new.sample_idx, old.sample_idx)
    in_new = np.searchsorted(new.sample_idx, old.sample_idx)
    changed = old.sample_idx[new.founder[in_new] != old.founder]
    old_rows = old_samples.to_pylist()
    new_ids = set(batch_idx.tolist())
    batch_families = {
        r["family_id"] for r in samples.to_pylist() if r["sample_idx"] in new_ids and r.get("family_id")
    }
    same_family = [r["sample_idx"] for r in old_rows if r.get("family_id") in batch_families]
    relatives = np.union1d(changed, np.array(same_family, dtype=np.int64))
    batch_of = {r["sample_idx"]: r["batch"] for r in old_rows}

    def dirs(kind: str, idx: np.ndarray) -> tuple[Path, ...]:
        return tuple(batch_dir(db, kind, b) for b in sorted({batch_of[int(i)] for i in idx}))

    return Delta(
        plus=subset_cohort(new, np.union1d(batch_idx, relatives)),
        minus=subset_cohort(old, relatives),
        plus_an=subset_cohort(new, np.union1d(batch_idx, changed)),
        minus_an=subset_cohort(old, changed),
        plus_call_dirs=(Path(batch_calls), *dirs("calls", relatives)),
        minus_call_dirs=dirs("calls", relatives),
        plus_gap_dirs=(Path(batch_gaps), *dirs("gaps", changed)),
        minus_gap_dirs=dirs("gaps", changed),
        relatives=tuple(int(i) for i in relatives),
        founder_changed=tuple(int(i) for i in changed),
    )


def incremental_base(meta: ReleaseMeta | None, old_samples: pa.Table, batches: list[str]) -> str | None:
    """Return why a release cannot be the base of an incremental publish, or None when it can.

    Parameters
    ----------
    meta
        The previous release's ``release.json`` (None: there is none).
    old_samples
        Registry rows of the samples now included (before the new batch).
    batches
        Registry names of the batches now loaded (before the new batch).

    Notes
    -----
    A release made by other code, with other strata, or whose samples or batches
    are not those the registry now holds (a withdrawal recorded but not yet
    published) would carry its difference into every later release; the caller
    rebuilds in full instead.
    """
    if meta is None:
        return "no previous release"
    if meta.code_version != variantdb.__version__:
        return f"release {meta.id} was made by code version {meta.code_version}"
    if [s.key for s in meta.strata] != [s.key for s in strata()]:
        return f"release {meta.id} has other strata"
    if list(meta.groups) != list(GROUPS):
        return f"release {meta.id} has other groups"
    if meta.n_samples != old_samples.num_rows:
        return f"release {meta.id} counts {meta.n_samples} samples, the registry {old_samples.num_rows}"
    if sorted(meta.batches) != sorted(batches):
        return f"release {meta.id} holds other batches than the registry"
    return None


def combine_tracks(
    chrom: str, terms: list[tuple[pa.Table, int]], schema: pa.Schema | None = None
) -> pa.Table:
    """Return the sum of piecewise-constant tracks of one contig, each times a sign.

    Parameters
    ----------
    chrom
        Canonical contig.
    terms
        ``(track, sign)`` pairs; each track has ``start`` and ``end`` (1-based,
        inclusive) tiling ``[1, length]`` and the count columns of ``schema``, or
        is empty (counts 0).
    schema
        The tracks' schema: ``chrom, start, end`` then int32 counts. Default
        :func:`~variantdb.schema.an_schema` (the AN track); the coverage track's
        works the same way.

    Returns
    -------
    pyarrow.Table
        Segments tiling the contig, adjacent segments with equal values merged:
        the one form :func:`variantdb.release.aggregate.compute_an_track` (and
        :func:`variantdb.release.coverage.compute_coverage_track`) gives too.
    """
    length = CONTIG_LENGTHS[chrom]
    schema = schema if schema is not None else an_schema()
    cols = schema.names[3:]
    used = [(t, sign) for t, sign in terms if t.num_rows]
    starts = np.unique(
        np.concatenate([np.array([1], dtype=np.int64), *(t.column("start").to_numpy() for t, _ in used)])
    )
    total = np.zeros((len(starts), len(cols)), dtype=np.int64)
    for t, sign in used:
        at = np.searchsorted(t.column("start").to_numpy(), starts, side="right") - 1
        values = np.stack([t.column(c).to_numpy().astype(np.int64) for c in cols], axis=1)
        total += sign * values[at]
    change = np.ones(len(starts), dtype=bool)
    change[1:] = (total[1:] != total[:-1]).any(axis=1)
    first = np.flatnonzero(change)
    ends = np.append(starts[first[1:]] - 1, length)
    out: dict[str, Any] = {
        "chrom": pa.array([chrom] * len(first), pa.string()),
        "start": pa.array(starts[first], pa.int32()),
        "end": pa.array(ends, pa.int32()),
    }
    for j, name in enumerate(cols):
        out[name] = pa.array(total[first, j], pa.int32())
    return pa.table(out, schema=schema)


def _count_names(strata_: tuple[Stratum, ...]) -> dict[str, str]:
    """Map each :func:`~variantdb.release.aggregate.count_columns` name to its variant-table column."""
    out = {}
    for name in count_columns(len(strata_)):
        if "__s" in name:
            field, j = name.split("__s")
            out[name] = f"{field}_{strata_[int(j)].key}"
        else:
            out[name] = name
    return out


def _empty_counts(n_strata: int) -> pa.Table:
    fields = [pa.field("pos", pa.int32()), pa.field("ref", pa.string()), pa.field("alt", pa.string())]
    fields += [pa.field(c, pa.int32()) for c in count_columns(n_strata)]
    return pa.schema(fields).empty_table()


def count_source_columns(strata_: tuple[Stratum, ...]) -> list[str]:
    """Return the variant-table columns :func:`counts_from_variants` reads (the integer counts)."""
    return ["pos", "ref", "alt", *_count_names(strata_).values()]


def counts_from_variants(variants: pa.Table, strata_: tuple[Stratum, ...]) -> pa.Table:
    """Return the integer counts of a release's variant table in :func:`~variantdb.release.aggregate.count_calls` form."""
    names = _count_names(strata_)
    if variants.num_rows == 0:
        return _empty_counts(len(strata_))
    return pa.table(
        {
            "pos": variants.column("pos"),
            "ref": variants.column("ref"),
            "alt": variants.column("alt"),
            **{ours: variants.column(theirs).cast(pa.int32()) for ours, theirs in names.items()},
        }
    )


def sum_counts(con: duckdb.DuckDBPyConnection, terms: list[tuple[pa.Table, int]], n_strata: int) -> pa.Table:
    """Return the sum of count tables per variant, each times a sign, sorted by (pos, ref, alt).

    Parameters
    ----------
    con
        A DuckDB connection (tables ``_inc_0`` .. are registered on it).
    terms
        ``(counts, sign)`` pairs in :func:`~variantdb.release.aggregate.count_calls` form,
        each sorted by (pos, ref, alt) with one row per variant.
    n_strata
        Number of strata.
    """
    terms = [(t, sign) for t, sign in terms if t.num_rows]
    if not terms:
        return _empty_counts(n_strata)
    if len(terms) == 1 and terms[0][1] > 0:
        return terms[0][0]  # already sorted and summed
    for k, (table, _) in enumerate(terms):
        con.register(f"_inc_{k}", table)
    try:
        return con.sql(_sum_sql(n_strata, [sign for _, sign in terms])).to_arrow_table()
    finally:
        for k in range(len(terms)):
            con.unregister(f"_inc_{k}")


def _sum_sql(n_strata: int, signs: list[int]) -> str:
    """Return the SQL summing tables ``_inc_0`` .. (each times its sign) per variant, sorted.

    Only column names of :func:`~variantdb.release.aggregate.count_columns` and the
    registered table names are formatted in; there are no values to pass.
    """
    columns = count_columns(n_strata)
    parts = [
        "SELECT pos, ref, alt, "
        + ", ".join(f'{"" if sign > 0 else "-"}"{c}" AS "{c}"' for c in columns)
        + f" FROM _inc_{k}"
        for k, sign in enumerate(signs)
    ]
    return (
        "SELECT pos, ref, alt, "
        + ", ".join(f'sum("{c}")::INTEGER AS "{c}"' for c in columns)
        + " FROM ("
        + " UNION ALL ".join(parts)
        + ") GROUP BY pos, ref, alt ORDER BY pos, ref, alt"
    )


def _track(dirs: tuple[Path, ...], chrom: str, cohort: Cohort) -> pa.Table:
    """Return the AN track of ``cohort`` from the gaps under ``dirs``, streamed a bin at a time."""
    return compute_an_track_from_files(chrom, call_files_for(list(dirs), chrom), cohort)


def _count(con: duckdb.DuckDBPyConnection, dirs: tuple[Path, ...], chrom: str, cohort: Cohort) -> pa.Table:
    files = call_files_for(list(dirs), chrom)
    if not files or cohort.size == 0:
        return _empty_counts(len(cohort.strata))
    con.register("cohort", cohort.table)
    try:
        return count_calls(con, files, len(cohort.strata), only_cohort=True)
    finally:
        con.unregister("cohort")


def merge_contig(
    con: duckdb.DuckDBPyConnection, chrom: str, old_variants: pa.Table, old_track: pa.Table, delta: Delta
) -> tuple[pa.Table, pa.Table]:
    """Return the new variant table and AN track of one contig.

    Parameters
    ----------
    con
        A DuckDB connection for this contig's work (``cohort`` and ``_inc_*`` are
        registered on it while it runs; give each concurrent task its own).
    chrom
        Canonical contig.
    old_variants
        The previous release's variant table of this contig, at least
        :func:`count_source_columns` (empty if it had none).
    old_track
        The previous release's AN track of this contig.
    delta
        From :func:`plan_delta`.

    Returns
    -------
    (pyarrow.Table, pyarrow.Table)
        The variant table (:func:`~variantdb.schema.variants_schema`) and the AN
        track, as a full rebuild of the new cohort gives them.
    """
    terms = [
        (old_track, 1),
        (_track(delta.plus_gap_dirs, chrom, delta.plus_an), 1),
    ]
    if delta.minus_an.size:
        minus = _track(delta.minus_gap_dirs, chrom, delta.minus_an)
        terms.append((minus, -1))
    track = combine_tracks(chrom, terms)
    n = len(delta.strata)
    counts = [
        (counts_from_variants(old_variants, delta.strata), 1),
        (_count(con, delta.plus_call_dirs, chrom, delta.plus), 1),
    ]
    if delta.minus.size:
        counts.append((_count(con, delta.minus_call_dirs, chrom, delta.minus), -1))
    merged = sum_counts(con, counts, n)
    return finish_contig(chrom, merged, track, delta.strata), track


def merge_coverage_contig(
    chrom: str, old_track: pa.Table, batch_gaps: Path, batch_samples: pa.Table
) -> pa.Table:
    """Return the coverage track of one contig: the previous release's plus the new batch's samples.

    Parameters
    ----------
    chrom
        Canonical contig.
    old_track
        The previous release's coverage track of this contig.
    batch_gaps
        The new batch's gaps folder.
    batch_samples
        Registry rows of the new batch's samples (``sample_idx``, ``sex``, ``technology``).

    Notes
    -----
    Coverage counts every sample, founders and relatives alike, so no already
    loaded sample changes its share: the batch's own track is added.
    """
    files = call_files_for([Path(batch_gaps)], chrom)
    gaps = pq.ParquetDataset(files, schema=GAPS_SCHEMA).read() if files else GAPS_SCHEMA.empty_table()
    schema = coverage_schema()
    return combine_tracks(
        chrom, [(old_track, 1), (compute_coverage_track(chrom, gaps, batch_samples), 1)], schema
    )
