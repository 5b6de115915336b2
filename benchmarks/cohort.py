"""Seeded synthetic cohorts: VCFs or gVCFs, a small FASTA and a manifest.

The tests cross-check the loader against bcftools on these cohorts and the
benchmarks time it on them, so the generator has to produce what real batches
hold, and the same files for the same seed:

- an allele-frequency spectrum where most variants are rare and many are
  singletons, with a few common ones (some with alt as the major allele);
- SNVs, and indels inside homopolymers and short tandem repeats, about half of
  them written *right-shifted* (valid, but not left-aligned) so that
  normalization against the FASTA matters; multi-allelic records of both;
- autosomes, chrX inside and outside PAR1, chrY and chrM, with genotypes whose
  ploidy follows the sample's sex (haploid on non-PAR X/Y for XY, no chrY call
  for XX, haploid chrM) so bcftools, which reads ploidy off the GT, agrees with
  the loader, which reads it off the manifest. Samples of unknown sex get
  diploid chrX calls, as a caller would write; the loader counts none of them;
- trios and duos whose children inherit their parents' alleles;
- FORMAT GQ, DP and AD with a known fraction failing the adj thresholds, and
  some no-calls;
- one multi-sample VCF, or one VCF per sample (carrier records and no-calls
  only, listing only the alleles the sample carries), or GATK-style gVCFs with
  ``<NON_REF>`` reference blocks (``END``, ``GQ``, ``DP``, ``MIN_DP``) and gaps.

The FASTA covers the windows the sites are drawn from (N elsewhere; contigs end
after the last window, shorter than GRCh38), while the VCF headers carry the
true GRCh38 ``##contig`` lengths. VCFs are bgzipped and tabix-indexed by pysam.

Genotypes are drawn with numpy a chunk of sites at a time and formatted from
per-genotype pools of pre-rendered sample fields, so thousands of samples by a
hundred thousand sites take about a minute, not hours.
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pysam

from variantdb.genome import CONTIG_LENGTHS, CONTIGS, PARS
from variantdb.schema import load_vocabulary

__all__ = ["DEFAULT_CONTIGS", "Site", "generate_cohort", "main"]

#: Contigs of a default cohort: autosomes, both sex chromosomes and chrM.
DEFAULT_CONTIGS: tuple[str, ...] = ("chr1", "chr2", "chr7", "chr22", "chrX", "chrY", "chrM")

_SLOT = 50  # bases per site; each site and its repeat sit inside their own slot
_REPEAT_AT = 5  # offset of a repeat inside its slot: room for the anchor base
_SNV_AT = 25
_K = 100  # pre-rendered FORMAT variants per genotype category
_ACGT = "ACGT"
_SEX_CODE = {"XX": 0, "XY": 1, "unknown": 2}


def _contig_names(style: str) -> dict[str, str]:
    """Names written for each canonical contig: ``chr1`` (style "chr") or ``1`` and ``MT`` (style "plain")."""
    if style == "chr":
        return {c: c for c in CONTIGS}
    if style == "plain":
        return {c: "MT" if c == "chrM" else c.removeprefix("chr") for c in CONTIGS}
    raise ValueError(f"contig_style must be 'chr' or 'plain', not {style!r}")


# Site classes: 0 diploid (autosome or PAR), 1 chrX non-PAR, 2 chrY non-PAR, 3 chrM.
# Ploidy of the written GT by class and sex (XX, XY, unknown): what a caller
# told the sample's sex writes. Unknown sex gets diploid X and haploid Y calls.
_GT_PLOIDY = np.array([[2, 2, 2], [2, 1, 2], [0, 1, 1], [1, 1, 1]], dtype=np.int8)
# Ploidy the loader counts (variantdb.genome.ploidy): unknown sex counts nothing on non-PAR X/Y.
_COUNT_PLOIDY = np.array([[2, 2, 2], [2, 1, 0], [0, 1, 0], [1, 1, 1]], dtype=np.int8)


@dataclass(frozen=True)
class Site:
    """One generated VCF record before genotypes: where, which alleles, what kind.

    ``pos`` is 1-based (VCF POS). ``kind`` is ``"snv"`` or ``"indel"``;
    ``left_aligned`` is False for indels written right-shifted in their repeat.
    """

    chrom: str
    pos: int
    ref: str
    alts: tuple[str, ...]
    kind: str
    left_aligned: bool
    site_class: int


@dataclass
class _Window:
    chrom: str
    start: int  # 1-based position of the window's first base
    n_sites: int
    site_class: int
    seq: str = ""
    sites: list[Site] | None = None


@dataclass
class _Sample:
    sample_id: str
    sex: str
    family_id: str = ""
    father: int = -1
    mother: int = -1
    region: str = ""
    patient_group: str = ""


# --------------------------------------------------------------------------- layout


def _windows(contigs: Sequence[str], n_sites: int) -> list[_Window]:
    """Spread ``n_sites`` over windows of the contigs, in GRCh38 contig order."""
    contigs = sorted(set(contigs), key=CONTIGS.index)
    weights: list[tuple[str, int, int, float]] = []  # chrom, start, class, weight
    for c in contigs:
        if c == "chrX":
            # PAR1 and non-PAR: the one counted diploid for all, the other by sex.
            weights += [(c, 100_001, 0, 0.2), (c, PARS["chrX"][0][1] + 20_001, 1, 0.5)]
        elif c == "chrY":
            weights.append((c, PARS["chrY"][0][1] + 20_001, 2, 0.15))
        elif c == "chrM":
            weights.append((c, 101, 3, 0.03))
        else:
            weights.append((c, 100_001, 0, 1.0))
    total = sum(w for *_, w in weights)
    counts = [int(n_sites * w / total) for *_, w in weights]
    chrm_cap = (CONTIG_LENGTHS["chrM"] - 200) // _SLOT
    for i, (c, *_rest) in enumerate(weights):
        if c == "chrM" and counts[i] > chrm_cap:
            counts[i] = chrm_cap
    # Give each window at least one site when there are enough, the rest to the first.
    for i in range(len(counts)):
        if counts[i] == 0 and n_sites >= len(counts):
            counts[i] = 1
    counts[0] += n_sites - sum(counts)
    return [_Window(c, s, n, k) for (c, s, k, _), n in zip(weights, counts, strict=True) if n > 0]


def _other_base(rng: np.random.Generator, *avoid: str) -> str:
    choices = [b for b in _ACGT if b not in avoid]
    return choices[int(rng.integers(len(choices)))]


def _build_window(
    w: _Window, rng: np.random.Generator, indel_rate: float, multiallelic_rate: float, left_align_all: bool
) -> None:
    """Draw the window's sequence and its sites (one per slot)."""
    seq = list(np.array(list(_ACGT))[rng.integers(0, 4, size=w.n_sites * _SLOT)])
    sites: list[Site] = []
    for i in range(w.n_sites):
        base = i * _SLOT
        multi = rng.random() < multiallelic_rate
        if rng.random() < indel_rate:
            L = int(rng.choice([1, 1, 1, 1, 1, 2, 2, 2, 3, 4]))
            while True:
                unit = "".join(_ACGT[j] for j in rng.integers(0, 4, size=L))
                if L == 1 or len(set(unit)) > 1:
                    break
            k = int(rng.integers(3, min(10, 40 // L) + 1))
            rs = base + _REPEAT_AT
            # Flanks differ from the unit's ends so the repeat, and left-shifting, stop there.
            seq[rs - 1] = _other_base(rng, unit[-1])
            seq[rs : rs + k * L] = list(unit * k)
            seq[rs + k * L] = _other_base(rng, unit[0])
            shifted = not left_align_all and rng.random() < 0.5
            m = 1 if rng.random() < 0.8 else 2
            if multi:
                j = int(rng.integers(1, k)) if shifted else 0
                a = rs - 1 + j * L
                ref = "".join(seq[a : a + L + 1])
                alts: tuple[str, ...] = (seq[a], ref + unit)
                if rng.random() < 0.3:
                    alts = (*alts, ref + unit + unit)
            elif rng.random() < 0.5:  # deletion of m units
                m = min(m, k - 1)
                j = int(rng.integers(1, k - m + 1)) if shifted else 0
                a = rs - 1 + j * L
                ref, alts = "".join(seq[a : a + m * L + 1]), (seq[a],)
            else:  # insertion of m units
                j = int(rng.integers(1, k + 1)) if shifted else 0
                a = rs - 1 + j * L
                ref, alts = seq[a], (seq[a] + unit * m,)
            sites.append(Site(w.chrom, w.start + a, ref, alts, "indel", j == 0, w.site_class))
        else:
            a = base + _SNV_AT
            n_alt = 1 + (int(rng.integers(1, 3)) if multi else 0)
            others = [b for b in _ACGT if b != seq[a]]
            picks = rng.permutation(3)[:n_alt]
            sites.append(
                Site(w.chrom, w.start + a, seq[a], tuple(others[p] for p in picks), "snv", True, w.site_class)
            )
    w.seq = "".join(seq)
    w.sites = sites


def _write_fasta(path: Path, windows: list[_Window], names: dict[str, str]) -> None:
    """Write the windows into a FASTA (N between and before them) and index it with pysam."""
    by_contig: dict[str, list[_Window]] = {}
    for w in windows:
        by_contig.setdefault(w.chrom, []).append(w)
    with open(path, "w") as fh:
        for chrom in sorted(by_contig, key=CONTIGS.index):
            parts: list[str] = []
            at = 1
            for w in sorted(by_contig[chrom], key=lambda w: w.start):
                parts.append("N" * (w.start - at))
                parts.append(w.seq)
                at = w.start + len(w.seq)
            parts.append("N" * 100)
            seq = "".join(parts)
            fh.write(f">{names[chrom]}\n")
            for i in range(0, len(seq), 60):
                fh.write(seq[i : i + 60])
                fh.write("\n")
    pysam.faidx(str(path))


# --------------------------------------------------------------------------- samples


def _pedigree(
    n: int, rng: np.random.Generator, trio_fraction: float, duo_fraction: float, unknown_sex_fraction: float
) -> list[_Sample]:
    """Draw sexes, trios, duos, regions and patient groups; return samples in file order."""
    n_trio = round(n * trio_fraction / 3)
    n_duo = round(n * duo_fraction / 2)
    if n >= 6 and trio_fraction > 0:
        n_trio = max(n_trio, 1)
    if n >= 8 and duo_fraction > 0:
        n_duo = max(n_duo, 1)
    while n_trio * 3 + n_duo * 2 > n:
        if n_duo:
            n_duo -= 1
        else:
            n_trio -= 1
    units = ["trio"] * n_trio + ["duo"] * n_duo + ["single"] * (n - 3 * n_trio - 2 * n_duo)
    order = rng.permutation(len(units))
    regions = list(load_vocabulary("regions"))
    groups = list(load_vocabulary("patient_groups"))
    # Regions by rough population share; patient groups skewed towards the large ones.
    region_p = np.array([0.32, 0.14, 0.21, 0.23, 0.10])[: len(regions)]
    region_p = region_p / region_p.sum()
    group_p = 1.0 / np.arange(1, len(groups) + 1)
    group_p = group_p / group_p.sum()
    samples: list[_Sample] = []
    n_fam = 0

    def child_sex() -> str:
        return "XX" if rng.random() < 0.5 else "XY"

    for u in order:
        kind = units[int(u)]
        region = regions[int(rng.choice(len(regions), p=region_p))]
        group = groups[int(rng.choice(len(groups), p=group_p))]
        if kind == "single":
            r = rng.random()
            sex = (
                "unknown"
                if r < unknown_sex_fraction
                else ("XX" if r < (1 + unknown_sex_fraction) / 2 else "XY")
            )
            samples.append(_Sample("", sex, region=region, patient_group=group))
            continue
        n_fam += 1
        fam = f"F{n_fam:05d}"
        first = len(samples)
        if kind == "trio":
            samples.append(_Sample("", "XY", fam, region=region, patient_group=group))
            samples.append(_Sample("", "XX", fam, region=region, patient_group=group))
            samples.append(_Sample("", child_sex(), fam, first, first + 1, region, group))
        else:
            parent_sex = "XY" if rng.random() < 0.5 else "XX"
            samples.append(_Sample("", parent_sex, fam, region=region, patient_group=group))
            father, mother = (first, -1) if parent_sex == "XY" else (-1, first)
            samples.append(_Sample("", child_sex(), fam, father, mother, region, group))
    width = max(6, len(str(n)))
    for i, s in enumerate(samples):
        s.sample_id = f"S{i + 1:0{width}d}"
    return samples


def _write_manifest(path: Path, samples: list[_Sample], vcfs: list[str], rng: np.random.Generator) -> None:
    cols = [
        "sample_id", "vcf", "sex", "region", "patient_group", "family_id",
        "father_id", "mother_id", "technology", "consent", "received",
    ]  # fmt: skip
    start = dt.date(2026, 1, 5)
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("\t".join(cols) + "\n")
        for s, vcf in zip(samples, vcfs, strict=True):
            received = start + dt.timedelta(days=int(rng.integers(0, 300)))
            row = [
                s.sample_id,
                vcf,
                s.sex,
                s.region,
                s.patient_group,
                s.family_id,
                samples[s.father].sample_id if s.father >= 0 else "",
                samples[s.mother].sample_id if s.mother >= 0 else "",
                "WGS",
                "given",
                received.isoformat(),
            ]
            fh.write("\t".join(row) + "\n")


# --------------------------------------------------------------------------- FORMAT pools


class _Pool:
    """Pre-rendered sample fields (``GT:AD:DP:GQ``) per genotype category.

    Each category (alleles in the record, GT ploidy, the two allele indexes,
    sorted; -1 for a no-call) holds ``_K`` renderings with drawn DP, GQ and AD,
    of which exact shares fail adj: low DP, low GQ, and, for hets, allele
    balance below 0.2. A cell picks one at random, so the shares hold per cell.
    """

    def __init__(
        self,
        rng: np.random.Generator,
        low_dp: float,
        low_gq: float,
        low_ab: float,
        extra_ad: bool,
        phased: float = 0.0,
    ):
        # lut[n_alleles, ploidy, lo + 1, hi + 1] -> category
        self.lut = np.full((5, 3, 5, 5), -1, dtype=np.int32)
        strings: list[str] = []
        n_low_dp, n_low_gq, n_low_ab = (round(_K * f) for f in (low_dp, low_gq, low_ab))
        first_phased = _K - round(_K * phased)
        for n_all in (2, 3, 4):
            keys: list[tuple[int, int, int]] = [(0, -1, -1), (1, -1, -1), (2, -1, -1)]
            keys += [(1, a, a) for a in range(n_all)]
            keys += [(2, a, b) for a in range(n_all) for b in range(a, n_all)]
            for ploidy, lo, hi in keys:
                self.lut[n_all, ploidy, lo + 1, hi + 1] = len(strings) // _K
                for k in range(_K):
                    if k < n_low_dp:
                        dp, gq = int(rng.integers(2, 10)), int(rng.integers(20, 100))
                    elif k < n_low_dp + n_low_gq:
                        dp, gq = max(10, int(rng.poisson(30))), int(rng.integers(0, 20))
                    else:
                        dp, gq = max(10, int(rng.poisson(30))), int(rng.integers(20, 100))
                    low_ab_here = n_low_dp + n_low_gq <= k < n_low_dp + n_low_gq + n_low_ab
                    text = self._render(n_all, ploidy, lo, hi, dp, gq, low_ab_here, rng, extra_ad)
                    if k >= first_phased and ploidy == 2 and lo >= 0:
                        text = text.replace("/", "|", 1)
                    strings.append(text)
        self.strings = np.array(strings, dtype=object)

    @staticmethod
    def _render(
        n_all: int,
        ploidy: int,
        lo: int,
        hi: int,
        dp: int,
        gq: int,
        low_ab: bool,
        rng: np.random.Generator,
        extra_ad: bool,
    ) -> str:
        if ploidy == 0:
            return "."
        if lo < 0:
            return "./." if ploidy == 2 else "."
        gt = f"{lo}/{hi}" if ploidy == 2 else str(lo)
        ad = [0] * (n_all + int(extra_ad))
        if lo == hi:
            ad[lo] = dp
        else:
            frac = rng.uniform(0.02, 0.19) if low_ab else min(0.8, max(0.25, rng.binomial(dp, 0.5) / dp))
            ad[hi] = round(frac * dp)
            ad[lo] = dp - ad[hi]
        return f"{gt}:{','.join(map(str, ad))}:{dp}:{gq}"

    def pick(
        self, n_all: np.ndarray, ploidy: np.ndarray, lo: np.ndarray, hi: np.ndarray, r: np.ndarray
    ) -> np.ndarray:
        cat = self.lut[n_all, ploidy, lo + 1, hi + 1]
        return self.strings[cat * _K + r]


# --------------------------------------------------------------------------- genotypes


def _draw_afs(rng: np.random.Generator, n_sites: int, n_alts: np.ndarray, n_samples: int) -> np.ndarray:
    """Alt allele frequencies, (sites, 3): log-uniform (a 1/x density: mostly rare) plus a few common."""
    lo = np.log(0.1 / (2 * n_samples))
    total = np.exp(lo + rng.random(n_sites) * (np.log(0.5) - lo))
    common = rng.random(n_sites) < 0.03
    total[common] = rng.uniform(0.5, 0.98, size=int(common.sum()))
    share = rng.dirichlet([1.0, 1.0, 1.0], size=n_sites)
    share[n_alts < 3, 2] = 0
    share[n_alts < 2, 1] = 0
    share /= share.sum(axis=1, keepdims=True)
    return total[:, None] * share


def _genotypes(
    rng: np.random.Generator,
    sites: list[Site],
    samples: list[_Sample],
    sex: np.ndarray,
    nocall_rate: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Draw genotypes of a chunk of sites.

    Returns
    -------
    lo, hi : (sites, samples) int8
        Allele indexes of the GT, sorted; for haploid GTs ``lo == hi``; -1 for a no-call.
    gt_ploidy : (sites, samples) int8
        Ploidy of the written GT (0: no call written at all, e.g. chrY of XX).
    n_all : (sites,) int8
        Alleles in the record (REF + ALTs).
    """
    S, N = len(sites), len(samples)
    n_alts = np.array([len(s.alts) for s in sites])
    cls = np.array([s.site_class for s in sites])
    afs = _draw_afs(rng, S, n_alts, N)
    thresholds = 1.0 - np.cumsum(afs[:, ::-1], axis=1)[:, ::-1]  # T_k = 1 - sum_{j >= k} af_j
    u = rng.random((S, N, 2), dtype=np.float32)
    hap = np.zeros((S, N, 2), dtype=np.int8)
    for k in range(3):
        hap += u >= thresholds[:, k, None, None]
    gtp = _GT_PLOIDY[cls[:, None], sex[None, :]]
    cnt = _COUNT_PLOIDY[cls[:, None], sex[None, :]]
    # Children inherit: one haplotype from each present parent, by site class.
    pick = rng.integers(0, 2, size=(S, N), dtype=np.int8)
    rows = np.arange(S)
    for c, smp in enumerate(samples):
        f, m = smp.father, smp.mother
        if f < 0 and m < 0:
            continue
        fh = hap[rows, f, pick[:, f]] if f >= 0 else None
        mh = hap[rows, m, pick[:, m]] if m >= 0 else None
        dip = cls == 0
        if fh is not None:
            hap[dip, c, 0] = fh[dip]
        if mh is not None:
            hap[dip, c, 1] = mh[dip]
        x = cls == 1
        if smp.sex == "XY":
            if mh is not None:
                hap[x, c, 0] = hap[x, m, pick[x, m]]
            y = cls == 2
            if f >= 0:
                hap[y, c, 0] = hap[y, f, 0]
        else:
            if f >= 0:
                hap[x, c, 0] = hap[x, f, 0]  # the father's only X
            if m >= 0:
                hap[x, c, 1] = hap[x, m, pick[x, m]]
        mt = cls == 3
        if m >= 0:
            hap[mt, c, 0] = hap[mt, m, 0]
    nocall = (rng.random((S, N), dtype=np.float32) < nocall_rate) & (gtp > 0)
    second = np.where(gtp == 2, hap[..., 1], hap[..., 0])
    lo = np.minimum(hap[..., 0], second)
    hi = np.maximum(hap[..., 0], second)
    # Every site gets at least one counted carrier, else it would not be a variant.
    # A founder is picked when one can be, so trios stay Mendelian-consistent.
    carried = (hi > 0) & (cnt > 0) & ~nocall
    founder = np.array([s.father < 0 and s.mother < 0 for s in samples])
    for s in np.flatnonzero(~carried.any(axis=1)):
        eligible = np.flatnonzero((cnt[s] > 0) & founder)
        if eligible.size == 0:
            eligible = np.flatnonzero(cnt[s] > 0)
        if eligible.size == 0:
            continue
        e = int(eligible[rng.integers(eligible.size)])
        lo[s, e], hi[s, e] = (0, 1) if gtp[s, e] == 2 else (1, 1)
        nocall[s, e] = False
    lo[nocall] = -1
    hi[nocall] = -1
    # No GT at all where the written ploidy is 0 (chrY of XX): the pool renders ".".
    lo[gtp == 0] = -1
    hi[gtp == 0] = -1
    return lo, hi, gtp, (n_alts + 1).astype(np.int8)


# --------------------------------------------------------------------------- writing


def _header(samples: Sequence[str], gvcf: bool, seed: int, names: dict[str, str]) -> str:
    lines = [
        "##fileformat=VCFv4.2",
        '##FILTER=<ID=PASS,Description="All filters passed">',
    ]
    if gvcf:
        lines.append(
            '##ALT=<ID=NON_REF,Description="Represents any possible alternative allele at this location">'
        )
        lines.append('##INFO=<ID=END,Number=1,Type=Integer,Description="Stop position of the interval">')
    lines += [
        '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
        '##FORMAT=<ID=AD,Number=R,Type=Integer,Description="Allelic depths for the ref and alt alleles">',
        '##FORMAT=<ID=DP,Number=1,Type=Integer,Description="Approximate read depth">',
        '##FORMAT=<ID=GQ,Number=1,Type=Integer,Description="Genotype Quality">',
    ]
    if gvcf:
        lines.append(
            '##FORMAT=<ID=MIN_DP,Number=1,Type=Integer,Description="Minimum DP observed within the GVCF block">'
        )
    lines += [f"##contig=<ID={names[c]},length={CONTIG_LENGTHS[c]},assembly=GRCh38>" for c in CONTIGS]
    lines.append(f"##source=variantdb benchmarks.cohort seed={seed}")
    lines.append("#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t" + "\t".join(samples))
    return "\n".join(lines) + "\n"


def _chunks(sites: list[Site], size: int) -> Iterator[list[Site]]:
    for i in range(0, len(sites), size):
        yield sites[i : i + size]


def _alt_text(site: Site, lo: int, hi: int) -> str:
    """ALT column of a single-sample record: only the alleles the sample carries."""
    if lo <= 0 or lo == hi:
        return site.alts[hi - 1]
    return f"{site.alts[lo - 1]},{site.alts[hi - 1]}"


def _recode(lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Recode GTs to a single-sample record's own allele list; return (lo, hi, n_alleles)."""
    both = (lo > 0) & (lo != hi)  # e.g. 1/2: both alts listed
    new_lo = np.where(both, 1, np.where(lo == hi, np.where(lo > 0, 1, lo), 0)).astype(np.int8)
    new_hi = np.where(both, 2, np.where(hi > 0, 1, hi)).astype(np.int8)
    n_all = np.where(both, 3, 2).astype(np.int8)
    return new_lo, new_hi, n_all


def _gvcf_blocks(
    chrom: str,
    w: _Window,
    taken: list[tuple[int, int]],
    rng: np.random.Generator,
    haploid: bool,
    low_block_rate: float,
    gap_rate: float,
) -> list[tuple[int, str]]:
    """Reference blocks covering a window but the spans in ``taken`` (1-based, inclusive)."""
    end_of_window = w.start + len(w.seq) - 1
    # Block boundaries: every ~20 slots on average, and around each taken span.
    cuts = w.start + _SLOT * np.flatnonzero(rng.random(w.n_sites) < 0.05)
    bounds = sorted(
        {w.start, end_of_window + 1, *cuts.tolist(), *(s for s, _ in taken), *(e + 1 for _, e in taken)}
    )
    taken_starts = {s for s, _ in taken}
    out: list[tuple[int, str]] = []
    gt = "0" if haploid else "0/0"
    for a, b in itertools.pairwise(bounds):
        if a in taken_starts:
            continue
        if rng.random() < gap_rate:
            continue  # no coverage: no record at all
        if rng.random() < low_block_rate:
            min_dp = int(rng.integers(1, 10)) if rng.random() < 0.5 else int(rng.integers(10, 30))
            gq = int(rng.integers(0, 20)) if min_dp >= 10 else int(rng.integers(0, 99))
        else:
            min_dp, gq = int(rng.integers(10, 35)), int(rng.integers(20, 99))
        dp = min_dp + int(rng.integers(0, 8))
        ref = w.seq[a - w.start]
        out.append(
            (
                a,
                f"{chrom}\t{a}\t.\t{ref}\t<NON_REF>\t.\t.\tEND={b - 1}\tGT:DP:GQ:MIN_DP\t{gt}:{dp}:{gq}:{min_dp}",
            )
        )
    return out


def generate_cohort(
    out_dir: str | Path,
    n_samples: int,
    n_sites: int,
    seed: int,
    *,
    layout: str = "multi",
    gvcf: bool = False,
    contigs: Sequence[str] = DEFAULT_CONTIGS,
    indel_rate: float = 0.2,
    multiallelic_rate: float = 0.06,
    trio_fraction: float = 0.15,
    duo_fraction: float = 0.05,
    unknown_sex_fraction: float = 0.01,
    nocall_rate: float = 0.01,
    low_gq_rate: float = 0.04,
    low_dp_rate: float = 0.03,
    low_ab_rate: float = 0.06,
    gap_rate: float = 0.02,
    compress_level: int = 1,
    contig_style: str = "chr",
    phased_rate: float = 0.0,
) -> Path:
    """Write a synthetic cohort (FASTA, VCFs or gVCFs, manifest) and return the manifest's path.

    Parameters
    ----------
    out_dir
        Created if absent. Receives ``ref.fa`` (+ ``.fai``), ``vcf/`` and
        ``manifest.tsv``, and ``cohort.json`` (parameters and counts).
    n_samples, n_sites
        Samples, and variant sites (VCF records of the multi-sample file).
    seed
        The same seed and parameters give byte-identical files.
    layout
        ``"multi"`` (default): one multi-sample ``vcf/cohort.vcf.gz`` with every
        genotype. ``"single"``: one ``vcf/<sample>.vcf.gz`` per sample holding
        its carrier records and no-calls only (absent sites are reference).
    gvcf
        Write GATK-style gVCFs (needs ``layout="single"``): variant records with
        ``<NON_REF>``, and reference blocks (``END``, ``GQ``, ``DP``, ``MIN_DP``)
        over the rest of each window, some below the adj thresholds, some
        windows left uncovered (``gap_rate``) and no-calls as uncovered sites.
        Indels are written left-aligned, as GATK does. Default False.
    contigs
        Contigs to draw sites on. Default: chr1, chr2, chr7, chr22, chrX (PAR1
        and non-PAR windows), chrY (non-PAR) and chrM.
    indel_rate, multiallelic_rate
        Shares of sites that are repeat indels (default 0.2) and multi-allelic
        (default 0.06). About half the indels are written right-shifted.
    trio_fraction, duo_fraction
        Shares of samples in trios (default 0.15) and in parent-child duos (0.05).
    unknown_sex_fraction
        Share of unrelated samples whose sex is ``unknown`` (default 0.01).
    nocall_rate
        Share of genotypes written as no-calls ``./.`` (default 0.01).
    low_gq_rate, low_dp_rate, low_ab_rate
        Shares of genotypes with GQ < 20 (0.04), DP < 10 (0.03), and of hets
        with AD[alt]/DP < 0.2 (0.06): the ones adj drops.
    gap_rate
        gVCF only: share of reference blocks left out (no coverage). Default 0.02.
    compress_level
        BGZF level (1-9) of the multi-sample VCF. Default 1: compression is most
        of the generator's time, and level 1 is ~4x faster than bgzip's 6 for
        files ~1.5x larger. Single-sample files get pysam's default.
    contig_style
        ``"chr"`` (default): ``chr1`` ... ``chrM`` in the VCFs and the FASTA;
        ``"plain"``: ``1`` ... ``X``, ``Y``, ``MT``, as Ensembl / 1000 Genomes write them.
    phased_rate
        Share of diploid genotypes written phased (``0|1``). Default 0.

    Returns
    -------
    Path
        ``out_dir/manifest.tsv``; VCF paths in it are relative to it.
    """
    if layout not in ("multi", "single"):
        raise ValueError(f"layout must be 'multi' or 'single', not {layout!r}")
    if gvcf and layout != "single":
        raise ValueError("gVCFs are single-sample files: use layout='single' with gvcf=True")
    unknown = set(contigs) - set(CONTIGS)
    if unknown:
        raise ValueError(f"contigs {sorted(unknown)} are not GRCh38 primary contigs")
    names = _contig_names(contig_style)
    out = Path(out_dir)
    (out / "vcf").mkdir(parents=True, exist_ok=True)
    ss = np.random.SeedSequence(seed)
    layout_rng, pedigree_rng, pool_rng, geno_seq, manifest_rng = (
        np.random.default_rng(s) for s in ss.spawn(5)
    )

    windows = _windows(contigs, n_sites)
    for w in windows:
        _build_window(w, layout_rng, indel_rate, multiallelic_rate, left_align_all=gvcf)
    _write_fasta(out / "ref.fa", windows, names)

    samples = _pedigree(n_samples, pedigree_rng, trio_fraction, duo_fraction, unknown_sex_fraction)
    sex = np.array([_SEX_CODE[s.sex] for s in samples], dtype=np.int8)
    ids = [s.sample_id for s in samples]
    pool = _Pool(pool_rng, low_dp_rate, low_gq_rate, low_ab_rate, extra_ad=gvcf, phased=phased_rate)
    chunk = max(1, 2_000_000 // max(1, n_samples))
    geno_rng = geno_seq  # one stream, consumed in a fixed order: deterministic
    n_records = 0
    n_genotypes = 0

    if layout == "multi":
        path = out / "vcf" / "cohort.vcf.gz"
        if not 1 <= compress_level <= 9:
            raise ValueError(f"compress_level must be 1-9, not {compress_level}")
        with pysam.BGZFile(str(path), f"wb{compress_level}") as fh:
            fh.write(_header(ids, False, seed, names).encode())
            for w in windows:
                assert w.sites is not None
                for sites in _chunks(w.sites, chunk):
                    lo, hi, gtp, n_all = _genotypes(geno_rng, sites, samples, sex, nocall_rate)
                    r = geno_rng.integers(0, _K, size=lo.shape)
                    cells = pool.pick(n_all[:, None], gtp, lo, hi, r)
                    buf = []
                    for i, s in enumerate(sites):
                        buf.append(
                            f"{names[s.chrom]}\t{s.pos}\t.\t{s.ref}\t{','.join(s.alts)}\t.\tPASS\t.\tGT:AD:DP:GQ\t"
                        )
                        buf.append("\t".join(cells[i].tolist()))
                        buf.append("\n")
                    fh.write("".join(buf).encode())
                    n_records += len(sites)
                    n_genotypes += len(sites) * n_samples
        pysam.tabix_index(str(path), preset="vcf", force=True)
        vcfs = ["vcf/cohort.vcf.gz"] * n_samples
    else:
        texts = [out / "vcf" / f"{sid}.vcf" for sid in ids]
        for t in texts:
            t.write_text(_header([t.stem], gvcf, seed, names))
        block_rng = np.random.default_rng(ss.spawn(1)[0])
        fmt = "GT:AD:DP:GQ"
        for w in windows:
            assert w.sites is not None
            per_sample: dict[int, list[tuple[int, int, str]]] = {}  # sample -> (pos, end, line)
            for sites in _chunks(w.sites, chunk):
                lo, hi, gtp, n_all = _genotypes(geno_rng, sites, samples, sex, nocall_rate)
                r = geno_rng.integers(0, _K, size=lo.shape)
                if gvcf:
                    emit = (hi > 0) & (gtp > 0)  # a gVCF no-call is an uncovered site
                else:
                    emit = ((hi > 0) | (lo < 0)) & (gtp > 0)
                si, ni = np.nonzero(emit)
                elo, ehi = lo[si, ni], hi[si, ni]
                rlo, rhi, rn = _recode(elo, ehi)
                nocall = elo < 0
                rn = np.where(nocall, n_all[si], rn)
                cells = pool.pick(rn, gtp[si, ni], rlo, rhi, r[si, ni])
                for s_i, n_i, a, b, cell, nc in zip(
                    si.tolist(), ni.tolist(), elo.tolist(), ehi.tolist(), cells.tolist(), nocall.tolist(),
                    strict=True,
                ):  # fmt: skip
                    site = sites[s_i]
                    alt = ",".join(site.alts) if nc else _alt_text(site, a, b)
                    if gvcf:
                        alt += ",<NON_REF>"
                    line = f"{names[site.chrom]}\t{site.pos}\t.\t{site.ref}\t{alt}\t.\tPASS\t.\t{fmt}\t{cell}"
                    per_sample.setdefault(n_i, []).append((site.pos, site.pos + len(site.ref) - 1, line))
                    n_records += 1
                    n_genotypes += 1
                if gvcf:
                    # gVCF no-calls leave the site uncovered: cut it out of that sample's blocks.
                    for s_i, n_i in zip(*np.nonzero((lo < 0) & (gtp > 0)), strict=True):
                        site = sites[int(s_i)]
                        per_sample.setdefault(int(n_i), []).append(
                            (site.pos, site.pos + len(site.ref) - 1, "")
                        )
            for n_i in range(n_samples) if gvcf else sorted(per_sample):
                recs = per_sample.get(n_i, [])
                if gvcf:
                    ploidy = int(_GT_PLOIDY[w.site_class, sex[n_i]])
                    if ploidy == 0:
                        continue
                    taken = [(p, e) for p, e, _ in recs]
                    blocks = _gvcf_blocks(names[w.chrom], w, taken, block_rng, ploidy == 1, 0.1, gap_rate)
                    n_records += len(blocks)
                    recs = [(p, 0, line) for p, _e, line in recs if line] + [
                        (p, 0, line) for p, line in blocks
                    ]
                recs.sort(key=lambda t: t[0])
                with open(texts[n_i], "a") as fh:
                    fh.write("".join(line + "\n" for _, _, line in recs))
        for t in texts:
            pysam.tabix_index(str(t), preset="vcf", force=True)
        vcfs = [f"vcf/{sid}.vcf.gz" for sid in ids]

    manifest = out / "manifest.tsv"
    _write_manifest(manifest, samples, vcfs, manifest_rng)
    info = {
        "seed": seed,
        "n_samples": n_samples,
        "n_sites": sum(w.n_sites for w in windows),
        "layout": layout,
        "gvcf": gvcf,
        "contigs": sorted({w.chrom for w in windows}, key=CONTIGS.index),
        "n_records": n_records,
        "n_genotypes": n_genotypes,
        "n_founders": sum(1 for s in samples if s.father < 0 and s.mother < 0),
        "bytes": sum(f.stat().st_size for f in (out / "vcf").glob("*.vcf.gz")),
    }
    (out / "cohort.json").write_text(json.dumps(info, indent=1) + "\n")
    return manifest


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: ``python -m benchmarks.cohort OUT --samples N --sites M --seed S``."""
    p = argparse.ArgumentParser(prog="python -m benchmarks.cohort", description=__doc__.splitlines()[0])
    p.add_argument("out_dir", type=Path)
    p.add_argument("--samples", type=int, default=100)
    p.add_argument("--sites", type=int, default=10_000)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--layout", choices=("multi", "single"), default="multi")
    p.add_argument("--gvcf", action="store_true", help="write gVCFs (implies --layout single)")
    p.add_argument("--contigs", default=",".join(DEFAULT_CONTIGS), help="comma-separated contigs")
    p.add_argument("--compress-level", type=int, default=1, help="BGZF level of the multi-sample VCF (1-9)")
    p.add_argument("--contig-style", choices=("chr", "plain"), default="chr", help="chr1 or 1 (MT for chrM)")
    p.add_argument("--phased-rate", type=float, default=0.0, help="share of diploid GTs written phased")
    args = p.parse_args(argv)
    layout = "single" if args.gvcf else args.layout
    manifest = generate_cohort(
        args.out_dir, args.samples, args.sites, args.seed, layout=layout, gvcf=args.gvcf,
        contigs=[c for c in args.contigs.split(",") if c], compress_level=args.compress_level,
        contig_style=args.contig_style, phased_rate=args.phased_rate,
    )  # fmt: skip
    print(manifest)
    print((args.out_dir / "cohort.json").read_text(), end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
