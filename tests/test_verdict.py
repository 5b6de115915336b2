"""Tests of variantdb/verdict.py: Whiffin et al.'s formulas, the Poisson quantile, BA1/BS1/PM2."""

from __future__ import annotations

import csv
import itertools
import json
import math
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, seed, settings
from hypothesis import strategies as st
from scipy.special import gammainccinv
from scipy.stats import poisson

from variantdb.verdict import (
    ARCHITECTURE_COLUMNS,
    STATES,
    DiseaseArchitecture,
    VerdictParameterError,
    apply_overrides,
    architecture_for,
    compute_max_credible_af,
    compute_max_tolerated_ac,
    compute_min_informative_an,
    compute_verdict,
    compute_verdicts,
    read_disease_architectures,
)

HCM = DiseaseArchitecture(
    patient_group="hereditary_heart",
    disease="Hypertrophic cardiomyopathy",
    inheritance="dominant",
    prevalence=1 / 500,
    allelic_contribution=0.02,
    genetic_contribution=1,
    penetrance=0.5,
)
EXAC_AN = 121_412  # the CardioDB calculator's default reference AN (all of ExAC)


def poisson_quantile_by_hand(mean: float, ci: float) -> int:
    """Smallest k with P(X <= k) >= ci for X ~ Poisson(mean), summing the terms one by one."""
    if mean == 0:
        return 0
    k, total = 0, 0.0
    while True:
        total += math.exp(k * math.log(mean) - mean - math.lgamma(k + 1))
        if total >= ci:
            return k
        k += 1


def fraction(p: float, a: float, g: float, n: float, inheritance: str) -> float:
    if inheritance == "dominant":
        return p * a * g / (2 * n)
    return math.sqrt(p) * a * math.sqrt(g) / math.sqrt(n)


# ---------------------------------------------------------------------------
# Maximum credible allele frequency
# ---------------------------------------------------------------------------


def test_whiffin_worked_example_hcm_is_4e_5() -> None:
    assert compute_max_credible_af("dominant", 1 / 500, 0.02, 1, 0.5) == pytest.approx(4.0e-5, rel=1e-12)
    assert HCM.max_credible_af == pytest.approx(4.0e-5, rel=1e-12)
    shipped = architecture_for("hereditary_heart")
    assert (shipped.inheritance, shipped.prevalence, shipped.allelic_contribution) == (
        "dominant",
        0.002,
        0.02,
    )
    assert (shipped.genetic_contribution, shipped.penetrance, shipped.ci) == (1.0, 0.5, 0.95)
    assert shipped.max_credible_af == pytest.approx(4.0e-5, rel=1e-12)


def test_calculator_names_for_inheritance_are_accepted() -> None:
    assert compute_max_credible_af("monoallelic", 0.002, 0.02, 1, 0.5) == pytest.approx(4.0e-5)
    assert compute_max_credible_af("biallelic", 1e-4, 0.5, 1, 1) == pytest.approx(0.005)
    with pytest.raises(VerdictParameterError, match="inheritance='x-linked'"):
        compute_max_credible_af("x-linked", 0.002, 0.02, 1, 0.5)


GRID = list(
    itertools.product(
        ("dominant", "recessive"),
        (1e-6, 1 / 10_000, 1 / 500, 0.05, 1.0),  # prevalence
        (0.001, 0.02, 0.5, 1.0),  # allelic contribution
        (0.01, 0.3, 1.0),  # genetic contribution
        (0.05, 0.5, 1.0),  # penetrance
    )
)


@pytest.mark.parametrize(("inheritance", "prevalence", "allelic", "genetic", "penetrance"), GRID)
def test_max_credible_af_on_a_grid(
    inheritance: str, prevalence: float, allelic: float, genetic: float, penetrance: float
) -> None:
    expected = fraction(prevalence, allelic, genetic, penetrance, inheritance)
    got = compute_max_credible_af(inheritance, prevalence, allelic, genetic, penetrance)
    assert isinstance(got, float)
    assert got == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("inheritance", ["dominant", "recessive"])
