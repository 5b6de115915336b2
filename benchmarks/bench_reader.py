"""Reader engines and the loader on realistic data, beside bcftools and afquery, in one run.

Issue 14 asks for a reader at native speed, picked by measurement. This
benchmark takes one cohort written by :mod:`benchmarks.simulate` (single-sample
VCFs, gVCFs and one multi-sample VCF of the same genomes) and measures on the
same files, in the same run:

1. ``variantdb load`` (wall time and peak RSS from ``/usr/bin/time -v``) on each
   layout, beside the peer pipelines the issue names::

       bcftools merge -0 -m all            | bcftools norm -m -any -f REF | bcftools +fill-tags
       bcftools merge -m all --gvcf REF    | bcftools norm -m -any -f REF | bcftools +fill-tags
       bcftools norm -m -any -f REF multi  | bcftools +fill-tags

   and ``afquery create-db`` on the single-sample VCFs and on the gVCFs;
2. the raw read speed of candidate engines over every file, one process, one
   thread, touching what the loader needs (position, alleles, GT, GQ, DP, and
   END / MIN_DP in gVCFs): cyvcf2 as the loader uses it, cyvcf2 with its
   cheapest array accessors collected into column chunks, oxbow (Rust, VCF to
   Arrow record batches), pysam, and ``bcftools query`` as the native floor;
3. a cProfile of the loader's ingest (``workers=1``, in-process) on the
   single-sample VCFs and on some gVCFs: the top functions by cumulative and by
   self time.

Example::

    python benchmarks/bench_reader.py --cohort /tmp/nat200 --work /tmp/nat200-bench

The cohort is generated first when ``--cohort`` does not exist
(``--samples 200 --length 5000000 --seed 1``).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from benchmarks.bench_load import _afquery_manifest, machine
from variantdb.manifest import read_manifest

__all__ = ["ENGINES", "main", "read_engines", "run_tools", "timed"]

_BIN = Path(sys.executable).parent


def timed(cmd: Sequence[str] | str, log: Path) -> tuple[float, float]:
    """Run ``cmd`` (argv list, or a bash pipeline) under ``/usr/bin/time -v``; return (seconds, peak RSS MB).

    Notes
    -----
    For a pipeline, ``time`` reports the largest resident set of any one process
    in it (getrusage of the children), not their sum.
    """
    argv = ["bash", "-c", cmd] if isinstance(cmd, str) else list(cmd)
    with log.open("w") as f:
        proc = subprocess.run(["/usr/bin/time", "-v", *argv], stdout=f, stderr=subprocess.STDOUT)
    text = log.read_text(errors="replace")
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd} failed ({proc.returncode}):\n{text[-2000:]}")
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (\S+)", text)
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", text)
    assert wall is not None and rss is not None
    seconds = 0.0
    for part in wall.group(1).split(":"):
        seconds = seconds * 60 + float(part)
    return seconds, int(rss.group(1)) / 1024


def _files(cohort: Path, layout: str) -> list[Path]:
    manifest = {"vcf": "manifest.tsv", "gvcf": "manifest-gvcf.tsv", "multi": "manifest-multi.tsv"}[layout]
    return list(dict.fromkeys(r.vcf for r in read_manifest(cohort / manifest)))


def run_tools(cohort: Path, work: Path, *, afquery: bool, workers: int) -> list[dict[str, object]]:
    """Time ``variantdb load`` and the peers on each layout; return one row per run."""
    ref = cohort / "ref.fa"
    rows: list[dict[str, object]] = []
    norm = f"bcftools norm -m -any -f {ref} -Ou"
    fill = "bcftools +fill-tags -Ob -o {out} - -- -t AC,AN,AC_Hom,AC_Hemi"
    for layout in ("vcf", "gvcf", "multi"):
        manifest = (
            cohort
            / {"vcf": "manifest.tsv", "gvcf": "manifest-gvcf.tsv", "multi": "manifest-multi.tsv"}[layout]
        )
        if not manifest.exists():
            continue
        db = work / f"db-{layout}"
        shutil.rmtree(db, ignore_errors=True)
        s, rss = timed(
            [str(_BIN / "variantdb"), "load", "--db", str(db), "--manifest", str(manifest), "--reference",
             str(ref), "--batch", "b1", "--quiet", "--workers", str(workers)],
            work / f"variantdb-{layout}.log",
        )  # fmt: skip
        rows.append({"layout": layout, "tool": f"variantdb load --workers {workers}", "s": s, "rss_mb": rss})
        out = work / f"bcftools-{layout}.bcf"
        if layout == "multi":
            head = f"bcftools norm -m -any -f {ref} -Ou {cohort / 'multi.vcf.gz'}"
            cmd = f"set -o pipefail; {head} | {fill.format(out=out)}"
            label = "bcftools norm -m -any | +fill-tags"
        else:
            listing = work / f"{layout}-files.txt"
            listing.write_text("".join(f"{p}\n" for p in _files(cohort, layout)))
            merge = f"bcftools merge -m all --gvcf {ref}" if layout == "gvcf" else "bcftools merge -0 -m all"
            cmd = f"set -o pipefail; {merge} -l {listing} -Ou | {norm} - | {fill.format(out=out)}"
            label = f"{merge.replace(str(ref), 'REF')} | norm -m -any | +fill-tags"
        s, rss = timed(cmd, work / f"bcftools-{layout}.log")
        rows.append({"layout": layout, "tool": label, "s": s, "rss_mb": rss})
        if afquery and layout != "multi" and (_BIN / "afquery").exists():
            afq_manifest = _afquery_manifest(manifest, work / f"afquery-{layout}.tsv")
            s, rss = timed(
                [str(_BIN / "afquery"), "create-db", "--manifest", str(afq_manifest), "--output-dir",
                 str(work / f"afquery-{layout}"), "--genome-build", "GRCh38", "--threads", str(workers), "--force"],
                work / f"afquery-{layout}.log",
            )  # fmt: skip
            rows.append(
                {"layout": layout, "tool": f"afquery create-db --threads {workers}", "s": s, "rss_mb": rss}
            )
        print(json.dumps(rows[-3:] if afquery else rows[-2:]), flush=True)
    return rows


# --- reader engines: each reads one file and returns the number of records ---------------------------


def _cyvcf2_loader_style(path: Path, gvcf: bool) -> int:
    """What the loader's per-record loop touches, without its validation and rules."""
    import cyvcf2

    n = 0
    vcf = cyvcf2.VCF(str(path), gts012=False, strict_gt=False, lazy=True, threads=1)
    for v in vcf:
        _ = v.CHROM, v.POS, v.REF, v.ALT
        _ = v.genotype.array()
        _ = v.gt_quals
        _ = v.format("MIN_DP" if gvcf and v.ALT == ["<NON_REF>"] else "DP")
        if gvcf:
            _ = v.INFO.get("END")
        n += 1
    vcf.close()
    return n


