"""Counts for any sub-cohort, at query time: carriers per variant, sample metadata, no-call intervals.

The stored strata answer "by sex", "by region", "by patient group" one at a time.
A lab also asks for combinations the release did not foresee: XX founders in
Midtjylland with hereditary heart disease received in 2025, exomes only, parents
only. Re-aggregating the genotypes per question would take minutes; afquery
answers such questions with per-genotype sample bitmaps. This module does it
with three structures written beside a release's variant table at publish time:

``samples.parquet``
    One row per counted sample, in registry order (the *cohort row*): sex,
    region, patient group, technology, founder / parent flags, date received
    and a family number. No sample id or registry number: the file says what a
    sample is, never who.
``carrier_offsets.npy``, ``carrier_rows.npy``, ``carrier_codes.npy``
    CSR aligned to the release's variant rows (the row numbers
    :class:`variantdb.index.ReleaseIndex` returns): variant row ``r``'s carriers
    are ``carrier_rows[off[r]:off[r + 1]]`` (cohort rows, by family then row) with one
    code byte each: alt dosage (bits 0-1), haploid (bit 2), adj (bit 3), FILTER
    pass (bit 4).
``gaps_{adj,raw}_{key,start,end,row}.npy``
    Every sample's no-call intervals (1-based, inclusive), merged per sample:
    ``adj`` where the sample has no call passing adj (any gap), ``raw`` where it
    has no call at all. Each interval is filed in the smallest bin of a
    hierarchy (1 kb, 8 kb, ... 256 Mb; tabix's scheme) that contains it, sorted
    by ``key = contig << 48 | level << 40 | bin``, so the intervals covering a
    position are found in seven contiguous slices, and those overlapping a
    region in seven slices too.

At query time a filter becomes a boolean mask over cohort rows (cached per
filter); AC, homozygotes, hemizygotes and carriers are masked sums over a
variant's carriers, and AN is the ploidy (sex, contig, PAR) of the masked
samples minus that of the masked samples with a gap at the position. With the
default filter (founders, adj) the figures are the release's headline ones;
with one sex, region or patient group they are its stored stratum.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Final

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from variantdb.aggregate import FAF_CONFIDENCE, Cohort, _union_per_sample, call_files_for, faf_lambda
from variantdb.genome import CONTIG_INDEX, CONTIGS, SEXES, ploidy_segments
from variantdb.manifest import TECHNOLOGIES
from variantdb.schema import GAPS_SCHEMA, load_vocabulary

__all__ = [
    "FILTER_KEYS",
    "ROLES",
    "SUBCOHORT_FIELDS",
    "SUBCOHORT_VERSION",
    "SubcohortFilter",
    "SubcohortFilterError",
    "SubcohortIndex",
    "extend_subcohort",
    "make_filter",
    "parse_filter_args",
    "subcohort_schema",
    "write_subcohort",
]

#: Version of the files under ``release_dir/subcohort/``.
SUBCOHORT_VERSION: Final = 1
#: Family roles a filter can ask for (founders follow PLINK: no parent among the counted samples).
ROLES: Final[dict[str, str]] = {
    "founder": "no parent among the counted samples (PLINK); the default, as the headline figures",
    "non_founder": "at least one parent among the counted samples (a child of a trio or duo)",
    "parent": "the father or mother of at least one counted sample",
    "all": "every counted sample, founders and relatives",
}
#: Fields of a sub-cohort record, gnomAD's names where the meaning is the same.
SUBCOHORT_FIELDS: Final[dict[str, str]] = {
    "ac": "alternate allele count among the matching samples (gnomAD AC)",
    "an": "called alleles of the matching samples at the position (gnomAD AN)",
    "af": "ac / an; null when an is 0 (gnomAD AF)",
    "faf95": "filtering allele frequency, 95% confidence, as the release's faf95; null when an is 0",
    "faf99": "filtering allele frequency, 99% confidence; null when an is 0",
    "homozygote_count": "diploid homozygous alternate genotypes among the matching samples",
    "hemizygote_count": "haploid alternate genotypes among the matching samples",
    "n_carriers": "matching samples carrying the alternate allele",
    "n_carrier_families": "distinct families among those carriers (a sample without family_id is its own)",
}

#: The fields of a filter, as ``--filter KEY=VALUE`` and query parameters name them.
FILTER_KEYS: Final = (
    "sex",
    "region",
    "patient_group",
    "exclude_patient_group",
    "technology",
    "role",
    "received_from",
    "received_to",
    "raw",
)

_DIR: Final = "subcohort"
_DOSAGE: Final = 0b11
_HAPLOID: Final = 1 << 2
_ADJ: Final = 1 << 3
_PASS: Final = 1 << 4
# Bin levels: 1 kb up to 256 Mb (one bin holds the longest contig, chr1 at 249 Mb).
_SHIFTS: Final = np.array([10, 13, 16, 19, 22, 25, 28], dtype=np.int64)
_NCODES: Final = 32
_CODES: Final = np.arange(_NCODES, dtype=np.int64)
# Per code byte: alt alleles, homozygous (diploid, dosage 2), hemizygous (haploid).
_CODE_DOSAGE: Final = _CODES & _DOSAGE
_CODE_HOM: Final = (((_CODES & _DOSAGE) == 2) & ((_CODES & _HAPLOID) == 0)).astype(np.int64)
_CODE_HEMI: Final = ((_CODES & _HAPLOID) != 0).astype(np.int64)
_KINDS: Final = ("adj", "raw")
_GAP_DTYPES: Final = (np.int64, np.int32, np.int32, np.uint32)
_CACHE: Final = 256


class SubcohortFilterError(ValueError):
    """A filter naming a value the release does not know (an unknown region, a bad date ...).

    Attributes
    ----------
    field
        The filter field, e.g. ``region``.
    value
        The value given.
    """

    def __init__(self, field: str, value: object, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.value = value


@dataclass(frozen=True)
class SubcohortFilter:
    """Which samples a sub-cohort counts: every field given narrows it (AND); values of one field are OR-ed.

    Parameters
    ----------
    sex
        ``XX``, ``XY``, ``unknown``. Default None: any.
    region
        Region names or codes (``variantdb/data/regions.tsv``). Default None: any
        (including samples without a region).
    patient_group
        Patient group names or codes. Default None: any.
    exclude_patient_group
        Patient groups to leave out. Default None.
    technology
        ``WGS``, ``WES``, ``panel``. Default None: any.
    role
        :data:`ROLES`. Default None: founders only, as the headline figures.
    received_from, received_to
        Inclusive bounds on the date received (``YYYY-MM-DD``); a sample without
        a date is left out when either is given. Default None.
    raw
        Count every called genotype instead of adj genotypes only. Default False.
    """

    sex: tuple[str, ...] | None = None
    region: tuple[str, ...] | None = None
    patient_group: tuple[str, ...] | None = None
    exclude_patient_group: tuple[str, ...] | None = None
    technology: tuple[str, ...] | None = None
    role: tuple[str, ...] | None = None
    received_from: dt.date | None = None
    received_to: dt.date | None = None
    raw: bool = False

    def as_dict(self) -> dict[str, Any]:
        """Return the filter as JSON-ready values (None fields left out)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            v = getattr(self, f.name)
            if v is None or (f.name == "raw" and not v):
                continue
            out[f.name] = (
                v.isoformat() if isinstance(v, dt.date) else (list(v) if isinstance(v, tuple) else v)
            )
        return out