def test_max_credible_af_numpy_form_equals_scalar_form(inheritance: str) -> None:
    rows = [r[1:] for r in GRID if r[0] == inheritance]
    p, a, g, n = (np.array(col) for col in zip(*rows, strict=True))
    got = compute_max_credible_af(inheritance, p, a, g, n)
    assert got.dtype == np.float64 and got.shape == (len(rows),)
    expected = [compute_max_credible_af(inheritance, *row) for row in rows]
    np.testing.assert_allclose(got, expected, rtol=1e-15)


unit = st.floats(min_value=1e-6, max_value=1.0)


@seed(16)
@settings(max_examples=200, deadline=None)
@given(st.sampled_from(["dominant", "recessive"]), unit, unit, unit, unit, st.floats(1.01, 10.0))
def test_max_credible_af_moves_the_right_way(
    inheritance: str, p: float, a: float, g: float, n: float, factor: float
) -> None:
    base = compute_max_credible_af(inheritance, p, a, g, n)
    assert base > 0
    # More common, less heterogeneous disease: a pathogenic allele may be more common.
    assert compute_max_credible_af(inheritance, p / factor, a, g, n) < base
    assert compute_max_credible_af(inheritance, p, a / factor, g, n) < base
    assert compute_max_credible_af(inheritance, p, a, g / factor, n) < base
    # Lower penetrance: more unaffected carriers, so a higher credible frequency.
    assert compute_max_credible_af(inheritance, p, a, g, n / factor) > base


# ---------------------------------------------------------------------------
# Maximum tolerated allele count
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("an", "max_af", "ci", "expected"),
    [
        # mean 1: P(X<=k) = 0.368, 0.736, 0.920, 0.981, 0.996
        (100_000, 1e-5, 0.95, 3),
        (100_000, 1e-5, 0.99, 4),
        # mean 0.05: P(X=0) = exp(-0.05) = 0.951, so 0 alleles reach 95%, 1 reaches 99% (0.9988)
        (1_000, 5e-5, 0.95, 0),
        (1_000, 5e-5, 0.99, 1),
        # mean 0.06: P(X=0) = 0.942 < 0.95
        (1_000, 6e-5, 0.95, 1),
        # nothing to expect
        (0, 4e-5, 0.95, 0),
        (121_412, 0.0, 0.99, 0),
    ],
)
def test_max_tolerated_ac_by_hand(an: int, max_af: float, ci: float, expected: int) -> None:
    got = compute_max_tolerated_ac(an, max_af, ci)
    assert isinstance(got, int)
    assert got == expected


def test_max_tolerated_ac_hcm_in_exac() -> None:
    # mean 121,412 * 4e-5 = 4.856: P(X <= 8) = 0.9413, P(X <= 9) = 0.9735
    assert poisson_quantile_by_hand(EXAC_AN * 4e-5, 0.95) == 9
    assert compute_max_tolerated_ac(EXAC_AN, HCM.max_credible_af, 0.95) == 9
    assert compute_max_tolerated_ac(EXAC_AN, HCM.max_credible_af, 0.99) == poisson_quantile_by_hand(
        4.85648, 0.99
    )


@seed(1151)
@settings(max_examples=300, deadline=None)
@given(
    st.integers(min_value=0, max_value=1_000_000),
    st.floats(min_value=1e-7, max_value=2e-3),
    st.sampled_from([0.95, 0.99]),
)
def test_max_tolerated_ac_is_the_poisson_quantile(an: int, max_af: float, ci: float) -> None:
    got = compute_max_tolerated_ac(an, max_af, ci)
    mean = an * max_af
    if mean > 0:
        assert got == int(poisson.ppf(ci, mean))
    assert got == poisson_quantile_by_hand(mean, ci)
    # the definition: the smallest k reaching the confidence
    assert poisson.cdf(got, mean) >= ci
    assert got == 0 or poisson.cdf(got - 1, mean) < ci


def test_max_tolerated_ac_numpy_form() -> None:
    an = np.array([0, 1_000, 100_000, EXAC_AN])
    got = compute_max_tolerated_ac(an, 4e-5, 0.95)
    assert got.dtype == np.int64
    assert got.tolist() == [compute_max_tolerated_ac(int(n), 4e-5, 0.95) for n in an]
    with pytest.raises(VerdictParameterError, match="an="):
        compute_max_tolerated_ac(np.array([10, -1]), 4e-5)
    with pytest.raises(VerdictParameterError, match="max_af="):
        compute_max_tolerated_ac(10, 1.5)
    with pytest.raises(VerdictParameterError, match="ci="):
        compute_max_tolerated_ac(10, 1e-3, 1.0)


