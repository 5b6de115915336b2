"""Estimate time, storage and machines for 60,000 and 500,000 genomes from measured per-record costs.

Reads the ``results.json`` that :mod:`benchmarks.bench_dask` writes in its work
folder and writes ``benchmarks/SCALE.md``: the measured inputs, the assumptions,
and the arithmetic, so the estimate is redone whenever the loader changes.

With ``--national``, the section "From the national rehearsal" is derived from
the per-unit costs that :mod:`benchmarks.bench_national` measured end to end
(load, monthly batch, withdrawal, annotation, disk) on simulated gVCFs.

Usage::

    python -m benchmarks.scale /tmp/bench-dask/results.json --national benchmarks/results_national.json --write
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["estimate", "main"]

SCALE = Path(__file__).parent / "SCALE.md"

#: Assumptions, each with where it comes from (see the "Assumptions" list in the output).
RECORDS_PER_VCF = 4.5e6
#: Lines per WGS gVCF: from the density of the real gVCFs here, and from typical file sizes.
LINES_PER_GVCF = {"gVCF, 13 M lines": 13e6, "gVCF, 100 M lines": 100e6}
CALLS_PER_GENOME = 4.5e6
VARIANTS = {60_000: 600e6, 500_000: 1.2e9}
NODE_CORES = 32
NODE_RAM_GB = 256
CHR1_SHARE = 0.08  # chr1 is 248.9 of 3,088 Mb of GRCh38 1-22, X, Y, M
GAP_ROW_MEMORY_BYTES = 21  # an Arrow row of GAPS_SCHEMA: 3 x int32, a short string, a bit; a lower bound
MONTHLY = 2_000  # genomes arriving in a month
GENOME_BP = 3.1e9  # GRCh38 1-22, X, Y, M


def _per(res: dict[str, Any]) -> dict[str, float]:
    """Return the measured per-unit costs from a bench_dask result."""
    runs = {r["name"]: r for r in res["runs"]}
    synth = next(r for n, r in runs.items() if n.startswith("variantdb load --workers 1"))
    real_vcf, real_gvcf = res["real"]["na12878_chr21"], res["real"]["gvcf_1kg_chr22"]
    synth_gvcf = res["real"]["gvcf_synthetic"]

    def cpu_us(r: dict[str, Any]) -> float:
        return float(r["read_cpu_s"]) / r["totals"]["records"] * 1e6

    return {
        "vcf_us_per_record": cpu_us(real_vcf),
        "vcf_us_per_record_synth": cpu_us(synth),
        "gvcf_us_per_record": cpu_us(real_gvcf),
        "gvcf_us_per_record_synth": cpu_us(synth_gvcf),
        "bytes_per_call": synth["calls_bytes"] / synth["calls_rows"],
        "bytes_per_gap": synth_gvcf["gaps_bytes"] / synth_gvcf["gaps_rows"],
        "gaps_per_gvcf_line": real_gvcf["gaps_rows"] / real_gvcf["totals"]["records"],
        "gaps_per_vcf_record": real_vcf["gaps_rows"] / real_vcf["totals"]["records"],
        "publish_us_per_call": synth["publish_cpu_s"] / synth["calls_rows"] * 1e6,
        "release_bytes_per_variant": synth["release_bytes"] / synth["n_variants"],
        "an_bytes_per_segment": synth_gvcf["an_track_bytes"] / max(1, synth_gvcf.get("an_track_rows", 1)),
    }


def estimate(res: dict[str, Any]) -> list[dict[str, Any]]:
    """Return one row of estimates per (input kind, number of genomes)."""
    per = _per(res)
    out = []
    for kind in ("VCF", *LINES_PER_GVCF):
        lines = RECORDS_PER_VCF if kind == "VCF" else LINES_PER_GVCF[kind]
        us = per["vcf_us_per_record"] if kind == "VCF" else per["gvcf_us_per_record"]
        gaps = lines * (per["gaps_per_vcf_record"] if kind == "VCF" else per["gaps_per_gvcf_line"])
        for genomes, variants in VARIANTS.items():
            read_core_h = genomes * lines * us / 3.6e9
            calls = genomes * CALLS_PER_GENOME
            publish_core_h = calls * per["publish_us_per_call"] / 3.6e9
            chr1_gaps_gb = genomes * gaps * CHR1_SHARE * GAP_ROW_MEMORY_BYTES / 1e9
            # AN track: at most one segment per position; each gap start and end is a breakpoint.
            an_segments = min(3.1e9, 2 * genomes * gaps)
            out.append(
                {
                    "kind": kind,
                    "genomes": genomes,
                    "read_core_s_per_genome": lines * us / 1e6,
                    "read_core_h": read_core_h,
                    "read_h_on_10_nodes": read_core_h / (10 * NODE_CORES),
                    "nodes_for_24h": max(1, math.ceil(read_core_h / (24 * NODE_CORES))),
                    "monthly_read_h_on_1_node": MONTHLY * lines * us / 3.6e9 / NODE_CORES,
                    "calls_tb": calls * per["bytes_per_call"] / 1e12,
                    "gaps_tb": genomes * gaps * per["bytes_per_gap"] / 1e12,
                    "publish_core_h": publish_core_h,
                    "publish_h_chr1": publish_core_h * CHR1_SHARE / NODE_CORES,
                    "release_gb": variants * per["release_bytes_per_variant"] / 1e9,
                    "an_track_gb": an_segments * per["an_bytes_per_segment"] / 1e9,
                    "chr1_gaps_in_memory_gb": chr1_gaps_gb,
                }
            )
    return out


def render(res: dict[str, Any], source: str) -> str:
    """Return SCALE.md."""
    per = _per(res)
    rows = estimate(res)
    d = res["data"]
    f = "{:,.0f}".format
    lines = [
        "# Loading 60,000 and 500,000 genomes: an estimate from measured costs",
        "",
        f"Generated by `python -m benchmarks.scale {source} --write` from the figures of one "
        "`benchmarks/bench_dask.py` run (its section in `benchmarks/RESULTS.md` has the command and the "
        "machine). Every cost below is measured there; every other number is an assumption listed with "
        "its source. Rerun both after a change to the loader.",
        "",
        "## Measured (one core, in-process, CPU seconds of the loading process)",
        "",
        "| cost | value | measured on |",
        "| --- | ---: | --- |",
        f"| read, VCF | {per['vcf_us_per_record']:.1f} µs/record | real NA12878 chr21 VCF (Platinum Genomes, "
        f"{res['real']['na12878_chr21']['totals']['records']:,} records); synthetic VCFs give "
        f"{per['vcf_us_per_record_synth']:.1f} (denser genotype fields) |",
        f"| read, gVCF | {per['gvcf_us_per_record']:.1f} µs/line | 50 real 1000 Genomes GATK gVCFs, chr22 slice "
        f"(1,000 lines each, so per-file costs weigh more than in a whole genome); synthetic gVCFs give "
        f"{per['gvcf_us_per_record_synth']:.1f} |",
        f"| stored calls | {per['bytes_per_call']:.1f} bytes/call | {d['samples']} synthetic VCFs, one batch "
        "(Parquet, zstd) |",
        f"| stored gaps | {per['bytes_per_gap']:.1f} bytes/row | {res['gvcf_samples']} synthetic gVCFs |",
        f"| gap rows | {per['gaps_per_gvcf_line']:.3f} per gVCF line, {per['gaps_per_vcf_record']:.4f} per VCF "
        "record | the real gVCFs / NA12878 |",
        f"| publish (aggregate, AN track, index, write) | {per['publish_us_per_call']:.2f} µs per stored call "
        f"| the {d['samples']}-sample synthetic release ({d['sites']:,} sites) |",
        f"| release | {per['release_bytes_per_variant']:,.0f} bytes/variant | the same release, all strata "
        "(variant table, AN track, index) |",
        f"| AN track | {per['an_bytes_per_segment']:.1f} bytes/segment | the synthetic gVCF release |",
        "",
        "## Assumptions",
        "",
        f"- A WGS VCF has {RECORDS_PER_VCF / 1e6:.1f} M records and {CALLS_PER_GENOME / 1e6:.1f} M "
        "non-reference genotypes (NA12878 chr21 here has 65,370 records on 46.7 Mb, i.e. 4.3 M over the "
        "genome's 3.1 Gb; a 30x genome has 4-5 M).",
        "- A WGS gVCF has 13 M lines by the density of the real 1000 Genomes GATK gVCFs here (1,000 lines "
        "per 244 kb = 4.1 per kb, x 3.1 Gb = 12.7 M), but that slice is pericentromeric: whole 30x "
        "HaplotypeCaller gVCFs are commonly 3-6 GB, which at this slice's 37 bytes per compressed line "
        "is 80-160 M lines, so both 13 M and 100 M are shown (reblocked gVCFs, as gnomAD and All of Us "
        "keep, have far fewer). A gVCF has the same non-reference calls as a VCF.",
        f"- Distinct variants: {VARIANTS[60_000] / 1e6:,.0f} M at 60,000 genomes (gnomAD v3.1 found 759 M "
        "sites in 76,156 genomes of many ancestries; one national population has fewer), "
        f"{VARIANTS[500_000] / 1e9:.1f} billion at 500,000 (UK Biobank's 490,640 genomes: about 1.1 billion "
        "SNVs and 0.1 billion indels).",
        f"- Nodes of {NODE_CORES} cores and {NODE_RAM_GB} GB RAM, one Dask worker process per core "
        "(`dask worker --nworkers 32 --nthreads 1`); reading scales with cores (tasks are independent files); "
        "costs per core as measured here (a 2-CPU shared virtual machine: a dedicated server core is likely "
        "faster, so these are upper bounds).",
        f"- Aggregation runs one task per contig; chr1 holds {CHR1_SHARE:.0%} of the calls and bounds the "
        "wall time, with DuckDB using every core of its node.",
        f"- A month brings {MONTHLY:,} genomes.",
        "",
        "## Estimates",
        "",
        "| input | genomes | read CPU s/genome | read core-hours | read hours, 10 nodes | nodes to read all in 24 h "
        "| a month's batch, "
        "hours on 1 node | calls TB | gaps TB | publish core-hours | publish hours (chr1 on 1 node) "
        "| release GB | AN track GB (bound) | chr1 gaps in memory GB (at least) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        lines.append(
            f"| {r['kind']} | {r['genomes']:,} | {r['read_core_s_per_genome']:,.0f} | {f(r['read_core_h'])} | "
            f"{r['read_h_on_10_nodes']:,.1f} | {r['nodes_for_24h']:,} | {r['monthly_read_h_on_1_node']:,.1f} | {r['calls_tb']:,.1f} | "
            f"{r['gaps_tb']:,.2f} | {f(r['publish_core_h'])} | {r['publish_h_chr1']:,.1f} | "
            f"{f(r['release_gb'])} | {f(r['an_track_gb'])} | {r['chr1_gaps_in_memory_gb']:,.0f} |"
        )
    worst = max(r["chr1_gaps_in_memory_gb"] for r in rows)
    lines += [
        "",
        "## What follows",
        "",
        "- **Reading** is the part Dask spreads: it is a sum of independent per-file tasks, so hours fall "
        "with nodes until the shared filesystem's bandwidth is the limit (a 60,000-genome reload reads "
        "the inputs once, ~0.1-0.3 GB per VCF, 0.5-6 GB per gVCF). A monthly batch of VCFs fits one node in "
        "a working day; of full-resolution gVCFs, a few nodes.",
        "- **Storage**: calls grow with genomes x calls per genome, whatever the number of variants; the "
        "release grows with distinct variants. Add the inputs themselves (kept by the genome centre) and "
        "room for two releases during a switch.",
        "- **Publishing** today re-aggregates every stored batch for each release (issue: incremental "
        "publishing merges only the new batch into the previous release) and runs one task per contig, so "
        "its wall time is bounded by chr1 on one node, whatever the cluster size. Splitting the per-contig "
        "task by the calls' `bin=` folders would spread it. The per-call cost was measured on 1.2 M calls, "
        "in memory; chr1 at 60,000 genomes is ~20 billion calls, and DuckDB spilling its hash table to disk "
        "there is not captured, so take the publish hours as a floor.",
        f"- **Memory limit found**: the AN track of a contig is computed from all its gap rows in memory "
        f"(`compute_an_track` reads them whole, {GAP_ROW_MEMORY_BYTES} bytes a row in Arrow before the sweep's "
        f"working arrays). With gVCFs this is at least {worst:,.0f} GB for chr1 in the "
        f"largest case above, past a {NODE_RAM_GB} GB node: before gVCF loads at this scale, the AN sweep "
        "must run per bin (gaps are already partitioned by contig; add bins) or stream sorted gap rows. "
        "VCF loads (no-call gaps only) stay small.",
        "- The AN track bound assumes a breakpoint at every gap edge, capped at one segment per position; "
        "neighbouring genomes share many edges (GQ bands fall at similar places), so the real track is smaller.",
        "",
    ]
    return "\n".join(lines)


def national_units(nat: dict[str, Any]) -> dict[str, float]:
    """Return per-genome and per-call costs from a bench_national result, scaled from its window to a genome."""
    d, st = nat["data"], nat["steps"]
    g = GENOME_BP / d["window_bp"]  # windows per genome
    genomes_now = st["disk_per_genome"]["genomes"]
    calls_now = d["calls"] * genomes_now / d["genomes"]
    return {
        "windows_per_genome": g,
        # Net of the fixed cost of a load (one genome into an empty database), when measured.
        "load_fixed_s": st["first_load"].get("ours_one_genome_s", 0.0),
        "load_s_per_genome": (st["first_load"]["ours_s"] - st["first_load"].get("ours_one_genome_s", 0.0))
        / max(1, d["first"] - 1)
        * g,
        "load_rss_mb": st["first_load"]["ours_rss_mb"],
        "bcftools_s_per_genome": st["first_load"]["bcftools_s"] / d["first"] * g,
        "monthly_s_per_genome": st["monthly_batch"]["ours_s"] / d["monthly"] * g,
        "monthly_rss_mb": st["monthly_batch"]["ours_rss_mb"],
        "withdraw_us_per_stored_call": st["withdrawal"]["ours_s"] / calls_now * 1e6,
        "withdraw_rss_mb": st["withdrawal"]["ours_rss_mb"],
        "calls_gaps_bytes_per_genome": st["disk_per_genome"]["ours_calls_gaps_bytes"] * g,
        "release_bytes_per_variant": st["disk_per_genome"]["ours_release_bytes"]
        * genomes_now
        / d["released_variants"],
        "annotate_us_per_record": st["annotate_one_genome"]["ours_s"]
        / st["annotate_one_genome"]["records"]
        * 1e6,
        "annotate_rss_mb": st["annotate_one_genome"]["ours_rss_mb"],
        "lookup_us": st["single_lookup"]["ours_record_us"],
        "batch_ms": st["batch_lookup"]["ours_ms"] * 10_000 / st["batch_lookup"]["ids"],
    }


def render_national(nat: dict[str, Any], source: str) -> str:
    """Return the "From the national rehearsal" section of SCALE.md."""
    u = national_units(nat)
    d = nat["data"]
    day_core_s = 24 * 3600 * NODE_CORES
    lines = [
        "## From the national rehearsal",
        "",
        f"Derived from `{source}`, one run of `{nat['command']}` ({d['genomes']} genomes simulated by "
        f"msprime/stdpopsim over {d['window_bp']:,} bp of chr22, as gVCFs; its section in RESULTS.md has the "
        "machine and every peer). Each step's wall time there is scaled to a whole genome by the window's "
        f"share of it (x {u['windows_per_genome']:,.0f}): the simulated genomes have real density "
        f"({d['variants_per_kb_per_genome']:.2f} variants and {d['gvcf_lines_per_kb_per_genome']:.1f} gVCF lines "
        "per kb), so per-genome costs scale with length. Wall seconds on the shared 2-CPU machine are counted "
        "as core-seconds of one core: an upper bound where a step used both. The monthly batch and the "
        "withdrawal include their fixed per-run costs (start-up, publishing a release, building its index), "
        "which a window this small weighs heavily: both are upper bounds.",
        "",
        "| per-unit cost (measured) | value |",
        "| --- | ---: |",
        f"| first load, per whole genome (read, judge, store calls and gaps, publish), net of the "
        f"{u['load_fixed_s']:.1f} s a one-genome load takes | {u['load_s_per_genome']:,.0f} s "
        f"(bcftools merge --gvcf \\| +fill-tags: {u['bcftools_s_per_genome']:,.0f} s) |",
        f"| monthly batch, per genome added (incremental publish included) | {u['monthly_s_per_genome']:,.0f} s |",
        f"| withdrawal, per stored call of the database | {u['withdraw_us_per_stored_call']:.2f} µs |",
        f"| calls + gaps on disk, per genome | {u['calls_gaps_bytes_per_genome'] / 1e6:,.0f} MB |",
        f"| release on disk, per variant | {u['release_bytes_per_variant']:,.0f} bytes |",
        f"| annotation, per patient record | {u['annotate_us_per_record']:.1f} µs |",
        f"| single lookup (record) / 10,000-id batch | {u['lookup_us']:.1f} µs / {u['batch_ms']:,.0f} ms |",
        f"| peak RSS: load / monthly batch / withdrawal / annotation | {u['load_rss_mb']:,.0f} / "
        f"{u['monthly_rss_mb']:,.0f} / {u['withdraw_rss_mb']:,.0f} / {u['annotate_rss_mb']:,.0f} MB |",
        "",
        f"| genomes | load core-hours | nodes to load all in 24 h | a month ({MONTHLY:,}) on 1 node, hours "
        "| one withdrawal, core-hours | calls + gaps TB | release TB | annotate one genome, s |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for genomes, variants in VARIANTS.items():
        load_core_s = genomes * u["load_s_per_genome"]
        lines.append(
            f"| {genomes:,} | {load_core_s / 3600:,.0f} | {max(1, math.ceil(load_core_s / day_core_s)):,} | "
            f"{MONTHLY * u['monthly_s_per_genome'] / 3600 / NODE_CORES:,.1f} | "
            f"{genomes * CALLS_PER_GENOME * u['withdraw_us_per_stored_call'] / 3.6e9:,.0f} | "
            f"{genomes * u['calls_gaps_bytes_per_genome'] / 1e12:,.1f} | "
            f"{variants * u['release_bytes_per_variant'] / 1e12:,.2f} | "
            f"{RECORDS_PER_VCF * u['annotate_us_per_record'] / 1e6:,.0f} |"
        )
    lines += [
        "",
        "Which figure bounds each:",
        "",
        "- **Load (nodes, hours)**: the per-genome load time, of which reading the gVCF lines is most "
        "(`SCALE.md`'s read cost above); the reader rewrite (issue 14, item 1) is what moves it. Loading is "
        "independent per file, so nodes divide it.",
        "- **A month on one node**: the same per-genome cost times 2,000, plus one publish; publishing is "
        "split into (contig, bin) tasks only for the AN sweep so far, so the variant aggregation of chr1 is "
        "still one task.",
        "- **Withdrawal**: proportional to every stored call (it re-aggregates the whole database), so it "
        "grows with the database, not the person: item 5 of issue 14 (subtract the person) is what bounds it.",
        "- **Disk**: calls and gaps (gVCF reference blocks below the quality bands) grow with genomes, about "
        "as much each in this run; the release (variant table with every stratum, AN track, index, "
        "sub-cohort structures) grows with distinct variants and is the larger part until some thousands "
        "of genomes.",
        "- **Annotation**: the patient genome here has a few thousand records, so the start-up of the "
        "command (opening the release, the reference) dominates and the per-record figure scaled to "
        "4.5 M records is an upper bound; `bench_annotate` measures 5 M-record genomes directly.",
        "- **Memory per task**: the AN track is now built from gap rows streamed in sorted bins "
        "(`compute_an_track_from_files`), so a task holds one bin's rows plus DuckDB's sort buffer "
        "(memory limit, spills past it) instead of a contig's gaps; the 71 GB / 4.5 TB chr1 figures of the "
        'table above no longer apply to the AN sweep. See RESULTS.md "AN track memory" for peak RSS at 1x, '
        "2x, 4x gVCFs.",
        "",
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Command line; see the module docstring."""
    p = argparse.ArgumentParser(prog="python -m benchmarks.scale", description=__doc__.splitlines()[0])
    p.add_argument("results", type=Path, help="results.json written by benchmarks.bench_dask")
    p.add_argument("--national", type=Path, help="results_national.json written by benchmarks.bench_national")
    p.add_argument("--write", action="store_true", help=f"write {SCALE}")
    a = p.parse_args(argv)
    text = render(json.loads(a.results.read_text()), str(a.results))
    if a.national:
        text += "\n" + render_national(json.loads(a.national.read_text()), str(a.national))
    print(text)
    if a.write:
        SCALE.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
