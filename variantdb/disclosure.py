"""Small counts of people kept small: the floor, and the complementary suppression that makes it hold.

A count from 1 to ``threshold - 1`` (default 4) is given as ``"<5"`` to callers
who may see counts but not individuals (the ``registered`` role). Flooring each
cell alone is not enough: a caller computes what is not shown from what is
(``homozygote_count = ac - n_carriers``; the unknown-sex genomes are
``n_samples`` minus the sexes). So every cell of a *linked set* is decided
together, and a cell that would give a small count away by difference is
withheld too (``None``, "withheld"), which statisticians call complementary
suppression.

Two kinds of linked set are protected here:

a variant's genotype counts (:func:`protect_genotypes`)
    ``ac``, ``n_carriers``, ``homozygote_count``, ``hemizygote_count`` of one
    group. With ``het = n_carriers - homozygote_count - hemizygote_count``,
    ``ac = het + 2 hom + hemi`` and ``n_carriers = het + hom + hemi``, so every
    sum of ``het``, ``hom`` and ``hemi`` is a count of people the caller can
    compute. When one of them (or ``ac``) is from 1 to threshold - 1 the group is
    *tainted*: its cells are given as 0 (exact), ``"<5"`` or withheld, so that
    only ranges, never a value, can be computed. One refinement keeps the
    headline AC: when ``homozygote_count`` is the only small cell shown and
    ``ac - hemizygote_count >= 2 (threshold - 1)``, ``ac`` stays exact and only
    ``n_carriers`` is withheld (every homozygote count from 1 to threshold - 1
    then fits the shown cells). The choice depends on shown values only, so the
    pattern of withheld cells tells nothing more.
a total and its parts (:func:`protect_parts`)
    genomes by sex, region, patient group, technology, month (the parts) and
    the number of genomes (the total, also shown); covered samples by
    technology and all of them. The parts not listed (genomes of unknown sex)
    are a hidden part ``total - sum(parts)``, taken as known to the caller
    unless it is small. Small parts are floored; then,
    while a small part (shown or hidden) can still be pinned to one value from
    the total, the floored parts and the ranges of the withheld ones, the
    largest exact part is withheld as well.

    The parts' protection holds against differences and ranges (a withheld part
    is at least the threshold); a caller who also reasons about which part the
    rule picked learns at most that it is the largest, which pins a small part
    only when the largest parts tie. The genotype counts are checked against
    that reasoning too (the rule's own patterns are enumerated).

Zero is always exact: absence identifies nobody.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from itertools import product
from typing import Final

__all__ = [
    "WITHHELD",
    "Shown",
    "floor_count",
    "is_small",
    "protect_genotypes",
    "protect_parts",
]

#: How a withheld cell is given (JSON null).
WITHHELD: Final = None

#: A cell as shown: exact, ``"<N"`` (1 to N-1) or withheld (None).
Shown = int | str | None


def is_small(n: int, threshold: int) -> bool:
    """Return True when ``n`` is a count the floor hides: 1 to ``threshold - 1``."""
    return 0 < n < threshold


def floor_count(n: int, threshold: int) -> int | str:
    """Return ``n``, or ``"<threshold"`` when it is from 1 to threshold - 1."""
    return f"<{threshold}" if is_small(n, threshold) else n


_GENOTYPE = ("ac", "n_carriers", "homozygote_count", "hemizygote_count")


def _genotype_quantities(het: int, hom: int, hemi: int) -> tuple[int, ...]:
    """Every count of people (and ``ac``) a caller can form from a group's genotype counts."""
    return (het, hom, hemi, het + hom, het + hemi, hom + hemi, het + hom + hemi, het + 2 * hom + hemi)


def _genotype_ladder(het: int, hom: int, hemi: int, t: int) -> tuple[Shown, ...]:
    """Return (ac, n_carriers, homozygote_count, hemizygote_count) as shown: exact, P1 or floored."""
    ac, car = het + 2 * hom + hemi, het + hom + hemi
    if not any(is_small(q, t) for q in _genotype_quantities(het, hom, hemi)):
        return (ac, car, hom, hemi)
    small = [is_small(v, t) for v in (ac, car, hom, hemi)]
    if small == [False, False, True, False] and ac - hemi >= 2 * (t - 1):
        return (ac, WITHHELD, f"<{t}", hemi)
    return tuple(
        0 if v == 0 else f"<{t}" if s else WITHHELD for v, s in zip((ac, car, hom, hemi), small, strict=True)
    )


@cache
def _pinning_patterns(t: int) -> frozenset[tuple[Shown, ...]]:
    """Return the floored patterns under which some small count takes one value only.

    Every (het, hom, hemi) in a box of 3t per side is shown by the ladder; a pattern
    is pinning when, over all the tables shown that way, one of the quantities a
    caller can form is small and the same in all of them (``ac <= 4`` with a
    homozygote and a hemizygote leaves one homozygote, for example). The box can
    only make more patterns pinning, never fewer: the safe side.
    """
    seen: dict[tuple[Shown, ...], list[set[int]]] = {}
    box = range(3 * t)
    for het, hom, hemi in product(box, box, box):
        shown = _genotype_ladder(het, hom, hemi, t)
        if any(isinstance(v, int) and v for v in shown):
            continue  # exact cells: not a floored pattern
        sets = seen.setdefault(shown, [set() for _ in range(8)])
        for s, q in zip(sets, _genotype_quantities(het, hom, hemi), strict=True):
            s.add(q)
    return frozenset(
        shown for shown, sets in seen.items() if any(len(s) == 1 and is_small(next(iter(s)), t) for s in sets)
    )


