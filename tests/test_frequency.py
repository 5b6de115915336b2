"""The one home of af, faf95/99 and faf max over regions: scalar and array forms agree."""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pytest
from scipy.stats import poisson

from variantdb.frequency import (
    FAF_CONFIDENCE,
    af,
    af_array,
    af_column,
    faf,
    faf_column,
    faf_lambda,
    faf_max,
    faf_max_columns,
)


def test_af_scalar_and_arrays_agree() -> None:
    ac = np.array([0, 1, 5, 3])
    an = np.array([0, 10, 10, 0])
    assert [af(int(a), int(n)) for a, n in zip(ac, an, strict=True)] == [None, 0.1, 0.5, None]
    assert af_column(ac, an).to_pylist() == [None, 0.1, 0.5, None]
    arr = af_array(ac, an)
    assert np.isnan(arr[0]) and np.isnan(arr[3]) and arr[1:3].tolist() == [0.1, 0.5]


@pytest.mark.parametrize("confidence", sorted(FAF_CONFIDENCE.values()))
@pytest.mark.parametrize("ac", [2, 3, 10, 250])
def test_faf_lambda_is_the_poisson_bound(ac: int, confidence: float) -> None:
    lam = float(faf_lambda(ac, confidence))
    # P(X <= ac - 1; lambda) = confidence, so P(X >= ac) = 1 - confidence
    assert math.isclose(poisson.cdf(ac - 1, lam), confidence, rel_tol=1e-9)


def test_faf_singletons_zero_and_no_an_null() -> None:
    lam = faf_lambda(np.arange(6), 0.95).tolist()
    assert lam[0] == lam[1] == 0.0
    assert faf(lam, 1, 100) == 0.0
    assert faf(lam, 3, 0) is None
    col = faf_column(np.array([3, 3, 1]), np.array([100, 0, 50]), 0.95)
    assert col.to_pylist() == [lam[3] / 100, None, 0.0]


def test_faf_max_scalar_and_columns_agree() -> None:
    rows = [
        [(None, "a"), (None, "b")],  # no region called
        [(0.0, "a"), (0.0, "b")],  # called, never seen: 0 without a code
        [(0.1, "a"), (0.3, "b")],
        [(0.2, "a"), (0.2, "b")],  # tie: the first in table order
    ]
    scalar = [faf_max(r) for r in rows]
    assert scalar == [
        {"faf95_max_region": None, "faf95_max_region_code": None},
        {"faf95_max_region": 0.0, "faf95_max_region_code": None},
        {"faf95_max_region": 0.3, "faf95_max_region_code": "b"},
        {"faf95_max_region": 0.2, "faf95_max_region_code": "a"},
    ]
    cols = [pa.array([r[i][0] for r in rows], pa.float64()) for i in range(2)]
    best, code = faf_max_columns(cols, ["a", "b"], len(rows))
    assert best.to_pylist() == [s["faf95_max_region"] for s in scalar]
    assert code.to_pylist() == [s["faf95_max_region_code"] for s in scalar]
