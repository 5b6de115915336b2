"""Incremental benchmark: publishing a release after adding 50 samples to databases of growing size.

One seeded cohort (:mod:`benchmarks.cohort`, single-sample VCFs) of
``max(--sizes) + --step`` samples. A database grows batch by batch to each size
of ``--sizes`` (500, 1,000, 2,000 samples by default); at each size a copy of it
takes the same ``--step`` (50) new samples twice, each in a fresh process:

- **incremental**: ``load_batch`` as users run it, which publishes from the
  previous release and the new batch's files (:func:`variantdb.load.publish_incremental`);
- **full rebuild**: ``load_batch(..., incremental=False)``, which re-aggregates
  every stored batch (:func:`variantdb.load.publish_release`);

and the peer, ``bcftools merge -0 | +fill-tags``, computes AC/AN over the whole
cohort of that size plus the step from the single-sample VCFs, as
``benchmarks/bench_load.py`` times it. Both our runs read and store the same 50
samples; *publish s* is the time from the start of the aggregation to the end of
the load (release written, indexed, recorded). The two releases are compared
file by file and must be identical.

With ``--series N`` it loads N batches of ``--step`` genomes one after another
instead and records every publish (the sub-cohort segments merge as they go).

Usage::

    python -m benchmarks.bench_incremental --sizes 500,1000,2000 --step 50 --sites 10000 \\
        --work /tmp/bench-incremental --write-results
    python -m benchmarks.bench_incremental --series 40 --step 50 --sites 40000 --work /tmp/bench-series
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.bench_load import machine, measure, merge_fill_tags, section_header, write_section

__all__ = ["Step", "main", "run_benchmark"]

RESULTS = Path(__file__).parent / "RESULTS.md"
SECTION = "## Incremental publish"


@dataclass
class Step:
    """One size: the same new samples added incrementally and by a full rebuild, and the peer."""

    loaded: int
    variants: int
    incremental_s: float
    incremental_publish_s: float
    incremental_rss_mb: float
    full_s: float
    full_publish_s: float
    full_rss_mb: float
    bcftools_s: float
    identical: bool


def step(db: str, manifest: str, reference: str, batch: str, incremental: bool, out: str) -> None:
    """Load one batch (run in a fresh process by :func:`run_benchmark`); write timings to ``out``."""
    from variantdb.load import load_batch

    marks: dict[str, float] = {}

    def progress(stage: str, advance: int, total: int | None) -> None:
        marks.setdefault(stage, time.perf_counter())

    started = time.perf_counter()
    report = load_batch(
        Path(db), Path(manifest), Path(reference), batch, progress=progress, incremental=incremental
    )
    ended = time.perf_counter()
    Path(out).write_text(
        json.dumps(
            {
                "seconds": ended - started,
                "publish_seconds": ended - marks["aggregate"],
                "publish": report.publish,
                "n_variants": report.n_variants,
                "release": report.release,
            }
        )
    )


def _manifest(cohort: Path, rows: Sequence[int], name: str) -> Path:
    lines = (cohort / "manifest.tsv").read_text().splitlines()
    path = cohort / f"{name}.tsv"
    path.write_text("\n".join([lines[0], *(lines[i + 1] for i in rows)]) + "\n")
    return path


def _release_files(db: Path, release: str) -> dict[str, str]:
    root = db / "releases" / release
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != "release.json"
    }


def _timed_step(
    work: Path, db: Path, manifest: Path, ref: Path, incremental: bool, tag: str, batch: str = "step"
) -> dict[str, Any]:
    out = work / f"{tag}.json"
    code = (
        "import sys; from benchmarks.bench_incremental import step; "
        "step(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[6], sys.argv[4] == '1', sys.argv[5])"
    )
    _, rss = measure(
        [
            sys.executable,
            "-c",
            code,
            str(db),
            str(manifest),
            str(ref),
            "1" if incremental else "0",
            str(out),
            batch,
        ],
        work / f"{tag}.log",
    )
    data: dict[str, Any] = json.loads(out.read_text())
    data["rss_mb"] = rss
    return data


def _parents_of_first(cohort: Path, first: int, n: int) -> list[int]:
    """Return up to ``n`` manifest rows (0-based) of parents whose child is among the first ``first`` other rows."""
    lines = (cohort / "manifest.tsv").read_text().splitlines()
    header = lines[0].split("\t")
    rows = [dict(zip(header, line.split("\t"), strict=True)) for line in lines[1:]]
    row_of = {r["sample_id"]: i for i, r in enumerate(rows)}
    parents: list[int] = []
    for r in rows[:first]:
        for parent in (r["father_id"], r["mother_id"]):
            if parent and len(parents) < n and row_of[parent] not in parents:
                parents.append(row_of[parent])
    return parents


def _fresh_cohort(work: Path, total: int, n_sites: int, seed: int) -> dict[str, Any]:
    """Empty ``work`` and generate the seeded cohort in ``work/cohort``; return its description."""
    from benchmarks.cohort import generate_cohort

    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    t = time.perf_counter()
    generate_cohort(work / "cohort", total, n_sites, seed, layout="single", unknown_sex_fraction=0.0)
    info = json.loads((work / "cohort" / "cohort.json").read_text())
    return {
        "samples": total,
        "sites": info["n_sites"],
        "seed": seed,
        "records": info["n_records"],
        "generate_s": round(time.perf_counter() - t, 1),
        "load_average": os.getloadavg()[0],
    }


def run_benchmark(
    work: Path, sizes: list[int], step_size: int, n_sites: int, seed: int, relatives: bool = False
) -> tuple[list[Step], dict[str, Any]]:
    """Generate the cohort, grow the database and time each step; return the steps and the data description.

    With ``relatives`` the added batch holds parents of samples loaded in the
    first batch (their children stop being founders), so the incremental publish
    re-reads those children's rows from the first batch.
    """
    from variantdb.load import load_batch

    total = max(sizes) + step_size
    data = _fresh_cohort(work, total, n_sites, seed)
    cohort = work / "cohort"
    ref = cohort / "ref.fa"
    vcfs = [line.split("\t")[1] for line in (cohort / "manifest.tsv").read_text().splitlines()[1:]]
    order = list(range(total))
    if relatives:
        step_rows = _parents_of_first(cohort, min(sizes), step_size)
        data["step_parents"] = len(step_rows)
        order = [i for i in order if i not in set(step_rows)] + step_rows
    new = _manifest(cohort, order[max(sizes) :], "step")
    db = work / "db"
    loaded = 0
    steps: list[Step] = []
    for size in sorted(sizes):
        manifest = _manifest(cohort, order[loaded:size], f"base-{size}")
        load_batch(db, manifest, ref, f"base-{size}")
        loaded = size
        runs = {}
        for incremental, tag in ((True, "incremental"), (False, "full")):
            copy = work / f"db-{size}-{tag}"
            shutil.copytree(db, copy)
            runs[tag] = _timed_step(work, copy, new, ref, incremental, f"{size}-{tag}")
        assert runs["incremental"]["publish"] == "incremental", runs["incremental"]
        assert runs["full"]["publish"].startswith("full"), runs["full"]
        identical = _release_files(work / f"db-{size}-incremental", runs["incremental"]["release"]) == (
            _release_files(work / f"db-{size}-full", runs["full"]["release"])
        )
        listing = work / f"vcfs-{size}.txt"
        listing.write_text("".join(f"{cohort / vcfs[i]}\n" for i in [*order[:size], *order[max(sizes) :]]))
        bcf_s, _ = measure(
            merge_fill_tags(listing, work / f"bcftools-{size}.bcf"),
            work / f"bcftools-{size}.log",
        )
        steps.append(
            Step(
                size,
                runs["incremental"]["n_variants"],
                runs["incremental"]["seconds"],
                runs["incremental"]["publish_seconds"],
                runs["incremental"]["rss_mb"],
                runs["full"]["seconds"],
                runs["full"]["publish_seconds"],
                runs["full"]["rss_mb"],
                bcf_s,
                identical,
            )
        )
        for tag in ("incremental", "full"):
            shutil.rmtree(work / f"db-{size}-{tag}")
    return steps, data


SERIES_SECTION = "## Incremental publish: batch after batch"


def run_series(work: Path, n_batches: int, step_size: int, n_sites: int, seed: int) -> dict[str, Any]:
    """Load ``n_batches`` batches of ``step_size`` genomes one after another (each in a fresh process).

    Records each publish (seconds, peak RSS, sub-cohort segments after it, whether
    it merged segments), so the cost of a batch is seen against the genomes
    already loaded, merges included; the peer at the end is
    ``bcftools merge | +fill-tags`` of the whole cohort.
    """

    total = n_batches * step_size
    data = _fresh_cohort(work, total, n_sites, seed)
    data["batches"] = []
    cohort = work / "cohort"
    db = work / "db"
    segments_before = 0
    for k in range(n_batches):
        manifest = _manifest(cohort, range(k * step_size, (k + 1) * step_size), f"b{k:03d}")
        run = _timed_step(work, db, manifest, cohort / "ref.fa", True, f"series-{k:03d}", f"b{k:03d}")
        sub = json.loads((db / "releases" / run["release"] / "subcohort" / "subcohort.json").read_text())
        segments = len(sub["segments"])
        data["batches"].append(
            {
                "loaded": k * step_size,
                "publish": run["publish"],
                "publish_s": round(run["publish_seconds"], 2),
                "load_s": round(run["seconds"], 2),
                "rss_mb": run["rss_mb"],
                "variants": run["n_variants"],
                "segments": segments,
                "merged": segments <= segments_before,
            }
        )
        segments_before = segments
    vcfs = [line.split("\t")[1] for line in (cohort / "manifest.tsv").read_text().splitlines()[1:]]
    listing = work / "vcfs.txt"
    listing.write_text("".join(f"{cohort / v}\n" for v in vcfs))
    data["bcftools_s"], _ = measure(
        merge_fill_tags(listing, work / "bcftools.bcf"),
        work / "bcftools.log",
    )
    return data


def _header(title: str, command: str, env: dict[str, str], data: dict[str, Any]) -> list[str]:
    """Return the opening lines of a RESULTS.md section: title, time, command, machine."""
    load = f"Load average {data['load_average']:.1f} at the start (the CPUs are shared)."
    return section_header(title, command, env, f"{env['bcftools']}. {load}")


def render_series(data: dict[str, Any], env: dict[str, str], command: str, step_size: int) -> str:
    """Return the RESULTS.md section of a series run."""
    rows = data["batches"]
    inc = [r for r in rows if r["publish"] == "incremental"]
    plain = [r["publish_s"] for r in inc if not r["merged"]]
    merges = [r for r in inc if r["merged"]]
    quarter = max(1, len(plain) // 4)
    first, last = plain[:quarter] or [0.0], plain[-quarter:] or [0.0]
    lines = [
        *_header(SERIES_SECTION, command, env, data),
        f"Data: synthetic cohort (`benchmarks.cohort`, seed {data['seed']}, single-sample VCFs): "
        f"{data['samples']:,} samples, {data['sites']:,} sites; {data['records']:,} records, loaded as "
        f"{len(rows)} batches of {step_size}, each by `load_batch` in a fresh process. *publish s* runs from "
        "the start of the aggregation to the end of the load; *segments* are the release's sub-cohort "
        "segments after it (merged by size tier, settings `subcohort_merge_fanout` / "
        "`subcohort_merge_max_entries`).",
        "",
        "| batch | genomes loaded before | publish | publish s | load s | peak RSS MB | variants | segments | merged |",
        "| ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for k, r in enumerate(rows):
        lines.append(
            f"| {k + 1} | {r['loaded']:,} | {r['publish']} | {r['publish_s']:.2f} | {r['load_s']:.1f} | "
            f"{r['rss_mb']:,.0f} | {r['variants']:,} | {r['segments']} | {'yes' if r['merged'] else ''} |"
        )
    lines += [
        "",
        f"Summary: incremental publishes without a merge took a median {statistics.median(first):.2f} s over "
        f"the first quarter of the batches and {statistics.median(last):.2f} s over the last quarter; "
        f"{len(merges)} publishes merged segments (at most {max((r['publish_s'] for r in merges), default=0):.2f} s). "
        f"`bcftools merge -0 | +fill-tags` of the whole cohort ({data['samples']:,} VCFs): "
        f"{data['bcftools_s']:.1f} s.",
        "",
    ]
    return "\n".join(lines)


def _title(relatives: bool) -> str:
    return SECTION + (": a batch of parents of loaded children" if relatives else "")


def render(
    steps: list[Step],
    data: dict[str, Any],
    env: dict[str, str],
    command: str,
    step_size: int,
    relatives: bool,
) -> str:
    """Return the RESULTS.md section as markdown."""
    lines = [
        *_header(_title(relatives), command, env, data),
        f"Data: synthetic cohort (`benchmarks.cohort`, seed {data['seed']}, single-sample VCFs): "
        f"{data['samples']:,} samples (trios and duos), {data['sites']:,} sites on chr1, chr2, chr7, chr22, chrX, "
        f"chrY, chrM; {data['records']:,} records. The database grows batch by batch to each size; at each size "
        f"a copy takes the same {step_size} new samples (one batch) incrementally and by a full rebuild, each "
        "in a fresh process. *load s* is the whole `load_batch` (read and store the "
        f"{step_size} samples, then publish); *publish s* is its part from the start of the aggregation to the "
        "end (release written, indexed, recorded). The peer sums AC/AN over the whole cohort of that size "
        "plus the step (`bcftools merge -0 -m none | +fill-tags`, as in the Load section)."
        + (
            f" Here the added batch is {data['step_parents']} parents of children loaded in the first batch of "
            f"{min(s.loaded for s in steps)} samples: those children stop being founders, so the incremental "
            "publish re-reads their rows from the first batch's files (the worst case it has)."
            if relatives
            else ""
        ),
        "",
        "| samples loaded | variants | incremental load s | incremental publish s | full rebuild load s "
        "| full rebuild publish s | full / incremental publish | bcftools merge \\| +fill-tags s "
        "| peak RSS MB (inc / full) | releases identical |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for s in steps:
        lines.append(
            f"| {s.loaded:,} | {s.variants:,} | {s.incremental_s:.1f} | {s.incremental_publish_s:.1f} | "
            f"{s.full_s:.1f} | {s.full_publish_s:.1f} | {s.full_publish_s / s.incremental_publish_s:.1f} | "
            f"{s.bcftools_s:.1f} | {s.incremental_rss_mb:,.0f} / {s.full_rss_mb:,.0f} | "
            f"{'yes' if s.identical else '**no**'} |"
        )
    lines.append("")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Command line; see the module docstring."""
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.bench_incremental", description=(__doc__ or "").splitlines()[0]
    )
    p.add_argument("--sizes", default="500,1000,2000", help="comma-separated database sizes (samples)")
    p.add_argument("--step", type=int, default=50, help="samples in the added batch")
    p.add_argument("--sites", type=int, default=10_000)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--work", type=Path, default=Path("/tmp/variantdb-bench-incremental"))
    p.add_argument(
        "--relatives", action="store_true", help="the added batch holds parents of samples already loaded"
    )
    p.add_argument(
        "--series", type=int, default=0, help="load this many batches of --step one after another instead"
    )
    p.add_argument("--write-results", action="store_true", help=f"update the section of {RESULTS}")
    args = p.parse_args(argv)
    command = "python -m benchmarks.bench_incremental " + " ".join(sys.argv[1:] if argv is None else argv)
    if args.series:
        data = run_series(args.work, args.series, args.step, args.sites, args.seed)
        section = render_series(data, machine(), command, args.step)
        print(section)
        if args.write_results:
            write_section(RESULTS, section, SERIES_SECTION)
        return 0
    sizes = [int(s) for s in args.sizes.split(",")]
    steps, data = run_benchmark(args.work, sizes, args.step, args.sites, args.seed, args.relatives)
    section = render(steps, data, machine(), command, args.step, args.relatives)
    print(section)
    if args.write_results:
        write_section(RESULTS, section, _title(args.relatives))
    return 0 if all(s.identical for s in steps) else 1


if __name__ == "__main__":
    raise SystemExit(main())