def protect_genotypes(counts: Mapping[str, int], threshold: int) -> dict[str, Shown]:
    """Return the shown form of one group's genotype counts (see the module docstring).

    Parameters
    ----------
    counts
        ``ac``, ``n_carriers``, ``homozygote_count`` and ``hemizygote_count`` of
        one group (adj founders, say), exact.
    threshold
        ``small_count_threshold``: counts from 1 to this minus 1 are small.

    Returns
    -------
    dict
        The same keys: exact int, ``"<threshold"`` or None (withheld).

    Notes
    -----
    A floored pattern under which a small count could still be pinned by the
    ranges alone (all four small on chrX, say) is shown with every non-zero
    cell withheld.
    """
    t = threshold
    hom, hemi = counts["homozygote_count"], counts["hemizygote_count"]
    het = max(0, counts["n_carriers"] - hom - hemi)
    shown = _genotype_ladder(het, hom, hemi, t)
    if t > 1 and shown in _pinning_patterns(t):
        shown = tuple(0 if v == 0 else WITHHELD for v in shown)
    return dict(zip(_GENOTYPE, shown, strict=True))


def _sums(ranges: list[tuple[int, float]], zero_or: list[int]) -> list[tuple[int, float]]:
    """Return the ranges of sums of cells in ``ranges`` plus cells that are 0 or at least a bound."""
    lo = sum(a for a, _ in ranges)
    hi = sum(b for _, b in ranges)
    out = []
    for pick in product((False, True), repeat=len(zero_or)):
        extra_lo = sum(b for b, p in zip(zero_or, pick, strict=True) if p)
        extra_hi = float("inf") if any(pick) else 0
        out.append((lo + extra_lo, hi + extra_hi))
    return out


def _pinned(values: list[int], kinds: list[str], total_unknown: int, threshold: int, floor: int) -> bool:
    """Return True when one small unknown cell can take a single value given the others' ranges.

    ``kinds`` per unknown cell: ``small`` (1..t-1, shown as "<t" or hidden and
    small), ``withheld`` (shown as None: at least t), ``hidden`` (not shown,
    not small: 0 or at least t). ``total_unknown`` is their sum, known to the caller;
    ``floor`` the least a withheld cell can be (the largest exact part: the rule withholds the largest).
    """
    t = threshold
    rng = {"small": (1, t - 1), "withheld": (max(t, floor), float("inf"))}
    for i, kind in enumerate(kinds):
        if kind != "small":
            continue
        others = [rng[k] for j, k in enumerate(kinds) if j != i and k in rng]
        zero_or = [t for j, k in enumerate(kinds) if j != i and k == "hidden"]
        feasible = [
            x for x in range(1, t) if any(lo <= total_unknown - x <= hi for lo, hi in _sums(others, zero_or))
        ]
        if len(feasible) <= 1:
            return True
    return False


def protect_parts(parts: Mapping[str, int], total: int | None, threshold: int) -> dict[str, Shown]:
    """Return the shown form of the parts of a total (see the module docstring).

    Parameters
    ----------
    parts
        Exact counts by category; the categories partition (part of) the total.
    total
        The total the caller is shown too, or None when it is not shown (then
        only the parts' own floor applies to the sum of the parts).
    threshold
        ``small_count_threshold``.

    Returns
    -------
    dict
        The same keys: exact int, ``"<threshold"`` or None (withheld).
    """
    t = threshold
    out: dict[str, Shown] = {k: floor_count(v, t) for k, v in parts.items()}
    if total is None:
        total = sum(parts.values())
    hidden = total - sum(parts.values())
    if hidden < 0:
        return out  # not a partition of the total: nothing to difference against
    unknown = {k for k, v in parts.items() if is_small(v, t)}
    if not unknown and not is_small(hidden, t):
        return out
    candidates = sorted((v, k) for k, v in parts.items() if v >= t)
    withheld: set[str] = set()
    while True:
        keys = sorted(unknown | withheld)
        kinds = ["small" if k in unknown else "withheld" for k in keys]
        values = [parts[k] for k in keys]
        # A hidden part that is not small is taken as known to the caller (the safe side).
        if is_small(hidden, t):
            kinds.append("small")
            values.append(hidden)
        exact = [v for k, v in parts.items() if k not in unknown and k not in withheld]
        if not _pinned(values, kinds, sum(values), t, max(exact, default=t)):
            break
        if not candidates:
            # Nothing left to withhold: give every non-zero part as a range.
            return {k: (0 if v == 0 else f"<{t}" if is_small(v, t) else WITHHELD) for k, v in parts.items()}
        # The largest part first: its range (at least every exact part) leaves the most slack.
        pick = candidates.pop()
        withheld.add(pick[1])
        out[pick[1]] = WITHHELD
    return out
