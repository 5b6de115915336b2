"""Peak memory of the AN track as the number of gVCFs grows: a contig's gaps at once, or streamed by bins.

The gap rows of a loaded database of simulated gVCFs (``benchmarks/simulate.py
--gvcf``, loaded by ``variantdb load``) are copied ``k`` times with the samples
renumbered, standing for ``k`` times as many gVCFs of the same kind; for each
``k`` a fresh process builds the contig's AN track either from all its gap rows
in memory (``compute_an_track``, the method before) or streamed in sorted bins
(``compute_an_track_from_files``), and reports its peak RSS
(``getrusage(RUSAGE_SELF).ru_maxrss``) and wall time. Both tracks are checked
equal.

    python -m benchmarks.bench_an_memory --db /tmp/national/db --chrom chr22 --copies 8 16 32
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

HERE = Path(__file__).resolve().parent


def _cohort(n: int) -> Any:
    from variantdb.release.aggregate import make_cohort

    sexes = ["XX" if i % 2 else "XY" for i in range(n)]
    return make_cohort(
        pa.table(
            {
                "sample_idx": pa.array(range(n), pa.int32()),
                "sample_id": [f"S{i}" for i in range(n)],
                "sex": sexes,
                "region": ["Hovedstaden"] * n,
                "patient_group": [None] * n,
                "family_id": [None] * n,
                "father_id": [None] * n,
                "mother_id": [None] * n,
            }
        )
    )


def replicate(db: Path, chrom: str, copies: int, out: Path) -> tuple[list[str], int, int]:
    """Write ``copies`` renumbered copies of the contig's gap files; return (files, samples, rows)."""
    from variantdb.release.aggregate import call_files_for

    src = call_files_for(sorted((db / "gaps").glob("batch=*")), chrom)
    tables = [pq.read_table(f) for f in src]
    n = 1 + max(int(np.max(t.column("sample_idx").to_numpy())) for t in tables if t.num_rows)
    out.mkdir(parents=True, exist_ok=True)
    files = []
    rows = 0
    for k in range(copies):
        for j, t in enumerate(tables):
            idx = t.column("sample_idx").to_numpy().astype(np.int32) + np.int32(k * n)
            path = out / f"copy{k:03d}-{j:03d}.parquet"
            pq.write_table(
                t.set_column(t.schema.get_field_index("sample_idx"), "sample_idx", pa.array(idx)), path
            )
            files.append(str(path))
            rows += t.num_rows
    return files, n * copies, rows


def _child(method: str, chrom: str, files: list[str], n: int, out: Path) -> dict[str, Any]:
    from variantdb.release.aggregate import compute_an_track, compute_an_track_from_files
    from variantdb.schema import GAPS_SCHEMA

    cohort = _cohort(n)
    t0 = time.perf_counter()
    if method == "whole":
        track = compute_an_track(chrom, pq.ParquetDataset(files, schema=GAPS_SCHEMA).read(), cohort)
    else:
        track = compute_an_track_from_files(chrom, files, cohort, memory_mb=256, spill=out.parent / "spill")
    seconds = time.perf_counter() - t0
    pq.write_table(track, out)
    return {
        "seconds": seconds,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "segments": track.num_rows,
    }


def main(argv: list[str] | None = None) -> int:
    """Command line; see the module docstring."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--db", type=Path, required=True)
    p.add_argument("--chrom", default="chr22")
    p.add_argument("--copies", type=int, nargs="+", default=[8, 16, 32])
    p.add_argument("--work", type=Path, default=Path("/tmp/bench_an_memory"))
    p.add_argument("--out", type=Path, default=HERE / "results_an_memory.json")
    p.add_argument("--_child", nargs=4, help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a._child:
        method, files_json, n, out = a._child
        print(
            json.dumps(_child(method, a.chrom, json.loads(Path(files_json).read_text()), int(n), Path(out)))
        )
        return 0
    results = []
    for copies in a.copies:
        work = a.work / f"x{copies}"
        files, n, rows = replicate(a.db, a.chrom, copies, work / "gaps")
        listing = work / "files.json"
        listing.write_text(json.dumps(files))
        row: dict[str, Any] = {"copies": copies, "samples": n, "gap_rows": rows}
        for method in ("whole", "streamed"):
            proc = subprocess.run(
                [sys.executable, "-m", "benchmarks.bench_an_memory", "--chrom", a.chrom, "--db", str(a.db),
                 "--_child", method, str(listing), str(n), str(work / f"{method}.parquet")],
                check=True, capture_output=True, text=True, cwd=HERE.parent,
            )  # fmt: skip
            row[method] = json.loads(proc.stdout.strip().splitlines()[-1])
        row["equal"] = pq.read_table(work / "whole.parquet").equals(pq.read_table(work / "streamed.parquet"))
        print(json.dumps(row))
        results.append(row)
    a.out.write_text(json.dumps({"command": " ".join(sys.argv), "results": results}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
