"""Load benchmark: ``variantdb load`` beside ``bcftools merge | +fill-tags`` and ``afquery create-db``.

One seeded cohort (:mod:`benchmarks.cohort`), one run, the same input for every
tool: single-sample bgzipped VCFs (afquery reads one sample per VCF), plus, with
``--multi``, the very same genotypes as one multi-sample VCF for the tools that
read one. Each tool runs as its own child of a fresh wrapper process, so its
wall time and peak RSS (``getrusage(RUSAGE_CHILDREN).ru_maxrss``: the largest
single process of the tool, not the sum over a pipeline) are its own.

What each tool does differs, and the table says so: ours validates, splits,
normalizes against the FASTA, judges adj, writes calls, gaps and a release with
strata and an index; ``bcftools merge -0 | +fill-tags`` only sums AC/AN per
record; afquery builds its bitmap database (no normalization, no adj).

Usage::

    python -m benchmarks.bench_load --samples 1000 --sites 50000 --seed 1 \\
        --work /tmp/bench-load --multi --write-results
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from variantdb.manifest import read_manifest

__all__ = ["Run", "machine", "main", "measure"]

RESULTS = Path(__file__).parent / "RESULTS.md"

_WRAPPER = """
import json, resource, subprocess, sys, time
cmd, shell, log = json.loads(sys.argv[1]), sys.argv[2] == "1", sys.argv[3]
with open(log, "w") as err:
    t = time.perf_counter()
    rc = subprocess.run(cmd, shell=shell, stdout=err, stderr=err, executable="/bin/bash" if shell else None).returncode
    seconds = time.perf_counter() - t
