"""``variantdb export --filter``: write one sub-cohort's counts of every variant (TSV, Parquet or VCF).

The rows are the release's variant rows (a variant no matching sample carries has
``ac`` 0 and its ``an``); the counts are those of ``GET /v1/subcohort/...`` for the
same filter (:mod:`variantdb.subcohort`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from variantdb.export import (
    FORMATS,
    export_release_id,
    parse_region,
    write_parquet,
    write_sites_vcf,
    write_tsv,
)
from variantdb.release.index import ReleaseIndex
from variantdb.store.layout import ReleaseNotFoundError, release_path, variants_file
from variantdb.subcohort import SubcohortFilter, SubcohortIndex, subcohort_schema

__all__ = ["export_subcohort"]

_CHUNK = 100_000


def _tables(
    rd: Path, ix: ReleaseIndex, sc: SubcohortIndex, f: SubcohortFilter, reg: tuple[str, int, int] | None
) -> Iterator[pa.Table]:
    schema = subcohort_schema()
    for chrom, (first, _last) in sorted(ix.meta["contig_rows"].items(), key=lambda kv: kv[1][0]):
        if reg is not None and chrom != reg[0]:
            continue
        lo, hi = ix.region_rows(chrom, reg[1], reg[2]) if reg is not None else (first, _last)
        keys = pq.read_table(variants_file(rd, chrom), columns=["chrom", "pos", "ref", "alt"])
        for a in range(lo, hi, _CHUNK):
            b = min(hi, a + _CHUNK)
            part = keys.slice(a - first, b - a)
            recs = sc.region_counts(f, chrom, a, b, part.column("pos").to_numpy())
            cols: dict[str, Any] = {n: part.column(n) for n in ("chrom", "pos", "ref", "alt")}
            for name in schema.names[4:]:
                cols[name] = pa.array([r[name] for r in recs], schema.field(name).type)
            yield pa.table(cols, schema=schema)


def export_subcohort(
    db: Path,
    fmt: str,
    out: Path | None,
    f: SubcohortFilter,
    region: str | None = None,
    release: str | None = None,
) -> int:
    """Write a sub-cohort's counts of every variant of a release; return the number of rows.

    Parameters
    ----------
    db
        Database directory.
    fmt
        ``tsv``, ``vcf`` or ``parquet``.
    out
        Output file; None writes TSV or VCF to standard output (``.gz`` VCF: bgzipped, indexed).
    f
        The filter (:func:`variantdb.subcohort.parse_filter_args`).
    region
        ``chr1:1-1000`` (1-based, inclusive). Default: the whole release.
    release
        Release id. Default: the current release.

    Raises
    ------
    ReleaseNotFoundError
        No such release, or one published without sub-cohort structures.
    """
    release = export_release_id(db, release, fmt, FORMATS)
    rd = release_path(db, release)
    if not (rd / "release.json").exists():
        raise ReleaseNotFoundError(f"release {release} is not published in {db}")
    try:
        sc = SubcohortIndex(rd)
    except FileNotFoundError:
        raise ReleaseNotFoundError(
            f"release {release} was published without sub-cohort structures; load a batch to publish one that has them"
        ) from None
    except ValueError as e:  # written by an older version of variantdb
        raise ReleaseNotFoundError(
            f"release {release}: {e}; load a batch to publish one that has them"
        ) from None
    ix = ReleaseIndex.open(rd)
    reg = parse_region(region) if region else None
    tables = _tables(rd, ix, sc, f, reg)
    schema = subcohort_schema()
    described = {"release": release, "filter": f.as_dict(), "n_samples": sc.mask(f).n}
    schema = schema.with_metadata({**schema.metadata, b"variantdb_subcohort": json.dumps(described).encode()})
    if fmt == "parquet":
        if out is None:
            raise ValueError("parquet export needs -o FILE")
        return write_parquet(tables, schema, out)
    if fmt == "tsv":
        return write_tsv(tables, schema, out)
    return _write_vcf(tables, out, release, described)


def _write_vcf(tables: Iterator[pa.Table], out: Path | None, release: str, described: dict[str, Any]) -> int:
    lines = [
        f"##variantdb_release={release}",
        "##variantdb_subcohort=" + json.dumps(described["filter"], ensure_ascii=True),
        f"##variantdb_subcohort_samples={described['n_samples']}",
    ]
    return write_sites_vcf(tables, subcohort_schema(), lines, out, f" (sub-cohort, release {release})")
