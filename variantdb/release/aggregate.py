"""Counts per variant and stratum, from stored calls and no-call intervals.

Allele counts (AC, homozygotes, hemizygotes, carriers) are sums over the sparse
calls, done by DuckDB one contig at a time so memory stays bounded. Allele
numbers (AN) come from the per-sample no-call intervals: every included sample
contributes its ploidy (sex, contig, PAR) everywhere, minus the intervals where
it has no (confident) call. The result is a piecewise-constant AN track over
the whole genome; a variant's AN is the track's value at its position, so a
position with no variant still has an AN ("absent among N called alleles").
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from variantdb.frequency import FAF_CONFIDENCE, af_column, faf_column, faf_max_columns
from variantdb.genome import CONTIG_LENGTHS, ploidy_segments
from variantdb.schema import (
    GAPS_SCHEMA,
    GROUPS,
    QUALITY_FIELDS,
    SEXES,
    Stratum,
    an_columns,
    an_schema,
    strata,
    variants_schema,
)
from variantdb.store.layout import literal_paths

__all__ = [
    "Cohort",
    "aggregate_contig",
    "call_files_for",
    "check_an_track",
    "check_counts",
    "cohort_stats",
    "compute_an_track",
    "compute_an_track_from_files",
    "count_calls",
    "count_columns",
    "finish_contig",
    "make_cohort",
    "subset_cohort",
    "union_per_sample",
]

_CHUNK = 1 << 20
_BIN_ROWS = 1 << 18
# Which samples and calls each group counts: (founders only, adj only).
_EMPTY_GAPS = GAPS_SCHEMA.empty_table()
_GROUP_RULES: dict[str, tuple[bool, bool]] = {"": (True, True), "_raw": (True, False), "_all": (False, True)}


@dataclass(frozen=True)
class Cohort:
    """The samples a release counts, with what the aggregation needs to know of each."""

    sample_idx: np.ndarray  # sorted registry numbers
    sex: np.ndarray  # index into genome.SEXES
    founder: np.ndarray  # bool
    member: np.ndarray  # bool, (n_samples, n_strata)
    strata: tuple[Stratum, ...]
    table: pa.Table  # sample_idx, founder, st_0..st_{S-1}: joined in SQL

    @property
    def size(self) -> int:
        """Number of samples."""
        return len(self.sample_idx)

    def weights(self, raw_gap: bool) -> np.ndarray:
        """Return per sample the AN columns one allele of a no-call interval takes away.

        Columns are :func:`variantdb.schema.an_columns`. A raw gap (no call) removes
        the sample from every group; an adj-only gap (a call below the thresholds)
        leaves the raw group untouched.
        """
        f = self.founder.astype(np.int32)
        cols = [f, f if raw_gap else np.zeros_like(f), np.ones_like(f)]
        cols += [f * self.member[:, j] for j in range(len(self.strata))]
        return np.stack(cols, axis=1).astype(np.int32)


def make_cohort(samples: pa.Table) -> Cohort:
    """Build the cohort of a release from registry sample rows (withdrawn ones already dropped).

    Notes
    -----
    Founders follow PLINK: a sample whose father and mother are both absent from
    the included samples. A parent arriving in a later batch makes the child a
    non-founder from that release on. The table's ``family`` numbers each
    ``family_id``; a sample without one is a family of its own.
    """
    rows = sorted(samples.to_pylist(), key=lambda r: r["sample_idx"])
    ids = {r["sample_id"] for r in rows}
    st = strata()
    idx = np.array([r["sample_idx"] for r in rows], dtype=np.int64)
    sex = np.array([SEXES.index(r["sex"]) for r in rows], dtype=np.int64)
    founder = np.array([r["father_id"] not in ids and r["mother_id"] not in ids for r in rows], dtype=bool)
    member = np.zeros((len(rows), len(st)), dtype=bool)
    for j, s in enumerate(st):
        for i, r in enumerate(rows):
            member[i, j] = r[s.kind] == s.value
    # A sample without a family id is a family of its own: number those after the named ones.
    named = {f: i for i, f in enumerate(sorted({r["family_id"] for r in rows if r.get("family_id")}))}
    family = [named[r["family_id"]] if r.get("family_id") else len(named) + i for i, r in enumerate(rows)]
    cols: dict[str, Any] = {
        "sample_idx": pa.array(idx, pa.int32()),
        "founder": pa.array(founder),
        "family": pa.array(family, pa.int32()),
    }
    for j in range(len(st)):
        cols[f"st_{j}"] = pa.array(member[:, j])
    return Cohort(idx, sex, founder, member, st, pa.table(cols))


def subset_cohort(cohort: Cohort, sample_idx: np.ndarray) -> Cohort:
    """Return the rows of a cohort for some of its samples, keeping their flags and family numbers.

    Parameters
    ----------
    cohort
        A cohort from :func:`make_cohort`.
    sample_idx
        Registry numbers to keep (any order; numbers not in the cohort are ignored).

    Notes
    -----
    The founder flags stay those of the whole cohort: a child whose parents are
    both in ``cohort`` is no founder in the subset either. Counting a subset this
    way gives that subset's share of every additive count of the whole cohort.
    """
    keep = np.isin(cohort.sample_idx, np.asarray(sample_idx, dtype=np.int64))
    return Cohort(
        cohort.sample_idx[keep],
        cohort.sex[keep],
        cohort.founder[keep],
        cohort.member[keep],
        cohort.strata,
        cohort.table.filter(pa.array(keep)),
    )


def cohort_stats(samples: pa.Table, cohort: Cohort) -> dict[str, Any]:
    """Return the genome counts a release publishes: by sex, region, patient group, month received."""
    rows = samples.to_pylist()

    def count(key: str) -> dict[str, int]:
        return dict(sorted(Counter((r[key] or "unknown") for r in rows).items()))

    months = Counter(
        (r["received"].strftime("%Y-%m") if isinstance(r["received"], dt.date) else "unknown") for r in rows
    )
    return {
        "n_samples": len(rows),
        "n_founders": int(cohort.founder.sum()),
        "by_sex": count("sex"),
        "by_region": count("region"),
        "by_patient_group": count("patient_group"),
        "by_technology": count("technology"),
        "by_month_received": dict(sorted(months.items())),
    }


def compute_an_track(chrom: str, gaps: pa.Table, cohort: Cohort) -> pa.Table:
    """Return the AN track of one contig.

    Parameters
    ----------
    chrom
        Canonical contig.
    gaps
        Rows of :data:`~variantdb.schema.GAPS_SCHEMA` for this contig (any sample;
        those not in the cohort are ignored).
    cohort
        The included samples.

    Returns
    -------
    pyarrow.Table
        :func:`~variantdb.schema.an_schema` rows: segments tiling ``[1, length]``,
        adjacent segments with equal values merged.

    See Also
    --------
    compute_an_track_from_files : the same track from gap files, in bounded memory.
    """
    span = _an_span(chrom, 1, CONTIG_LENGTHS[chrom], *_gap_arrays(gaps, cohort), cohort)
    return _track_table(chrom, [span])


def compute_an_track_from_files(
    chrom: str,
    gap_files: list[str],
    cohort: Cohort,
    *,
    bin_rows: int = _BIN_ROWS,
    memory_mb: int = 1024,
    spill: Path | None = None,
) -> pa.Table:
    """Return the AN track of one contig from its gap files, a bin of positions at a time.

    Parameters
    ----------
    chrom
        Canonical contig.
    gap_files
        Parquet files of :data:`~variantdb.schema.GAPS_SCHEMA` rows on this contig
        (any sample; those not in the cohort are ignored).
    cohort
        The included samples.
    bin_rows
        Gap rows per bin (about; a bin never splits rows sharing a start). Default 262,144.
    memory_mb
        DuckDB's memory limit for sorting the rows; past it the sort spills. Default 1024.
    spill
        Folder for DuckDB's spill files. Default: DuckDB's own.

    Returns
    -------
    pyarrow.Table
        Exactly :func:`compute_an_track` of all the rows at once.

    Notes
    -----
    DuckDB streams the rows sorted by ``start``; each bin ``[lo, hi]`` is swept
    with the rows starting in it and those carried from earlier bins because
    they end past ``lo`` (clipped to the bin). The sweep is position by
    position, so cutting the contig at bin edges and merging equal neighbours
    across them gives the same segments. Memory is one bin's rows plus the
    carried ones (at most the samples' long gaps), whatever the number of gVCFs.
    """
    length = CONTIG_LENGTHS[chrom]
    if not gap_files or cohort.size == 0:
        return compute_an_track(chrom, _EMPTY_GAPS, cohort)
    con = duckdb.connect()
    try:
        con.execute("SET memory_limit = $1", [f"{int(memory_mb)}MB"])
        con.execute("SET threads = 1")
        if spill is not None:
            spill.mkdir(parents=True, exist_ok=True)
            con.execute("SET temp_directory = $1", [str(spill)])
        reader: pa.RecordBatchReader = con.sql(
            'SELECT sample_idx, start, "end", raw FROM read_parquet($files) ORDER BY start',
            params={"files": literal_paths(gap_files)},
        ).to_arrow_reader(bin_rows)
        spans = []
        lo = 1
        carry = pending = _no_rows()
        for batch in reader:
            pending = _concat_rows(pending, _gap_arrays(pa.Table.from_batches([batch]), cohort))
            while len(pending[1]) > bin_rows:
                # The bin ends just before the first start past bin_rows rows (equal starts stay together).
                k = int(np.searchsorted(pending[1], pending[1][bin_rows], side="left"))
                if k == 0:
                    k = int(np.searchsorted(pending[1], pending[1][0], side="right"))
                    if k == len(pending[1]):
                        break
                hi = int(pending[1][k]) - 1
                take = _concat_rows(carry, _select(pending, slice(0, k)))
                pending = _select(pending, slice(k, None))
                spans.append(_an_span(chrom, lo, hi, *take, cohort))
                carry = _select(take, take[2] > hi)
                lo = hi + 1
        spans.append(_an_span(chrom, lo, length, *_concat_rows(carry, pending), cohort))
    finally:
        con.close()
    return _track_table(chrom, spans)


_Rows = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def _no_rows() -> _Rows:
    return (
        np.zeros(0, dtype=np.int64),
        np.zeros(0, dtype=np.int64),
        np.zeros(0, dtype=np.int64),
        np.zeros(0, dtype=bool),
    )


def _select(r: _Rows, which: slice | np.ndarray) -> _Rows:
    return r[0][which], r[1][which], r[2][which], r[3][which]


def _concat_rows(a: _Rows, b: _Rows) -> _Rows:
    if len(a[0]) == 0:
        return b
    return (
        np.concatenate([a[0], b[0]]),
        np.concatenate([a[1], b[1]]),
        np.concatenate([a[2], b[2]]),
        np.concatenate([a[3], b[3]]),
    )


def _gap_arrays(gaps: pa.Table, cohort: Cohort) -> _Rows:
    """Return (cohort row, start, end, raw) of the gap rows of cohort samples."""
    g_idx = gaps.column("sample_idx").to_numpy().astype(np.int64)
    rows = np.searchsorted(cohort.sample_idx, g_idx)
    rows = np.minimum(rows, max(cohort.size - 1, 0))
    keep = (cohort.sample_idx[rows] == g_idx) if cohort.size else np.zeros(len(g_idx), dtype=bool)
    return (
        rows[keep],
        gaps.column("start").to_numpy().astype(np.int64)[keep],
        gaps.column("end").to_numpy().astype(np.int64)[keep],
        gaps.column("raw").to_numpy(zero_copy_only=False).astype(bool)[keep],
    )


def _an_span(
    chrom: str,
    lo: int,
    hi: int,
    rows: np.ndarray,
    starts: np.ndarray,
    ends: np.ndarray,
    raw: np.ndarray,
    cohort: Cohort,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return (starts, ends, AN rows) of the track over 1-based ``[lo, hi]``, equal neighbours merged."""
    ncol = len(an_columns())
    segs = [(max(s, lo), min(e, hi), p) for s, e, p in ploidy_segments(chrom) if s <= hi and e >= lo]
    sex_ploidy = np.array([[p[s] for s in SEXES] for _, _, p in segs], dtype=np.int32)  # (n_seg, 3)
    seg_starts = np.array([s for s, _, _ in segs], dtype=np.int64)
    w_raw = cohort.weights(raw_gap=True)
    w_adj = cohort.weights(raw_gap=False)
    # Base: every sample's ploidy in every segment.
    base = np.zeros((len(segs), ncol), dtype=np.int64)
    for k in range(len(segs)):
        base[k] = (w_raw * sex_ploidy[k, cohort.sex][:, None]).sum(axis=0)

    starts = np.maximum(starts, lo)
    ends = np.minimum(ends, hi)
    inside = starts <= ends
    rows, starts, ends, raw = rows[inside], starts[inside], ends[inside], raw[inside]

    # A sample is missing from adj wherever any of its gaps lies, and from raw where
    # a raw gap lies. Gap rows of one sample may overlap (two records at one POS each
    # give one), so each set is merged per sample first: a position is subtracted
    # once per sample, never once per row.
    w_raw_only = w_raw - w_adj  # the raw column alone
    sets = [
        (union_per_sample(rows, starts, ends), w_adj),
        (union_per_sample(rows[raw], starts[raw], ends[raw]), w_raw_only),
    ]

    # Clip every interval to the ploidy segments (only chrX and chrY have more than one).
    pieces = []
    for (r_all, s_all, e_all), weights in sets:
        for k, (s0, e0, _) in enumerate(segs):
            s = np.maximum(s_all, s0)
            e = np.minimum(e_all, e0)
            inside_k = np.flatnonzero(s <= e)
            if inside_k.size:
                pieces.append((k, s[inside_k], e[inside_k], r_all[inside_k], weights))
    bp = np.unique(
        np.concatenate([seg_starts, [hi + 1], *(p[1] for p in pieces), *(p[2] + 1 for p in pieces)])
    )
    # Sweep: +w where a gap starts, -w past its end, summed per breakpoint with
    # bincount (one column and chunk at a time, so memory stays bounded).
    diff = np.zeros((len(bp), ncol), dtype=np.int64)
    for k, s, e, r, weights in pieces:
        for c0 in range(0, len(s), _CHUNK):
            sl = slice(c0, c0 + _CHUNK)
            i_s = np.searchsorted(bp, s[sl])
            i_e = np.searchsorted(bp, e[sl] + 1)
            rr = r[sl]
            pl = sex_ploidy[k, cohort.sex[rr]]
            for c in range(ncol):
                wc = weights[rr, c] * pl
                if not wc.any():
                    continue
                diff[:, c] += np.bincount(i_s, weights=wc, minlength=len(bp)).astype(np.int64)
                diff[:, c] -= np.bincount(i_e, weights=wc, minlength=len(bp)).astype(np.int64)
    deficit = np.cumsum(diff, axis=0)[:-1]
    seg_of = np.searchsorted(seg_starts, bp[:-1], side="right") - 1
    an = base[seg_of] - deficit
    first, last = _runs(an)
    return bp[:-1][first], (bp[1:] - 1)[last], an[first]


def _runs(an: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return the first and last row of each run of identical rows."""
    change = np.ones(len(an), dtype=bool)
    change[1:] = (an[1:] != an[:-1]).any(axis=1)
    first = np.flatnonzero(change)
    last = np.append(first[1:] - 1, len(an) - 1)
    return first, last


def _track_table(chrom: str, spans: list[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> pa.Table:
    """Join the spans of a contig's track, merging equal neighbours across span edges."""
    starts = np.concatenate([s for s, _, _ in spans])
    ends = np.concatenate([e for _, e, _ in spans])
    an = np.concatenate([a for _, _, a in spans])
    first, last = _runs(an)
    cols: dict[str, Any] = {
        "chrom": pa.array([chrom] * len(first), pa.string()),
        "start": pa.array(starts[first], pa.int32()),
        "end": pa.array(ends[last], pa.int32()),
    }
    for j, name in enumerate(an_columns()):
        cols[name] = pa.array(an[first, j], pa.int32())
    return pa.table(cols, schema=an_schema())


def union_per_sample(
    rows: np.ndarray, starts: np.ndarray, ends: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Merge overlapping intervals of each sample; return (rows, starts, ends) of the union."""
    if len(rows) == 0:
        return rows, starts, ends
    # Offsetting positions by the sample lets one sorted pass merge every sample at once.
    offset = rows.astype(np.int64) << 33
    ks = offset + starts
    ke = offset + ends
    order = np.argsort(ks, kind="stable")
    ks, ke, rr = ks[order], ke[order], rows[order]
    reach = np.maximum.accumulate(ke)
    new = np.ones(len(ks), dtype=bool)
    new[1:] = ks[1:] > reach[:-1]
    first = np.flatnonzero(new)
    last = np.append(first[1:] - 1, len(ks) - 1)
    base = rr[first].astype(np.int64) << 33
    return rr[first], ks[first] - base, reach[last] - base


_union_per_sample = union_per_sample  # the name other modules import


def count_columns(n_strata: int) -> list[str]:
    """Return the integer columns :func:`count_calls` gives after ``pos, ref, alt``, in order.

    Groups keep their suffix (``ac_raw``); stratum ``j`` of
    :func:`variantdb.schema.strata` is ``ac__s{j}``.
    """
    out = []
    for suffix in _GROUP_RULES:
        out += [f"{f}{suffix}" for f in ("ac", "homozygote_count", "hemizygote_count", "n_carriers")]
    for j in range(n_strata):
        out += [f"{f}__s{j}" for f in ("ac", "homozygote_count", "hemizygote_count")]
    return [*out, "n_fail", "n_carrier_families"]


def _count_sql(n_strata: int, only_cohort: bool = False) -> str:
    exprs = []
    for suffix, (founders, adj) in _GROUP_RULES.items():
        cond = " AND ".join(["true", *(["s.founder"] if founders else []), *(["c.adj"] if adj else [])])
        exprs += _count_exprs(cond, suffix)
    for j in range(n_strata):
        exprs += _count_exprs(f"s.founder AND c.adj AND s.st_{j}", f"__s{j}", stratum=True)
    exprs += [
        "count(*) FILTER (WHERE s.founder AND NOT (c.adj AND c.filter_pass))::INTEGER AS n_fail",
        "count(DISTINCT s.family) FILTER (WHERE s.founder AND c.adj)::INTEGER AS n_carrier_families",
    ]
    return (
        "SELECT c.pos, c.ref, c.alt, "
        + ", ".join(exprs)
        # Two records of one sample can normalize to the same variant (a split
        # multi-allelic beside a biallelic record, two spellings of one indel):
        # the sample carries it once.
        + " FROM (SELECT sample_idx, pos, ref, alt, max(dosage) AS dosage, max(ploidy) AS ploidy,"
        " bool_or(adj) AS adj, bool_or(filter_pass) AS filter_pass"
        " FROM read_parquet(?)"
        # Files holding other samples too: keep the cohort's before grouping.
        + (" WHERE sample_idx IN (SELECT sample_idx FROM cohort)" if only_cohort else "")
        + " GROUP BY sample_idx, pos, ref, alt) c"
        " JOIN cohort s ON c.sample_idx = s.sample_idx"
        " GROUP BY c.pos, c.ref, c.alt ORDER BY c.pos, c.ref, c.alt"
    )


def _count_exprs(cond: str, suffix: str, stratum: bool = False) -> list[str]:
    out = [
        f"coalesce(sum(c.dosage) FILTER (WHERE {cond}), 0)::INTEGER AS ac{suffix}",
        f"count(*) FILTER (WHERE {cond} AND c.ploidy = 2 AND c.dosage = 2)::INTEGER AS homozygote_count{suffix}",
        f"count(*) FILTER (WHERE {cond} AND c.ploidy = 1)::INTEGER AS hemizygote_count{suffix}",
    ]
    if not stratum:
        out.append(f"count(*) FILTER (WHERE {cond})::INTEGER AS n_carriers{suffix}")
    return out


def count_calls(
    con: duckdb.DuckDBPyConnection, call_files: list[str], n_strata: int, only_cohort: bool = False
) -> pa.Table:
    """Return the integer counts of one contig's calls per variant, sorted by (pos, ref, alt).

    Parameters
    ----------
    con
        A DuckDB connection where the samples to count are registered as
        ``cohort`` (the table of a :class:`Cohort`).
    call_files
        Parquet files of calls on one contig.
    n_strata
        Number of strata (columns ``st_0`` .. of the cohort table).
    only_cohort
        The files hold calls of samples outside ``cohort``: drop those before
        grouping. Default False (a sample not in ``cohort`` is dropped by the join).

    Returns
    -------
    pyarrow.Table
        ``pos, ref, alt`` then :func:`count_columns`, int32.
    """
    return con.sql(_count_sql(n_strata, only_cohort), params=[literal_paths(call_files)]).to_arrow_table()


def aggregate_contig(
    con: duckdb.DuckDBPyConnection, chrom: str, call_files: list[str], track: pa.Table, cohort: Cohort
) -> pa.Table:
    """Return the variant table of one contig, sorted by (pos, ref, alt).

    Parameters
    ----------
    con
        A DuckDB connection where the cohort's table is registered as ``cohort``.
    chrom
        Canonical contig.
    call_files
        Parquet files of calls on this contig (any batch).
    track
        The contig's AN track (:func:`compute_an_track`).
    cohort
        The included samples.
    """
    if not call_files:
        return variants_schema().empty_table()
    return finish_contig(chrom, count_calls(con, call_files, len(cohort.strata)), track, cohort.strata)


def finish_contig(chrom: str, counts: pa.Table, track: pa.Table, strata: tuple[Stratum, ...]) -> pa.Table:
    """Return the variant table of one contig from its integer counts and AN track.

    Parameters
    ----------
    chrom
        Canonical contig.
    counts
        ``pos, ref, alt`` and :func:`count_columns`, sorted by (pos, ref, alt).
    track
        The contig's AN track: each variant takes the AN of the segment holding its position.
    strata
        The strata of the counts' ``__s{j}`` columns.

    Returns
    -------
    pyarrow.Table
        :func:`~variantdb.schema.variants_schema` rows, one chunk per column, with
        every derived column (af, faf95, faf99, faf95_max_region) computed here:
        the same counts and track give the same bytes, however they were summed.
    """
    schema = variants_schema()
    n = counts.num_rows
    if n == 0:
        return schema.empty_table()
    counts = counts.combine_chunks()
    pos = counts.column("pos").to_numpy()
    seg = np.searchsorted(track.column("start").to_numpy(), pos, side="right") - 1
    cols: dict[str, Any] = {
        "chrom": pa.array([chrom] * n, pa.string()),
        "pos": counts.column("pos"),
        "ref": counts.column("ref"),
        "alt": counts.column("alt"),
    }

    def put(name: str, src: str, an_col: str) -> None:
        ac = counts.column(f"ac{src}").to_numpy()
        an = track.column(an_col).to_numpy()[seg]
        values: dict[str, Any] = {
            "ac": ac,
            "an": an,
            "af": af_column(ac, an),
            **{f: faf_column(ac, an, ci) for f, ci in FAF_CONFIDENCE.items()},
            "homozygote_count": counts.column(f"homozygote_count{src}"),
            "hemizygote_count": counts.column(f"hemizygote_count{src}"),
            "n_carriers": counts.column(f"n_carriers{src}")
            if f"n_carriers{src}" in counts.column_names
            else None,
        }
        for field_name, value in values.items():
            if value is not None:
                cols[f"{field_name}{name}"] = value

    for suffix in GROUPS:
        put(suffix, suffix, f"an{suffix}")
    for j, s in enumerate(strata):
        put(f"_{s.key}", f"__s{j}", f"an_{s.key}")
    for name in QUALITY_FIELDS:
        cols[name] = counts.column(name)
    regions = [s for s in strata if s.kind == "region"]
    cols["faf95_max_region"], cols["faf95_max_region_code"] = faf_max_columns(
        [cols[f"faf95_{s.key}"] for s in regions], [s.key.removeprefix("region_") for s in regions], n
    )
    arrays = [
        cols[f.name].cast(f.type)
        if isinstance(cols[f.name], pa.ChunkedArray)
        else pa.array(cols[f.name], f.type)
        for f in schema
    ]
    return pa.Table.from_arrays(arrays, schema=schema).combine_chunks()


def call_files_for(dirs: list[Path], chrom: str) -> list[str]:
    """Return the calls (or gaps) Parquet files of one contig under several batch folders."""
    out: list[str] = []
    for d in dirs:
        part = d / f"contig={chrom}"
        if part.exists():
            out += sorted(str(p) for p in part.rglob("*.parquet"))
    return out


def check_counts(table: pa.Table, strata_: tuple[Stratum, ...] | None = None, limit: int = 5) -> list[str]:
    """Return what breaks the count invariants in a variant table (empty when every row holds).

    Parameters
    ----------
    table
        Rows of :func:`~variantdb.schema.variants_schema` (any contigs).
    strata_
        The strata of its columns. Default :func:`~variantdb.schema.strata`.
    limit
        Rows named per broken rule. Default 5.

    Returns
    -------
    list of str
        One line per broken rule and row: the variant, the field and the values.

    Notes
    -----
    Checked for every group (``""``, ``_raw``, ``_all``) and stratum:
    ``0 <= ac <= an``; ``2 * homozygote_count + hemizygote_count <= ac``; for the
    groups ``n_carriers <= ac`` and ``homozygote_count, hemizygote_count <=
    n_carriers``; ``n_carrier_families <= n_carriers`` (families among the same
    adj founder carriers); ``0 <= n_fail <= n_carriers_raw``; and for
    each kind of stratum (sex, region, patient group), whose strata are disjoint,
    the sum of ``ac``, ``an``, ``homozygote_count`` and ``hemizygote_count`` over
    its strata is at most the headline group's (samples of unknown sex, region or
    group are in no stratum). Vectorized: a pass over the integer columns.
    """
    strata_ = strata() if strata_ is None else strata_
    n = table.num_rows
    if n == 0:
        return []

    def col(name: str) -> np.ndarray:
        values: np.ndarray = table.column(name).to_numpy(zero_copy_only=False).astype(np.int64)
        return values

    rules: list[tuple[str, np.ndarray, list[str]]] = []

    def rule(text: str, ok: np.ndarray, fields: list[str]) -> None:
        rules.append((text, ok, fields))

    for suffix in [*GROUPS, *(f"_{s.key}" for s in strata_)]:
        ac, an = col(f"ac{suffix}"), col(f"an{suffix}")
        hom, hemi = col(f"homozygote_count{suffix}"), col(f"hemizygote_count{suffix}")
        rule(f"0 <= ac{suffix}", ac >= 0, [f"ac{suffix}"])
        rule(f"ac{suffix} <= an{suffix}", ac <= an, [f"ac{suffix}", f"an{suffix}"])
        rule(
            f"2 * homozygote_count{suffix} + hemizygote_count{suffix} <= ac{suffix}",
            (hom >= 0) & (hemi >= 0) & (2 * hom + hemi <= ac),
            [f"homozygote_count{suffix}", f"hemizygote_count{suffix}", f"ac{suffix}"],
        )
        if suffix in GROUPS:
            car = col(f"n_carriers{suffix}")
            rule(f"n_carriers{suffix} <= ac{suffix}", car <= ac, [f"n_carriers{suffix}", f"ac{suffix}"])
            rule(
                f"homozygote_count{suffix} + hemizygote_count{suffix} <= n_carriers{suffix}",
                hom + hemi <= car,
                [f"homozygote_count{suffix}", f"hemizygote_count{suffix}", f"n_carriers{suffix}"],
            )
    fam, fail = col("n_carrier_families"), col("n_fail")
    rule(
        "n_carrier_families <= n_carriers",
        (fam >= 0) & (fam <= col("n_carriers")),
        ["n_carrier_families", "n_carriers"],
    )
    rule(
        "0 <= n_fail <= n_carriers_raw",
        (fail >= 0) & (fail <= col("n_carriers_raw")),
        ["n_fail", "n_carriers_raw"],
    )
    for kind in dict.fromkeys(s.kind for s in strata_):
        keys = [s.key for s in strata_ if s.kind == kind]
        for field in ("ac", "an", "homozygote_count", "hemizygote_count"):
            total = sum((col(f"{field}_{k}") for k in keys), np.zeros(n, dtype=np.int64))
            rule(
                f"the {kind} strata's {field} sum to at most {field}",
                total <= col(field),
                [field, *(f"{field}_{k}" for k in keys)],
            )
    out = []
    for text, ok, fields in rules:
        bad = np.flatnonzero(~ok)
        for i in bad[:limit].tolist():
            r = table.slice(i, 1).select(["chrom", "pos", "ref", "alt", *fields]).to_pylist()[0]
            values = ", ".join(f"{f} {r[f]}" for f in fields)
            out.append(f"{r['chrom']}-{r['pos']}-{r['ref']}-{r['alt']}: {text} fails ({values})")
        if bad.size > limit:
            out.append(f"... and {bad.size - limit} more rows where {text} fails")
    return out


def check_an_track(track: pa.Table, strata_: tuple[Stratum, ...] | None = None) -> list[str]:
    """Return what breaks the AN track's invariants: every AN >= 0, each kind's strata summing to at most ``an``."""
    strata_ = strata() if strata_ is None else strata_
    out: list[str] = []
    if track.num_rows == 0:
        return out
    an = {c: track.column(c).to_numpy().astype(np.int64) for c in an_columns()}
    checks = [(f"0 <= {c}", v >= 0) for c, v in an.items()]
    for kind in dict.fromkeys(s.kind for s in strata_):
        total = sum(
            (an[f"an_{s.key}"] for s in strata_ if s.kind == kind), np.zeros(track.num_rows, np.int64)
        )
        checks.append((f"the {kind} strata's an sum to at most an", total <= an["an"]))
    for text, ok in checks:
        bad = np.flatnonzero(~ok)
        if bad.size:
            r = track.slice(int(bad[0]), 1).to_pylist()[0]
            out.append(f"AN track {r['chrom']}:{r['start']}-{r['end']}: {text} fails ({bad.size} segments)")
    return out