@seed(2017)
@settings(max_examples=300, deadline=None)
@given(
    st.integers(2, 500), st.integers(1_000, 2_000_000), st.floats(1e-6, 1e-2), st.sampled_from([0.95, 0.99])
)
def test_faf_above_max_af_exactly_when_ac_above_max_tolerated(
    ac: int, an: int, max_af: float, ci: float
) -> None:
    # gnomAD/Hail faf: the Poisson mean at which P(X <= ac - 1) = ci, over AN (variantdb.release.aggregate.faf_lambda)
    faf = gammainccinv(ac, ci) / an
    if abs(poisson.cdf(ac - 1, an * max_af) - ci) < 1e-9:
        return  # a tie, decided by rounding
    assert (faf > max_af) == (ac > compute_max_tolerated_ac(an, max_af, ci))


def test_min_informative_an() -> None:
    # -ln(0.05) = 2.9957, -ln(0.01) = 4.6052
    assert compute_min_informative_an(4e-5, 0.95) == 74_894
    assert compute_min_informative_an(4e-5, 0.99) == 115_130
    assert compute_min_informative_an(1.0, 0.95) == 3
    assert HCM.min_informative_an == 74_894
    for max_af in (1e-6, 3.3e-5, 4e-5, 1e-3, 0.25):
        for ci in (0.95, 0.99):
            n = compute_min_informative_an(max_af, ci)
            assert n * max_af >= -math.log(1 - ci) * (1 - 1e-12)
            assert (n - 1) * max_af < -math.log(1 - ci) * (1 + 1e-12)


# ---------------------------------------------------------------------------
# BA1 / BS1 / PM2
# ---------------------------------------------------------------------------


def test_no_called_alleles_is_no_data() -> None:
    v = compute_verdict(0, 0, None, HCM)
    assert (v.state, v.criteria, v.max_tolerated_ac, v.af_upper) == ("no_data", (), 0, None)
    assert v.max_credible_af == pytest.approx(4e-5)


def test_absent_needs_enough_an_for_pm2() -> None:
    n = HCM.min_informative_an
    below = compute_verdict(0, n - 1, 0.0, HCM)
    at = compute_verdict(0, n, 0.0, HCM)
    assert (below.state, below.criteria) == ("insufficient_data", ())
    assert (at.state, at.criteria) == ("pm2", ("PM2",))
    assert below.af_upper is not None and below.af_upper > HCM.max_credible_af
    assert at.af_upper is not None and at.af_upper <= HCM.max_credible_af
    # an absent variant's faf is 0 even where the caller has none
    assert compute_verdict(0, n, None, HCM).state == "pm2"


def test_absent_among_few_alleles_says_nothing() -> None:
    v = compute_verdict(0, 20_000, 0.0, HCM)  # 10,000 genomes: P(absent | AF = 4e-5) = 0.45
    assert (v.state, v.criteria, v.max_tolerated_ac) == ("insufficient_data", (), 2)


def test_observed_counts_at_the_pm2_boundary() -> None:
    # At ExAC's AN (mean 4.856): 1 allele bounds the AF at 3.9e-5, 2 alleles at 5.2e-5.
    one = compute_verdict(1, EXAC_AN, 0.0, HCM)
    two = compute_verdict(2, EXAC_AN, 1e-6, HCM)
    assert (one.state, one.criteria) == ("pm2", ("PM2",))
    assert (two.state, two.criteria) == ("indeterminate", ())
    assert two.af_upper == pytest.approx(gammainccinv(3, 0.05) / EXAC_AN)
    # tolerated (no BS1) up to 9 alleles, yet not shown to be rare
    nine = compute_verdict(9, EXAC_AN, gammainccinv(9, 0.95) / EXAC_AN, HCM)
    ten = compute_verdict(10, EXAC_AN, gammainccinv(10, 0.95) / EXAC_AN, HCM)
    assert (nine.state, nine.max_tolerated_ac) == ("indeterminate", 9)
    assert (ten.state, ten.criteria) == ("bs1", ("BS1",))


