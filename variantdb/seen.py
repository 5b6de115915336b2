"""What "seen" means: the one vocabulary every answer about a variant uses.

A lab reads "seen" as "this population carries the variant in a genotype we
trust". A release also holds variants whose only calls fail the quality
thresholds (gnomAD's ``adj``: GQ, DP, allele balance) and positions where no
allele was called at all; each is told apart by a named state, decided here
once and used by the JSON records (``state``), the web pages, Beacon's
``exists`` and the summary of ``annotate``.

=======================  =================================================================
state                    meaning
=======================  =================================================================
``seen``                 adj founders carry it: ``ac > 0`` (the headline group)
``seen_relatives_only``  no founder carries it in an adj call, but a relative does
                         (``ac_all > 0``): the headline AC, over founders, is 0
``seen_low_quality``     in the release only through calls failing the adj thresholds
                         (no adj carrier among founders or relatives)
``not_seen``             not in the release (or no carrier at all), among ``an > 0``
                         called alleles: "absent among N called alleles"
``no_data``              no carrier and no allele called at the position (``an == 0``):
                         not covered, or not loaded; absence says nothing
=======================  =================================================================

Beacon's ``exists`` follows the adj genotypes of every sample (founders and
relatives): it is true for :data:`ADJ_SEEN` states only.
"""

from __future__ import annotations

from typing import Final, Literal

import numpy as np

__all__ = [
    "ADJ_SEEN",
    "SEEN_STATES",
    "STATE_HEADLINES",
    "SeenState",
    "describe_state",
    "is_seen_adj",
    "seen_state",
    "seen_states",
]

SeenState = Literal["seen", "seen_relatives_only", "seen_low_quality", "not_seen", "no_data"]

#: Every state, from most to least evidence of the variant; the codes of :func:`seen_states` index it.
SEEN_STATES: Final[tuple[SeenState, ...]] = (
    "seen",
    "seen_relatives_only",
    "seen_low_quality",
    "not_seen",
    "no_data",
)

#: The states in which an adj genotype (of a founder or a relative) carries the variant.
ADJ_SEEN: Final[frozenset[str]] = frozenset(("seen", "seen_relatives_only"))

#: A short headline per state, for people (the web pages).
STATE_HEADLINES: Final[dict[str, str]] = {
    "seen": "Seen",
    "seen_relatives_only": "Seen only in relatives",
    "seen_low_quality": "Seen only in low-quality calls",
    "not_seen": "Not seen",
    "no_data": "No data here",
}


def seen_state(in_release: bool, ac: int, an: int, ac_all: int = 0) -> SeenState:
    """Return the state of a variant from its adj counts.

    Parameters
    ----------
    in_release
        The variant has a row in the release (any call carried it, raw or adj).
    ac
        Adj founder alternate alleles (the headline AC).
    an
        Adj founder called alleles at the position (the headline AN).
    ac_all
        Adj alternate alleles of all samples, relatives included. Default 0.

    Returns
    -------
    str
        One of :data:`SEEN_STATES`.
    """
    if ac > 0:
        return "seen"
    if ac_all > 0:
        return "seen_relatives_only"
    if in_release:
        return "seen_low_quality"
    return "not_seen" if an > 0 else "no_data"


def seen_states(in_release: np.ndarray, ac: np.ndarray, an: np.ndarray, ac_all: np.ndarray) -> np.ndarray:
    """Return the state code (index into :data:`SEEN_STATES`) of many variants; as :func:`seen_state`."""
    out = np.where(an > 0, 3, 4).astype(np.int8)
    out = np.where(in_release, 2, out)
    out = np.where(ac_all > 0, 1, out)
    return np.where(ac > 0, 0, out).astype(np.int8)


def is_seen_adj(state: str) -> bool:
    """Return True when an adj genotype carries the variant (Beacon's ``exists``)."""
    return state in ADJ_SEEN


def describe_state(
    state: str,
    ac: int | str | None = None,
    an: int | None = None,
) -> str:
    """Return the answer in words, the same on every route.

    Parameters
    ----------
    state
        One of :data:`SEEN_STATES`.
    ac
        The headline AC as the caller may see it (an int, an imprecise ``"<5"``
        or None when withheld); None with ``an`` None gives the words without
        numbers (callers who may not see counts).
    an
        The headline AN, or None.

    Notes
    -----
    "seen: 0 of 0 called alleles" is never said: a variant with no adj founder
    carrier is never ``seen``, and an AN of 0 is said as no alleles passing the
    thresholds.
    """
    counts = an is not None
    if state == "seen":
        if not counts:
            return "seen in this release"
        if not an:  # not reached from seen_state (ac <= an); never say "0 of 0"
            return "seen in this release; no alleles passing the quality thresholds were counted here"
        if ac is None:
            return f"seen among {an:,} called alleles (the count is withheld: it would reveal a small one)"
        if isinstance(ac, str):
            return f"seen: fewer than {ac[1:]} of {an:,} called alleles"
        return f"seen: {ac:,} of {an:,} called alleles"
    if state == "seen_relatives_only":
        text = "seen only in relatives: no founder carries it in a call passing the quality thresholds"
        return text + (f" (0 of {an:,} founder alleles)" if counts and an else "")
    if state == "seen_low_quality":
        text = "seen only in calls failing the quality thresholds (GQ, DP, allele balance)"
        if not counts:
            return text
        if an:
            return text + f"; absent among {an:,} called alleles passing them"
        return text + "; no alleles passing them were called here"
    if state == "not_seen":
        return (
            f"absent among {an:,} called alleles" if counts else "not seen: absent where alleles were called"
        )
    return "no data here: no alleles were called at this position in this release"
