"""Annotation benchmark: ``variantdb annotate`` beside ``bcftools annotate`` and ``afquery annotate``.

Two inputs, each annotated by every tool in one run:

- ``na12878``: the Platinum Genomes NA12878 chr21 calls (tests/data), against a
  database loaded from that same file (every variant present), and against the
  synthetic release (almost every variant absent: AN from the AN track).
- ``genome``: a generated single-sample genome of ``--genome-n`` variants, half of
  them drawn from the synthetic release, half absent SNVs, against a synthetic
  release of ``--release-n`` variants (``benchmarks/synthetic_release.py``).

bcftools annotates from the release exported with ``variantdb export --format vcf``
(``-c INFO/AC,INFO/AN,INFO/AF``, then ``tabix``, as ours also indexes); afquery from
its own database of the same VCF (only where one exists: the synthetic release has
no genotypes). Every tool runs in a fresh wrapper that reports wall time and peak RSS.
The raw lookup join (normalized keys against the index, no VCF reading or writing)
is timed in-process.

    python -m benchmarks.bench_annotate --work /tmp/ba --release-n 2000000 --genome-n 2000000
"""

from __future__ import annotations

import argparse
import gzip
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.bench_load import machine, measure
from benchmarks.synthetic_release import write_synthetic_release
from variantdb.genome import CONTIG_LENGTHS, CONTIGS
from variantdb.release.files import read_current
from variantdb.release.index import ReleaseIndex
from variantdb.store.layout import release_path

NA12878 = Path(__file__).resolve().parent.parent / "tests/data/na12878-chr21/PG_NA12878_hg38-chr21.vcf.gz"
_BIN = Path(sys.executable).parent


def _records(vcf: Path) -> int:
    out = subprocess.run(["bcftools", "index", "-n", str(vcf)], capture_output=True, text=True)
    if out.returncode == 0:
        return int(out.stdout.strip())
    with gzip.open(vcf, "rt") as fh:
        return sum(1 for line in fh if not line.startswith("#"))


def write_genome(rel: Path, out: Path, n: int, seed: int = 3) -> dict[str, int]:
    """Write a sorted one-sample VCF of ``n`` variants: half release rows, half absent SNVs; bgzip + tabix."""
    ix = ReleaseIndex.open(rel)
    rng = np.random.default_rng(seed)
    half = n // 2
    rows = np.unique(rng.integers(0, len(ix), half))
    keys = np.asarray(ix.keys[rows])
    off = np.asarray(ix.allele_offsets).astype(np.int64)
    alleles = np.asarray(ix.alleles)
    present = []
    for r, k in zip(rows.tolist(), keys.tolist(), strict=True):
        ref, _, alt = bytes(alleles[off[r] : off[r + 1]]).decode().partition(">")
        present.append((k, ref, alt))
    # Absent: random positions with an SNV (the synthetic release has no reference to contradict).
    lengths = np.array([CONTIG_LENGTHS[c] for c in CONTIGS[:24]], dtype=np.int64)
    chrom_idx = rng.choice(24, size=n - len(present), p=lengths / lengths.sum())
    pos = (rng.random(len(chrom_idx)) * (lengths[chrom_idx] - 20)).astype(np.int64) + 10
    bases = np.array(list("ACGT"))
    ref_b = rng.integers(0, 4, len(pos))
    alt_b = (ref_b + rng.integers(1, 4, len(pos))) % 4
    absent = [
        ((int(c) << 32) | int(p), str(bases[r]), str(bases[a]))
        for c, p, r, a in zip(chrom_idx, pos, ref_b, alt_b, strict=True)
    ]
    allv = sorted(set(present) | set(absent))
    plain = out.with_suffix("")
    with open(plain, "w") as fh:
        fh.write("##fileformat=VCFv4.2\n")
        for c in CONTIGS:
            fh.write(f"##contig=<ID={c},length={CONTIG_LENGTHS[c]}>\n")
        fh.write('##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n')
        fh.write("#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tPATIENT\n")
        last = None
        for k, ref, alt in allv:
            if last is not None and last == (k, ref, alt):
                continue
            last = (k, ref, alt)
            fh.write(f"{CONTIGS[k >> 32]}\t{k & 0xFFFFFFFF}\t.\t{ref}\t{alt}\t50\tPASS\t.\tGT\t0/1\n")
    subprocess.run(["bgzip", "-f", "-@", "2", str(plain)], check=True)
    subprocess.run(["tabix", "-f", "-p", "vcf", str(out)], check=True)
    ix.close()
    return {"records": len(allv), "present_drawn": len(present)}