def _cyvcf2_columns(path: Path, gvcf: bool, chunk: int = 65536) -> int:
    """cyvcf2's cheapest accessors (start, end, gt_types, gt_quals, gt_depths) gathered into numpy column chunks.

    cyvcf2 has no batch reader: a Variant object per record is the floor. This
    is that floor plus only what a columnar judge needs (END comes from ``end``,
    which htslib takes from INFO/END).
    """
    import cyvcf2

    n = 0
    vcf = cyvcf2.VCF(str(path), gts012=False, strict_gt=False, lazy=True, threads=1)
    start, end, gtt, gq, dp = [], [], [], [], []
    for v in vcf:
        start.append(v.start)
        end.append(v.end)
        gtt.append(v.gt_types[0])
        gq.append(v.gt_quals[0])
        dp.append(v.gt_depths[0])
        n += 1
        if len(start) == chunk:
            _cols = [np.array(x) for x in (start, end, gtt, gq, dp)]
            start, end, gtt, gq, dp = [], [], [], [], []
    _cols = [np.array(x) for x in (start, end, gtt, gq, dp)]
    vcf.close()
    return n


def _cyvcf2_bare(path: Path, gvcf: bool) -> int:
    """Iterate records only (one attribute read): the floor of any cyvcf2 reader."""
    import cyvcf2

    n = 0
    vcf = cyvcf2.VCF(str(path), lazy=True, threads=1)
    for v in vcf:
        _ = v.start
        n += 1
    vcf.close()
    return n


