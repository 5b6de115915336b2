"""GA4GH VA-Spec CohortAlleleFrequencyStudyResult of a variant (api/va.py), validated with the VA-Spec models."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from ga4gh.va_spec.base.core import CohortAlleleFrequencyStudyResult

from tests.api_helpers import assert_error
from tests.conftest_api import build_release
from variantdb.api.main import create_app
from variantdb.keys import KeyStore
from variantdb.schema import strata

ROWS = [("chr17", 43045712, "A", "G", 40, 400), ("chr17", 43045800, "AT", "A", 3, 400)]


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("va")
    build_release(path, "r0001", ROWS)
    return path


@pytest.fixture(scope="module")
def client(db: Path) -> Iterator[TestClient]:
    with TestClient(create_app(db)) as c:
        yield c


@pytest.mark.parametrize(
    ("query", "headers"),
    [
        ("?format=va", {}),
        ("", {"Accept": "application/ld+json"}),
        ("", {"Accept": "application/vnd.ga4gh.va+json; q=1, application/json; q=0.5"}),
    ],
)
def test_va_validates_and_matches_the_record(client: TestClient, query: str, headers: dict[str, str]) -> None:
    r = client.get(f"/v1/variants/17-43045712-A-G{query}", headers=headers)
    assert r.status_code == 200, r.text
    body = r.json()
    CohortAlleleFrequencyStudyResult.model_validate(body)
    rec = client.get("/v1/variants/17-43045712-A-G").json()
    assert (body["focusAlleleCount"], body["locusAlleleCount"]) == (rec["ac"], rec["an"]) == (40, 400)
    assert body["focusAlleleFrequency"] == rec["af"]
    loc = body["focusAllele"]["location"]
    assert (loc["sequenceReference"], loc["start"], loc["end"]) == ("refseq:NC_000017.11", 43045711, 43045712)
    assert body["focusAllele"]["state"]["sequence"] == "G"
    assert body["sourceDataSet"]["version"] == "r0001"
    assert body["ancillaryResults"]["faf95"] == rec["faf95"]
    subs = body["subCohortFrequency"]
    assert len(subs) == len(strata()) == len(rec["strata"])
    for sub, s in zip(subs, rec["strata"], strict=True):
        assert (sub["cohort"]["id"], sub["focusAlleleCount"], sub["locusAlleleCount"]) == (
            s["id"],
            s["ac"],
            s["an"],
        )
        assert sub["focusAllele"] == "#/focusAllele"


def test_an_indel_is_the_spdi_interval(client: TestClient) -> None:
    body = client.get("/v1/variants/17-43045800-AT-A?format=va").json()
    CohortAlleleFrequencyStudyResult.model_validate(body)
    loc = body["focusAllele"]["location"]
    # VCF 43045800 AT>A: the T at 1-based 43045801 deleted, interbase [43045800, 43045801), nothing inserted
    assert (loc["start"], loc["end"], body["focusAllele"]["state"]["sequence"]) == (43045800, 43045801, "")
    assert body["focusAllele"]["expressions"][0] == {"syntax": "spdi", "value": "NC_000017.11:43045800:T:"}


def test_plain_json_stays_the_default(client: TestClient) -> None:
    assert "variant_id" in client.get("/v1/variants/17-43045712-A-G?format=json").json()
    assert (
        "variant_id"
        in client.get("/v1/variants/17-43045712-A-G", headers={"Accept": "application/json"}).json()
    )
    err = assert_error(client.get("/v1/variants/17-43045712-A-G?format=xml"), 422, "invalid_request")
    assert "format='xml'" in err["message"]


def test_roles(db: Path) -> None:
    key = KeyStore(db).create("registered", "lab")[0]
    with TestClient(create_app(db, anonymous_role="public")) as c:
        assert_error(c.get("/v1/variants/17-43045712-A-G?format=va"), 403, "forbidden")
        h = {"Authorization": f"Bearer {key}"}
        body = c.get("/v1/variants/17-43045712-A-G?format=va", headers=h).json()
        CohortAlleleFrequencyStudyResult.model_validate(body)
        assert body["focusAlleleCount"] == 40 and "subCohortFrequency" not in body
        assert "faf95_max_region" not in body["ancillaryResults"]
        # AC 3: imprecise for a registered key, so no exact VA form
        assert_error(c.get("/v1/variants/17-43045800-AT-A?format=va", headers=h), 403, "forbidden")


def test_format_parameter_and_accept_header_agree(db: Path) -> None:
    with TestClient(create_app(db)) as client:
        by_param = client.get("/v1/variants/17-43045712-A-G?format=va")
        by_accept = client.get("/v1/variants/17-43045712-A-G", headers={"Accept": "application/ld+json"})
        assert by_param.status_code == by_accept.status_code == 200
        assert by_param.json() == by_accept.json()
        bad = client.get("/v1/variants/17-43045712-A-G?format=bad")
        assert 400 <= bad.status_code < 500 and set(bad.json()) == {"error"}