def _vocab_lookup(kind: str) -> dict[str, str]:
    """Return ``{lower-case name or code: name}`` of regions or patient groups."""
    out: dict[str, str] = {}
    for name, code in load_vocabulary(kind).items():
        out[name.lower()] = name
        out[code.lower()] = name
    return out


def _resolve(field: str, values: Iterable[str], allowed: dict[str, str]) -> tuple[str, ...]:
    """Map user values (any case) to canonical ones, refusing unknown values with the allowed list."""
    out = []
    for v in values:
        canon = allowed.get(str(v).strip().lower())
        if canon is None:
            shown = ", ".join(sorted(set(allowed.values())))
            raise SubcohortFilterError(field, v, f"{field} {str(v)[:100]!r} is not known; one of: {shown}")
        if canon not in out:
            out.append(canon)
    return tuple(out)


def make_filter(
    *,
    sex: Sequence[str] | str | None = None,
    region: Sequence[str] | str | None = None,
    patient_group: Sequence[str] | str | None = None,
    exclude_patient_group: Sequence[str] | str | None = None,
    technology: Sequence[str] | str | None = None,
    role: Sequence[str] | str | None = None,
    received_from: str | dt.date | None = None,
    received_to: str | dt.date | None = None,
    raw: bool = False,
) -> SubcohortFilter:
    """Validate user values and return a canonical :class:`SubcohortFilter`.

    Values are matched case-insensitively; regions and patient groups by name or
    code. An empty list means "not given".

    Raises
    ------
    SubcohortFilterError
        Naming the field and value, and the values allowed.
    """

    def given(v: Sequence[str] | str | None) -> list[str] | None:
        if v is None:
            return None
        if isinstance(v, str):
            v = [v]
        items = [x for item in v for x in str(item).split(",") if x.strip()]
        return items or None

    def date(field: str, v: str | dt.date | None) -> dt.date | None:
        if v is None or isinstance(v, dt.date):
            return v
        try:
            return dt.date.fromisoformat(v.strip())
        except ValueError:
            raise SubcohortFilterError(field, v, f"{field} {v[:40]!r} is not a date (YYYY-MM-DD)") from None

    def pick(field: str, v: Sequence[str] | str | None, allowed: dict[str, str]) -> tuple[str, ...] | None:
        items = given(v)
        return None if items is None else _resolve(field, items, allowed)

    f = SubcohortFilter(
        sex=pick("sex", sex, {s.lower(): s for s in SEXES}),
        region=pick("region", region, _vocab_lookup("regions")),
        patient_group=pick("patient_group", patient_group, _vocab_lookup("patient_groups")),
        exclude_patient_group=pick(
            "exclude_patient_group", exclude_patient_group, _vocab_lookup("patient_groups")
        ),
        technology=pick("technology", technology, {t.lower(): t for t in TECHNOLOGIES}),
        role=pick("role", role, {r: r for r in ROLES}),
        received_from=date("received_from", received_from),
        received_to=date("received_to", received_to),
        raw=bool(raw),
    )
    if f.received_from and f.received_to and f.received_from > f.received_to:
        raise SubcohortFilterError(
            "received_to",
            f.received_to.isoformat(),
            f"received_to {f.received_to} is before received_from {f.received_from}",
        )
    return f


def parse_filter_args(items: Sequence[str]) -> SubcohortFilter:
    """Parse ``KEY=VALUE`` items (``sex=XX``, ``region=Midtjylland,Nordjylland``, ``raw=true``) into a filter.

    A key given twice adds values (``--filter region=A --filter region=B``).

    Raises
    ------
    SubcohortFilterError
        An item without ``=``, an unknown key or value, a bad date or boolean.
    """
    kw: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip().lower().replace("-", "_")
        if not sep:
            raise SubcohortFilterError(key, item, f"filter {item!r} is not KEY=VALUE (e.g. sex=XX)")
        if key not in FILTER_KEYS:
            raise SubcohortFilterError(
                key, item, f"filter key {key!r} is not known; one of: {', '.join(FILTER_KEYS)}"
            )
        value = value.strip()
        if key == "raw":
            if value.lower() not in ("true", "false", "1", "0", "yes", "no"):
                raise SubcohortFilterError(key, value, f"raw {value!r} is not true or false")
            kw[key] = value.lower() in ("true", "1", "yes")
        elif key.startswith("received_"):
            kw[key] = value
        else:
            kw.setdefault(key, []).append(value)
    return make_filter(**kw)


