"""Write a release's coverage track (``variantdb export --table coverage``) as TSV or Parquet.

One row per segment of constant coverage: ``chrom``, ``start``, ``end`` (1-based
inclusive), then the covered samples, all and per technology
(:func:`variantdb.release.coverage.coverage_columns`). With ``--region`` the segments are
clipped to it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from variantdb.export import export_release_id, parse_region, write_parquet, write_tsv
from variantdb.release.coverage import COVERAGE_FILE, coverage_schema
from variantdb.store.layout import release_path

__all__ = ["COVERAGE_FORMATS", "export_coverage"]

COVERAGE_FORMATS = ("tsv", "parquet")


def _tables(path: Path, region: tuple[str, int, int] | None) -> Iterator[pa.Table]:
    pf = pq.ParquetFile(path)
    for g in range(pf.num_row_groups):
        t = pf.read_row_group(g)
        if region is None:
            yield t
            continue
        chrom, start, end = region
        t = t.filter(
            pc.and_(
                pc.equal(t["chrom"], chrom),
                pc.and_(pc.greater_equal(t["end"], start), pc.less_equal(t["start"], end)),
            )
        )
        if t.num_rows:
            s = np.maximum(t.column("start").to_numpy(), start)
            e = np.minimum(t.column("end").to_numpy(), end)
            t = t.set_column(1, "start", pa.array(s, pa.int32())).set_column(
                2, "end", pa.array(e, pa.int32())
            )
            yield t


def export_coverage(
    db: Path, fmt: str, out: Path | None, region: str | None = None, release: str | None = None
) -> int:
    """Write the coverage track of a release; return the number of segments written.

    Parameters
    ----------
    db
        Database directory.
    fmt
        ``tsv`` or ``parquet``.
    out
        Output file; None writes TSV to standard output.
    region
        ``chr1:1-1000`` (1-based, inclusive). Default: every contig.
    release
        Release id. Default: the current release.

    Raises
    ------
    ValueError
        For another format, Parquet without ``out``, or a release without a coverage track.
    """
    release = export_release_id(db, release, fmt, COVERAGE_FORMATS, " for the coverage table")
    path = release_path(db, release) / COVERAGE_FILE
    if not path.is_file():
        raise ValueError(
            f"release {release} has no coverage track ({path}); it was published before coverage existed"
        )
    reg = parse_region(region) if region else None
    schema = coverage_schema()
    if fmt == "parquet":
        if out is None:
            raise ValueError("parquet export needs -o FILE")
        return write_parquet(_tables(path, reg), schema, out)
    return write_tsv(_tables(path, reg), schema, out)
