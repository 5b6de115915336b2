"""Tell whether two databases' current releases hold the same tables, value for value.

Compares every Parquet table of the current release (variants per contig, AN,
coverage, sub-cohort samples) as Arrow tables, and the calls and gaps of every
batch as sorted row sets (their order in the part files is the reader's). Used to
check that a reader change keeps the release byte-identical in content.

Example::

    python benchmarks/compare_releases.py /tmp/before/db /tmp/after/db
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

__all__ = ["compare", "main"]


def _release(db: Path) -> Path:
    return db / "releases" / (db / "CURRENT").read_text().strip()


def _sorted(table: pa.Table) -> pa.Table:
    return table.sort_by([(name, "ascending") for name in table.column_names])


def compare(a: Path, b: Path) -> list[str]:
    """Return the differences between the current releases (and stored calls and gaps) of two databases."""
    diffs: list[str] = []
    ra, rb = _release(a), _release(b)
    files_a = {p.relative_to(ra) for p in ra.rglob("*.parquet")}
    files_b = {p.relative_to(rb) for p in rb.rglob("*.parquet")}
    if files_a != files_b:
        diffs.append(f"release tables differ: {sorted(map(str, files_a ^ files_b))}")
    for rel in sorted(files_a & files_b):
        ta, tb = pq.read_table(ra / rel), pq.read_table(rb / rel)
        if not ta.equals(tb):
            diffs.append(f"{rel}: {ta.num_rows} vs {tb.num_rows} rows, tables differ")
    for kind in ("calls", "gaps"):
        ta = _sorted(ds.dataset(a / kind, partitioning="hive").to_table())
        tb = _sorted(ds.dataset(b / kind, partitioning="hive").to_table())
        if not ta.equals(tb):
            diffs.append(f"{kind}: {ta.num_rows} vs {tb.num_rows} rows, row sets differ")
    return diffs


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: exit 1 and list the differences if the releases differ."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("before", type=Path)
    p.add_argument("after", type=Path)
    args = p.parse_args(argv)
    diffs = compare(args.before, args.after)
    for d in diffs:
        print(d)
    print("same" if not diffs else f"{len(diffs)} difference(s)")
    return 1 if diffs else 0


if __name__ == "__main__":
    sys.exit(main())
