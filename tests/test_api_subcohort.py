"""``/v1/subcohort``: single, batch and region sub-cohort counts over HTTP, errors in the one shape."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.api_helpers import _release_rows, assert_error
from variantdb.api.routes.subcohort import SubcohortRegionPage, SubcohortResult


def _id(row: dict[str, Any]) -> str:
    return f"{row['chrom']}-{row['pos']}-{row['ref']}-{row['alt']}"


def test_the_default_filter_gives_the_headline_counts_of_every_variant(
    api_client: TestClient, api_db: Path
) -> None:
    rows = _release_rows(api_db)
    resp = api_client.post("/v1/subcohort/variants", json={"variants": [_id(r) for r in rows]})
    assert resp.status_code == 200, resp.text
    body = SubcohortResult.model_validate(resp.json()).model_dump()
    assert body["count"] == len(rows) and body["filter"] == {}
    for rec, row in zip(body["data"], rows, strict=True):
        for name in ("ac", "an", "af", "homozygote_count", "hemizygote_count", "n_carriers", "faf95"):
            assert rec[name] == row[name], (name, rec, row)
        assert rec["seen"] is True


def test_one_variant_with_a_stratum_filter_equals_the_stored_stratum(
    api_client: TestClient, api_db: Path
) -> None:
    row = max(_release_rows(api_db), key=lambda r: r["ac"])
    resp = api_client.get(f"/v1/subcohort/variants/{_id(row)}", params={"sex": "XX"})
    assert resp.status_code == 200, resp.text
    rec = resp.json()["data"][0]
    assert (rec["ac"], rec["an"], rec["homozygote_count"]) == (
        row["ac_sex_xx"],
        row["an_sex_xx"],
        row["homozygote_count_sex_xx"],
    )
    assert resp.json()["filter"] == {"sex": ["XX"]}
    # The same stratum by region code and by name, any case, repeated or comma-separated.
    region = next(k for k in row if k.startswith("ac_region_") and row[k])
    code = region.removeprefix("ac_region_")
    a = api_client.get(f"/v1/subcohort/variants/{_id(row)}", params={"region": code.upper()}).json()
    assert a["data"][0]["ac"] == row[region] and a["data"][0]["an"] == row["an_region_" + code]
    both = api_client.get(
        f"/v1/subcohort/variants/{_id(row)}", params=[("sex", "XX,XY"), ("role", "all"), ("raw", "true")]
    ).json()
    assert both["filter"] == {"sex": ["XX", "XY"], "role": ["all"], "raw": True}
    assert both["data"][0]["ac"] <= row["ac_raw"] + row["ac_all"]


def test_a_combination_narrows_the_counts(api_client: TestClient, api_db: Path) -> None:
    row = max(_release_rows(api_db), key=lambda r: r["ac"])
    every = api_client.get(f"/v1/subcohort/variants/{_id(row)}", params={"role": "all"}).json()
    narrow = api_client.get(
        f"/v1/subcohort/variants/{_id(row)}",
        params={"role": "all", "sex": "XY", "received_from": "2026-01-01", "received_to": "2026-06-30"},
    ).json()
    assert 0 < narrow["n_samples"] < every["n_samples"]
    assert narrow["data"][0]["an"] < every["data"][0]["an"]
    assert narrow["data"][0]["ac"] <= every["data"][0]["ac"]


def test_a_variant_not_in_the_release_has_ac_zero_and_its_an(api_client: TestClient, api_db: Path) -> None:
    row = _release_rows(api_db)[0]
    other = "A" if row["alt"] != "A" and row["ref"] != "A" else "C"
    vid = f"{row['chrom']}-{row['pos']}-{row['ref'][0]}-{other}"
    plain = api_client.get(f"/v1/variants/{vid}").json()
    rec = api_client.get(f"/v1/subcohort/variants/{vid}").json()["data"][0]
    assert rec["seen"] is plain["seen"] is False
    assert rec["ac"] == 0 and rec["an"] == plain["an"]


def test_a_region_pages_through_the_same_counts(api_client: TestClient, api_db: Path) -> None:
    rows = [r for r in _release_rows(api_db) if r["chrom"] == "chr1"]
    region = f"chr1:{rows[0]['pos']}-{rows[-1]['pos']}"
    got: list[dict[str, Any]] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 37, "patient_group": "Hereditary cancer"}
        if cursor:
            params["cursor"] = cursor
        resp = api_client.get(f"/v1/subcohort/regions/{region}", params=params)
        assert resp.status_code == 200, resp.text
        page = SubcohortRegionPage.model_validate(resp.json())
        got += [d.model_dump() for d in page.data]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert [g["pos"] for g in got] == [r["pos"] for r in rows]
    code = "hereditary_cancer"
    for g, r in zip(got, rows, strict=True):
        assert (g["ac"], g["an"]) == (r[f"ac_group_{code}"], r[f"an_group_{code}"]), r


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"region": "Atlantis"}, "region"),
        ({"sex": "female"}, "sex"),
        ({"technology": "nanopore"}, "technology"),
        ({"role": "proband"}, "role"),
        ({"received_from": "yesterday"}, "received_from"),
        ({"patient_group": "nope", "sex": "XX"}, "patient_group"),
    ],
)
def test_unknown_filter_values_are_400_in_the_one_shape(
    api_client: TestClient, api_db: Path, params: dict[str, str], field: str
) -> None:
    row = _release_rows(api_db)[0]
    err = assert_error(
        api_client.get(f"/v1/subcohort/variants/{_id(row)}", params=params), 400, "invalid_filter"
    )
    assert err["details"][0]["location"] == f"query.{field}"
    assert params[field].split(",")[0] in err["message"]
    err = assert_error(
        api_client.post("/v1/subcohort/variants", json={"variants": [_id(row)], "filter": params}),
        400,
        "invalid_filter",
    )
    assert err["details"][0]["location"] == f"body.filter.{field}"


def test_other_errors_keep_the_shape(api_client: TestClient) -> None:
    assert_error(api_client.get("/v1/subcohort/variants/chr1-xyz"), 400, "invalid_variant")
    assert_error(api_client.get("/v1/subcohort/regions/chr1:10-5"), 400, "invalid_region")
    assert_error(
        api_client.get("/v1/subcohort/regions/chr1:1-100", params={"limit": 0}), 400, "invalid_limit"
    )
    assert_error(
        api_client.get("/v1/subcohort/regions/chr1:1-100", params={"cursor": "!!"}), 400, "invalid_cursor"
    )
    assert_error(api_client.post("/v1/subcohort/variants", json={"variants": ["1-1-A-C"], "oops": 1}), 422)
    assert_error(api_client.get("/v1/subcohort/variants/1-100-A-C", params={"release": "r9999"}), 404)
    body = api_client.post("/v1/subcohort/variants", json={"variants": ["nonsense", "chr1-100-A-C"]}).json()
    assert body["data"][0]["error"]["code"] == "invalid_variant" and "ac" in body["data"][1]


def test_only_roles_that_may_see_strata_get_subcohorts(
    api_client: TestClient, api_db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import variantdb.api.routes.subcohort as route

    row = _release_rows(api_db)[0]
    monkeypatch.setattr(route, "caller_role", lambda request: "registered")
    assert_error(api_client.get(f"/v1/subcohort/variants/{_id(row)}"), 403, "forbidden")
    assert_error(api_client.post("/v1/subcohort/variants", json={"variants": [_id(row)]}), 403, "forbidden")
    assert_error(api_client.get("/v1/subcohort/regions/chr1:1-100000"), 403, "forbidden")
    monkeypatch.setattr(route, "caller_role", lambda request: "controlled")
    assert api_client.get(f"/v1/subcohort/variants/{_id(row)}").status_code == 200


def test_openapi_documents_the_subcohort_routes_and_filters(api_client: TestClient) -> None:
    spec = api_client.get("/openapi.json").json()
    for path in (
        "/v1/subcohort/variants/{variant_id}",
        "/v1/subcohort/variants",
        "/v1/subcohort/regions/{locus}",
    ):
        assert path in spec["paths"], path
    params = {p["name"] for p in spec["paths"]["/v1/subcohort/variants/{variant_id}"]["get"]["parameters"]}
    assert {"sex", "region", "patient_group", "exclude_patient_group", "technology", "role"} <= params
    assert {"received_from", "received_to", "raw", "release"} <= params
    counts = spec["components"]["schemas"]["SubcohortVariant"]["properties"]
    assert counts["n_carrier_families"]["description"]


def test_a_release_with_structures_of_an_older_version_is_a_404_not_a_500(
    api_db: Path, tmp_path: Path
) -> None:
    """A database published before the per-batch segments (version 1) answers 404 asking for a new release."""
    import json
    import shutil

    from variantdb.api.main import create_app
    from variantdb.release.files import read_current
    from variantdb.settings import get_settings
    from variantdb.store.layout import release_path

    db = tmp_path / "db"
    shutil.copytree(api_db, db)
    meta_path = release_path(db, read_current(db) or "") / "subcohort" / "subcohort.json"
    meta_path.write_text(json.dumps({**json.loads(meta_path.read_text()), "version": 1}))
    row = _release_rows(api_db)[0]
    with TestClient(create_app(db, get_settings(), anonymous_role="controlled")) as c:
        err = assert_error(c.get(f"/v1/subcohort/variants/{_id(row)}"), 404, "subcohort_unavailable")
        assert "version 1" in err["message"]
        assert c.get(f"/v1/variants/{_id(row)}").status_code == 200


def test_the_one_get_handler_answers_unusual_requests(api_db: Path, tmp_path: Path) -> None:
    """``GET /v1/subcohort/variants/{id}``: every parameter read by the one handler, every problem named."""
    import shutil
    from urllib.parse import quote

    from variantdb.api.main import create_app
    from variantdb.settings import get_settings

    # A fresh database: the session's has spent the budgets of keyless callers.
    db = tmp_path / "db"
    shutil.copytree(api_db, db)
    (db / "access" / "limits.bin").unlink(missing_ok=True)  # the budgets spent by earlier tests
    row = _release_rows(db)[0]
    good = _id(row)
    # (request, status, code or the filter understood, locations of the problems)
    cases: list[tuple[str, int, Any, list[str]]] = [
        (good, 200, {}, []),
        (good + "?sex=XX&sex=XY&role=all", 200, {"sex": ["XX", "XY"], "role": ["all"]}, []),
        (good + "?sex=XX,XY", 200, {"sex": ["XX", "XY"]}, []),
        (good + "?raw=1&raw=0", 200, {}, []),
        (good + "?raw=YES", 200, {"raw": True}, []),
        (
            good + "?received_from=2025-01-01&received_from=2025-02-01",
            200,
            {"received_from": "2025-02-01"},
            [],
        ),
        (good + "?unknown=3&sex=", 200, {}, []),
        (
            quote(f"{row['chrom']}:{row['pos']} {row['ref']}>{row['alt']}") + "?sex=XX",
            200,
            {"sex": ["XX"]},
            [],
        ),
        ("1-5-A-G?sex=XY", 200, {"sex": ["XY"]}, []),
        (good + "?release=r0404", 404, "release_not_found", []),
        (good + "?region=Atlantis", 400, "invalid_filter", ["query.region"]),
        (
            good + "?received_to=2025-01-01&received_from=2026-01-01",
            400,
            "invalid_filter",
            ["query.received_to"],
        ),
        ("nonsense?sex=XX", 400, "invalid_variant", []),
        (good + "?raw=maybe", 422, "invalid_request", ["query.raw"]),
        (good + "?release=" + "r" * 70, 422, "invalid_request", ["query.release"]),
        (good + "?received_from=" + "2" * 50, 422, "invalid_request", ["query.received_from"]),
        ("1" * 10_001 + "?raw=maybe", 422, "invalid_request", ["path.variant_id", "query.raw"]),
    ]
    with TestClient(create_app(db, get_settings(), anonymous_role="controlled")) as c:
        for url, status, expected, where in cases:
            resp = c.get("/v1/subcohort/variants/" + url)
            if status == 200:
                assert resp.status_code == 200, (url, resp.text)
                body = SubcohortResult.model_validate(resp.json()).model_dump()
                assert body["filter"] == expected and body["count"] == 1, url
            else:
                err = assert_error(resp, status, expected)
                assert [d["location"] for d in err["details"] or []] == where, url
        metrics = c.get("/metrics").text
    # Every one of them is counted under the route's template.
    assert 'route="/v1/subcohort/variants/{variant_id}",status="422"' in metrics
    assert "unmatched" not in metrics
    # A caller who may not see sub-cohorts: a 403, after the parameters are checked.
    with TestClient(create_app(db, get_settings(), anonymous_role="public")) as c:
        assert_error(c.get(f"/v1/subcohort/variants/{good}?sex=XX"), 403, "forbidden")
        assert_error(c.get(f"/v1/subcohort/variants/{good}?raw=maybe"), 422, "invalid_request")
