"""Reclassification alerts: POST /v1/diff, the /diff page and ``variantdb diff --variants`` (release/alerts.py)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from tests.api_helpers import assert_error
from tests.conftest_api import build_release
from variantdb.api.main import create_app
from variantdb.keys import KeyStore
from variantdb.loaders.cli import app as cli
from variantdb.release.alerts import ALERT_COLUMNS
from variantdb.settings import Settings

HCM = "Hypertrophic cardiomyopathy"
# r0001 -> r0003, HCM at 121,412 alleles: one allele meets PM2, three do not (docs/verdicts.md)
R1 = [
    ("chr1", 100, "A", "G", 1, 121_412),
    ("chr1", 200, "A", "G", 10, 1000),
    ("chr1", 300, "A", "G", 40, 400),
]
R2 = [("chr1", 100, "A", "G", 1, 121_412), ("chr1", 200, "A", "G", 10, 1000)]
R3 = [
    ("chr1", 100, "A", "G", 3, 121_412),
    ("chr1", 200, "A", "G", 15, 1000),
    ("chr1", 400, "A", "G", 40, 400),
]
IDS = ["chr1-100-A-G", "chr1-200-A-G", "chr1-300-A-G", "chr1-400-A-G", "chr1-500-A-G"]


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("alerts")
    for rid, rows in (("r0001", R1), ("r0002", R2), ("r0003", R3)):
        build_release(path, rid, rows)
    return path


@pytest.fixture(scope="module")
def client(db: Path) -> Iterator[TestClient]:
    with TestClient(create_app(db)) as c:
        yield c


def _by_id(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["query"]: r for r in body["data"]}


def test_since_compares_with_the_current(client: TestClient) -> None:
    r = client.post("/v1/diff", json={"variants": IDS, "since": "r0001", "disease": HCM})
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["from"], body["to"], body["count"]) == ("r0001", "r0003", 5)
    rows = _by_id(body)
    # 1 -> 3 alleles: AF x3 (> 2) and PM2 lost
    one = rows["chr1-100-A-G"]
    assert one["reasons"] == ["verdict", "af"] and (one["criteria_from"], one["criteria_to"]) == ("PM2", "")
    assert (one["af_from"], one["af_to"]) == (1 / 121_412, 3 / 121_412)
    # 10 -> 15 of 1000: x1.5, not beyond 2; both BS1
    assert rows["chr1-200-A-G"]["changed"] is False and rows["chr1-200-A-G"]["criteria_to"] == "BS1"
    # gone / new: state changes
    assert rows["chr1-300-A-G"]["state_from"] == "seen" and rows["chr1-300-A-G"]["state_to"] == "not_seen"
    assert rows["chr1-400-A-G"]["reasons"][0] == "state"
    assert rows["chr1-500-A-G"]["changed"] is False
    assert body["changed"] == 3


def test_from_to_and_the_af_factor(client: TestClient) -> None:
    body = client.post(
        "/v1/diff", json={"variants": IDS[:2], "from": "r0002", "to": "r0003", "af_factor": 1.4}
    ).json()
    rows = _by_id(body)
    assert rows["chr1-200-A-G"]["reasons"] == ["af"]  # x1.5 > 1.4
    assert rows["chr1-100-A-G"]["criteria_from"] is None  # no disease: no verdicts compared
    assert set(rows["chr1-200-A-G"]) == set(ALERT_COLUMNS)


@pytest.mark.parametrize(
    ("body", "status", "where"),
    [
        ({"variants": IDS}, 422, "from"),
        ({"variants": IDS, "since": "r0001", "from": "r0001"}, 422, "since"),
        ({"variants": IDS, "since": "r0001", "af_factor": 1}, 422, "af_factor"),
        ({"variants": IDS, "since": "r0009"}, 404, "r0009"),
        ({"variants": IDS, "since": "r0001", "penetrance": 2, "disease": HCM}, 422, "penetrance"),
        ({"variants": IDS, "since": "r0001", "penetrance": 0.5}, 422, "penetrance"),
        ({"variants": IDS, "since": "r0001", "patient_group": "astronauts"}, 400, "astronauts"),
        ({"variants": "chr1-100-A-G", "since": "r0001"}, 422, "variants"),
    ],
)
def test_bad_requests_name_the_field(
    client: TestClient, body: dict[str, Any], status: int, where: str
) -> None:
    err = assert_error(client.post("/v1/diff", json=body), status)
    assert where in err["message"] or where in str(err["details"]), err


def test_an_unparsable_id_is_an_inline_error(client: TestClient) -> None:
    body = client.post("/v1/diff", json={"variants": ["nonsense", IDS[0]], "since": "r0001"}).json()
    assert body["data"][0]["error"]["code"] == "invalid_variant" and body["data"][1]["query"] == IDS[0]


def test_budget_is_spent_per_id(db: Path) -> None:
    key = KeyStore(db).create("controlled", "lab")[0]
    settings = Settings(reload_interval=0.0, controlled_daily_queries=4)
    with TestClient(create_app(db, settings)) as c:
        h = {"Authorization": f"Bearer {key}"}
        assert c.post("/v1/diff", json={"variants": IDS[:3], "since": "r0001"}, headers=h).status_code == 200
        assert_error(c.post("/v1/diff", json={"variants": IDS[:3], "since": "r0001"}, headers=h), 429)


def test_too_many_ids_is_a_413(db: Path) -> None:
    with TestClient(create_app(db, Settings(max_batch_ids=2))) as c:
        assert_error(c.post("/v1/diff", json={"variants": IDS, "since": "r0001"}), 413, "too_many_ids")


def test_roles(db: Path) -> None:
    keys = {r: KeyStore(db).create(r, r)[0] for r in ("registered",)}
    with TestClient(create_app(db, anonymous_role="public")) as c:
        body = c.post("/v1/diff", json={"variants": IDS, "since": "r0001"}).json()
        assert body["granularity"] == "boolean"
        for r in body["data"]:
            assert set(r) == {"query", "variant_id", "state_from", "state_to", "changed", "reasons"}
            assert set(r["reasons"]) <= {"state"}
        assert_error(c.post("/v1/diff", json={"variants": IDS, "since": "r0001", "disease": HCM}), 403)
        h = {"Authorization": f"Bearer {keys['registered']}"}
        rows = _by_id(
            c.post("/v1/diff", json={"variants": IDS, "since": "r0001", "disease": HCM}, headers=h).json()
        )
        assert not {"ac_from", "an_from", "af_from", "ac_to", "af_to"} & set(rows["chr1-100-A-G"])
        # AC 1 and 3 are small: the AF and verdict reasons are withheld
        assert rows["chr1-100-A-G"]["withheld"] is True and rows["chr1-100-A-G"]["criteria_to"] is None
        assert rows["chr1-100-A-G"]["changed"] is False


def test_the_page_and_its_tsv(client: TestClient) -> None:
    assert "Which of my variants changed?" in client.get("/diff").text
    form = {"variants": "\n".join([*IDS, "nonsense"]), "from": "r0001", "to": "r0003", "disease": HCM}
    html = client.post("/diff", data=form).text
    assert "3 of 6 changed from r0001 to r0003" in html and "cannot parse" in html
    tsv = client.post("/diff", data={**form, "format": "tsv"})
    assert tsv.headers["content-type"].startswith("text/tab-separated-values")
    assert "variantdb-diff-r0001-r0003.tsv" in tsv.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(tsv.text), delimiter="\t"))
    assert [r["query"] for r in rows] == IDS and rows[0]["reasons"] == "verdict,af"
    assert rows[0]["from"] == "r0001" and rows[0]["criteria_from"] == "PM2"


def test_cli_variants_file(db: Path, tmp_path: Path) -> None:
    ids = tmp_path / "ids.txt"
    ids.write_text("# my lab's variants\n" + "\n".join(IDS) + "\nnonsense\n")
    r = CliRunner().invoke(
        cli, ["diff", "--db", str(db), "--variants", str(ids), "--since", "r0001", "--disease", HCM]
    )
    assert r.exit_code == 0, r.output
    lines = [ln for ln in r.stdout.splitlines() if ln]
    assert lines[0].split("\t") == ["from", "to", *ALERT_COLUMNS]
    rows = list(csv.DictReader(io.StringIO("\n".join(lines)), delimiter="\t"))
    assert [r["query"] for r in rows] == IDS
    assert rows[0]["reasons"] == "verdict,af" and rows[0]["to"] == "r0003"
    assert "line 7" in r.stderr and "3 of 5 variants changed" in r.stderr
    r = CliRunner().invoke(
        cli, ["diff", "--db", str(db), "r0002", "r0003", "--variants", str(ids), "--af-factor", "1.4"]
    )
    assert r.exit_code == 0, r.output
    two = next(row for row in csv.DictReader(io.StringIO(r.stdout), delimiter="\t") if row["query"] == IDS[1])
    assert two["reasons"] == "af"
    # the release diff without --variants is unchanged
    r = CliRunner().invoke(cli, ["diff", "--db", str(db), "r0001", "r0003"])
    assert r.exit_code == 0 and r.stdout.splitlines()[0].startswith("change\t")
    bad = CliRunner().invoke(
        cli, ["diff", "--db", str(db), "--variants", str(ids), "--since", "r0001", "--patient-group", "x"]
    )
    assert bad.exit_code != 0 and "--patient-group 'x'" in bad.output
