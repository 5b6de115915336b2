"""Frequency verdicts on the variant routes (api/verdicts.py): the paper's example, the formulas, the roles."""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from scipy.stats import poisson

from tests.api_helpers import assert_error
from tests.conftest_api import build_release
from variantdb.api.main import create_app
from variantdb.api.models import VariantPublic
from variantdb.keys import KeyStore
from variantdb.schema import strata

# HCM at ExAC's 121,412 alleles (Whiffin et al. 2017): one allele meets PM2, two do not (docs/verdicts.md).
ONE = ("chr1", 100, "A", "G", 1, 121_412)
TWO = ("chr1", 200, "A", "G", 2, 121_412)
COMMON = ("chr1", 300, "A", "G", 40, 400)
SMALL = ("chr1", 400, "A", "G", 3, 121_412)
HCM = {"disease": "Hypertrophic cardiomyopathy"}


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("verdicts")
    build_release(path, "r0001", [ONE, TWO, COMMON, SMALL])
    return path


@pytest.fixture(scope="module")
def client(db: Path) -> Iterator[TestClient]:
    with TestClient(create_app(db)) as c:
        yield c


def _vid(row: tuple[str, int, str, str, int, int]) -> str:
    return f"{row[0]}-{row[1]}-{row[2]}-{row[3]}"


def _one_verdict(
    client: TestClient, row: tuple[str, int, str, str, int, int], **params: str
) -> dict[str, Any]:
    r = client.get(f"/v1/variants/{_vid(row)}", params=params)
    assert r.status_code == 200, r.text
    rec = r.json()
    VariantPublic.model_validate(rec)
    assert len(rec["verdicts"]) == 1
    verdict: dict[str, Any] = rec["verdicts"][0]
    return verdict


def test_hcm_worked_example_through_the_route(client: TestClient) -> None:
    v = _one_verdict(client, ONE, **HCM)
    assert v["architecture"]["disease"] == "Hypertrophic cardiomyopathy"
    assert v["max_credible_af"] == pytest.approx(4.0e-5, rel=1e-12)
    assert (v["ac"], v["an"], v["max_tolerated_ac"]) == (1, 121_412, 9)
    assert (v["state"], v["criteria"]) == ("pm2", ["PM2"])
    assert v["min_informative_an"] == 74_894
    two = _one_verdict(client, TWO, **HCM)
    assert (two["state"], two["criteria"]) == ("indeterminate", [])
    common = _one_verdict(client, COMMON, **HCM)
    assert "BS1" in common["criteria"] and common["state"] in ("bs1", "ba1")


def test_the_region_maximum_is_the_records(client: TestClient) -> None:
    rec = client.get(f"/v1/variants/{_vid(COMMON)}", params={"verdicts": "true"}).json()
    assert rec["verdict_population"] == "adj founders (all patient groups)"
    assert len(rec["verdicts"]) == len({v["architecture"]["patient_group"] for v in rec["verdicts"]}) >= 10
    for v in rec["verdicts"]:
        assert (v["ac"], v["an"], v["faf95_max_region"]) == (rec["ac"], rec["an"], rec["faf95_max_region"])


def test_patient_group_counts_outside_the_group(client: TestClient) -> None:
    rec = client.get(f"/v1/variants/{_vid(COMMON)}").json()
    key = "group_hereditary_heart"
    g = next(s for s in rec["strata"] if s["id"] == key)
    v = _one_verdict(client, COMMON, patient_group="Hereditary heart disease")
    assert (v["ac"], v["an"]) == (rec["ac"] - g["ac"], rec["an"] - g["an"])
    assert v["architecture"]["patient_group"] == "hereditary_heart"
    # a lower bound of the regions' faf95 outside the group: never above the stored maximum
    assert v["faf95_max_region"] <= rec["faf95_max_region"]
    excluded = client.get(f"/v1/variants/{_vid(COMMON)}", params={"exclude_group": "hereditary_heart"}).json()
    assert (v["ac"], v["an"]) == (excluded["ac"], excluded["an"])


@pytest.mark.parametrize(
    ("inheritance", "prevalence", "allelic", "genetic", "penetrance", "ci"),
    list(
        itertools.product(
            ("dominant", "recessive"),
            ("1/500", "0.0001"),
            ("0.02", "1"),
            ("0.5", "1"),
            ("0.1", "1"),
            ("0.95", "0.99"),
        )
    )[::3],
)
def test_overrides_follow_the_formulas(
    client: TestClient,
    inheritance: str,
    prevalence: str,
    allelic: str,
    genetic: str,
    penetrance: str,
    ci: str,
) -> None:
    params = {
        "patient_group": "hereditary_heart",
        "inheritance": inheritance,
        "prevalence": prevalence,
        "allelic": allelic,
        "genetic": genetic,
        "penetrance": penetrance,
        "ci": ci,
    }
    v = _one_verdict(client, TWO, **params)
    p = eval(prevalence) if "/" in prevalence else float(prevalence)
    a, g, pen = float(allelic), float(genetic), float(penetrance)
    if inheritance == "dominant":
        expected = p * a * g / (2 * pen)
    else:
        expected = math.sqrt(p) * a * math.sqrt(g) / math.sqrt(pen)
    expected = min(expected, 1.0) if expected <= 1 else expected
    assert v["max_credible_af"] == pytest.approx(expected, rel=1e-12)
    mean = v["an"] * v["max_credible_af"]
    assert v["max_tolerated_ac"] == int(poisson.ppf(float(ci), mean))
    assert v["architecture"]["overridden"] == [
        "inheritance",
        "prevalence",
        "allelic",
        "genetic",
        "penetrance",
        "ci",
    ]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("penetrance", "1.5"),
        ("ci", "0.9"),
        ("inheritance", "x-linked"),
        ("prevalence", "1/0"),
        ("disease", "scurvy"),
    ],
)
def test_a_bad_parameter_is_a_422_naming_it(client: TestClient, name: str, value: str) -> None:
    for r in (
        client.get(f"/v1/variants/{_vid(ONE)}", params={name: value}),
        client.post("/v1/variants", params={name: value}, json={"variants": [_vid(ONE)]}),
    ):
        err = assert_error(r, 422, "invalid_request")
        assert name in err["message"] and value in err["message"]