def _oxbow(path: Path, gvcf: bool) -> int:
    """oxbow record batches to pyarrow, with GT alleles, GQ, DP (MIN_DP, END) as flat numpy columns."""
    import oxbow
    import pyarrow as pa

    fmt = ["GT", "GQ", "DP", *(["MIN_DP"] if gvcf else [])]
    source = oxbow.from_vcf(
        str(path),
        fields=["chrom", "pos", "ref", "alt"],
        info_fields=["END"] if gvcf else [],
        genotype_fields=fmt,
        samples="*",
        genotype_by="field",
    )
    n = 0
    for b in source.batches():
        rb = pa.record_batch(b)
        _ = rb.column("pos").to_numpy()
        _ = rb.column("GT").flatten()[0].flatten()[0].flatten().to_numpy(zero_copy_only=False)
        for name in fmt[1:]:
            _ = rb.column(name).flatten()[0].to_numpy(zero_copy_only=False)
        if gvcf:
            _ = rb.column("info").flatten()[0].to_numpy(zero_copy_only=False)
        n += rb.num_rows
    return n


def _pysam(path: Path, gvcf: bool) -> int:
    """pysam VariantFile record loop touching the same fields."""
    import pysam

    n = 0
    with pysam.VariantFile(str(path)) as vf:
        for rec in vf:
            _ = rec.pos, rec.ref, rec.alts, rec.stop
            s = rec.samples[0]
            _ = s["GT"], s["GQ"], s["DP"]
            n += 1
    return n


def _bcftools_query(path: Path, gvcf: bool) -> int:
    """Native floor: bcftools decodes and prints the same fields (output discarded)."""
    fmt = "%POS\\t%REF\\t%ALT\\t%END[\\t%GT\\t%GQ\\t%DP]\\n"
    out = subprocess.run(
        f"bcftools query -f '{fmt}' {path} | wc -l", shell=True, capture_output=True, text=True, check=True
    )
    return int(out.stdout.strip())


ENGINES: dict[str, Callable[[Path, bool], int]] = {
    "cyvcf2 record loop (loader's accessors)": _cyvcf2_loader_style,
    "cyvcf2 cheapest accessors -> numpy chunks": _cyvcf2_columns,
    "cyvcf2 bare iteration": _cyvcf2_bare,
    "oxbow -> Arrow batches": _oxbow,
    "pysam VariantFile loop": _pysam,
    "bcftools query (native floor)": _bcftools_query,
}


def read_engines(
    cohort: Path, layouts: Sequence[str], max_files: int | None, max_vcf_files: int | None = None
) -> list[dict[str, object]]:
    """Time every engine over every file of each layout (one process, one thread; ``max_files`` gVCFs)."""
    rows: list[dict[str, object]] = []
    for layout in layouts:
        files = _files(cohort, layout)[: max_files if layout == "gvcf" else max_vcf_files]
        gvcf = layout == "gvcf"
        for name, fn in ENGINES.items():
            t0 = time.perf_counter()
            n = sum(fn(p, gvcf) for p in files)
            s = time.perf_counter() - t0
            rows.append({"layout": layout, "engine": name, "files": len(files), "records": n, "s": s,
                         "us_per_record": s / n * 1e6})  # fmt: skip
            print(json.dumps(rows[-1]), flush=True)
    return rows


def profile_load(
    cohort: Path, work: Path, layout: str, max_files: int | None, top: int = 15
) -> dict[str, str]:
    """cProfile the loader in-process (``workers=1``); return the top functions by cumulative and self time."""
    from variantdb.load import load_batch

    manifest = cohort / {"vcf": "manifest.tsv", "gvcf": "manifest-gvcf.tsv"}[layout]
    if max_files is not None:
        lines = manifest.read_text().splitlines()
        sub = work / f"profile-{layout}-manifest.tsv"
        # Paths in a manifest are relative to its folder: write them absolute.
        rows = [lines[0]]
        for line in lines[1 : max_files + 1]:
            cols = line.split("\t")
            cols[1] = str(cohort / cols[1])
            rows.append("\t".join(cols))
        sub.write_text("\n".join(rows) + "\n")
        manifest = sub
    db = work / f"db-profile-{layout}"
    shutil.rmtree(db, ignore_errors=True)
    prof = cProfile.Profile()
    t0 = time.perf_counter()
    prof.enable()
    load_batch(db, manifest, reference=cohort / "ref.fa", batch_name="p", workers=1)
    prof.disable()
    wall = time.perf_counter() - t0
    prof.dump_stats(str(work / f"profile-{layout}.prof"))
    out = {"wall_s_under_cprofile": f"{wall:.1f}"}
    for key in ("cumulative", "tottime"):
        buf = io.StringIO()
        pstats.Stats(prof, stream=buf).strip_dirs().sort_stats(key).print_stats(top)
        out[key] = buf.getvalue()
    return out