def test_bs1_is_strictly_above_the_max_credible_af() -> None:
    max_af = HCM.max_credible_af
    assert compute_verdict(5, EXAC_AN, max_af, HCM).state == "indeterminate"
    above = compute_verdict(5, EXAC_AN, float(np.nextafter(max_af, 1)), HCM)
    assert (above.state, above.criteria) == ("bs1", ("BS1",))


def test_ba1_is_strictly_above_its_threshold_and_configurable() -> None:
    at = compute_verdict(7_000, EXAC_AN, 0.05, HCM)
    assert (at.state, at.criteria) == ("bs1", ("BS1",))
    above = compute_verdict(7_000, EXAC_AN, 0.0501, HCM)
    assert (above.state, above.criteria) == ("ba1", ("BA1", "BS1"))
    lenient = compute_verdict(7_000, EXAC_AN, 0.0501, HCM, ba1_faf=0.1)
    assert (lenient.state, lenient.criteria, lenient.ba1_faf) == ("bs1", ("BS1",), 0.1)
    with pytest.raises(VerdictParameterError, match="ba1_faf=0"):
        compute_verdict(0, 10, 0.0, HCM, ba1_faf=0)


def test_ba1_without_bs1_when_the_disease_allows_common_alleles() -> None:
    common = apply_overrides(HCM, inheritance="recessive", prevalence="1/100", allelic=1, penetrance=1)
    assert common.max_credible_af == pytest.approx(0.1)
    v = compute_verdict(7_000, EXAC_AN, 0.06, common)
    assert (v.state, v.criteria) == ("ba1", ("BA1",))


def test_a_region_too_common_outweighs_a_low_overall_count() -> None:
    # one allele overall (PM2's condition holds) but the grpmax faf95 is above the maximum credible AF
    v = compute_verdict(1, EXAC_AN, 1e-4, HCM)
    assert (v.state, v.criteria) == ("bs1", ("BS1",))


def test_unknown_grpmax_faf_decides_nothing_for_a_seen_variant() -> None:
    v = compute_verdict(50, EXAC_AN, None, HCM)
    assert (v.state, v.criteria, v.faf95_max_region) == ("indeterminate", (), None)


@pytest.mark.parametrize(
    ("ac", "an", "parameter"),
    [(5, 4, "ac"), (-1, 10, "ac"), (1, -10, "an"), (1.5, 10, "ac"), (None, 10, "ac")],
)
def test_impossible_counts_are_refused(ac: object, an: object, parameter: str) -> None:
    with pytest.raises(VerdictParameterError) as e:
        compute_verdict(ac, an, 0.0, HCM)  # type: ignore[arg-type]
    assert e.value.parameter == parameter


def test_faf_out_of_range_is_refused() -> None:
    with pytest.raises(VerdictParameterError, match="faf95_max_region"):
        compute_verdict(3, 100, 1.5, HCM)


def test_numpy_form_equals_scalar_form() -> None:
    rng = np.random.default_rng(16)
    an = rng.choice([0, 500, 20_000, 74_894, EXAC_AN, 400_000], size=300)
    ac = np.minimum(rng.choice([0, 0, 1, 2, 5, 9, 10, 40, 9_000], size=300), an)
    faf = np.where(ac >= 2, gammainccinv(np.maximum(ac, 2), 0.95) / np.maximum(an, 1), 0.0)
    faf = np.where(rng.random(300) < 0.1, np.nan, faf)  # some unknown
    faf = np.where(an == 0, np.nan, faf)
    for architecture in read_disease_architectures():
        arrays = compute_verdicts(ac, an, faf, architecture)
        assert len(arrays) == 300
        for i in range(300):
            one = compute_verdict(
                int(ac[i]), int(an[i]), None if np.isnan(faf[i]) else float(faf[i]), architecture
            )
            assert one.state == arrays.state[i]
            assert one.criteria == arrays.criteria(i)
            assert one.max_tolerated_ac == arrays.max_tolerated_ac[i]
        assert set(arrays.state.tolist()) <= set(STATES)


