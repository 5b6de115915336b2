"""Coverage benchmark: the cost of the coverage track at publish, its size, and look-up latency.

One seeded gVCF cohort (:mod:`benchmarks.cohort`) is loaded; then, on its release:

- ``write_coverage`` is timed alone (it re-reads the gaps and rewrites
  ``coverage.parquet``), beside the whole load;
- ``CoverageTrack.at`` (one position) and ``CoverageTrack.summary`` (a 100 kb
  region) are timed warm, in-process;
- ``GET /v1/coverage/CHROM:POS`` and ``GET /v1/coverage/CHROM:START-END`` are
  timed through FastAPI's in-process test client (no network).

Usage::

    python -m benchmarks.bench_coverage --samples 300 --sites 10000 --seed 1 --work /tmp/coverage/bench
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from benchmarks.cohort import generate_cohort
from variantdb.load import load_batch
from variantdb.release.coverage import COVERAGE_FILE, CoverageTrack, write_coverage
from variantdb.release.files import read_current, read_release_meta
from variantdb.store.layout import release_path
from variantdb.store.registry import Registry

__all__ = ["main"]


def _median_us(fn: object, args: list[tuple[object, ...]]) -> float:
    times = []
    for a in args:
        t = time.perf_counter()
        fn(*a)  # type: ignore[operator]
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1e6


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print a Markdown table."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--samples", type=int, default=300)
    p.add_argument("--sites", type=int, default=10000)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--work", type=Path, default=Path("/tmp/coverage/bench"))
    p.add_argument("--queries", type=int, default=2000)
    args = p.parse_args(argv)

    if args.work.exists():
        shutil.rmtree(args.work)
    t = time.perf_counter()
    manifest = generate_cohort(
        args.work / "cohort", args.samples, args.sites, args.seed, layout="single", gvcf=True
    )
    gen_s = time.perf_counter() - t
    db = args.work / "db"
    t = time.perf_counter()
    load_batch(db, manifest, reference=args.work / "cohort" / "ref.fa", batch_name="b1", workers=2)
    load_s = time.perf_counter() - t
    rid = read_current(db) or ""
    rel = release_path(db, rid)
    with Registry(db) as reg:
        samples = reg.samples()
    t = time.perf_counter()
    write_coverage(rel, samples, [db / "gaps" / "batch=b1"])
    cov_s = time.perf_counter() - t
    track_rows = pq.ParquetFile(rel / COVERAGE_FILE).metadata.num_rows
    an_rows = pq.ParquetFile(rel / "an.parquet").metadata.num_rows
    size_mb = (rel / COVERAGE_FILE).stat().st_size / 1e6
    n_gaps = sum(pq.ParquetFile(f).metadata.num_rows for f in (db / "gaps").rglob("*.parquet"))

    track = CoverageTrack(rel, read_release_meta(db, rid)["coverage"]["n_samples"])
    cov = pq.read_table(rel / COVERAGE_FILE).to_pydict()
    chroms = sorted(set(cov["chrom"]))
    rng = np.random.default_rng(args.seed)
    busy = [(c, s) for c, s, n in zip(cov["chrom"], cov["start"], cov["n_covered"], strict=True) if n > 0]
    picks = [busy[i] for i in rng.integers(0, len(busy), args.queries)]
    for c in chroms:
        track.at(c, 1)  # warm: load each contig once
    at_us = _median_us(track.at, picks)
    regions = [(c, s, s + 99_999) for c, s in picks[: args.queries // 4]]
    summary_us = _median_us(lambda c, s, e: track.summary(c, s, e, 10), regions)

    from fastapi.testclient import TestClient

    from variantdb.api.main import create_app

    with TestClient(create_app(db)) as client:
        client.get(f"/v1/coverage/{picks[0][0]}:{picks[0][1]}")
        pos_us = _median_us(lambda c, s: client.get(f"/v1/coverage/{c}:{s}"), picks[:500])
        reg_us = _median_us(lambda c, s, e: client.get(f"/v1/coverage/{c}:{s}-{e}"), regions[:300])

    print(
        f"cohort: {args.samples} gVCF samples, {args.sites} sites, seed {args.seed}; generated in {gen_s:.1f} s"
    )
    print()
    print("| measure | value |")
    print("| --- | ---: |")
    for name, value in (
        ("variantdb load (whole, coverage included), s", f"{load_s:.1f}"),
        ("write_coverage alone, s", f"{cov_s:.2f}"),
        ("gap rows read", f"{n_gaps:,}"),
        ("coverage segments (all contigs)", f"{track_rows:,}"),
        ("AN track segments, for comparison", f"{an_rows:,}"),
        ("coverage.parquet, MB", f"{size_mb:.2f}"),
        ("CoverageTrack.at, median us (warm)", f"{at_us:.1f}"),
        ("CoverageTrack.summary of 100 kb, median us", f"{summary_us:.1f}"),
        ("GET /v1/coverage/CHROM:POS, median us (in-process client)", f"{pos_us:.0f}"),
        ("GET /v1/coverage/CHROM:START-END (100 kb), median us", f"{reg_us:.0f}"),
    ):
        print(f"| {name} | {value} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