def test_an_unknown_patient_group_is_a_400(client: TestClient) -> None:
    err = assert_error(client.get(f"/v1/variants/{_vid(ONE)}", params={"patient_group": "astronauts"}), 400)
    assert "astronauts" in err["message"] and "hereditary_heart" in err["message"]


def test_batch_matches_single(client: TestClient) -> None:
    ids = [_vid(ONE), _vid(COMMON), "chr1-999-A-G", "not-an-id"]
    body = client.post(
        "/v1/variants", params={"patient_group": "hereditary_heart"}, json={"variants": ids}
    ).json()
    for text, rec in zip(ids[:3], body["data"], strict=False):
        single = client.get(f"/v1/variants/{text}", params={"patient_group": "hereditary_heart"}).json()
        assert rec["verdicts"] == single["verdicts"]
    assert "verdicts" not in body["data"][3]
    absent = body["data"][2]["verdicts"][0]
    assert absent["ac"] == 0 and absent["faf95_max_region"] == 0.0


def test_no_verdicts_unless_asked(client: TestClient) -> None:
    rec = client.get(f"/v1/variants/{_vid(ONE)}").json()
    assert "verdicts" not in rec
    assert "verdicts" not in client.get(f"/v1/variants/{_vid(ONE)}", params={"verdicts": "false"}).json()


def test_roles(db: Path) -> None:
    keys = {role: KeyStore(db).create(role, role)[0] for role in ("registered", "controlled")}
    with TestClient(create_app(db, anonymous_role="public")) as c:
        # public: seen / not seen only, no verdicts
        rec = c.get(f"/v1/variants/{_vid(COMMON)}", params=HCM).json()
        assert rec["granularity"] == "boolean" and "verdicts" not in rec
        reg = {"Authorization": f"Bearer {keys['registered']}"}
        rec = c.get(
            f"/v1/variants/{_vid(COMMON)}", params={**HCM, "patient_group": "hereditary_heart"}, headers=reg
        ).json()
        VariantPublic.model_validate(rec)
        i = next(k for k, s in enumerate(strata()) if s.key == "group_hereditary_heart")
        g_ac = (40 + i + 2) % 3  # conftest_api.full_row, seed 2
        v = rec["verdicts"][0]
        assert not {"ac", "an", "af_upper", "faf95_max_region"} & v.keys()
        if 0 < g_ac < 5:
            assert (v["state"], v["criteria"]) == ("withheld", None)
        # a small headline AC: withheld whatever the group
        small = c.get(f"/v1/variants/{_vid(SMALL)}", params=HCM, headers=reg).json()
        assert small["ac"] == "<5" and small["verdicts"][0]["state"] == "withheld"
        # AC 40, no group, regions' AC: the verdict is shown to a registered caller unless a region's AC is small
        common = c.get(f"/v1/variants/{_vid(COMMON)}", params=HCM, headers=reg).json()["verdicts"][0]
        assert common["state"] in ("withheld", "bs1", "ba1")
        ctl = {"Authorization": f"Bearer {keys['controlled']}"}
        full = c.get(f"/v1/variants/{_vid(SMALL)}", params=HCM, headers=ctl).json()["verdicts"][0]
        assert full["ac"] == 3 and full["state"] != "withheld"


def test_single_and_batch_give_the_same_verdicts(client: TestClient) -> None:
    for q in ("?verdicts=true", "?patient_group=hereditary_heart&ci=0.99"):
        one = client.get(f"/v1/variants/{_vid(ONE)}{q}")
        batch = client.post(f"/v1/variants{q}", json={"variants": [_vid(ONE)]})
        assert one.status_code == batch.status_code == 200, q
        assert one.json()["verdicts"] == batch.json()["data"][0]["verdicts"], q
    bad = client.get(f"/v1/variants/{_vid(ONE)}?penetrance=2")
    assert bad.status_code == 422 and "penetrance" in bad.text


def test_variant_page_shows_verdicts(client: TestClient, db: Path) -> None:
    html = client.get(f"/variant/{_vid(ONE)}?patient_group=hereditary_heart").text
    assert "Frequency verdicts" in html and "Hypertrophic cardiomyopathy" in html
    assert "outside patient group Hereditary heart disease" in html
    assert '<option value="hereditary_heart" selected>' in html
    plain = client.get(f"/variant/{_vid(ONE)}").text
    assert "Cystic fibrosis" in plain and "adj founders (all patient groups)" in plain
    bad = client.get(f"/variant/{_vid(ONE)}?penetrance=7")
    assert bad.status_code == 422 and "penetrance" in bad.text
    with TestClient(create_app(db, anonymous_role="public")) as c:
        assert "Frequency verdicts" not in c.get(f"/variant/{_vid(ONE)}").text