def subcohort_schema() -> pa.Schema:
    """Return the schema of a sub-cohort table (``variantdb export --filter``): one row per variant."""
    base = [
        pa.field("chrom", pa.string(), False, {"description": "canonical contig"}),
        pa.field("pos", pa.int32(), False, {"description": "1-based position (VCF POS)"}),
        pa.field("ref", pa.string(), False, {"description": "normalized reference allele"}),
        pa.field("alt", pa.string(), False, {"description": "normalized alternate allele"}),
    ]
    types = {"af": pa.float64(), "faf95": pa.float64(), "faf99": pa.float64()}
    return pa.schema(
        base
        + [
            pa.field(name, types.get(name, pa.int32()), name in types, {"description": doc})
            for name, doc in SUBCOHORT_FIELDS.items()
        ],
        metadata={"description": "counts of one sub-cohort of a release, one row per variant"},
    )


# --------------------------------------------------------------------------- building


def _sample_table(samples: pa.Table, cohort: Cohort) -> pa.Table:
    """Per cohort row: the metadata a filter reads, never an id."""
    rows = sorted(samples.to_pylist(), key=lambda r: r["sample_idx"])
    ids = {r["sample_id"] for r in rows}
    parents = {p for r in rows for p in (r.get("father_id"), r.get("mother_id")) if p in ids}
    named = {f: i for i, f in enumerate(sorted({r["family_id"] for r in rows if r.get("family_id")}))}
    family = [named[r["family_id"]] if r.get("family_id") else len(named) + i for i, r in enumerate(rows)]
    return pa.table(
        {
            "sex": pa.array([r["sex"] for r in rows], pa.string()),
            "region": pa.array([r.get("region") for r in rows], pa.string()),
            "patient_group": pa.array([r.get("patient_group") for r in rows], pa.string()),
            "technology": pa.array([r.get("technology") or "WGS" for r in rows], pa.string()),
            "founder": pa.array(cohort.founder.tolist(), pa.bool_()),
            "parent": pa.array([r["sample_id"] in parents for r in rows], pa.bool_()),
            "received": pa.array([r.get("received") for r in rows], pa.date32()),
            "family": pa.array(family, pa.int32()),
        }
    )


def _carriers_sql() -> str:
    # One call per sample and variant, exactly as variantdb.aggregate counts it.
    return (
        "SELECT v.row, s.crow, c.dosage, c.ploidy, c.adj, c.filter_pass FROM"
        " (SELECT sample_idx, pos, ref, alt, max(dosage) AS dosage, max(ploidy) AS ploidy,"
        " bool_or(adj) AS adj, bool_or(filter_pass) AS filter_pass"
        " FROM read_parquet(?) GROUP BY sample_idx, pos, ref, alt) c"
        " JOIN crows s ON c.sample_idx = s.sample_idx"
        " JOIN vrows v ON c.pos = v.pos AND c.ref = v.ref AND c.alt = v.alt"
        # Within a variant, carriers of one family are adjacent: distinct families are counted
        # in one pass at query time, without sorting.
        " ORDER BY v.row, s.family, s.crow"
    )