print(json.dumps({"rc": rc, "seconds": seconds, "maxrss_kb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}))
"""


@dataclass
class Run:
    """One measured tool run."""

    name: str
    input: str
    seconds: float
    maxrss_mb: float
    records: int
    genotypes: int
    output_bytes: int
    note: str = ""

    @property
    def records_per_s(self) -> float:
        """VCF records read per second."""
        return self.records / self.seconds

    @property
    def genotypes_per_s(self) -> float:
        """Genotypes (samples x sites, the dense matrix the input stands for) per second."""
        return self.genotypes / self.seconds


def measure(cmd: Sequence[str] | str, log: Path) -> tuple[float, float]:
    """Run ``cmd`` (a list, or a bash pipeline string) in a fresh wrapper; return (seconds, peak RSS MB).

    Raises
    ------
    RuntimeError
        When the command fails; the message holds the tail of its log.
    """
    shell = isinstance(cmd, str)
    proc = subprocess.run(
        [sys.executable, "-c", _WRAPPER, json.dumps(cmd), "1" if shell else "0", str(log)],
        capture_output=True,
        text=True,
        check=True,
    )
    out = json.loads(proc.stdout)
    if out["rc"] != 0:
        tail = log.read_text(errors="replace")[-2000:]
        raise RuntimeError(f"{cmd} failed with exit code {out['rc']}:\n{tail}")
    return out["seconds"], out["maxrss_kb"] / 1024


def _du(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _first_line(cmd: Sequence[str]) -> str:
    try:
        return subprocess.run(cmd, capture_output=True, text=True).stdout.splitlines()[0].strip()
    except (OSError, IndexError):
        return "absent"


def machine() -> dict[str, str]:
    """Return what the figures were measured on: CPUs, RAM, CPU model, tool versions."""
    model = "unknown"
    ram = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                ram = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
                break
    except OSError:
        pass
    return {
        "nproc": str(os.cpu_count()),
        "ram": ram,
        "cpu": model,
        "os": platform.platform(),
        "python": platform.python_version(),
        "bcftools": _first_line(["bcftools", "--version"]),
        "afquery": _first_line([str(Path(sys.executable).parent / "afquery"), "--version"]),
    }


def _afquery_manifest(manifest: Path, out: Path) -> Path:
    """afquery's manifest: sample_name, sex (male/female), tech_name, vcf_path, phenotype_codes."""
    rows = ["sample_name\tsex\ttech_name\tvcf_path\tphenotype_codes"]
    for r in read_manifest(manifest):
        if r.sex not in ("XX", "XY"):
            raise ValueError(
                "afquery needs male or female for every sample: generate with unknown_sex_fraction=0"
            )
        sex = "male" if r.sex == "XY" else "female"
        group = (r.patient_group or "none").replace(" ", "_")
        rows.append(f"{r.sample_id}\t{sex}\tWGS\t{r.vcf}\t{group}")
    out.write_text("\n".join(rows) + "\n")
    return out


def _variantdb() -> str:
    return str(Path(sys.executable).parent / "variantdb")


def run_benchmark(
    work: Path, n_samples: int, n_sites: int, seed: int, *, multi: bool, afquery: bool, gvcf: bool = False
) -> tuple[list[Run], dict[str, object]]:
    """Generate the cohort(s) and time every tool on them; return the runs and the data description."""
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    threads = str(os.cpu_count() or 1)
    gen_s, gen_rss = measure(
        [sys.executable, "-c",
         "import sys; from benchmarks.cohort import generate_cohort; "
         f"generate_cohort(sys.argv[1], {n_samples}, {n_sites}, {seed}, layout='single', unknown_sex_fraction=0.0, "
         f"gvcf={gvcf})",
         str(work / "single")],
        work / "generate-single.log",
    )  # fmt: skip
    single = work / "single" / "manifest.tsv"
    info = json.loads((work / "single" / "cohort.json").read_text())
    dense = info["n_sites"] * n_samples
    data: dict[str, object] = {
        "samples": n_samples,
        "sites": info["n_sites"],
        "founders": info["n_founders"],
        "seed": seed,
        "single_records": info["n_records"],
        "single_vcf_bytes": info["bytes"],
        "generate_single_s": round(gen_s, 1),
        "generate_single_rss_mb": round(gen_rss),
    }
    ref = work / "single" / "ref.fa"
    runs: list[Run] = []
    kind = "single-sample gVCFs" if gvcf else "single-sample VCFs"
    data["kind"] = kind

    db = work / "db-single"
    s, rss = measure(
        [_variantdb(), "load", "--db", str(db), "--manifest", str(single), "--reference", str(ref),
         "--batch", "bench", "--quiet"],
        work / "variantdb-single.log",
    )  # fmt: skip
    runs.append(Run("variantdb load", kind, s, rss, info["n_records"], dense, _du(db),
                    "validate, split, left-align, adj, calls + gaps + release + index"))  # fmt: skip

    listing = work / "single-vcfs.txt"
    listing.write_text("".join(f"{r.vcf}\n" for r in read_manifest(single)))
    out = work / "bcftools-single.bcf"
    # gVCFs: AN from reference blocks, which is what merge --gvcf does; plain VCFs: absent = reference.
    merge = f"bcftools merge -m all --gvcf {ref}" if gvcf else "bcftools merge -0 -m none"
    s, rss = measure(merge_fill_tags(listing, out, merge), work / "bcftools-single.log")
    label = "bcftools merge -m all --gvcf \\| +fill-tags" if gvcf else "bcftools merge -0 \\| +fill-tags"
    runs.append(Run(label, kind, s, rss, info["n_records"], dense,
                    _du(out), "AC/AN per record; no normalization, no adj"))  # fmt: skip

    if afquery:
        afq_manifest = _afquery_manifest(single, work / "afquery-manifest.tsv")
        afq_db = work / "afquery-db"
        afq = str(Path(sys.executable).parent / "afquery")
        s, rss = measure(
            [afq, "create-db", "--manifest", str(afq_manifest), "--output-dir", str(afq_db),
             "--genome-build", "GRCh38", "--threads", threads, "--force"],
            work / "afquery.log",
        )  # fmt: skip
        note = "; skips reference blocks (AN from its own hom-ref assumption)" if gvcf else ""
        runs.append(Run("afquery create-db", kind, s, rss, info["n_records"], dense, _du(afq_db),
                        f"bitmap DB, --threads {threads}; no normalization, no adj{note}"))  # fmt: skip

    if multi and not gvcf:
        gen_s, _ = measure(
            [sys.executable, "-c",
             "import sys; from benchmarks.cohort import generate_cohort; "
             f"generate_cohort(sys.argv[1], {n_samples}, {n_sites}, {seed}, layout='multi', unknown_sex_fraction=0.0)",
             str(work / "multi")],
            work / "generate-multi.log",
        )  # fmt: skip
        minfo = json.loads((work / "multi" / "cohort.json").read_text())
        data["multi_records"] = minfo["n_records"]
        data["multi_vcf_bytes"] = minfo["bytes"]
        data["generate_multi_s"] = round(gen_s, 1)
        mvcf = work / "multi" / "vcf" / "cohort.vcf.gz"
        db = work / "db-multi"
        s, rss = measure(
            [_variantdb(), "load", "--db", str(db), "--manifest", str(work / "multi" / "manifest.tsv"),
             "--reference", str(work / "multi" / "ref.fa"), "--batch", "bench", "--quiet"],
            work / "variantdb-multi.log",
        )  # fmt: skip
        runs.append(Run("variantdb load", "one multi-sample VCF", s, rss, minfo["n_records"], dense, _du(db),
                        "same genotypes as the single-sample files"))  # fmt: skip
        out = work / "bcftools-multi.bcf"
        s, rss = measure(
            ["bcftools", "+fill-tags", "-Ob", "-o", str(out), str(mvcf), "--", "-t", "AC,AN,AC_Hom,AC_Hemi"],
            work / "bcftools-multi.log",
        )
        runs.append(Run("bcftools +fill-tags", "one multi-sample VCF", s, rss, minfo["n_records"], dense,
                        _du(out), "no merge needed"))  # fmt: skip
    return runs, data


def section_header(title: str, command: str, env: dict[str, str], tools: str) -> list[str]:
    """Return the opening lines of a RESULTS.md section: title, time, command, machine and ``tools``."""
    return [
        title,
        "",
        f"Measured {dt.datetime.now(dt.UTC).strftime('%Y-%m-%d %H:%M UTC')} with:",
        "",
        "```",
        command,
        "```",
        "",
        f"Machine: {env['nproc']} CPUs ({env['cpu']}), {env['ram']} RAM, {env['os']}, Python {env['python']}; "
        + tools,
        "",
    ]


def render(runs: list[Run], data: dict[str, object], env: dict[str, str], command: str) -> str:
    """Return the "## Load" section of RESULTS.md as markdown."""
    by_input: dict[str, Run] = {r.input: r for r in runs if r.name == "variantdb load"}
    lines = [
        *section_header("## Load", command, env, f"{env['bcftools']}; {env['afquery']}."),
        f"Data: synthetic cohort (`benchmarks.cohort`, seed {data['seed']}): {data['samples']:,} samples "
        f"({data['founders']:,} founders; trios and duos), {data['sites']:,} sites on chr1, chr2, chr7, chr22, "
        f"chrX (PAR and non-PAR), chrY, chrM; 20% repeat indels (half not left-aligned), 6% multi-allelic. "
        f"{str(data['kind'])[0].upper()}{str(data['kind'])[1:]}: {data['single_records']:,} records, "
        f"{int(data['single_vcf_bytes']) / 1e6:,.1f} MB "
        "bgzipped"
        + (
            f"; the same genotypes as one multi-sample VCF: {data['multi_records']:,} records, "
            f"{int(data['multi_vcf_bytes']) / 1e6:,.1f} MB."
            if "multi_records" in data
            else "."
        ),
        f"Generating them took {data['generate_single_s']} s ({data['kind']})"
        + (f" and {data['generate_multi_s']} s (multi-sample)." if "generate_multi_s" in data else "."),
        "Genotypes = samples x sites (the dense matrix each input stands for; absent sites are reference).",
        "",
        "| tool | input | wall s | records/s | genotypes/s | peak RSS MB | output MB | peer s / ours s | what it does |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for r in runs:
        ours = by_input.get(r.input)
        ratio = f"{r.seconds / ours.seconds:.2f}" if ours and r is not ours else ""
        lines.append(
            f"| {r.name} | {r.input} | {r.seconds:,.1f} | {r.records_per_s:,.0f} | {r.genotypes_per_s:,.0f} | "
            f"{r.maxrss_mb:,.0f} | {r.output_bytes / 1e6:,.1f} | {ratio} | {r.note} |"
        )
    lines += [
        "",
        "`peer s / ours s` above 1 means the peer took longer than `variantdb load` on the same input. "
        "Peak RSS is the largest single process of each tool (`getrusage(RUSAGE_CHILDREN)` of a fresh "
        "wrapper); for the bcftools pipeline the two processes run at once.",
        "",
    ]
    return "\n".join(lines)


def merge_fill_tags(listing: Path, out: Path, merge: str = "bcftools merge -0 -m none") -> str:
    """Return the peer's shell pipeline: merge the VCFs listed in ``listing`` and fill AC/AN into ``out``."""
    return (
        f"set -o pipefail; {merge} -l {listing} -Ou | "
        f"bcftools +fill-tags -Ob -o {out} -- -t AC,AN,AC_Hom,AC_Hemi"
    )


def write_section(path: Path, section: str, title: str = "## Load") -> None:
    """Replace (or append) the section ``title`` of RESULTS.md, keeping every other section."""
    text = path.read_text() if path.exists() else "# Benchmark results\n\n"
    start = text.find(title + "\n")
    if start < 0:
        text = text.rstrip("\n") + "\n\n" + section
    else:
        end = text.find("\n## ", start + 1)
        text = text[:start] + section + (text[end + 1 :] if end >= 0 else "")
    path.write_text(text.rstrip("\n") + "\n")


def main(argv: Sequence[str] | None = None) -> int:
    """Command line; see the module docstring."""
    p = argparse.ArgumentParser(prog="python -m benchmarks.bench_load", description=__doc__.splitlines()[0])
    p.add_argument("--samples", type=int, default=1000)
    p.add_argument("--sites", type=int, default=50_000)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--work", type=Path, default=Path("/tmp/variantdb-bench-load"))
    p.add_argument(
        "--multi", action="store_true", help="also time the same genotypes as one multi-sample VCF"
    )
    p.add_argument("--no-afquery", action="store_true", help="skip afquery create-db")
    p.add_argument(
        "--gvcf", action="store_true", help="single-sample gVCFs (reference blocks) instead of VCFs"
    )
    p.add_argument("--write-results", action="store_true", help=f"update the Load section of {RESULTS}")
    args = p.parse_args(argv)
    command = "python -m benchmarks.bench_load " + " ".join(sys.argv[1:] if argv is None else argv)
    runs, data = run_benchmark(
        args.work,
        args.samples,
        args.sites,
        args.seed,
        multi=args.multi,
        afquery=not args.no_afquery,
        gvcf=args.gvcf,
    )
    section = render(runs, data, machine(), command)
    print(section)
    if args.write_results:
        write_section(RESULTS, section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
