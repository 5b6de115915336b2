"""What changed between two releases: variants added, removed, and with AF changed.

One DuckDB query over the two releases' variant files (a full outer join on
chrom, pos, ref, alt), with the file lists and the threshold as parameters.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow as pa

from variantdb.genome import CONTIGS
from variantdb.release.files import read_release_meta
from variantdb.store.layout import literal_paths, release_path, variants_file

__all__ = ["DIFF_SCHEMA", "diff_releases"]

DIFF_SCHEMA = pa.schema(
    [
        pa.field("change", pa.string(), metadata={"description": "added, removed or af_changed"}),
        pa.field("chrom", pa.string(), metadata={"description": "contig (GRCh38, chr-prefixed)"}),
        pa.field("pos", pa.int32(), metadata={"description": "1-based position"}),
        pa.field("ref", pa.string(), metadata={"description": "reference allele"}),
        pa.field("alt", pa.string(), metadata={"description": "alternate allele"}),
        pa.field("ac_old", pa.int32(), metadata={"description": "AC (adj, founders) in the old release"}),
        pa.field("an_old", pa.int32(), metadata={"description": "AN in the old release"}),
        pa.field("af_old", pa.float64(), metadata={"description": "AF in the old release"}),
        pa.field("ac_new", pa.int32(), metadata={"description": "AC in the new release"}),
        pa.field("an_new", pa.int32(), metadata={"description": "AN in the new release"}),
        pa.field("af_new", pa.float64(), metadata={"description": "AF in the new release"}),
    ]
)

_EMPTY = "SELECT NULL::VARCHAR AS chrom, NULL::INTEGER AS pos, NULL::VARCHAR AS ref, NULL::VARCHAR AS alt, NULL::BIGINT AS ac, NULL::BIGINT AS an, NULL::DOUBLE AS af WHERE false"
_SIDE = "SELECT chrom, pos, ref, alt, ac, an, af FROM read_parquet(?)"


def _files(db: Path, release_id: str) -> list[str]:
    read_release_meta(db, release_id)  # raises ReleaseNotFoundError for an unknown or pruned release
    root = release_path(db, release_id)
    return [str(variants_file(root, c)) for c in CONTIGS if variants_file(root, c).exists()]


def diff_releases(db: Path, old: str, new: str, af_threshold: float = 0.0) -> pa.Table:
    """Return the variants added, removed, and with AF changed by more than ``af_threshold``.

    Parameters
    ----------
    db
        Database directory.
    old, new
        Release ids.
    af_threshold
        An AF change counts when ``|af_new - af_old| > af_threshold``; a change to or
        from no AF (AN 0) always counts. Default 0.0 (any change).

    Returns
    -------
    pyarrow.Table
        :data:`DIFF_SCHEMA`, in contig order, then position, REF, ALT.
    """
    if af_threshold < 0:
        raise ValueError(f"--af-threshold must be >= 0, not {af_threshold}")
    old_files, new_files = _files(db, old), _files(db, new)
    params: list[object] = []
    sides = []
    for files in (old_files, new_files):
        if files:
            sides.append(_SIDE)
            params.append(literal_paths(files))
        else:
            sides.append(_EMPTY)
    sql = f"""
        WITH o AS ({sides[0]}), n AS ({sides[1]})
        SELECT
            CASE WHEN o.chrom IS NULL THEN 'added' WHEN n.chrom IS NULL THEN 'removed' ELSE 'af_changed' END
                AS change,
            coalesce(n.chrom, o.chrom) AS chrom, coalesce(n.pos, o.pos)::INTEGER AS pos,
            coalesce(n.ref, o.ref) AS ref, coalesce(n.alt, o.alt) AS alt,
            o.ac::INTEGER AS ac_old, o.an::INTEGER AS an_old, o.af::DOUBLE AS af_old,
            n.ac::INTEGER AS ac_new, n.an::INTEGER AS an_new, n.af::DOUBLE AS af_new
        FROM o FULL OUTER JOIN n
            ON o.chrom = n.chrom AND o.pos = n.pos AND o.ref = n.ref AND o.alt = n.alt
        WHERE o.chrom IS NULL OR n.chrom IS NULL
            OR (o.af IS DISTINCT FROM n.af
                AND (o.af IS NULL OR n.af IS NULL OR abs(n.af - o.af) > ?))
        ORDER BY list_position(?, coalesce(n.chrom, o.chrom)), pos, ref, alt
    """
    con = duckdb.connect()
    try:
        table = con.sql(sql, params=[*params, af_threshold, list(CONTIGS)]).to_arrow_table()
    finally:
        con.close()
    return table.cast(DIFF_SCHEMA)
