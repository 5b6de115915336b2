"""Coalescent-simulated European genomes, written as a genome centre receives them.

The synthetic cohorts of ``benchmarks/cohort.py`` are built to exercise the
loader's rules; this module builds what a national database is fed instead, so
that speed and memory are measured at real density and with a real allele
frequency spectrum, from a simulator nobody here wrote:

- genealogies from msprime through stdpopsim (``HomSap``, ``OutOfAfrica_2T12``,
  population ``EUR`` by default) for a window of chr22;
- the mutation rate raised so that each genome carries about 1.3 variants per
  kb (a real genome holds 4-5 million over 3.1 Gb); the rate is calibrated on
  the simulated genealogy itself, so the density is met whatever the window;
- about 10% of the sites turned into short insertions or deletions (1-10 bp,
  geometric, left-aligned) whose REF is the written reference;
- a reference FASTA of chr22 up to the end of the window (``N`` before it,
  seeded random bases inside it, the ancestral allele at every site);
- per-sample bgzipped, tabix-indexed VCFs holding only the sample's non-reference
  calls (GT:AD:DP:GQ:PL), and with ``--gvcf`` HaplotypeCaller-style gVCFs: the
  same calls with ``<NON_REF>`` plus reference blocks (``END``, GT:DP:GQ:MIN_DP:PL)
  banded by GQ, some of them low-coverage; with ``--multi`` one joint-called
  multi-sample VCF of every site;
- a manifest per layout in the project's format (sex, region, patient group and
  received date drawn from the seed).

Positions: VCF ``POS`` is 1-based; tskit site positions are 0-based, so
``POS = position + 1``. Every output is the same for the same arguments.

Example::

    python benchmarks/simulate.py --out /tmp/nat --samples 200 --length 5000000 --seed 1 --gvcf --multi
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import multiprocessing
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pysam

from variantdb.genome import CONTIG_LENGTHS
from variantdb.schema import load_vocabulary

__all__ = ["Cohort", "main", "simulate_cohort", "simulate_sites", "write_cohort"]

_CONTIG = "chr22"
_BASES = np.frombuffer(b"ACGT", dtype=np.uint8)
_HEADER_COMMON = [
    "##fileformat=VCFv4.2",
    '##FILTER=<ID=PASS,Description="All filters passed">',
    '##FILTER=<ID=LowQual,Description="Low quality">',
    '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
    '##FORMAT=<ID=AD,Number=R,Type=Integer,Description="Allelic depths for the ref and alt alleles in the order listed">',
    '##FORMAT=<ID=DP,Number=1,Type=Integer,Description="Approximate read depth (reads with MQ=255 or with bad mates are filtered)">',
    '##FORMAT=<ID=GQ,Number=1,Type=Integer,Description="Genotype Quality">',
    '##FORMAT=<ID=PL,Number=G,Type=Integer,Description="Normalized, Phred-scaled likelihoods for genotypes as defined in the VCF specification">',
    '##INFO=<ID=DP,Number=1,Type=Integer,Description="Approximate read depth; some reads may have been filtered">',
    '##INFO=<ID=MLEAC,Number=A,Type=Integer,Description="Maximum likelihood expectation (MLE) for the allele counts, for each ALT allele">',
    '##INFO=<ID=MLEAF,Number=A,Type=Float,Description="Maximum likelihood expectation (MLE) for the allele frequency, for each ALT allele">',
]
_HEADER_GVCF = [
    '##ALT=<ID=NON_REF,Description="Represents any possible alternative allele at this location">',
    '##FORMAT=<ID=MIN_DP,Number=1,Type=Integer,Description="Minimum DP observed within the GVCF block">',
    '##INFO=<ID=END,Number=1,Type=Integer,Description="Stop position of the interval">',
    *(
        f"##GVCFBlock{lo}-{hi}=minGQ={lo}(inclusive),maxGQ={hi}(exclusive)"
        for lo, hi in zip(
            [*range(0, 60), 60, 70, 80, 90, 99], [*range(1, 61), 70, 80, 90, 99, 100], strict=True
        )
    ),
]
_GQ_BANDS = np.array([*range(0, 60), 60, 70, 80, 90, 99])


@dataclass
class Cohort:
    """Simulated sites of one window, before anything is written.

    ``pos`` is the 1-based VCF POS of each site; ``alleles[i]`` lists REF then
    each ALT; ``haps`` is sites x (2 * samples) allele indexes (0 = REF), the
    two haplotypes of sample ``j`` in columns ``2j`` and ``2j + 1``.
    """

    start: int
    end: int
    pos: np.ndarray
    alleles: list[list[str]]
    haps: np.ndarray
    reference: np.ndarray
    mutation_rate: float
    model: str
    population: str

    @property
    def n_samples(self) -> int:
        """Diploid samples."""
        return self.haps.shape[1] // 2


def _random_bases(rng: np.random.Generator, n: int) -> np.ndarray:
    return _BASES[rng.integers(0, 4, n)]


def _other_base(rng: np.random.Generator, base: int) -> int:
    return int(rng.choice([b for b in _BASES if b != base]))


def simulate_sites(
    n_samples: int,
    start: int,
    length: int,
    seed: int,
    *,
    per_kb: float = 1.3,
    indel_fraction: float = 0.1,
    model: str = "OutOfAfrica_2T12",
    population: str = "EUR",
) -> Cohort:
    """Simulate ``n_samples`` diploid genomes of chr22 ``[start + 1, start + length]`` (1-based).

    Parameters
    ----------
    n_samples
        Diploid samples drawn from ``population``.
    start
        0-based start of the window on chr22 (the first simulated POS is ``start + 1``).
    length
        Window length in bases.
    seed
        Seeds the genealogy, the mutations, the indels and the reference bases.
    per_kb
        Target non-reference sites per genome per kb (default 1.3, a real genome's density).
    indel_fraction
        Share of sites turned into insertions or deletions (default 0.1).
    model, population
        stdpopsim ``HomSap`` demographic model and the population sampled
        (default ``OutOfAfrica_2T12``, ``EUR``).

    Notes
    -----
    The mutation rate is set by simulating once at the species' rate, measuring
    the mean non-reference sites per genome and scaling the rate to
    ``per_kb``; mutations are then thrown again on the same genealogy.
    """
    import msprime
    import stdpopsim

    species = stdpopsim.get_species("HomSap")
    demography = species.get_demographic_model(model)
    contig = species.get_contig(_CONTIG, left=start, right=start + length)
    engine = stdpopsim.get_engine("msprime")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the model's rate differs from the contig's: calibrated below
        ts = engine.simulate(demography, contig, {population: n_samples}, seed=seed)
    g = ts.genotype_matrix()
    carried = ((g[:, 0::2] != 0) | (g[:, 1::2] != 0)).sum(axis=0).mean()
    base_rate = float(contig.mutation_rate)
    rate = base_rate * per_kb / max(carried / (length / 1000), 1e-9)
    tables = ts.dump_tables()
    tables.sites.clear()
    tables.mutations.clear()
    bare = tables.tree_sequence()
    for attempt in range(2):
        # A second pass corrects for recurrent and back mutations at the raised rate.
        ts = msprime.sim_mutations(bare, rate=rate, random_seed=seed + 1 + attempt, discrete_genome=True)
        g = ts.genotype_matrix()
        carried = ((g[:, 0::2] != 0) | (g[:, 1::2] != 0)).sum(axis=0).mean()
        if attempt == 0:
            rate *= per_kb / max(carried / (length / 1000), 1e-9)
    rng = np.random.default_rng([seed, 2])
    reference = _random_bases(rng, length)
    positions: list[int] = []
    alleles: list[list[str]] = []
    rows: list[np.ndarray] = []
    for var in ts.variants():
        gt = var.genotypes
        counts = np.bincount(gt, minlength=len(var.alleles))
        observed = [k for k in range(1, len(var.alleles)) if counts[k] > 0]
        if not observed:
            continue  # back mutations left only the ancestral allele
        remap = np.zeros(len(var.alleles), dtype=np.int8)
        remap[observed] = np.arange(1, len(observed) + 1, dtype=np.int8)
        positions.append(int(var.site.position) + 1)
        alleles.append([var.alleles[0], *(var.alleles[k] for k in observed)])
        rows.append(remap[gt])
    pos = np.array(positions, dtype=np.int64)
    haps = np.vstack(rows) if rows else np.zeros((0, 2 * n_samples), dtype=np.int8)
    for i, p in enumerate(pos.tolist()):
        reference[p - start - 1] = ord(alleles[i][0])
    _add_indels(rng, pos, alleles, reference, start, indel_fraction)
    return Cohort(start, start + length, pos, alleles, haps, reference, rate, model, population)


def _add_indels(
    rng: np.random.Generator,
    pos: np.ndarray,
    alleles: list[list[str]],
    reference: np.ndarray,
    start: int,
    fraction: float,
) -> None:
    """Turn about ``fraction`` of the biallelic sites into left-aligned insertions or deletions.

    A deletion's bases are written into ``reference`` (its last base differs from
    the anchor, so the record is already left-aligned); an insertion's last
    inserted base differs from the anchor for the same reason. A site becomes an
    indel only when the next site lies beyond the span it would cover.
    """
    n = len(pos)
    gap_after = np.append(np.diff(pos), 1 << 30)
    pick = rng.random(n) < fraction
    sizes = np.minimum(rng.geometric(0.55, n), 10)
    deletion = rng.random(n) < 0.5
    for i in np.flatnonzero(pick).tolist():
        if len(alleles[i]) != 2 or gap_after[i] <= sizes[i] + 1:
            continue
        p0 = int(pos[i]) - start - 1
        k = int(sizes[i])
        if p0 + k >= len(reference):
            continue
        anchor = int(reference[p0])
        tail = _random_bases(rng, k)
        if tail[-1] == anchor:
            tail[-1] = _other_base(rng, anchor)
        bases = chr(anchor) + tail.tobytes().decode()
        if deletion[i]:
            reference[p0 + 1 : p0 + k + 1] = tail
            alleles[i] = [bases, chr(anchor)]
        else:
            alleles[i] = [chr(anchor), bases]


def _write_fasta(path: Path, cohort: Cohort) -> None:
    seq = b"N" * cohort.start + cohort.reference.tobytes()
    with path.open("wb") as f:
        f.write(f">{_CONTIG}\n".encode())
        for i in range(0, len(seq), 60):
            f.write(seq[i : i + 60] + b"\n")
    pysam.faidx(str(path))


def _header(samples: Sequence[str], gvcf: bool, source: str) -> str:
    lines = [*_HEADER_COMMON, *(_HEADER_GVCF if gvcf else [])]
    lines.append(f"##contig=<ID={_CONTIG},length={CONTIG_LENGTHS[_CONTIG]},assembly=38>")
    lines.append(f"##source={source}")
    lines.append(
        "#" + "\t".join(["CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO", "FORMAT", *samples])
    )
    return "\n".join(lines) + "\n"


def _write_bgzf(path: Path, text_parts: list[str]) -> None:
    with pysam.BGZFile(str(path), "wb") as f:
        f.write("".join(text_parts).encode())
    pysam.tabix_index(str(path), preset="vcf", force=True)


def _pl(n_alleles: int, a: int, b: int, gq: int) -> str:
    """Phred-scaled likelihoods in VCF genotype order: 0 for the call, GQ for the next best."""
    out = []
    for j in range(n_alleles):
        for i in range(j + 1):
            if (i, j) == (min(a, b), max(a, b)):
                out.append(0)
            else:
                out.append(gq + 10 * (abs(i - a) + abs(j - b)))
    return ",".join(map(str, out))


@dataclass
class _Call:
    pos: int
    ref: str
    alts: list[str]
    gt: str
    text: str  # QUAL..sample fields, without the trailing <NON_REF> parts
    span_end: int


def _sample_calls(cohort: Cohort, j: int, rng: np.random.Generator, gvcf: bool) -> list[tuple[int, int, str]]:
    """Return (pos, span end, line) of each non-reference call of sample ``j``."""
    h = cohort.haps[:, 2 * j : 2 * j + 2]
    sites = np.flatnonzero((h[:, 0] != 0) | (h[:, 1] != 0))
    n = len(sites)
    dp = np.maximum(rng.poisson(32, n), 1)
    low = rng.random(n) < 0.03
    dp[low] = rng.integers(3, 10, int(low.sum()))
    noise = rng.normal(0, 8, n)
    out = []
    for t, s in enumerate(sites.tolist()):
        a, b = sorted(int(x) for x in h[s])
        site_alleles = cohort.alleles[s]
        carried = sorted({a, b} - {0})
        local = {0: 0, **{k: i + 1 for i, k in enumerate(carried)}}
        la, lb = local[a], local[b]
        alts = [site_alleles[k] for k in carried]
        d = int(dp[t])
        if la == lb:
            ref_reads = int(rng.binomial(d, 0.01))
            ad = [ref_reads, d - ref_reads]
            gq = int(np.clip(d * 3 + noise[t], 3, 99))
        elif la == 0:
            ref_reads = int(rng.binomial(d, 0.5))
            ad = [ref_reads, d - ref_reads]
            gq = int(np.clip(d * 2.5 + noise[t], 1, 99))
        else:
            first = int(rng.binomial(d, 0.5))
            ad = [0, first, d - first]
        if la != 0 and la != lb:
            gq = int(np.clip(d * 2 + noise[t], 1, 99))
        n_alleles = len(alts) + 1
        if gvcf:
            ad.append(0)
            n_alleles += 1
        pl = _pl(n_alleles, la, lb, gq)
        mleac = ",".join(["2" if la == lb else "1"] * len(alts) if len(alts) == 1 else ["1"] * len(alts))
        mleaf = ",".join(
            ["1.00" if la == lb else "0.500"] * len(alts) if len(alts) == 1 else ["0.500"] * len(alts)
        )
        alt_field = ",".join(alts) + (",<NON_REF>" if gvcf else "")
        if gvcf:
            mleac += ",0"
            mleaf += ",0.00"
        ref = site_alleles[0]
        qual = f"{max(gq * 1.4 + 10, 10.0):.2f}"
        filt = "." if gvcf else ("PASS" if gq >= 20 else "LowQual")
        p = int(cohort.pos[s])
        line = (
            f"{_CONTIG}\t{p}\t.\t{ref}\t{alt_field}\t{qual}\t{filt}\tDP={d};MLEAC={mleac};MLEAF={mleaf}"
            f"\tGT:AD:DP:GQ:PL\t{la}/{lb}:{','.join(map(str, ad))}:{d}:{gq}:{pl}\n"
        )
        out.append((p, p + len(ref) - 1, line))
    return out


def _blocks(
    cohort: Cohort, calls: list[tuple[int, int, str]], rng: np.random.Generator, block_bp: float
) -> list[tuple[int, str]]:
    """Return (pos, line) of HaplotypeCaller-style reference blocks around ``calls``.

    Block boundaries fall where the GQ band changes: modelled as a Poisson
    process of mean spacing ``block_bp``; about 10% of blocks have GQ under 20,
    a few have no coverage at all (GQ 0, DP 0), as in real gVCFs.
    """
    lo, hi = cohort.start + 1, cohort.end
    n_cuts = int(rng.poisson((hi - lo + 1) / block_bp))
    cuts = rng.integers(lo + 1, hi + 1, n_cuts)
    var_start = np.array([c[0] for c in calls], dtype=np.int64)
    var_end = np.array([c[1] for c in calls], dtype=np.int64)
    starts = np.unique(np.concatenate([[lo], cuts, var_start, var_end + 1]))
    starts = starts[starts <= hi]
    ends = np.append(starts[1:] - 1, hi)
    # Drop the pieces a variant record covers (a deletion covers its REF span).
    inside = np.zeros(len(starts), dtype=bool)
    if len(var_start):
        k = np.searchsorted(var_start, starts, side="right") - 1
        ok = k >= 0
        inside[ok] = starts[ok] <= var_end[k[ok]]
    starts, ends = starts[~inside], ends[~inside]
    n = len(starts)
    u = rng.random(n)
    gq = np.where(u < 0.8, 99, rng.integers(20, 99, n))
    lowq = u > 0.9
    gq[lowq] = rng.integers(0, 20, int(lowq.sum()))
    gq = _GQ_BANDS[np.searchsorted(_GQ_BANDS, gq, side="right") - 1]
    dp = np.maximum(rng.poisson(30, n), 1)
    dp[lowq] = rng.integers(1, 10, int(lowq.sum()))
    empty = u > 0.985
    gq[empty] = 0
    dp[empty] = 0
    min_dp = np.minimum(dp, np.maximum(dp - rng.poisson(4, n), 0))
    ref = cohort.reference[starts - cohort.start - 1].tobytes().decode()
    out = []
    for i, (s, e, g, d, m) in enumerate(
        zip(starts.tolist(), ends.tolist(), gq.tolist(), dp.tolist(), min_dp.tolist(), strict=True)
    ):
        out.append(
            (
                s,
                f"{_CONTIG}\t{s}\t.\t{ref[i]}\t<NON_REF>\t.\t.\tEND={e}\tGT:DP:GQ:MIN_DP:PL"
                f"\t0/0:{d}:{g}:{m}:0,{g},{g * 10 + 5}\n",
            )
        )
    return out


def _write_sample(args: tuple[Cohort, int, str, Path, int, bool, float]) -> tuple[int, int, int]:
    cohort, j, name, out, seed, gvcf, block_bp = args
    rng = np.random.default_rng([seed, 3, j])
    calls = _sample_calls(cohort, j, rng, gvcf=False)
    source = f"benchmarks/simulate.py seed={seed}"
    _write_bgzf(out / "vcf" / f"{name}.vcf.gz", [_header([name], False, source), *(c[2] for c in calls)])
    n_blocks = 0
    if gvcf:
        rng = np.random.default_rng([seed, 3, j])
        gcalls = _sample_calls(cohort, j, rng, gvcf=True)
        blocks = _blocks(cohort, gcalls, np.random.default_rng([seed, 4, j]), block_bp)
        n_blocks = len(blocks)
        lines = sorted([(p, t) for p, _, t in gcalls] + blocks, key=lambda x: x[0])
        _write_bgzf(
            out / "gvcf" / f"{name}.g.vcf.gz", [_header([name], True, source), *(t for _, t in lines)]
        )
    return j, len(calls), n_blocks


def _write_multi(cohort: Cohort, names: list[str], path: Path, seed: int) -> int:
    """Write one joint-called VCF of every site and sample (all alleles at each site)."""
    rng = np.random.default_rng([seed, 5])
    pool = []
    for _ in range(64):
        d = max(int(rng.poisson(32)), 1)
        gq = int(min(99, d * 3))
        pool.append(f"0/0:{d},0:{d}:{gq}")
    parts = [_header(names, False, f"benchmarks/simulate.py seed={seed}")]
    n = cohort.n_samples
    for s in range(len(cohort.pos)):
        h = cohort.haps[s]
        a = np.minimum(h[0::2], h[1::2])
        b = np.maximum(h[0::2], h[1::2])
        picks = rng.integers(0, 64, n)
        fields = [pool[k] for k in picks.tolist()]
        n_alt = len(cohort.alleles[s]) - 1
        for j in np.flatnonzero(b).tolist():
            d = max(int(rng.poisson(32)), 1)
            ad = [0] * (n_alt + 1)
            if a[j] == b[j]:
                ad[b[j]] = d
                gq = int(min(99, d * 3))
            else:
                x = int(rng.binomial(d, 0.5))
                ad[a[j]] += x
                ad[b[j]] += d - x
                gq = int(min(99, d * 2.5))
            fields[j] = f"{a[j]}/{b[j]}:{','.join(map(str, ad))}:{d}:{gq}"
        ac = [int((h == k).sum()) for k in range(1, n_alt + 1)]
        af = ",".join(f"{c / (2 * n):.4g}" for c in ac)
        parts.append(
            f"{_CONTIG}\t{int(cohort.pos[s])}\t.\t{cohort.alleles[s][0]}\t{','.join(cohort.alleles[s][1:])}"
            f"\t100.00\tPASS\tDP={32 * n};MLEAC={','.join(map(str, ac))};MLEAF={af}\tGT:AD:DP:GQ\t"
            + "\t".join(fields)
            + "\n"
        )
    _write_bgzf(path, parts)
    return len(cohort.pos)


def _manifest(path: Path, names: list[str], files: list[str], seed: int) -> None:
    rng = np.random.default_rng([seed, 6])
    regions = list(load_vocabulary("regions"))
    groups = list(load_vocabulary("patient_groups"))
    rows = ["sample_id\tvcf\tsex\tregion\tpatient_group\treceived"]
    for name, f in zip(names, files, strict=True):
        sex = "XX" if rng.random() < 0.5 else "XY"
        region = regions[int(rng.integers(len(regions)))]
        group = groups[int(rng.integers(len(groups)))]
        received = dt.date(2026, 1, 1) + dt.timedelta(days=int(rng.integers(0, 365)))
        rows.append(f"{name}\t{f}\t{sex}\t{region}\t{group}\t{received.isoformat()}")
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")


def write_cohort(
    cohort: Cohort, out: Path, seed: int, *, gvcf: bool, multi: bool, block_bp: float = 250.0, jobs: int = 1
) -> dict[str, object]:
    """Write FASTA, per-sample VCFs (and gVCFs, a multi-sample VCF) and manifests under ``out``.

    Returns
    -------
    dict
        What was written: counts per genome and per kb, allele-frequency spectrum, bytes.
    """
    out.mkdir(parents=True, exist_ok=True)
    (out / "vcf").mkdir(exist_ok=True)
    if gvcf:
        (out / "gvcf").mkdir(exist_ok=True)
    names = [f"SIM{j + 1:06d}" for j in range(cohort.n_samples)]
    _write_fasta(out / "ref.fa", cohort)
    _manifest(out / "manifest.tsv", names, [f"vcf/{n}.vcf.gz" for n in names], seed)
    if gvcf:
        _manifest(out / "manifest-gvcf.tsv", names, [f"gvcf/{n}.g.vcf.gz" for n in names], seed)
    tasks = [(cohort, j, names[j], out, seed, gvcf, block_bp) for j in range(cohort.n_samples)]
    if jobs > 1:
        with multiprocessing.get_context("fork").Pool(jobs) as pool:
            results = pool.map(_write_sample, tasks, chunksize=4)
    else:
        results = [_write_sample(t) for t in tasks]
    if multi:
        _write_multi(cohort, names, out / "multi.vcf.gz", seed)
        _manifest(out / "manifest-multi.tsv", names, ["multi.vcf.gz"] * len(names), seed)
    calls = np.array([r[1] for r in results])
    blocks = np.array([r[2] for r in results])
    ac = (cohort.haps != 0).sum(axis=1)
    kb = (cohort.end - cohort.start) / 1000
    n_indel = sum(len(a[0]) != 1 or any(len(x) != 1 for x in a[1:]) for a in cohort.alleles)
    info: dict[str, object] = {
        "contig": _CONTIG,
        "start_1based": cohort.start + 1,
        "end_1based": cohort.end,
        "samples": cohort.n_samples,
        "model": f"HomSap/{cohort.model}/{cohort.population}",
        "mutation_rate": cohort.mutation_rate,
        "sites": len(cohort.pos),
        "multiallelic_sites": sum(len(a) > 2 for a in cohort.alleles),
        "indel_sites": int(n_indel),
        "calls": int(calls.sum()),
        "variants_per_genome_mean": float(calls.mean()),
        "variants_per_kb_per_genome": float(calls.mean() / kb),
        "sites_singleton_share": float((ac == 1).mean()),
        "sites_af_below_1pct_share": float((ac < 0.01 * 2 * cohort.n_samples).mean()),
        "gvcf_blocks_per_genome_mean": float(blocks.mean()) if gvcf else None,
        "gvcf_lines_per_kb_per_genome": float((blocks.mean() + calls.mean()) / kb) if gvcf else None,
        "vcf_bytes": sum(p.stat().st_size for p in (out / "vcf").glob("*.vcf.gz")),
        "gvcf_bytes": sum(p.stat().st_size for p in (out / "gvcf").glob("*.g.vcf.gz")) if gvcf else None,
        "multi_bytes": (out / "multi.vcf.gz").stat().st_size if multi else None,
    }
    (out / "cohort.json").write_text(json.dumps(info, indent=1) + "\n")
    return info


def simulate_cohort(
    out: str | Path,
    n_samples: int,
    length: int,
    seed: int,
    *,
    start: int = 20_000_000,
    gvcf: bool = False,
    multi: bool = False,
    per_kb: float = 1.3,
    indel_fraction: float = 0.1,
    block_bp: float = 250.0,
    jobs: int = 1,
) -> dict[str, object]:
    """Simulate and write a cohort; see :func:`simulate_sites` and :func:`write_cohort`."""
    t0 = time.perf_counter()
    cohort = simulate_sites(n_samples, start, length, seed, per_kb=per_kb, indel_fraction=indel_fraction)
    t1 = time.perf_counter()
    info = write_cohort(cohort, Path(out), seed, gvcf=gvcf, multi=multi, block_bp=block_bp, jobs=jobs)
    info["simulate_s"] = round(t1 - t0, 1)
    info["write_s"] = round(time.perf_counter() - t1, 1)
    (Path(out) / "cohort.json").write_text(json.dumps(info, indent=1) + "\n")
    return info


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: ``python benchmarks/simulate.py --out DIR --samples 200 --length 5000000 --seed 1``."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--samples", type=int, default=200)
    p.add_argument("--length", type=int, default=5_000_000, help="window length in bases")
    p.add_argument("--start", type=int, default=20_000_000, help="0-based window start on chr22")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--per-kb", type=float, default=1.3, help="non-reference sites per genome per kb")
    p.add_argument("--indel-fraction", type=float, default=0.1)
    p.add_argument("--block-bp", type=float, default=250.0, help="mean gVCF reference block length")
    p.add_argument("--gvcf", action="store_true", help="also write gVCFs with reference blocks")
    p.add_argument("--multi", action="store_true", help="also write one multi-sample VCF")
    p.add_argument("--jobs", type=int, default=1, help="processes writing per-sample files")
    args = p.parse_args(argv)
    info = simulate_cohort(
        args.out,
        args.samples,
        args.length,
        args.seed,
        start=args.start,
        gvcf=args.gvcf,
        multi=args.multi,
        per_kb=args.per_kb,
        indel_fraction=args.indel_fraction,
        block_bp=args.block_bp,
        jobs=args.jobs,
    )
    print(json.dumps(info, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