def test_every_state_is_reachable() -> None:
    ac = [0, 0, 0, 2, 20, 9_000]
    an = [0, 1_000, 100_000, EXAC_AN, EXAC_AN, EXAC_AN]
    faf = [np.nan, 0.0, 0.0, 1e-6, 1e-4, 0.06]
    v = compute_verdicts(ac, an, faf, HCM)
    assert v.state.tolist() == ["no_data", "insufficient_data", "pm2", "indeterminate", "bs1", "ba1"]
    assert sorted(set(v.state.tolist())) == sorted(STATES)


def test_verdict_to_dict_is_json() -> None:
    v = compute_verdict(1, EXAC_AN, 0.0, apply_overrides(HCM, ci="0.99"))
    d = json.loads(json.dumps(v.to_dict()))
    assert d["criteria"] == ["PM2"] or d["state"] != "pm2"
    assert d["architecture"]["overridden"] == ["ci"]
    assert d["architecture"]["max_credible_af"] == pytest.approx(4e-5)
    assert (d["ac"], d["an"], d["faf95_max_region"], d["ba1_faf"]) == (1, EXAC_AN, 0.0, 0.05)


# ---------------------------------------------------------------------------
# The table and per-request overrides
# ---------------------------------------------------------------------------


def test_shipped_table_covers_every_patient_group() -> None:
    text = resources.files("variantdb").joinpath("data/patient_groups.tsv").read_text(encoding="utf-8")
    codes = {row["code"] for row in csv.DictReader(text.splitlines(), delimiter="\t")}
    rows = read_disease_architectures()
    assert {a.patient_group for a in rows} == codes
    for a in rows:
        assert a.source and a.disease
        assert 0 < a.max_credible_af < 0.05  # every default disease is rarer than BA1
    assert read_disease_architectures() is read_disease_architectures()  # read once


def test_architecture_lookup_by_code_name_and_disease() -> None:
    assert architecture_for("Hereditary heart disease") == architecture_for("hereditary_heart")
    assert architecture_for("rare_disease_children").inheritance == "dominant"  # the first row
    rec = architecture_for("rare_disease_children", "rare monogenic disorder, recessive (generic default)")
    assert rec.inheritance == "recessive"
    with pytest.raises(VerdictParameterError, match=r"patient_group='martian'.*hereditary_heart"):
        architecture_for("martian")
    with pytest.raises(VerdictParameterError, match="disease='Marfan syndrome'"):
        architecture_for("hereditary_heart", "Marfan syndrome")


def test_overrides_replace_only_what_is_given() -> None:
    assert apply_overrides(HCM) is HCM
    new = apply_overrides(HCM, prevalence="1/1000", allelic="0.05", genetic=0.5, penetrance="1", ci=0.99)
    assert (new.prevalence, new.allelic_contribution, new.genetic_contribution) == (0.001, 0.05, 0.5)
    assert (new.penetrance, new.ci, new.inheritance, new.disease) == (1.0, 0.99, "dominant", HCM.disease)
    assert new.overridden == ("prevalence", "allelic", "genetic", "penetrance", "ci")
    assert new.max_credible_af == pytest.approx(0.001 * 0.05 * 0.5 / 2)
    again = apply_overrides(new, inheritance="Recessive", prevalence=0.002)
    assert again.inheritance == "recessive"
    assert again.overridden == ("prevalence", "allelic", "genetic", "penetrance", "ci", "inheritance")


@pytest.mark.parametrize(
    ("parameter", "value"),
    [
        ("prevalence", 0),
        ("prevalence", -0.1),
        ("prevalence", 1.5),
        ("prevalence", "abc"),
        ("prevalence", "1/0"),
        ("prevalence", "nan"),
        ("prevalence", "inf"),
        ("prevalence", True),
        ("allelic", 0),
        ("allelic", "2"),
        ("genetic", 0.0),
        ("genetic", 1.01),
        ("penetrance", 0),
        ("penetrance", "-1/2"),
        ("ci", 0.9),
        ("ci", "95"),
        ("ci", 1),
        ("inheritance", "x-linked"),
        ("inheritance", ""),
    ],
)
def test_bad_override_names_the_parameter_and_value(parameter: str, value: object) -> None:
    with pytest.raises(VerdictParameterError) as e:
        apply_overrides(HCM, **{parameter: value})  # type: ignore[arg-type]
    assert isinstance(e.value, ValueError)
    assert (e.value.parameter, e.value.value) == (parameter, value)
    assert str(e.value).startswith(f"{parameter}={value!r}: ")