def join_rate(db: Path, vcf: Path) -> dict[str, Any]:
    """Time the lookup join alone: normalized keys of every ALT of ``vcf`` against the index, with counts."""
    import pysam

    from variantdb.annotate import Annotator

    rel = release_path(db, read_current(db) or "")
    ix = ReleaseIndex.open(rel)
    ann = Annotator(ix, rel.name)
    queries = []
    with pysam.VariantFile(str(vcf)) as vf:
        for rec in vf:
            for alt in rec.alts or ():
                queries.append(ann._query(rec.chrom, rec.pos, rec.ref, alt))
    keys = np.fromiter((q[0] for q in queries), dtype=np.int64, count=len(queries))
    wants = [q[1] for q in queries]
    best = float("inf")
    found = 0
    for _ in range(3):
        t0 = time.perf_counter()
        found = 0
        for i in range(0, len(keys), 20_000):
            rows = ann.join.rows(keys[i : i + 20_000], wants[i : i + 20_000])
            ann._columns(keys[i : i + 20_000], rows)
            found += int(np.count_nonzero(rows >= 0))
        best = min(best, time.perf_counter() - t0)
    t0 = time.perf_counter()
    from variantdb.variant import Variant

    vs = [Variant(*_unkey(k, w)) for k, w in zip(keys.tolist(), wants, strict=True) if k >= 0]
    t_build = time.perf_counter() - t0
    t0 = time.perf_counter()
    for i in range(0, len(vs), 20_000):
        ix.find_many(vs[i : i + 20_000])
    t_fm = time.perf_counter() - t0
    t0 = time.perf_counter()
    sample = vs[:200_000]
    for v in sample:
        ix.find(v.chrom, v.pos, v.ref, v.alt)
    t_find = time.perf_counter() - t0
    ix.close()
    return {
        "alleles": len(keys),
        "found": found,
        "join_with_counts_s": best,
        "join_per_s": len(keys) / best,
        "find_many_per_s": len(vs) / t_fm if t_fm else None,
        "find_per_s": len(sample) / t_find if t_find else None,
        "variant_build_s": t_build,
    }


def _unkey(k: int, w: bytes) -> tuple[str, int, str, str]:
    ref, _, alt = w.decode().partition(">")
    return CONTIGS[k >> 32], k & 0xFFFFFFFF, ref, alt


def _same_text(a: Path, b: Path) -> bool:
    """Return whether two (b)gzipped VCFs decompress to the same bytes."""
    with gzip.open(a, "rb") as fa, gzip.open(b, "rb") as fb:
        while True:
            x, y = fa.read(1 << 20), fb.read(1 << 20)
            if x != y:
                return False
            if not x:
                return True


