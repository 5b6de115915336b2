"""Tests of variantdb.release.aggregate: the filtering allele frequency (faf95, faf99) of every count."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, seed, settings
from hypothesis import strategies as st
from scipy.stats import poisson

from variantdb.frequency import FAF_CONFIDENCE, faf_column, faf_lambda, faf_max_columns
from variantdb.schema import strata

# (AC, AN, faf95, faf99) from Hail 0.2.139 (PyPI `hail`, Java 17), produced with
#   hl.eval((hl.experimental.filtering_allele_frequency(ac, an, 0.95),
#            hl.experimental.filtering_allele_frequency(ac, an, 0.99)))
# Hail finds the root with uniroot, rounds it to 1e-8 and then steps on a 1e-6 grid
# (its `precision`), reporting the grid point just below the exact value: so Hail's
# figure lies in (exact - 1e-6, exact]. It returns 0 for AC <= 1 and for AN = 0.
HAIL = [
    (0, 100, 0.0, 0.0),
    (1, 100, 0.0, 0.0),
    (1, 10000, 0.0, 0.0),
    (2, 100, 0.0035531900000000767, 0.001485379999999965),
    (2, 120000, 2.7700000000000006e-06, 1.04e-06),
    (3, 1000, 0.0008171600000000081, 0.0004352800000000003),
    (5, 2000, 0.000984730000000004, 0.000639300000000003),
    (10, 1000, 0.005424870000000072, 0.004129620000000072),
    (25, 5000, 0.003475660000000013, 0.0029700800000000073),
    (100, 10000, 0.008413309999999995, 0.007820949999999997),
    (500, 20000, 0.023189560000000026, 0.022472720000000026),
    (1000, 2000, 0.4742794699999925, 0.4639530799999877),
    (5000, 10000, 0.4884253699999987, 0.48369668999999893),
    (9990, 10000, 0.9826159000000011, 0.9758951300000014),
    (20000, 120000, 0.16473287, 0.16393658),
]


def _bisect_faf(ac: int, an: int, confidence: float) -> float:
    """The published definition, by brute force: the largest AF with P(X >= ac; an * AF) <= 1 - confidence."""
    if ac <= 1:
        return 0.0
    lo, hi = 0.0, 1.0
    for _ in range(200):
        mid = (lo + hi) / 2
        # P(X >= ac) = 1 - P(X <= ac - 1), from the exact Poisson CDF.
        if 1 - poisson.cdf(ac - 1, an * mid) <= 1 - confidence:
            lo = mid
        else:
            hi = mid
    return lo


def test_faf_matches_hail_within_its_grid() -> None:
    ac = np.array([r[0] for r in HAIL])
    an = np.array([r[1] for r in HAIL])
    for col, name in ((2, "faf95"), (3, "faf99")):
        ours = np.array(faf_column(ac, an, FAF_CONFIDENCE[name]).to_pylist())
        hail = np.array([r[col] for r in HAIL])
        assert np.all(ours - hail >= -1e-12), name
        assert np.all(ours - hail <= 1e-6 + 1e-12), name
        assert np.array_equal(ours == 0, hail == 0), name


@pytest.mark.parametrize(("ac", "an"), [(r[0], r[1]) for r in HAIL])
def test_faf_matches_the_published_definition(ac: int, an: int) -> None:
    for name, ci in FAF_CONFIDENCE.items():
        ours = faf_column(np.array([ac]), np.array([an]), ci)[0].as_py()
        assert ours == pytest.approx(_bisect_faf(ac, an, ci), rel=1e-9, abs=1e-15), name


def test_faf_edges() -> None:
    # AC 0 and singletons: 0 (as Hail); AN 0: null like af.
    assert faf_column(np.array([0, 1, 2, 0]), np.array([10, 10, 0, 0]), 0.95).to_pylist() == [
        0.0,
        0.0,
        None,
        None,
    ]
    # faf99 <= faf95 <= af, and lambda(AC=2) at 95% is the root of (1 + L) exp(-L) = 0.95.
    lam = float(faf_lambda(2, 0.95))
    assert (1 + lam) * math.exp(-lam) == pytest.approx(0.95, rel=1e-12)


@seed(4)
@settings(max_examples=200, deadline=None)
@given(st.integers(0, 200_000).flatmap(lambda an: st.tuples(st.integers(0, an), st.just(an))))
def test_faf_is_below_af_and_faf99_below_faf95(case: tuple[int, int]) -> None:
    ac, an = case
    f95 = faf_column(np.array([ac]), np.array([an]), 0.95)[0].as_py()
    f99 = faf_column(np.array([ac]), np.array([an]), 0.99)[0].as_py()
    if an == 0:
        assert f95 is None and f99 is None
    else:
        assert 0 <= f99 <= f95 <= ac / an


def test_release_table_carries_faf_of_every_count(api_db: Path) -> None:
    files = sorted((api_db / "releases").glob("*/variants/*.parquet"))
    assert files
    t = pq.read_table(files[-1])
    keys = ["", *(f"_{s.key}" for s in strata())]
    for suffix in [*keys, "_raw", "_all"]:
        ac = t.column(f"ac{suffix}").to_numpy()
        an = t.column(f"an{suffix}").to_numpy()
        for name, ci in FAF_CONFIDENCE.items():
            got = t.column(f"{name}{suffix}").to_pylist()
            want = [(float(faf_lambda(a, ci)) / n if n else None) for a, n in zip(ac, an, strict=True)]
            assert got == want, f"{name}{suffix}"
    some = [
        (a, n) for a, n in zip(t.column("ac").to_pylist(), t.column("an").to_pylist(), strict=True) if a > 1
    ]
    assert some
    a, n = some[0]
    assert t.column("faf95")[t.column("ac").to_pylist().index(a)].as_py() == pytest.approx(
        _bisect_faf(a, n, 0.95)
    )


def test_faf_max_names_the_first_region_reaching_it() -> None:
    fafs = [
        pa.array([0.1, None, 0.0, 0.2, None], pa.float64()),
        pa.array([0.3, None, 0.0, 0.2, 0.0], pa.float64()),
        pa.array([0.3, None, None, 0.1, None], pa.float64()),
    ]
    value, code = faf_max_columns(fafs, ["a", "b", "c"], 5)
    assert value.to_pylist() == [0.3, None, 0.0, 0.2, 0.0]
    assert code.to_pylist() == ["b", None, None, "a", None]
    assert faf_max_columns([], [], 2)[0].to_pylist() == [None, None]


def test_release_table_names_the_region_of_the_highest_faf(api_db: Path) -> None:
    t = pq.read_table(sorted((api_db / "releases").glob("*/variants/*.parquet"))[-1]).to_pylist()
    regions = [s.key for s in strata() if s.kind == "region"]
    named = 0
    for row in t:
        values = {k.removeprefix("region_"): row[f"faf95_{k}"] for k in regions}
        present = [v for v in values.values() if v is not None]
        assert row["faf95_max_region"] == (max(present) if present else None)
        if row["faf95_max_region"]:
            assert values[row["faf95_max_region_code"]] == row["faf95_max_region"]
            named += 1
        else:
            assert row["faf95_max_region_code"] is None
    assert named > 0


def test_n_fail_and_carrier_families_hand_worked(tmp_path: Path) -> None:
    # The loader's hand-worked cohort (tests/test_batch.py): F and M are founders of fam1 with
    # their child C; U is a founder without a family. Plus one record that failed FILTER.
    from tests.batch_data import RECORDS, G, make_batch, release_rows
    from variantdb.load import load_batch

    lowqual = (
        f"chr1 400 . G C 50 LowQual . {G} 0/1:40:20:10,10 0/0:40:20:20,0 0/1:40:20:10,10 0/1:40:20:10,10"
    )
    load_batch(tmp_path / "db", make_batch(tmp_path / "in", records=[*RECORDS[:3], lowqual, *RECORDS[3:]]))
    rows = release_rows(tmp_path / "db", ["pos", "alt", "n_carriers_raw", "n_fail", "n_carrier_families"])
    assert rows == [
        (100, "C", 2, 0, 1),  # F and M, adj: one family
        (100, "T", 1, 0, 1),
        (
            200,
            "A",
            2,
            2,
            0,
        ),  # F (GQ 10) and M (allele balance 5/30) fail adj; C (fam1), a child, is the adj carrier
        (400, "C", 2, 2, 2),  # founders F and U failed FILTER; carrier families fam1 (F) and U's own
        (5000000, "A", 3, 0, 2),  # founders F, M of fam1 and U
        (3000000, "T", 1, 0, 1),
        (100, "G", 1, 0, 1),  # F (founder) and C, both fam1
    ]


@seed(14)
@settings(max_examples=40, deadline=None)
@given(
    chrom=st.sampled_from(["chr1", "chrX", "chrY"]),
    bin_rows=st.integers(1, 6),
    gaps=st.lists(
        st.tuples(
            st.integers(0, 5),  # sample_idx; 5 is not in the cohort
            st.sampled_from([1, 2, 2_781_470, 2_781_480, 10_000, 10_003, 10_004, 155_701_380]),  # start
            st.sampled_from([0, 1, 5, 300, 3_000_000]),  # length - 1
            st.booleans(),
        ),
        max_size=30,
    ),
)
def test_an_track_streamed_by_bins_equals_the_whole_contig(
    tmp_path_factory: pytest.TempPathFactory,
    chrom: str,
    bin_rows: int,
    gaps: list[tuple[int, int, int, bool]],
) -> None:
    from variantdb.genome import CONTIG_LENGTHS
    from variantdb.release.aggregate import compute_an_track, compute_an_track_from_files, make_cohort
    from variantdb.schema import GAPS_SCHEMA

    length = CONTIG_LENGTHS[chrom]
    gaps = [(s, min(p, length), min(p + n, length), raw) for s, p, n, raw in gaps]
    sexes = ["XX", "XY", "unknown", "XY", "XX"]
    samples = pa.table(
        {
            "sample_idx": pa.array(range(5), pa.int32()),
            "sample_id": [f"S{i}" for i in range(5)],
            "sex": sexes,
            "region": ["Hovedstaden", "Sjælland"] * 2 + ["Hovedstaden"],
            "patient_group": [None] * 5,
            "family_id": [None] * 5,
            "father_id": [None] * 5,
            "mother_id": [None] * 5,
        }
    )
    cohort = make_cohort(samples)
    table = pa.table(
        {
            "sample_idx": pa.array([g[0] for g in gaps], pa.int32()),
            "chrom": [chrom] * len(gaps),
            "start": pa.array([g[1] for g in gaps], pa.int32()),
            "end": pa.array([g[2] for g in gaps], pa.int32()),
            "raw": [g[3] for g in gaps],
        },
        schema=GAPS_SCHEMA,
    )
    folder = tmp_path_factory.mktemp("gaps")
    # Two files, rows in no order: the stream sorts them.
    half = len(gaps) // 2
    files = []
    for k, part in enumerate((table.slice(0, half), table.slice(half))):
        path = folder / f"part-{k}.parquet"
        pq.write_table(part.take(np.arange(part.num_rows)[::-1]), path)
        files.append(str(path))
    streamed = compute_an_track_from_files(chrom, files, cohort, bin_rows=bin_rows, memory_mb=64)
    assert streamed.equals(compute_an_track(chrom, table, cohort))
