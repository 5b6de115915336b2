"""Allele frequencies: af, the filtering allele frequencies faf95/faf99, and their maximum over regions.

The one home of these rules. Every reader and writer (release table, index
records, sub-cohort queries, annotation, pages, Beacon) computes them here, in
a scalar form (one record) and an array form (a column), so the two can never
disagree.

- ``af = ac / an``; undefined (None / null / NaN) where ``an`` is 0.
- ``faf = lambda(ac) / an`` (gnomAD / Hail ``filtering_allele_frequency``): the
  highest true allele frequency at which seeing ``ac`` or more alt alleles among
  ``an`` has Poisson probability at most ``1 - confidence``; 0 where ``ac <= 1``
  (a singleton says nothing about the frequency); undefined where ``an`` is 0.
- ``faf95_max_region``: the highest faf95 over the region strata (gnomAD's
  ``faf95_max`` over genetic ancestry groups, its "grpmax"), with the code of the
  first region reaching it (table order) and no code when the maximum is 0.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pyarrow as pa

__all__ = [
    "FAF_CONFIDENCE",
    "af",
    "af_array",
    "af_column",
    "faf",
    "faf_column",
    "faf_lambda",
    "faf_max",
    "faf_max_columns",
]

#: Confidence of each filtering allele frequency field (gnomAD's faf95 and faf99).
FAF_CONFIDENCE: dict[str, float] = {"faf95": 0.95, "faf99": 0.99}


def af(ac: int | float, an: int) -> float | None:
    """Return ``ac / an``, or None where ``an`` is 0 (no called allele: no frequency)."""
    return ac / an if an else None


def af_array(ac: np.ndarray, an: np.ndarray) -> np.ndarray:
    """Return ``ac / an`` per row as float64, NaN where ``an`` is 0."""
    ac = np.asarray(ac, dtype=np.float64)
    an = np.asarray(an, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(an > 0, ac / np.where(an > 0, an, 1), np.nan)


def af_column(ac: np.ndarray, an: np.ndarray) -> pa.Array:
    """Return ``ac / an`` per row as a float64 Arrow column, null where ``an`` is 0."""
    an = np.asarray(an)
    return pa.array(np.divide(ac, an, out=np.zeros(len(an)), where=an > 0), mask=an == 0)


def faf_lambda(ac: np.ndarray | int, confidence: float) -> np.ndarray:
    """Return the highest Poisson mean at which ``ac`` or more alt alleles are seen with probability ``1 - confidence``.

    Parameters
    ----------
    ac
        Alternate allele counts (any shape).
    confidence
        0.95 for faf95, 0.99 for faf99.

    Returns
    -------
    numpy.ndarray
        float64, the same shape as ``ac``: ``lambda`` with
        ``P(X <= ac - 1; lambda) = confidence`` for ``X ~ Poisson(lambda)``, and 0
        where ``ac <= 1``.

    Notes
    -----
    ``P(X <= k; lambda)`` is the regularized upper incomplete gamma function
    ``Q(k + 1, lambda)``, so ``lambda`` is ``gammainccinv(ac, confidence)``: the
    root that Hail's ``filtering_allele_frequency`` searches for with ``uniroot``,
    found here in closed form for every row at once. It depends on ``ac`` only,
    so a variant's faf is ``faf_lambda(ac) / an``. As Hail (and so gnomAD) does, a
    singleton (``ac == 1``) gets 0: one allele says nothing about the frequency.
    Hail rounds its root to a grid of 1e-6 and reports the grid point just below;
    this is the exact value, within 1e-6 of Hail's.
    """
    # scipy.special takes a quarter of a second to import: only the processes that compute a faf pay it
    # (not the load's reading workers).
    from scipy.special import gammainccinv

    a = np.asarray(ac, dtype=np.float64)
    out = np.zeros(a.shape, dtype=np.float64)
    many = a > 1
    out[many] = gammainccinv(a[many], confidence)
    return out


def faf(lam: Sequence[float], ac: int, an: int) -> float | None:
    """Return one faf from a table of lambdas indexed by ``ac`` (``faf_lambda(range(n), ci)``); None where ``an`` is 0."""
    return lam[ac] / an if an else None


def faf_column(ac: np.ndarray, an: np.ndarray, confidence: float) -> pa.Array:
    """Return the filtering allele frequency of every row (faf95, faf99) as a float64 Arrow column.

    Parameters
    ----------
    ac, an
        Alternate allele count and allele number per row.
    confidence
        0.95 for faf95, 0.99 for faf99.

    Returns
    -------
    pyarrow.Array
        ``faf_lambda(ac) / an``; 0 where ``ac <= 1``; null where ``an`` is 0.
    """
    an = np.asarray(an)
    lam = faf_lambda(ac, confidence)
    return pa.array(np.divide(lam, an, out=np.zeros(len(lam)), where=an > 0), mask=an == 0)


def faf_max(pairs: Iterable[tuple[float | None, str]]) -> dict[str, Any]:
    """Return ``faf95_max_region`` and its code from ``(faf95, code)`` of each region, in table order."""
    best: float | None = None
    code = None
    for v, c in pairs:
        if v is not None and (best is None or v > best):
            best, code = v, c
    return {"faf95_max_region": best, "faf95_max_region_code": code if best else None}


def faf_max_columns(fafs: list[pa.Array], codes: list[str], n: int) -> tuple[pa.Array, pa.Array]:
    """Return the highest faf of every row over some strata (the regions) and the code of the stratum.

    Parameters
    ----------
    fafs
        One float64 array per stratum (null where its ``an`` is 0), rows aligned.
    codes
        The strata's codes, in the same order.
    n
        Number of rows (all null when there is no stratum).

    Returns
    -------
    (pyarrow.Array, pyarrow.Array)
        The maximum (null where every stratum is null) and the code of the first
        stratum reaching it (null where the maximum is null or 0), as :func:`faf_max`.
    """
    if not fafs:
        return pa.nulls(n, pa.float64()), pa.nulls(n, pa.string())
    m = np.stack([a.to_numpy(zero_copy_only=False) for a in fafs], axis=1)
    none = np.isnan(m).all(axis=1)
    filled = np.where(np.isnan(m), -1.0, m)
    best = filled.argmax(axis=1)
    value = filled[np.arange(len(best)), best]
    code = np.array(codes, dtype=object)[best]
    return (
        pa.array(value, pa.float64(), mask=none),
        pa.array(code, pa.string(), mask=none | (value == 0)),
    )