@pytest.mark.parametrize(("parameter", "value"), [("prevalence", 1.0), ("allelic", "1"), ("ci", "0.95")])
def test_boundary_overrides_are_accepted(parameter: str, value: object) -> None:
    apply_overrides(HCM, **{parameter: value})  # type: ignore[arg-type]


def test_architecture_fields_are_checked_on_construction() -> None:
    with pytest.raises(VerdictParameterError, match="penetrance=0"):
        DiseaseArchitecture("hereditary_heart", "x", "dominant", 0.002, 0.02, 1, 0)


HEADER = "\t".join(ARCHITECTURE_COLUMNS) + "\n"


def write_table(tmp_path: Path, body: str, header: str = HEADER) -> Path:
    path = tmp_path / "architectures.tsv"
    path.write_text(header + body, encoding="utf-8")
    return path


def test_read_an_edited_table(tmp_path: Path) -> None:
    path = write_table(
        tmp_path,
        "# our lab's values\n"
        "\n"
        "hereditary_heart\tDilated cardiomyopathy\tdominant\t1/250\t0.01\t0.2\t0.5\t0.99\tour review, 2026\n",
    )
    [row] = read_disease_architectures(path)
    assert (row.disease, row.prevalence, row.ci, row.source) == (
        "Dilated cardiomyopathy",
        0.004,
        0.99,
        "our review, 2026",
    )
    assert architecture_for("hereditary_heart", architectures=(row,)) is row


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            "hereditary_heart\tHCM\tdominant\t1/500\t0.02\t1\t0.5\t0.95\ts\n"
            "hereditary_heart\tHCM\tdominant\t1/500\t0.02\t1\t0.5\t0.95\ts\n",
            "line 3: disease='HCM': listed twice",
        ),
        ("hereditary_heart\tHCM\tdominant\t1/500\t0.02\t1\t1.5\t0.95\ts\n", "line 2: penetrance='1.5'"),
        ("hereditary_heart\tHCM\tdominant\t1/500\t0.02\t1\t0.5\t0.9\ts\n", "line 2: ci='0.9'"),
        (
            "hereditary_heart\tHCM\tmitochondrial\t1/500\t0.02\t1\t0.5\t0.95\ts\n",
            "line 2: inheritance='mitochondrial'",
        ),
        ("heart\tHCM\tdominant\t1/500\t0.02\t1\t0.5\t0.95\ts\n", "line 2: patient_group='heart'"),
        ("hereditary_heart\tHCM\tdominant\t1/500\n", "line 2: row="),
    ],
)
def test_table_errors_name_line_column_and_value(tmp_path: Path, body: str, message: str) -> None:
    path = write_table(tmp_path, body)
    with pytest.raises(VerdictParameterError, match=message.replace("(", r"\(")) as e:
        read_disease_architectures(path)
    assert str(path) in str(e.value)


def test_table_header_is_checked(tmp_path: Path) -> None:
    path = write_table(tmp_path, "", header="patient_group\tdisease\tinheritance\tprevalance\n")
    with pytest.raises(
        VerdictParameterError,
        match=r"line 1: header=.*missing columns .*'prevalence'.*unknown columns \['prevalance'\]",
    ):
        read_disease_architectures(path)


def test_docs_describe_every_state_and_shipped_row() -> None:
    text = (Path(__file__).parent.parent / "docs" / "verdicts.md").read_text(encoding="utf-8")
    for state in STATES:
        assert f"| `{state}` |" in text, f"docs/verdicts.md does not describe state {state}"
    for a in read_disease_architectures():
        row = f"| {a.patient_group} |"
        assert row in text, f"docs/verdicts.md does not list {a.patient_group}"
        af = f"{a.max_credible_af:.1e}".replace("e-0", "e-")
        assert f"| {af} | {a.min_informative_an:,} |" in text, (
            f"docs/verdicts.md has stale numbers for {a.patient_group} ({a.disease})"
        )
