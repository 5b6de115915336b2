"""The raw store's helpers: paths DuckDB reads literally."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from variantdb.store.batches import stored_sample_idx

NAMES = ["b1", "b2", "b?", "b*", "b[1]", "b]", "b{1,2}"]


def _batches(root: Path) -> None:
    for k, name in enumerate(NAMES):
        folder = root / "calls" / f"batch={name}"
        folder.mkdir(parents=True)
        pq.write_table(pa.table({"sample_idx": pa.array([k], pa.int32())}), folder / "part.parquet")


def test_stored_sample_idx_reads_only_its_batch(tmp_path: Path) -> None:
    """A folder named like a glob (``batch=b?``) is not read as one (``check`` blamed b1's rows on b?)."""
    _batches(tmp_path)
    assert {name: stored_sample_idx(tmp_path, "calls", name) for name in NAMES} == {
        name: {k} for k, name in enumerate(NAMES)
    }


def test_literal_paths_read_only_the_named_file(tmp_path: Path) -> None:
    from variantdb.store.layout import literal_paths

    _batches(tmp_path)
    con = duckdb.connect()
    for k, name in enumerate(NAMES):
        path = tmp_path / "calls" / f"batch={name}" / "part.parquet"
        got = con.execute("SELECT sample_idx FROM read_parquet(?)", [literal_paths([path])]).fetchall()
        assert got == [(k,)], name
