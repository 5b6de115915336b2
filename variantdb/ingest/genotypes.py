"""The genotype rules, once: ploidy, half-calls, reference blocks and ``adj``, judged on columns.

Every read path calls :func:`judge` on arrays of genotypes: the multi-sample
path with one row per sample of a record, the one-sample path with one row per
record of a chunk. The rules (see docs/semantics.md):

- A genotype with a missing allele (``./1`` half-calls included) or no allele
  at all is a no-call.
- A genotype is recoded to the ploidy the sample's sex gives at the position
  (:func:`variantdb.genome.ploidy`): a homozygous diploid call in a haploid
  region becomes haploid; a heterozygous one there, a haploid call in a diploid
  region and a polyploid call are no-calls (counted in the report). A
  reference block's ploidy is taken per position by the AN sweep, so only a
  variant's genotype must fit its ploidy.
- ``adj``: called, GQ >= ``adj_min_gq``, DP (MIN_DP in reference blocks) >=
  ``adj_min_dp``, and every alternate allele of a heterozygous call carries at
  least ``adj_min_ab`` of the depth (DP, or the sum of AD when DP is absent); a
  missing (``.``) GQ or DP fails, an absent field is not checked.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

__all__ = ["Judged", "judge"]


@dataclass
class Judged:
    """The verdict on each row: recoded alleles and what the row counts for."""

    a0: np.ndarray
    """First allele (-1 missing)."""
    a1: np.ndarray
    """Second allele, -2 when the (recoded) genotype is haploid."""
    nocall: np.ndarray
    """Not a usable call: missing, or a genotype that does not fit its ploidy."""
    called: np.ndarray
    """Counts in AN: a reference block not missing, or a variant call that fits its counted ploidy."""
    adj: np.ndarray
    """Called and passing the adj thresholds."""


def judge(
    alleles: np.ndarray,
    exp: np.ndarray,
    is_block: np.ndarray | bool,
    gq: np.ndarray,
    dp: np.ndarray,
    ad: np.ndarray | None,
    min_gq: float,
    min_dp: float,
    min_ab: float,
    skipped: Counter[str],
) -> Judged:
    """Judge rows of genotypes.

    Parameters
    ----------
    alleles
        ``(rows, width)`` allele indexes: -1 a missing allele, -2 padding past the
        genotype's ploidy (htslib's vector end).
    exp
        The ploidy each row's sample has at its position.
    is_block
        Rows that are reference blocks (bool array, or one bool for every row).
    gq, dp
        Float arrays: NaN where the record has no such FORMAT field (not checked),
        -1 where it has one but the value is missing (fails ``adj``). ``dp`` is
        MIN_DP for reference blocks.
    ad
        ``(rows, alleles)`` allele depths, -1 where missing or past a row's AD;
        None when the rows have no AD (no allele-balance check). A het allele
        without a depth fails.
    min_gq, min_dp, min_ab
        The adj thresholds.
    skipped
        Counts of genotypes dropped for their ploidy, added to.
    """
    n = alleles.shape[0]
    block = np.broadcast_to(np.asarray(is_block, dtype=bool), (n,))
    gt_ploidy = (alleles != -2).sum(axis=1)
    missing = (alleles == -1).any(axis=1) | (gt_ploidy == 0)
    a0 = alleles[:, 0] if alleles.shape[1] else np.full(n, -1, dtype=np.int64)
    a1 = alleles[:, 1] if alleles.shape[1] > 1 else np.full(n, -2, dtype=np.int64)
    variant = ~missing & ~block
    haploid_from_diploid = (exp == 1) & (gt_ploidy == 2)
    het_in_haploid = haploid_from_diploid & (a0 != a1) & variant
    diploid_from_haploid = (exp == 2) & (gt_ploidy == 1) & variant
    polyploid = (gt_ploidy > 2) & variant
    for name, mask in (
        ("heterozygous_calls_in_haploid_regions", het_in_haploid),
        ("haploid_calls_in_diploid_regions", diploid_from_haploid),
        ("polyploid_calls", polyploid),
    ):
        if mask.any():
            skipped[name] += int(mask.sum())
    nocall = missing | het_in_haploid | diploid_from_haploid | polyploid
    a1 = np.where(haploid_from_diploid | (exp == 1), -2, a1)
    counted = exp > 0
    called = np.where(block, ~missing, ~nocall & counted)
    adj = called & ~(gq < min_gq) & ~(dp < min_dp)  # NaN (absent) compares False: not checked
    if ad is not None:
        het = adj & ~block & (a1 >= 0) & (a0 != a1)
        if het.any():
            denom = np.where(np.isnan(dp), np.where(ad > 0, ad, 0).sum(axis=1), dp)
            denom = np.maximum(denom, 0)
            ok = np.ones(n, dtype=bool)
            width = ad.shape[1]
            for a in (a0, a1):
                inside = (a >= 0) & (a < width)
                ad_a = np.take_along_axis(ad, np.clip(a, 0, max(width - 1, 0))[:, None], axis=1)[:, 0]
                ad_a = np.where(inside, ad_a, -1)
                frac = np.divide(ad_a, denom, out=np.zeros(n), where=(denom > 0) & (ad_a >= 0))
                ok &= (a <= 0) | (frac >= min_ab)
            adj &= ~het | ok
    return Judged(a0=a0, a1=a1, nocall=nocall, called=called, adj=adj)
