"""Time the lifecycle commands on a seeded cohort loaded as several batches.

Run: ``python -m benchmarks.bench_lifecycle --samples 200 --sites 5000 --batches 4 --work /tmp/NAME/bench``.
Prints one line per step (seconds, in-process, best of one: the figures are for scale, not precision).
"""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path


def main() -> None:
    from benchmarks.cohort import generate_cohort
    from variantdb.lifecycle import export_research, publish, set_research_opt_out, withdraw
    from variantdb.load import load_batch
    from variantdb.release.check import check_database
    from variantdb.release.diff import diff_releases
    from variantdb.release.files import read_current

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--sites", type=int, default=5000)
    parser.add_argument("--batches", type=int, default=4)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--work", type=Path, default=Path("/tmp/variantdb-bench-lifecycle"))
    args = parser.parse_args()
    if args.work.exists():
        shutil.rmtree(args.work)
    manifest = generate_cohort(args.work / "cohort", args.samples, args.sites, args.seed, layout="single")
    lines = manifest.read_text().splitlines()
    size = -(-(len(lines) - 1) // args.batches)
    db = args.work / "db"
    ids = [line.split("\t")[0] for line in lines[1:]]

    def timed(label: str, fn: object) -> object:
        t0 = time.perf_counter()
        result = fn()  # type: ignore[operator]
        print(f"{label:55s} {time.perf_counter() - t0:8.2f} s")
        return result

    for b in range(args.batches):
        part = manifest.parent / f"b{b}.tsv"
        part.write_text("\n".join([lines[0], *lines[1 + b * size : 1 + (b + 1) * size]]) + "\n")
        timed(
            f"load batch b{b} ({size} samples)",
            lambda part=part, b=b: load_batch(db, part, manifest.parent / "ref.fa", f"b{b}", workers=1),
        )
    before = read_current(db)
    timed("withdraw 1 sample (rewrite 1 batch, full re-aggregation)", lambda: withdraw(db, [ids[0]]))
    timed(
        f"withdraw {args.batches} samples, one per batch",
        lambda: withdraw(db, [ids[i * size + 1] for i in range(args.batches)]),
    )
    timed("publish (full rebuild)", lambda: publish(db))
    table = timed(
        "diff first-full and latest release", lambda: diff_releases(db, before or "", read_current(db) or "")
    )
    print(f"  {table.num_rows} rows")  # type: ignore[attr-defined]
    report = timed("check (checksums + registry vs store)", lambda: check_database(db))
    assert report.ok, report.problems  # type: ignore[attr-defined]
    timed("consent --research-opt-out 10 samples", lambda: set_research_opt_out(db, ids[10:20], True))
    timed(
        "export --purpose research (parquet)",
        lambda: export_research(db, "parquet", args.work / "research.parquet"),
    )


if __name__ == "__main__":
    main()