def _run_tools(
    label: str,
    db: Path,
    sites: Path,
    vcf: Path,
    work: Path,
    afq_db: Path | None,
    before: Path | None = None,
) -> list[dict[str, Any]]:
    n = _records(vcf)
    runs = []
    slug = "".join(ch if ch.isalnum() else "_" for ch in label)
    out = work / f"{slug}.variantdb.vcf.gz"
    s, rss = measure(
        [str(_BIN / "variantdb"), "annotate", "--db", str(db), str(vcf), "-o", str(out), "--quiet"],
        work / f"{slug}.variantdb.log",
    )
    runs.append({"input": label, "tool": "variantdb annotate", "s": s, "rss_mb": rss, "records": n})
    if before is not None:
        # The same command with the package taken from an earlier checkout (PYTHONPATH goes first).
        out_0 = work / f"{slug}.before.vcf.gz"
        s, rss = measure(
            f"PYTHONPATH={before} {_BIN / 'variantdb'} annotate --db {db} {vcf} -o {out_0} --quiet",
            work / f"{slug}.before.log",
        )
        runs.append(
            {
                "input": label,
                "tool": f"variantdb annotate, before ({before.name})",
                "s": s,
                "rss_mb": rss,
                "records": n,
                "same_output": _same_text(out, out_0),
            }
        )
    out_b = work / f"{slug}.bcftools.vcf.gz"
    s, rss = measure(
        f"bcftools annotate -a {sites} -c INFO/AC,INFO/AN,INFO/AF -Oz -o {out_b} {vcf} && tabix -f -p vcf {out_b}",
        work / f"{slug}.bcftools.log",
    )
    runs.append({"input": label, "tool": "bcftools annotate + tabix", "s": s, "rss_mb": rss, "records": n})
    if afq_db is not None:
        out_a = work / f"{slug}.afquery.vcf"
        try:
            s, rss = measure(
                [
                    str(_BIN / "afquery"),
                    "annotate",
                    "--db",
                    str(afq_db),
                    "--input",
                    str(vcf),
                    "--output",
                    str(out_a),
                ],
                work / f"{slug}.afquery.log",
            )
            runs.append({"input": label, "tool": "afquery annotate", "s": s, "rss_mb": rss, "records": n})
        except RuntimeError as e:
            runs.append({"input": label, "tool": "afquery annotate", "error": str(e)[-300:], "records": n})
    return runs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--work", type=Path, required=True)
    ap.add_argument("--release-n", type=int, default=2_000_000)
    ap.add_argument("--genome-n", type=int, default=2_000_000)
    ap.add_argument("--no-afquery", action="store_true")
    ap.add_argument("--no-genome", action="store_true")
    ap.add_argument(
        "--before",
        type=Path,
        help="an earlier checkout (e.g. from git archive) whose variantdb package is also timed, outputs compared",
    )
    args = ap.parse_args()
    work: Path = args.work
    work.mkdir(parents=True, exist_ok=True)
    vdb = str(_BIN / "variantdb")
    info: dict[str, Any] = {"machine": machine(), "time": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    runs: list[dict[str, Any]] = []

    # NA12878 chr21 against a database loaded from it.
    na = work / "na12878"
    na.mkdir(exist_ok=True)
    vcf = na / NA12878.name
    shutil.copy(NA12878, vcf)
    shutil.copy(f"{NA12878}.tbi", f"{vcf}.tbi")
    (na / "manifest.tsv").write_text(f"sample_id\tvcf\tsex\nNA12878\t{vcf.name}\tXX\n")
    na_db = work / "na_db"
    if not (na_db / "CURRENT").exists():
        subprocess.run(
            [
                vdb,
                "load",
                "--db",
                str(na_db),
                "--manifest",
                str(na / "manifest.tsv"),
                "--batch",
                "na12878",
                "--quiet",
            ],
            check=True,
        )
    na_sites = work / "na_sites.vcf.gz"
    t0 = time.perf_counter()
    subprocess.run(
        [vdb, "export", "--db", str(na_db), "--format", "vcf", "-o", str(na_sites)],
        check=True,
        capture_output=True,
    )
    info["na_export_s"] = time.perf_counter() - t0
    afq_db = None
    if not args.no_afquery:
        (na / "afq.tsv").write_text(
            f"sample_name\tsex\ttech_name\tvcf_path\tphenotype_codes\nNA12878\tfemale\tWGS\t{vcf}\tnone\n"
        )
        afq_db = work / "afq_db"
        try:
            measure(
                [
                    str(_BIN / "afquery"),
                    "create-db",
                    "--manifest",
                    str(na / "afq.tsv"),
                    "--output-dir",
                    str(afq_db),
                    "--genome-build",
                    "GRCh38",
                    "--force",
                ],
                work / "afq_create.log",
            )
        except RuntimeError as e:
            info["afquery_create_error"] = str(e)[-300:]
            afq_db = None
    runs += _run_tools("na12878-chr21 (own DB)", na_db, na_sites, vcf, work, afq_db, args.before)
    info["join_na12878"] = join_rate(na_db, vcf)

    if not args.no_genome:
        syn = work / f"syn{args.release_n}"
        if not (syn / "CURRENT").exists():
            info["synthetic"] = write_synthetic_release(syn, "r0001", args.release_n)
        rel = release_path(syn, "r0001")
        syn_sites = work / "syn_sites.vcf.gz"
        if not syn_sites.exists():
            t0 = time.perf_counter()
            subprocess.run(
                [vdb, "export", "--db", str(syn), "--format", "vcf", "-o", str(syn_sites)],
                check=True,
                capture_output=True,
            )
            info["syn_export_s"] = time.perf_counter() - t0
        genome = work / "genome.vcf.gz"
        if not genome.exists():
            info["genome"] = write_genome(rel, genome, args.genome_n)
        info["release_n"] = len(ReleaseIndex.open(rel))
        info["sizes_mb"] = {
            "genome.vcf.gz": genome.stat().st_size / 1e6,
            "syn_sites.vcf.gz": syn_sites.stat().st_size / 1e6,
            "index": sum(p.stat().st_size for p in (rel / "index").iterdir()) / 1e6,
        }
        runs += _run_tools("na12878-chr21 vs synthetic", syn, syn_sites, vcf, work, None)
        runs += _run_tools("generated genome", syn, syn_sites, genome, work, None, args.before)
        info["join_genome"] = join_rate(syn, genome)

    for r in runs:
        if "s" in r:
            r["records_per_s"] = r["records"] / r["s"]
    by_input: dict[str, dict[str, float]] = {}
    for r in runs:
        if "s" in r:
            by_input.setdefault(r["input"], {})[r["tool"]] = r["s"]
    print(json.dumps(info, indent=1, default=str))
    for r in runs:
        if "same_output" in r:
            print(f"{r['input']}: output before and after byte-identical (decompressed): {r['same_output']}")
    print("| input | tool | records | wall s | records/s | peak RSS MB | tool s / variantdb s |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
    for r in runs:
        if "s" not in r:
            print(f"| {r['input']} | {r['tool']} | {r['records']:,} | failed: {r['error'][:80]} | | | |")
            continue
        ours = by_input[r["input"]].get("variantdb annotate")
        ratio = f"{r['s'] / ours:.2f}" if ours and r["tool"] != "variantdb annotate" else ""
        print(
            f"| {r['input']} | {r['tool']} | {r['records']:,} | {r['s']:.2f} | {r['records_per_s']:,.0f} | {r['rss_mb']:,.0f} | {ratio} |"
        )
    with open(work / "results.jsonl", "a") as fh:
        fh.write(json.dumps({"info": info, "runs": runs}, default=str) + "\n")


if __name__ == "__main__":
    main()