def _ratio_table(tools: list[dict[str, object]]) -> list[str]:
    lines = ["| layout | tool | wall s | peak RSS MB | variantdb speed vs this |", "|---|---|---:|---:|---:|"]
    for layout in ("vcf", "gvcf", "multi"):
        ours = next(
            (r for r in tools if r["layout"] == layout and str(r["tool"]).startswith("variantdb")), None
        )
        for r in tools:
            if r["layout"] != layout:
                continue
            ratio = "" if ours is None or r is ours else f"{float(r['s']) / float(ours['s']):.2f}x"  # type: ignore[arg-type]
            lines.append(
                f"| {layout} | {r['tool']} | {float(r['s']):.1f} | {float(r['rss_mb']):.0f} | {ratio} |"
            )  # type: ignore[arg-type]
    return lines


def _engine_table(engines: list[dict[str, object]]) -> list[str]:
    lines = [
        "| layout | engine | files | records | s | us/record | vs bcftools query |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for layout in ("vcf", "gvcf"):
        rows = [r for r in engines if r["layout"] == layout]
        floor = next((r for r in rows if str(r["engine"]).startswith("bcftools")), None)
        for r in rows:
            ratio = "" if floor is None else f"{float(r['s']) / float(floor['s']):.1f}x"  # type: ignore[arg-type]
            lines.append(
                f"| {layout} | {r['engine']} | {r['files']} | {r['records']} | {float(r['s']):.1f} "  # type: ignore[arg-type]
                f"| {float(r['us_per_record']):.2f} | {ratio} |"  # type: ignore[arg-type]
            )
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    """Command line; prints the figures and writes ``results.json`` and ``results.md`` under ``--work``."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cohort", type=Path, required=True)
    p.add_argument("--work", type=Path, required=True)
    p.add_argument("--samples", type=int, default=200)
    p.add_argument("--length", type=int, default=5_000_000)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument(
        "--workers", type=int, default=os.cpu_count() or 1, help="loader workers and afquery threads"
    )
    p.add_argument("--engine-gvcf-files", type=int, default=None, help="engines read only the first N gVCFs")
    p.add_argument("--engine-vcf-files", type=int, default=None, help="engines read only the first N VCFs")
    p.add_argument("--profile-vcf-files", type=int, default=None)
    p.add_argument("--profile-gvcf-files", type=int, default=20)
    p.add_argument("--skip", nargs="*", default=[], choices=["tools", "engines", "profile", "afquery"])
    args = p.parse_args(argv)
    work = args.work
    work.mkdir(parents=True, exist_ok=True)
    if not (args.cohort / "cohort.json").exists():
        from benchmarks.simulate import simulate_cohort

        simulate_cohort(
            args.cohort, args.samples, args.length, args.seed, gvcf=True, multi=True, jobs=args.workers
        )
    data = json.loads((args.cohort / "cohort.json").read_text())
    env = machine()
    print(json.dumps({"data": data, "machine": env}, indent=1), flush=True)
    results: dict[str, object] = {"data": data, "machine": env}
    if "tools" not in args.skip:
        results["tools"] = run_tools(
            args.cohort, work, afquery="afquery" not in args.skip, workers=args.workers
        )
    if "engines" not in args.skip:
        results["engines"] = read_engines(
            args.cohort, ("vcf", "gvcf"), args.engine_gvcf_files, args.engine_vcf_files
        )
    if "profile" not in args.skip:
        results["profile_vcf"] = profile_load(args.cohort, work, "vcf", args.profile_vcf_files)
        results["profile_gvcf"] = profile_load(args.cohort, work, "gvcf", args.profile_gvcf_files)
    (work / "results.json").write_text(json.dumps(results, indent=1, default=str) + "\n")
    md = []
    if "tools" in results:
        md += _ratio_table(results["tools"])  # type: ignore[arg-type]
        md.append("")
    if "engines" in results:
        md += _engine_table(results["engines"])  # type: ignore[arg-type]
        md.append("")
    for key in ("profile_vcf", "profile_gvcf"):
        if key in results:
            prof = results[key]
            md += [f"### {key} (wall under cProfile {prof['wall_s_under_cprofile']} s)", "```",  # type: ignore[index]
                   prof["cumulative"], prof["tottime"], "```"]  # type: ignore[index]  # fmt: skip
    (work / "results.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
