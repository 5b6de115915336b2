"""Load on Dask: throughput with 1 and 2 local Dask workers beside the peers, and per-genome costs.

One run, one seeded cohort of single-sample VCFs (:mod:`benchmarks.cohort`), the
same input for every tool:

- ``variantdb load`` in-process with one worker (the cost of one core), with the
  default process pool, and on a local Dask cluster (``--scheduler local
  --workers N``) for each N of ``--dask-workers``; each run is its own fresh
  process, timed by :func:`benchmarks.bench_load.measure`, and records when
  reading ended and the release began (from the loader's progress callback);
- ``bcftools merge -0 | +fill-tags`` and ``afquery create-db`` (``--threads``
  the CPU count), as in :mod:`benchmarks.bench_load`.

Then the costs ``benchmarks/SCALE.md`` extrapolates from, each measured on the
inputs named: read time per record, on the synthetic VCFs and on the real
NA12878 chr21 VCF and 1000 Genomes gVCFs in ``tests/data``; stored calls and
gaps (rows and bytes) per record; aggregation time per call and per variant;
release bytes per variant.

Usage::

    python -m benchmarks.bench_dask --samples 500 --sites 20000 --seed 1 \\
        --dask-workers 1,2 --work /tmp/bench-dask --write-results
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.bench_load import (
    RESULTS,
    _afquery_manifest,
    _du,
    machine,
    measure,
    merge_fill_tags,
    write_section,
)
from variantdb.manifest import read_manifest

__all__ = ["main"]

DATA = Path(__file__).parent.parent / "tests" / "data"
SECTION = "## Load on Dask"


def _load_child(argv: Sequence[str]) -> int:
    """Run one load in this process and write its phase times, report and sizes as JSON."""
    p = argparse.ArgumentParser()
    p.add_argument("db", type=Path)
    p.add_argument("manifest", type=Path)
    p.add_argument("out", type=Path)
    p.add_argument("--reference", type=Path)
    p.add_argument("--scheduler")
    p.add_argument("--workers", type=int)
    a = p.parse_args(argv)
    from contextlib import ExitStack

    import duckdb
    import pyarrow.parquet as pq

    from variantdb.distributed import open_cluster
    from variantdb.load import load_batch

    marks: dict[str, float] = {}
    cpu: dict[str, float] = {}

    def progress(stage: str, advance: int, total: int | None) -> None:
        now = time.perf_counter()
        marks.setdefault(f"first_{stage}", now)
        cpu.setdefault(f"first_{stage}", time.process_time())
        marks[f"last_{stage}"] = now

    t0 = time.perf_counter()
    with ExitStack() as stack:
        cluster = None
        if a.scheduler:
            cluster = stack.enter_context(open_cluster(a.scheduler, a.workers))
        t_cluster, cpu_start = time.perf_counter(), time.process_time()
        report = load_batch(
            a.db, a.manifest, a.reference, "bench", progress=progress, workers=a.workers, cluster=cluster
        )
        t_end, cpu_end = time.perf_counter(), time.process_time()
    release = a.db / "releases" / str(report.release)

    def rows(kind: str) -> int:
        files = [str(f) for f in sorted((a.db / kind).rglob("*.parquet"))]
        if not files:
            return 0
        return int(duckdb.sql("SELECT count(*) FROM read_parquet($f)", params={"f": files}).fetchall()[0][0])

    out = {
        "cluster_start_s": t_cluster - t0,
        "read_s": marks["first_aggregate"] - t_cluster,
        "publish_s": t_end - marks["first_aggregate"],
        "aggregate_s": marks["last_aggregate"] - marks["first_aggregate"],
        "load_s": t_end - t_cluster,
        # CPU seconds of this process (all its threads): the cost of one core whatever else
        # the machine runs; meaningful for in-process loads (--workers 1), where all work is here.
        "read_cpu_s": cpu["first_aggregate"] - cpu_start,
        "publish_cpu_s": cpu_end - cpu["first_aggregate"],
        "totals": report.totals(),
        "samples": report.samples,
        "n_variants": report.n_variants,
        "calls_rows": rows("calls"),
        "calls_bytes": _du(a.db / "calls"),
        "gaps_rows": rows("gaps"),
        "gaps_bytes": _du(a.db / "gaps"),
        "release_bytes": _du(release),
        "variants_bytes": _du(release / "variants"),
        "an_track_bytes": _du(release / "an.parquet"),
        "an_track_rows": pq.ParquetFile(release / "an.parquet").metadata.num_rows,
        "index_bytes": _du(release / "index"),
    }
    a.out.write_text(json.dumps(out, indent=1))
    return 0


def _variantdb_run(
    work: Path, label: str, manifest: Path, ref: Path | None, extra: Sequence[str]
) -> dict[str, Any]:
    db = work / f"db-{label}"
    shutil.rmtree(db, ignore_errors=True)
    out = work / f"{label}.json"
    cmd = [sys.executable, "-m", "benchmarks.bench_dask", "_load", str(db), str(manifest), str(out), *extra]
    if ref is not None:
        cmd += ["--reference", str(ref)]
    seconds, rss = measure(cmd, work / f"{label}.log")
    result: dict[str, Any] = json.loads(out.read_text())
    result.update(wall_s=seconds, maxrss_mb=rss)
    shutil.rmtree(db, ignore_errors=True)
    return result


def run(
    work: Path, n_samples: int, n_sites: int, seed: int, dask_workers: list[int], gvcf_samples: int
) -> dict[str, Any]:
    """Generate the cohort, time every tool on it and measure the per-record costs; return all figures."""
    load_before = os.getloadavg()
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    cohort = work / "single"
    gen_s, _ = measure(
        [sys.executable, "-c",
         "import sys; from benchmarks.cohort import generate_cohort; "
         f"generate_cohort(sys.argv[1], {n_samples}, {n_sites}, {seed}, layout='single', unknown_sex_fraction=0.0)",
         str(cohort)],
        work / "generate.log",
    )  # fmt: skip
    info = json.loads((cohort / "cohort.json").read_text())
    manifest, ref = cohort / "manifest.tsv", cohort / "ref.fa"
    ncpu = os.cpu_count() or 1
    runs: list[dict[str, Any]] = []

    def ours(label: str, name: str, extra: list[str]) -> None:
        r = _variantdb_run(work, label, manifest, ref, extra)
        runs.append({"name": name, "kind": "ours", **r})

    ours("inprocess-1", "variantdb load --workers 1 (in-process)", ["--workers", "1"])
    ours("pool", f"variantdb load (process pool, {min(8, ncpu)} workers)", [])
    for n in dask_workers:
        ours(
            f"dask-{n}",
            f"variantdb load --scheduler local --workers {n}",
            ["--scheduler", "local", "--workers", str(n)],
        )

    listing = work / "vcfs.txt"
    listing.write_text("".join(f"{r.vcf}\n" for r in read_manifest(manifest)))
    bcf = work / "bcftools.bcf"
    s, rss = measure(merge_fill_tags(listing, bcf), work / "bcftools.log")
    runs.append({"name": "bcftools merge -0 \\| +fill-tags", "kind": "peer", "wall_s": s, "maxrss_mb": rss})
    afq_db = work / "afquery-db"
    s, rss = measure(
        [str(Path(sys.executable).parent / "afquery"), "create-db", "--manifest",
         str(_afquery_manifest(manifest, work / "afquery-manifest.tsv")), "--output-dir", str(afq_db),
         "--genome-build", "GRCh38", "--threads", str(ncpu), "--force"],
        work / "afquery.log",
    )  # fmt: skip
    runs.append(
        {"name": f"afquery create-db --threads {ncpu}", "kind": "peer", "wall_s": s, "maxrss_mb": rss}
    )
    shutil.rmtree(afq_db, ignore_errors=True)

    # Real inputs, one core, for per-record costs of real VCFs and gVCFs.
    real_vcf = work / "na12878" / "manifest.tsv"
    real_vcf.parent.mkdir()
    real_vcf.write_text(
        f"sample_id\tvcf\tsex\nNA12878\t{DATA / 'na12878-chr21' / 'PG_NA12878_hg38-chr21.vcf.gz'}\tXX\n"
    )
    gvcf_dir = work / "gvcf"
    measure(
        [sys.executable, "-c",
         "import sys; from benchmarks.cohort import generate_cohort; "
         f"generate_cohort(sys.argv[1], {gvcf_samples}, {n_sites}, {seed}, layout='single', gvcf=True)",
         str(gvcf_dir)],
        work / "generate-gvcf.log",
    )  # fmt: skip
    real = {
        "gvcf_synthetic": _variantdb_run(
            work, "gvcf-synthetic", gvcf_dir / "manifest.tsv", gvcf_dir / "ref.fa", ["--workers", "1"]
        ),
        "na12878_chr21": _variantdb_run(work, "na12878", real_vcf, None, ["--workers", "1"]),
        "gvcf_1kg_chr22": _variantdb_run(
            work, "gvcf-1kg", DATA / "gvcf-1kg-chr22" / "manifest.tsv", None, ["--workers", "1"]
        ),
    }
    return {
        "data": {"samples": n_samples, "sites": info["n_sites"], "seed": seed, "records": info["n_records"],
                 "vcf_bytes": info["bytes"], "founders": info["n_founders"], "generate_s": round(gen_s, 1)},
        "runs": runs,
        "real": real,
        "gvcf_samples": gvcf_samples,
        "loadavg": [round(x, 1) for x in (*load_before, *os.getloadavg())],
    }  # fmt: skip


def render(res: dict[str, Any], env: dict[str, str], command: str) -> str:
    """Return the RESULTS.md section."""
    d = res["data"]
    base = next(r for r in res["runs"] if r["name"].startswith("variantdb load --workers 1"))
    lines = [
        SECTION,
        "",
        f"Measured {res.get('measured', dt.datetime.now(dt.UTC).strftime('%Y-%m-%d %H:%M UTC'))} with:",
        "",
        "```",
        command,
        "```",
        "",
        f"Machine: {env['nproc']} CPUs ({env['cpu']}), {env['ram']} RAM, shared with other work (load "
        f"average {res['loadavg'][0]} before the run, {res['loadavg'][3]} after: the wall times are slowed "
        f"by it, the CPU times below much less); {env['bcftools']}; {env['afquery']}.",
        "",
        f"Data: synthetic cohort (`benchmarks.cohort`, seed {d['seed']}), {d['samples']:,} single-sample "
        f"bgzipped VCFs ({d['founders']:,} founders), {d['sites']:,} sites, {d['records']:,} records, "
        f"{d['vcf_bytes'] / 1e6:,.1f} MB; ours with `--reference` (REF checked, indels left-aligned). "
        "Every tool reads the same files, each in a fresh process; wall time includes starting the "
        "local cluster for the Dask rows (given apart). Genotypes = samples x sites.",
        "",
        "| tool | wall s | cluster start s | read s | publish s | records/s | genotypes/s | peak RSS MB "
        "| peer s / this s |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    peers = [r for r in res["runs"] if r["kind"] == "peer"]
    for r in res["runs"]:
        ratio = ""
        if r["kind"] == "ours":
            ratio = ", ".join(f"{p['name'].split(' ')[0]} {p['wall_s'] / r['wall_s']:.2f}" for p in peers)
        lines.append(
            f"| {r['name']} | {r['wall_s']:,.1f} | "
            + (
                f"{r['cluster_start_s']:,.1f} | {r['read_s']:,.1f} | {r['publish_s']:,.1f} | "
                if r["kind"] == "ours"
                else "| | | "
            )
            + f"{d['records'] / r['wall_s']:,.0f} | {d['records'] and d['samples'] * d['sites'] / r['wall_s']:,.0f} | "
            f"{r['maxrss_mb']:,.0f} | {ratio} |"
        )
    dask_rows = [r for r in res["runs"] if "--scheduler" in r["name"]]
    if len(dask_rows) >= 2:
        one, two = dask_rows[0], dask_rows[-1]
        lines += [
            "",
            f"Speed-up of the Dask load from {one['name'].rsplit(' ', 1)[1]} to {two['name'].rsplit(' ', 1)[1]} "
            f"workers: {one['wall_s'] / two['wall_s']:.2f}x wall, {one['read_s'] / two['read_s']:.2f}x "
            f"reading, {one['publish_s'] / two['publish_s']:.2f}x publishing (on 2 shared CPUs).",
        ]
    lines += [
        "",
        "`peer s / this s` above 1 means the peer took longer. Read = manifest check to the last file "
        "read; publish = aggregation per contig, AN track, index and release files. A second worker can "
        "only help where a CPU is idle: with the load average above the CPU count (other work on the "
        "machine), the 1- and 2-worker rows measure the share of the CPUs the run got, not the "
        "engine's scaling, so the per-core CPU costs below, not these wall times, feed `SCALE.md`. "
        "The peers do less (no normalization, adj, strata, gaps or index; see the Load section).",
        "",
        "### Per-record costs (inputs of `benchmarks/SCALE.md`)",
        "",
        "One core (`--workers 1`, in-process), from the same run; CPU = user + system seconds of the "
        "loading process:",
        "",
        "| input | records | read s | read CPU s | CPU µs/record | calls | call bytes | gap rows | gap bytes "
        "| variants | publish CPU s | release bytes |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    rows = [(f"synthetic, {d['samples']} VCFs", base)] + [
        (name, r)
        for name, r in (
            (f"synthetic, {res['gvcf_samples']} gVCFs", res["real"]["gvcf_synthetic"]),
            ("NA12878 chr21 VCF (real)", res["real"]["na12878_chr21"]),
            ("50 1000 Genomes gVCFs, chr22 slice (real)", res["real"]["gvcf_1kg_chr22"]),
        )
    ]
    for name, r in rows:
        t = r["totals"]
        lines.append(
            f"| {name} | {t['records']:,} | {r['read_s']:,.2f} | {r['read_cpu_s']:,.2f} | "
            f"{r['read_cpu_s'] / t['records'] * 1e6:,.1f} | "
            f"{r['calls_rows']:,} | {r['calls_bytes']:,} | {r['gaps_rows']:,} | {r['gaps_bytes']:,} | "
            f"{r['n_variants']:,} | {r['publish_cpu_s']:,.2f} | {r['release_bytes']:,} |"
        )
    lines += [
        "",
        f"Synthetic run: {base['calls_bytes'] / max(1, base['calls_rows']):.2f} bytes per stored call, "
        f"publishing {base['publish_cpu_s'] / max(1, base['calls_rows']) * 1e6:.2f} CPU µs per call "
        f"({base['publish_cpu_s'] / max(1, base['n_variants']) * 1e6:.0f} CPU µs per variant), "
        f"release {base['release_bytes'] / max(1, base['n_variants']):,.0f} bytes per variant "
        f"(variant table {base['variants_bytes'] / max(1, base['n_variants']):,.0f}, index "
        f"{base['index_bytes'] / max(1, base['n_variants']):,.0f}).",
        "",
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Command line; see the module docstring."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["_load"]:
        return _load_child(args[1:])
    p = argparse.ArgumentParser(prog="python -m benchmarks.bench_dask", description=__doc__.splitlines()[0])
    p.add_argument("--samples", type=int, default=500)
    p.add_argument("--sites", type=int, default=20_000)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--dask-workers", default="1,2", help="comma-separated local cluster sizes")
    p.add_argument("--gvcf-samples", type=int, default=100, help="synthetic gVCFs for the per-record costs")
    p.add_argument("--work", type=Path, default=Path("/tmp/variantdb-bench-dask"))
    p.add_argument(
        "--from-json", type=Path, help="render a results.json of an earlier run instead of running"
    )
    p.add_argument(
        "--write-results", action="store_true", help=f"update the '{SECTION}' section of {RESULTS}"
    )
    a = p.parse_args(args)
    if a.from_json is not None:
        res = json.loads(a.from_json.read_text())
    else:
        res = run(
            a.work, a.samples, a.sites, a.seed, [int(n) for n in a.dask_workers.split(",")], a.gvcf_samples
        )
        res["command"] = "python -m benchmarks.bench_dask " + " ".join(args)
        res["measured"] = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
        res["machine"] = machine()
        (a.work / "results.json").write_text(json.dumps(res, indent=1))
    section = render(
        res, res.get("machine", machine()), res.get("command", "python -m benchmarks.bench_dask")
    )
    print(section)
    if a.write_results:
        write_section(RESULTS, section, SECTION)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