def _bin_keys(cidx: int, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Return the key of the smallest bin holding each interval (1-based inclusive)."""
    s = starts.astype(np.int64)[:, None] >> _SHIFTS[None, :]
    e = ends.astype(np.int64)[:, None] >> _SHIFTS[None, :]
    level = np.argmax(s == e, axis=1).astype(np.int64)
    b = s[np.arange(len(level)), level]
    key: np.ndarray = (np.int64(cidx) << 48) | (level << 40) | b
    return key


def _start_output(
    out: Path, samples: pa.Table, cohort: Cohort, memory_mb: int
) -> tuple[duckdb.DuckDBPyConnection, pa.Table]:
    """Write the sample table; return a DuckDB connection holding ``crows`` (cohort rows), and the table."""
    out.mkdir(parents=True, exist_ok=True)
    table = _sample_table(samples, cohort)
    pq.write_table(table, out / "samples.parquet", compression="zstd")
    con = duckdb.connect()
    con.execute("SET memory_limit = $1", [f"{int(memory_mb)}MB"])
    con.register(
        "crows",
        pa.table(
            {
                "sample_idx": pa.array(cohort.sample_idx, pa.int32()),
                "crow": pa.array(np.arange(cohort.size), pa.int32()),
                "family": table.column("family"),
            }
        ),
    )
    return con, table


def _appenders(out: Path) -> tuple[_Appender, _Appender, _Appender, dict[str, list[_Appender]]]:
    """Return the writers of carrier offsets, rows and codes, and of the no-call bins of each kind."""
    offsets = _Appender(out / "carrier_offsets.npy", np.int64)
    carrier_rows = _Appender(out / "carrier_rows.npy", np.uint32)
    carrier_codes = _Appender(out / "carrier_codes.npy", np.uint8)
    gaps = {
        kind: [
            _Appender(out / f"gaps_{kind}_{name}.npy", dtype)
            for name, dtype in zip(("key", "start", "end", "row"), _GAP_DTYPES, strict=True)
        ]
        for kind in _KINDS
    }
    return offsets, carrier_rows, carrier_codes, gaps


def _finish(
    out: Path,
    writers: list[_Appender],
    gaps: dict[str, list[_Appender]],
    n_samples: int,
    n_variants: int,
    n_carriers: int,
) -> dict[str, Any]:
    """Close the writers and record what was written in ``subcohort.json``; return that record."""
    for w in writers:
        w.close()
    meta = {
        "version": SUBCOHORT_VERSION,
        "n_samples": n_samples,
        "n_variants": n_variants,
        "n_carriers": n_carriers,
        "n_gaps": {kind: gaps[kind][0].n for kind in _KINDS},
        "bin_shifts": _SHIFTS.tolist(),
    }
    (out / "subcohort.json").write_text(json.dumps(meta, indent=1))
    return meta


def write_subcohort(
    release_dir: Path,
    samples: pa.Table,
    cohort: Cohort,
    call_dirs: list[Path],
    gap_dirs: list[Path],
    memory_mb: int = 1024,
) -> dict[str, Any]:
    """Write the sub-cohort structures of a release into ``release_dir/subcohort/``.

    Parameters
    ----------
    release_dir
        The (not yet published) release directory, whose ``variants/<contig>.parquet``
        tables are already written and sorted.
    samples
        The registry rows of the counted samples (withdrawn ones dropped).
    cohort
        :func:`variantdb.aggregate.make_cohort` of ``samples``.
    call_dirs, gap_dirs
        Stored calls and no-call intervals of every batch (``calls/batch=B``,
        ``gaps/batch=B``).
    memory_mb
        DuckDB's memory limit. Default 1024.

    Returns
    -------
    dict
        What ``subcohort/subcohort.json`` records (version, counts).
    """
    from variantdb.release import variants_file

    release_dir = Path(release_dir)
    out = release_dir / _DIR
    con, _ = _start_output(out, samples, cohort, memory_mb)
    # Streamed to disk contig by contig (and bin by bin): memory stays near one bin's calls.
    offsets, carrier_rows, carrier_codes, gaps = _appenders(out)
    writers = [offsets, carrier_rows, carrier_codes, *gaps["adj"], *gaps["raw"]]
    try:
        offsets.add(np.zeros(1, dtype=np.int64))
        base_row = 0
        n_carriers = 0
        for chrom in CONTIGS:
            vfile = variants_file(release_dir, chrom)
            if vfile.exists():
                keys = pq.read_table(vfile, columns=["pos", "ref", "alt"])
                n = keys.num_rows
                pos = keys.column("pos").to_numpy()
                counts = np.zeros(n, dtype=np.int64)
                for lo, hi, files in _call_groups(con, call_files_for(call_dirs, chrom)):
                    a = int(np.searchsorted(pos, lo, side="left"))
                    b = int(np.searchsorted(pos, hi, side="right"))
                    if a == b:
                        continue
                    part = keys.slice(a, b - a).append_column("row", pa.array(np.arange(a, b), pa.int64()))
                    con.register("vrows", part)
                    t = con.sql(_carriers_sql(), params=[files]).to_arrow_table()
                    con.unregister("vrows")
                    counts += np.bincount(t.column("row").to_numpy(), minlength=n)
                    carrier_rows.add(t.column("crow").to_numpy())
                    carrier_codes.add(_carrier_codes(t))
                offsets.add(n_carriers + np.cumsum(counts))
                n_carriers += int(counts.sum())
                base_row += n
            for kind, arrays in _contig_gaps(chrom, call_files_for(gap_dirs, chrom), cohort).items():
                for writer, arr in zip(gaps[kind], arrays, strict=True):
                    writer.add(arr)
    except BaseException:
        for w in writers:
            w.abort()
        raise
    finally:
        con.close()
    return _finish(out, writers, gaps, cohort.size, base_row, n_carriers)


def _carrier_codes(t: pa.Table) -> np.ndarray:
    """Return the one-byte genotype code of each row of a :func:`_carriers_sql` result."""
    dosage = t.column("dosage").to_numpy().astype(np.uint8)
    code: np.ndarray = (
        (dosage & _DOSAGE)
        | np.where(t.column("ploidy").to_numpy() == 1, _HAPLOID, 0).astype(np.uint8)
        | np.where(t.column("adj").to_numpy(zero_copy_only=False), _ADJ, 0).astype(np.uint8)
        | np.where(t.column("filter_pass").to_numpy(zero_copy_only=False), _PASS, 0).astype(np.uint8)
    )
    return code


def _is_sorted(keys: tuple[np.ndarray, ...]) -> bool:
    """Return True when rows are in non-decreasing lexicographic order of ``keys``."""
    if len(keys[0]) < 2:
        return True
    later = np.zeros(len(keys[0]) - 1, dtype=bool)  # strictly greater on an earlier key
    equal = np.ones(len(keys[0]) - 1, dtype=bool)
    for k in keys:
        k = np.asarray(k, dtype=np.int64)
        later |= equal & (k[1:] > k[:-1])
        equal &= k[1:] == k[:-1]
    return bool(np.all(later | equal))


def _merge_sorted(
    old_keys: tuple[np.ndarray, ...],
    old_values: list[np.ndarray],
    new_keys: tuple[np.ndarray, ...] | None,
    new_values: list[np.ndarray] | None,
) -> tuple[np.ndarray, ...]:
    """Merge new rows into rows sorted by ``old_keys``; return the merged key 0 and values.

    The old rows are already in order (checked in one pass; if not, everything is
    sorted anew), so the new ones are placed by a binary search and inserted:
    linear in the old rows where a full sort would be n log n.
    """
    if new_keys is None or new_values is None:
        new_keys = tuple(np.asarray(o)[:0] for o in old_keys)
        new_values = [np.asarray(v)[:0] for v in old_values]
    if not _is_sorted(old_keys):
        keys = tuple(np.concatenate([o, n.astype(o.dtype)]) for o, n in zip(old_keys, new_keys, strict=True))
        values = [np.concatenate([o, n.astype(o.dtype)]) for o, n in zip(old_values, new_values, strict=True)]
        order = np.lexsort(keys[::-1])
        return (keys[0][order], *(v[order] for v in values))
    if len(new_keys[0]) == 0:
        return (np.asarray(old_keys[0]), *(np.asarray(v) for v in old_values))
    dtype = np.dtype([(f"k{i}", np.int64) for i in range(len(old_keys))])
    old = np.empty(len(old_keys[0]), dtype)
    new = np.empty(len(new_keys[0]), dtype)
    for i, (o, n) in enumerate(zip(old_keys, new_keys, strict=True)):
        old[f"k{i}"] = o
        new[f"k{i}"] = n
    order = np.lexsort(tuple(new_keys[::-1]))
    at = np.searchsorted(old, new[order])
    key0 = np.insert(np.asarray(old_keys[0]), at, np.asarray(new_keys[0])[order])
    values = [
        np.insert(np.asarray(o), at, np.asarray(n)[order].astype(o.dtype))
        for o, n in zip(old_values, new_values, strict=True)
    ]
    return (key0, *values)


class _NotAnAddition(Exception):
    """The new release is not the previous one plus new samples (a variant left the table)."""


def extend_subcohort(
    prev_dir: Path,
    release_dir: Path,
    samples: pa.Table,
    cohort: Cohort,
    n_old_samples: int,
    call_dir: Path,
    gap_dir: Path,
    memory_mb: int = 1024,
) -> dict[str, Any] | None:
    """Write a release's sub-cohort structures from the previous release's and one new batch's files.

    The incremental counterpart of :func:`write_subcohort`: the previous release's
    carriers and no-call bins are carried over (re-numbered to the new variant
    rows) and the new batch's calls and gaps merged in, so earlier batches' files
    are not read. The files are byte-identical to :func:`write_subcohort` of the
    same samples.

    Parameters
    ----------
    prev_dir, release_dir
        The previous release and the new one (variant tables already written).
    samples, cohort
        Registry rows of the new release's samples and their cohort.
    n_old_samples
        How many cohort rows the previous release had; they must be the first rows of
        ``cohort`` (the new batch's samples come after them).
    call_dir, gap_dir
        The new batch's calls and gaps folders.
    memory_mb
        DuckDB's memory limit. Default 1024.

    Returns
    -------
    dict or None
        What ``subcohort/subcohort.json`` records; None when the previous release
        has no usable structures (the caller then writes them in full).
    """
    from variantdb.release import variants_file

    prev = Path(prev_dir) / _DIR
    try:
        prev_meta = json.loads((prev / "subcohort.json").read_text())
    except FileNotFoundError:
        return None
    if prev_meta.get("version") != SUBCOHORT_VERSION or prev_meta.get("n_samples") != n_old_samples:
        return None
    old_offsets = np.load(prev / "carrier_offsets.npy", mmap_mode="r")
    old_crows = np.load(prev / "carrier_rows.npy", mmap_mode="r")
    old_codes = np.load(prev / "carrier_codes.npy", mmap_mode="r")
    old_gaps = {
        kind: [
            np.load(prev / f"gaps_{kind}_{name}.npy", mmap_mode="r")
            for name in ("key", "start", "end", "row")
        ]
        for kind in _KINDS
    }
    release_dir = Path(release_dir)
    out = release_dir / _DIR
    con, table = _start_output(out, samples, cohort, memory_mb)
    family = table.column("family").to_numpy()
    offsets, carrier_rows, carrier_codes, gaps = _appenders(out)
    writers = [offsets, carrier_rows, carrier_codes, *gaps["adj"], *gaps["raw"]]
    try:
        offsets.add(np.zeros(1, dtype=np.int64))
        base_row = 0
        old_base = 0
        n_carriers = 0
        for chrom in CONTIGS:
            vfile = variants_file(release_dir, chrom)
            if vfile.exists():
                keys = pq.read_table(vfile, columns=["pos", "ref", "alt"])
                n = keys.num_rows
                old_file = variants_file(Path(prev_dir), chrom)
                old_keys = (
                    pq.read_table(old_file, columns=["pos", "ref", "alt"])
                    if old_file.exists()
                    else keys.schema.empty_table()
                )
                # Where each old variant row lies in the new table (one pass over both tables).
                con.register("vnew", keys.append_column("row", pa.array(np.arange(n), pa.int64())))
                con.register(
                    "vold", old_keys.append_column("orow", pa.array(np.arange(old_keys.num_rows), pa.int64()))
                )
                mapped = con.sql(
                    "SELECT o.orow, n.row FROM vold o JOIN vnew n"
                    " ON o.pos = n.pos AND o.ref = n.ref AND o.alt = n.alt ORDER BY o.orow"
                ).to_arrow_table()
                con.unregister("vold")
                if mapped.num_rows != old_keys.num_rows:
                    raise _NotAnAddition(chrom)  # a variant left the table
                new_row = mapped.column("row").to_numpy()
                lo, hi = int(old_offsets[old_base]), int(old_offsets[old_base + old_keys.num_rows])
                per_row = np.diff(np.asarray(old_offsets[old_base : old_base + old_keys.num_rows + 1]))
                rows = [np.repeat(new_row, per_row)]
                crows = [np.asarray(old_crows[lo:hi], dtype=np.int64)]
                codes = [np.asarray(old_codes[lo:hi])]
                files = call_files_for([call_dir], chrom)
                if files:
                    con.register("vrows", keys.append_column("row", pa.array(np.arange(n), pa.int64())))
                    t = con.sql(_carriers_sql(), params=[files]).to_arrow_table()
                    con.unregister("vrows")
                    rows.append(t.column("row").to_numpy())
                    crows.append(t.column("crow").to_numpy().astype(np.int64))
                    codes.append(_carrier_codes(t))
                con.unregister("vnew")
                # As write_subcohort orders them: by row, family, sample. The old carriers
                # keep their order (a new family or sample never reorders old ones; checked).
                r, c, k = _merge_sorted(
                    (rows[0], family[crows[0]], crows[0]),
                    [crows[0], codes[0]],
                    (np.concatenate(rows[1:]), family[np.concatenate(crows[1:])], np.concatenate(crows[1:]))
                    if len(rows) > 1
                    else None,
                    [np.concatenate(crows[1:]), np.concatenate(codes[1:])] if len(rows) > 1 else None,
                )
                counts = np.bincount(r, minlength=n)
                carrier_rows.add(c)
                carrier_codes.add(k)
                offsets.add(n_carriers + np.cumsum(counts))
                n_carriers += int(counts.sum())
                base_row += n
                old_base += old_keys.num_rows
            new_gaps = _contig_gaps(chrom, call_files_for([gap_dir], chrom), cohort)
            cidx = np.int64(CONTIG_INDEX[chrom])
            for kind in _KINDS:
                okey = old_gaps[kind][0]
                a = int(np.searchsorted(okey, cidx << 48, side="left"))
                b = int(np.searchsorted(okey, (cidx + 1) << 48, side="left"))
                key, start, end, row = (np.asarray(arr[a:b]) for arr in old_gaps[kind])
                new = new_gaps.get(kind)
                # As write_subcohort orders them: by bin, start, sample.
                _, merged_key, merged_start, merged_end, merged_row = _merge_sorted(
                    (key, start, row),
                    [key, start, end, row],
                    None if new is None else (new[0], new[1], new[3]),
                    None if new is None else list(new),
                )
                for writer, arr in zip(
                    gaps[kind], (merged_key, merged_start, merged_end, merged_row), strict=True
                ):
                    writer.add(arr)
    except BaseException as e:
        for w in writers:
            w.abort()
        if isinstance(e, _NotAnAddition):
            return None
        raise
    finally:
        con.close()
    return _finish(out, writers, gaps, cohort.size, base_row, n_carriers)


class _Appender:
    """Append arrays of one dtype to an ``.npy`` file whose length is known only at the end."""

    def __init__(self, path: Path, dtype: type | np.dtype[Any]) -> None:
        self.path = path
        self.dtype = np.dtype(dtype)
        self._raw_path = path.with_suffix(".raw")
        self._raw = open(self._raw_path, "wb")
        self.n = 0

    def add(self, arr: np.ndarray) -> None:
        a = np.ascontiguousarray(arr, dtype=self.dtype)
        self._raw.write(a.tobytes())
        self.n += len(a)

    def abort(self) -> None:
        """Drop what was written (a failed build)."""
        self._raw.close()
        self._raw_path.unlink(missing_ok=True)

    def close(self) -> None:
        """Write the ``.npy`` file."""
        self._raw.close()
        header = {
            "descr": np.lib.format.dtype_to_descr(self.dtype),
            "fortran_order": False,
            "shape": (self.n,),
        }
        with open(self.path, "wb") as dst, open(self._raw_path, "rb") as src:
            np.lib.format.write_array_header_1_0(dst, header)
            shutil.copyfileobj(src, dst, 1 << 22)
        self._raw_path.unlink()


def _call_groups(con: duckdb.DuckDBPyConnection, files: list[str]) -> list[tuple[int, int, list[str]]]:
    """Group a contig's call files by their ``bin=N`` folder into groups of disjoint position spans, in order.

    Each group is counted by one query. Bins whose spans overlap (a variant
    left-aligned across a bin edge) are merged, so a variant's carriers always
    come from one query and the carrier table stays in row order.
    """
    by_bin: dict[str, list[str]] = {}
    for f in files:
        parent = Path(f).parent.name
        by_bin.setdefault(parent if parent.startswith("bin=") else "", []).append(f)
    spans = []
    for fs in by_bin.values():
        row = con.sql("SELECT min(pos), max(pos) FROM read_parquet(?)", params=[fs]).fetchall()[0]
        if row[0] is not None:
            spans.append((int(row[0]), int(row[1]), fs))
    spans.sort(key=lambda s: s[0])
    merged: list[tuple[int, int, list[str]]] = []
    for lo, hi, fs in spans:
        if merged and lo <= merged[-1][1]:
            m = merged[-1]
            merged[-1] = (m[0], max(hi, m[1]), m[2] + fs)
        else:
            merged.append((lo, hi, fs))
    return merged


def _contig_gaps(chrom: str, files: list[str], cohort: Cohort) -> dict[str, tuple[np.ndarray, ...]]:
    """Merge one contig's gaps per sample (adj: any gap; raw: raw gaps) and bin them; sorted by (key, start)."""
    if not files or cohort.size == 0:
        return {}
    gaps = pq.ParquetDataset(files, schema=GAPS_SCHEMA).read(columns=["sample_idx", "start", "end", "raw"])
    idx = gaps.column("sample_idx").to_numpy().astype(np.int64)
    rows = np.minimum(np.searchsorted(cohort.sample_idx, idx), cohort.size - 1)
    keep = cohort.sample_idx[rows] == idx
    rows = rows[keep]
    starts = gaps.column("start").to_numpy().astype(np.int64)[keep]
    ends = gaps.column("end").to_numpy().astype(np.int64)[keep]
    raw = gaps.column("raw").to_numpy(zero_copy_only=False).astype(bool)[keep]
    cidx = CONTIG_INDEX[chrom]
    out: dict[str, tuple[np.ndarray, ...]] = {}
    for kind, sel in (("adj", slice(None)), ("raw", raw)):
        r, s, e = _union_per_sample(rows[sel], starts[sel], ends[sel])
        if len(r) == 0:
            continue
        key = _bin_keys(cidx, s, e)
        order = np.lexsort((s, key))
        out[kind] = (key[order], s[order], e[order], r[order])
    return out


# --------------------------------------------------------------------------- querying


def _mmap(path: Path) -> np.ndarray:
    """Memory-map an ``.npy`` read-only as a plain ndarray (np.memmap's indexing costs a few µs a call)."""
    arr: np.ndarray = np.load(path, mmap_mode="r").view(np.ndarray)
    return arr


@dataclass(frozen=True)
class _Mask:
    """A filter resolved against one release's samples."""

    sel: np.ndarray  # bool per cohort row
    by_sex: np.ndarray  # int64 [3]: matching samples of each sex (SEXES order)
    sex: np.ndarray  # int8 per cohort row
    adj: bool

    @property
    def n(self) -> int:
        return int(self.by_sex.sum())


class SubcohortIndex:
    """A release's sub-cohort structures, memory-mapped read-only; safe to share between threads.

    Parameters
    ----------
    release_dir
        ``DB/releases/<id>`` with ``subcohort/`` written by :func:`write_subcohort`.

    Raises
    ------
    FileNotFoundError
        The release was published without sub-cohort structures.
    """

    def __init__(self, release_dir: Path | str) -> None:
        d = Path(release_dir) / _DIR
        meta_path = d / "subcohort.json"
        if not meta_path.exists():
            raise FileNotFoundError(f"{d}: this release has no sub-cohort structures (published before them)")
        self.meta: dict[str, Any] = json.loads(meta_path.read_text())
        if self.meta.get("version") != SUBCOHORT_VERSION:
            raise ValueError(
                f"{d}: sub-cohort version {self.meta.get('version')}, expected {SUBCOHORT_VERSION}"
            )
        t = pq.read_table(d / "samples.parquet")
        self.samples = t
        self.n_samples = t.num_rows
        self._sex = np.array([SEXES.index(s) for s in t.column("sex").to_pylist()], dtype=np.int8)
        self._cols = {
            name: np.array(t.column(name).to_pylist(), dtype=object)
            for name in ("region", "patient_group", "technology")
        }
        self._founder = t.column("founder").to_numpy(zero_copy_only=False).astype(bool)
        self._parent = t.column("parent").to_numpy(zero_copy_only=False).astype(bool)
        rec = t.column("received")
        days = rec.cast(pa.int32()).fill_null(-(2**31)).to_numpy()
        self._received = days.astype(np.int64)
        self._family = t.column("family").to_numpy().astype(np.int64)
        self.offsets = _mmap(d / "carrier_offsets.npy")
        self.carrier_rows = _mmap(d / "carrier_rows.npy")
        self.carrier_codes = _mmap(d / "carrier_codes.npy")
        self._gaps = {
            kind: tuple(_mmap(d / f"gaps_{kind}_{n}.npy") for n in ("key", "start", "end", "row"))
            for kind in _KINDS
        }
        self._ploidy: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for chrom in CONTIGS:
            segs = ploidy_segments(chrom)
            self._ploidy[chrom] = (
                np.array([s for s, _, _ in segs], dtype=np.int64),
                np.array([[p[s] for s in SEXES] for _, _, p in segs], dtype=np.int64),
            )
        self._masks: OrderedDict[SubcohortFilter, _Mask] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def n_variants(self) -> int:
        """Number of variant rows the carrier table covers."""
        return len(self.offsets) - 1

    # -- masks

    def mask(self, f: SubcohortFilter) -> _Mask:
        """Return the samples a filter matches (cached: the last 256 filters)."""
        with self._lock:
            m = self._masks.get(f)
            if m is not None:
                self._masks.move_to_end(f)
                return m
        m = self._build_mask(f)
        with self._lock:
            self._masks[f] = m
            while len(self._masks) > _CACHE:
                self._masks.popitem(last=False)
        return m

    def _build_mask(self, f: SubcohortFilter) -> _Mask:
        sel = np.ones(self.n_samples, dtype=bool)
        if f.sex is not None:
            sel &= np.isin(self._sex, [SEXES.index(s) for s in f.sex])
        for name in ("region", "patient_group", "technology"):
            want = getattr(f, name)
            if want is not None:
                sel &= np.isin(self._cols[name], list(want))
        if f.exclude_patient_group is not None:
            sel &= ~np.isin(self._cols["patient_group"], list(f.exclude_patient_group))
        roles = f.role or ("founder",)
        if "all" not in roles:
            r = np.zeros(self.n_samples, dtype=bool)
            if "founder" in roles:
                r |= self._founder
            if "non_founder" in roles:
                r |= ~self._founder
            if "parent" in roles:
                r |= self._parent
            sel &= r
        epoch = dt.date(1970, 1, 1)
        if f.received_from is not None:
            sel &= self._received >= (f.received_from - epoch).days
        if f.received_to is not None:
            sel &= (self._received <= (f.received_to - epoch).days) & (self._received != -(2**31))
        by_sex = np.bincount(self._sex[sel], minlength=len(SEXES)).astype(np.int64)
        return _Mask(sel, by_sex, self._sex, not f.raw)

    # -- counts

    def counts(
        self, f: SubcohortFilter, rows: Sequence[int | None], chroms: Sequence[str], positions: Sequence[int]
    ) -> list[dict[str, Any]]:
        """Return the sub-cohort record of each variant.

        Parameters
        ----------
        f
            The filter.
        rows
            Each variant's row in the release (None: not in the release, AC 0).
        chroms, positions
            Each variant's canonical contig and 1-based position (for AN).

        Returns
        -------
        list of dict
            :data:`SUBCOHORT_FIELDS` per variant, in order.
        """
        m = self.mask(f)
        present = np.array([r if r is not None else -1 for r in rows], dtype=np.int64)
        ac, hom, hemi, car, fam = self._carrier_sums(m, present)
        an = np.zeros(len(present), dtype=np.int64)
        chrom_arr = np.array(chroms, dtype=object)
        pos_arr = np.asarray(positions, dtype=np.int64)
        for chrom in dict.fromkeys(chroms):
            sel = np.flatnonzero(chrom_arr == chrom)
            an[sel] = self.an_at(m, chrom, pos_arr[sel])
        return _records(ac, an, hom, hemi, car, fam)

    def region_counts(
        self, f: SubcohortFilter, chrom: str, lo: int, hi: int, positions: np.ndarray | Sequence[int]
    ) -> list[dict[str, Any]]:
        """Return the records of the consecutive variant rows ``[lo, hi)`` of one contig (positions given)."""
        m = self.mask(f)
        ac, hom, hemi, car, fam = self._carrier_sums(m, np.arange(lo, hi, dtype=np.int64))
        an = self.an_at(m, chrom, np.asarray(positions, dtype=np.int64))
        return _records(ac, an, hom, hemi, car, fam)

    def _carrier_sums(self, m: _Mask, rows: np.ndarray) -> tuple[np.ndarray, ...]:
        """Return AC, homozygotes, hemizygotes, carriers and carrier families per row (-1: absent, zeros)."""
        k = len(rows)
        valid = rows >= 0
        r = np.where(valid, rows, 0)
        lo = np.where(valid, self.offsets[r], 0).astype(np.int64)
        hi = np.where(valid, self.offsets[r + 1], 0).astype(np.int64)
        lens = hi - lo
        total = int(lens.sum())
        zeros = tuple(np.zeros(k, dtype=np.int64) for _ in range(5))
        if total == 0:
            return zeros
        if k == 1 or (np.all(lo[1:] == hi[:-1])):
            # Consecutive rows (a region, or one variant): one slice.
            idx = slice(int(lo[0]), int(hi[-1]))
            samples = np.asarray(self.carrier_rows[idx])
            codes = np.asarray(self.carrier_codes[idx])
        else:
            starts = np.repeat(lo - np.concatenate([[0], np.cumsum(lens)[:-1]]), lens)
            gather = starts + np.arange(total)
            samples = self.carrier_rows[gather]
            codes = self.carrier_codes[gather]
        ok = m.sel[samples]
        if m.adj:
            ok &= (codes & _ADJ) != 0
        c = codes[ok]
        f = self._family[samples[ok]]
        # A variant's carriers are stored family by family (write_subcohort), so a new family
        # starts wherever the family (or the variant) changes.
        first = np.ones(len(f), dtype=bool)
        first[1:] = f[1:] != f[:-1]
        if k == 1:
            hist = np.bincount(c, minlength=_NCODES)[None, :]
            fam = np.array([np.count_nonzero(first)], dtype=np.int64)
        else:
            s = np.repeat(np.arange(k), lens)[ok]
            first[1:] |= s[1:] != s[:-1]
            # One histogram of the code byte per variant gives every count at once.
            hist = np.bincount(s * _NCODES + c, minlength=k * _NCODES).reshape(k, _NCODES)
            fam = np.bincount(s[first], minlength=k).astype(np.int64)
        ac = hist @ _CODE_DOSAGE
        hom = hist @ _CODE_HOM
        hemi = hist @ _CODE_HEMI
        car = hist.sum(axis=1)
        return ac, hom, hemi, car, fam

    def an_at(self, m: _Mask, chrom: str, positions: np.ndarray, method: str | None = None) -> np.ndarray:
        """Return the AN of the masked samples at 1-based positions of one contig.

        Parameters
        ----------
        m
            :meth:`mask` of a filter.
        chrom
            Canonical contig.
        positions
            1-based, any order, repeats allowed.
        method
            ``"point"`` or ``"sweep"`` to force a way of finding the gaps (tests);
            default None: the cheaper one.

        Notes
        -----
        AN = sum over sexes of (matching samples of that sex - those with a gap at
        the position) x the ploidy of that sex there (PARs, chrY, chrM). The gaps
        are found per position (the bins holding it, seven slices) when the
        positions are few or far apart, and by one sweep over the intervals of the
        span when they are many and close (a region).
        """
        p = np.asarray(positions, dtype=np.int64)
        if len(p) == 0:
            return np.zeros(0, dtype=np.int64)
        seg_starts, ploidy = self._ploidy[chrom]
        pl = ploidy[np.searchsorted(seg_starts, p, side="right") - 1]  # (k, 3)
        missing = self._gap_counts(m, chrom, p, method)  # (k, 3)
        an: np.ndarray = ((m.by_sex[None, :] - missing) * pl).sum(axis=1)
        return an

    def _gap_counts(self, m: _Mask, chrom: str, p: np.ndarray, method: str | None) -> np.ndarray:
        """Return per position and sex the matching samples with a gap there."""
        keys, starts, ends, rows = self._gaps["adj" if m.adj else "raw"]
        k = len(p)
        out = np.zeros((k, len(SEXES)), dtype=np.int64)
        if len(keys) == 0:
            return out
        cidx = np.int64(CONTIG_INDEX[chrom])
        levels = np.arange(len(_SHIFTS), dtype=np.int64)
        # Per-position cost: the bins holding each position.
        point_keys = (cidx << 48) | (levels[None, :] << 40) | (p[:, None] >> _SHIFTS[None, :])
        plo = np.searchsorted(keys, point_keys.ravel(), side="left")
        phi = np.searchsorted(keys, point_keys.ravel(), side="right")
        point_cost = int((phi - plo).sum())
        # Sweep cost: every bin between the first and last position, per level.
        pmin, pmax = int(p.min()), int(p.max())
        span_lo = np.searchsorted(keys, (cidx << 48) | (levels << 40) | (pmin >> _SHIFTS), side="left")
        span_hi = np.searchsorted(keys, (cidx << 48) | (levels << 40) | (pmax >> _SHIFTS), side="right")
        sweep_cost = int((span_hi - span_lo).sum()) + 4 * k
        if method == "point" or (method is None and point_cost <= sweep_cost):
            lens = phi - plo
            total = int(lens.sum())
            if total == 0:
                return out
            owner = np.repeat(np.repeat(np.arange(k), len(_SHIFTS)), lens)
            gather = np.repeat(plo - np.concatenate([[0], np.cumsum(lens)[:-1]]), lens) + np.arange(total)
            s, e, r = starts[gather], ends[gather], rows[gather]
            pp = p[owner]
            hit = (s <= pp) & (pp <= e)
            hit &= m.sel[r]
            o = owner[hit]
            sx = m.sex[r[hit]]
            np.add.at(out, (o, sx), 1)
            return out
        idx = np.concatenate([np.arange(a, b) for a, b in zip(span_lo, span_hi, strict=True)])
        s, e, r = starts[idx].astype(np.int64), ends[idx].astype(np.int64), rows[idx]
        keep = (e >= pmin) & (s <= pmax) & m.sel[r]
        s, e, sx = s[keep], e[keep], m.sex[r[keep]].astype(np.int64)
        order = np.argsort(p, kind="stable")
        ps = p[order]
        i_s = np.searchsorted(ps, s, side="left")
        i_e = np.searchsorted(ps, e, side="right")
        for c in range(len(SEXES)):
            w = sx == c
            if not w.any():
                continue
            diff = np.bincount(i_s[w], minlength=k + 1) - np.bincount(i_e[w], minlength=k + 1)
            out[order, c] = np.cumsum(diff)[:k]
        return out


def _records(
    ac: np.ndarray, an: np.ndarray, hom: np.ndarray, hemi: np.ndarray, car: np.ndarray, fam: np.ndarray
) -> list[dict[str, Any]]:
    lam = {name: faf_lambda(ac, ci) for name, ci in FAF_CONFIDENCE.items()}
    out = []
    for i in range(len(ac)):
        a, n = int(ac[i]), int(an[i])
        out.append(
            {
                "ac": a,
                "an": n,
                "af": a / n if n else None,
                **{name: float(lam[name][i]) / n if n else None for name in FAF_CONFIDENCE},
                "homozygote_count": int(hom[i]),
                "hemizygote_count": int(hemi[i]),
                "n_carriers": int(car[i]),
                "n_carrier_families": int(fam[i]),
            }
        )
    return out
