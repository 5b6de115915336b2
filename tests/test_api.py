"""The HTTP service, through an in-process client on a database built by the real loader."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np
import pysam
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given
from hypothesis import seed as hyp_seed
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st

from tests.api_helpers import _release_rows, assert_error
from tests.conftest_api import build_release
from variantdb.api.main import create_app
from variantdb.api.models import GroupCounts, RegionPage, StratumCounts, VariantPublic
from variantdb.frequency import faf_column
from variantdb.release.files import set_current
from variantdb.schema import COUNT_FIELDS, QUALITY_FIELDS, REGION_MAX_FIELDS, STRATUM_FIELDS, strata
from variantdb.settings import Settings
from variantdb.variant import Reference, Variant, format_variant_id, normalize, to_spdi


def _check_record(rec: dict[str, Any], row: dict[str, Any]) -> None:
    """The API record carries exactly the counts the loader wrote."""
    VariantPublic.model_validate(rec)
    assert (rec["chrom"], rec["pos"], rec["ref"], rec["alt"]) == (
        row["chrom"],
        row["pos"],
        row["ref"],
        row["alt"],
    )
    for name in COUNT_FIELDS:
        assert rec[name] == row[name], name
        assert rec["raw"][name] == row[f"{name}_raw"]
        assert rec["all"][name] == row[f"{name}_all"]
    for name in [*REGION_MAX_FIELDS, *QUALITY_FIELDS]:
        assert rec[name] == row[name], name
    by_id = {s["id"]: s for s in rec["strata"]}
    for s in strata():
        for name in STRATUM_FIELDS:
            assert by_id[s.key][name] == row[f"{name}_{s.key}"], (s.key, name)


# --- models against the schema ------------------------------------------------


def test_models_match_the_schema() -> None:
    assert list(GroupCounts.model_fields) == list(COUNT_FIELDS)
    for name, (_, doc) in COUNT_FIELDS.items():
        assert GroupCounts.model_fields[name].description == doc
    assert [f for f in StratumCounts.model_fields if f not in ("id", "kind", "value")] == list(STRATUM_FIELDS)
    assert set(COUNT_FIELDS) <= set(VariantPublic.model_fields)


def test_openapi_documents_every_route(api_client: TestClient) -> None:
    spec = api_client.get("/openapi.json").json()
    paths = set(spec["paths"])
    for p in (
        "/v1/variants/{variant_id}",
        "/v1/variants",
        "/v1/regions/{region}",
        "/v1/genes/{symbol}",
        "/v1/releases",
        "/v1/stats",
        "/health",
        "/metrics",
    ):
        assert p in paths, p
    for path, ops in spec["paths"].items():
        for op in ops.values():
            assert op.get("description") or op.get("summary"), path


# --- every variant found, exactly ------------------------------------------------


def test_every_loaded_variant_is_found_with_the_loaders_counts(api_client: TestClient, api_db: Path) -> None:
    rows = _release_rows(api_db)
    assert len(rows) > 300
    ids = [f"{r['chrom']}-{r['pos']}-{r['ref']}-{r['alt']}" for r in rows]
    resp = api_client.post("/v1/variants", json={"variants": ids})
    assert resp.status_code == 200
    body = resp.json()
    assert body["count"] == len(rows)
    for rec, row, text in zip(body["data"], rows, ids, strict=True):
        assert rec["seen"] is True and rec["query"] == text
        _check_record(rec, row)
    # and the single-variant endpoint agrees for a sample of them
    for row in rows[::37]:
        rec = api_client.get(
            f"/v1/variants/{format_variant_id(Variant(row['chrom'], row['pos'], row['ref'], row['alt']))}"
        ).json()
        _check_record(rec, row)


def test_random_absent_variants_are_not_seen(api_client: TestClient, api_db: Path) -> None:
    import random

    rows = _release_rows(api_db)
    present = {(r["chrom"], r["pos"], r["ref"], r["alt"]) for r in rows}
    rng = random.Random(3)
    probes = []
    for r in rng.sample(rows, 50):
        for alt in "ACGT":
            if alt != r["ref"][0] and (r["chrom"], r["pos"], r["ref"][0], alt) not in present:
                probes.append(f"{r['chrom']}-{r['pos']}-{r['ref'][0]}-{alt}")
    resp = api_client.post("/v1/variants", json={"variants": probes})
    for rec in resp.json()["data"]:
        VariantPublic.model_validate(rec)
        assert rec["seen"] is False and rec["ac"] == 0
        assert rec["coverage"] == ("called" if rec["an"] else "no_data")


def test_absent_variant_reports_an_at_its_position(api_client: TestClient, api_db: Path) -> None:
    row = _release_rows(api_db)[0]
    alt = next(b for b in "ACGT" if b != row["ref"][0])
    rec = api_client.get(f"/v1/variants/{row['chrom']}-{row['pos']}-{row['ref'][0]}-{alt}").json()
    assert rec["seen"] is False
    assert rec["an"] > 0 and rec["af"] == 0.0 and "absent among" in rec["message"]


def test_no_data_is_told_apart_from_absent(tmp_path: Path) -> None:
    build_release(tmp_path, "r0001", [("chr1", 100, "A", "G", 3, 200)], gaps={"chr1": (1000, 2000)})
    with TestClient(create_app(tmp_path)) as client:
        absent = client.get("/v1/variants/chr1-999-A-G").json()
        assert absent["seen"] is False and absent["an"] == 200 and absent["af"] == 0.0
        assert absent["coverage"] == "called" and absent["message"] == "absent among 200 called alleles"
        assert all(s["an"] > 0 and s["ac"] == 0 for s in absent["strata"])
        gap = client.get("/v1/variants/chr1-1500-A-G").json()
        assert gap["seen"] is False and gap["an"] == 0 and gap["af"] is None
        assert gap["coverage"] == "no_data" and gap["message"].startswith("no data")
        unloaded = client.get("/v1/variants/chr5-1500-A-G").json()
        assert unloaded["coverage"] == "no_data" and unloaded["raw"]["an"] == 0
        VariantPublic.model_validate(unloaded)


# --- id forms -------------------------------------------------------------------


@pytest.fixture(scope="module")
def snv(api_db: Path) -> dict[str, Any]:
    return next(
        r for r in _release_rows(api_db) if len(r["ref"]) == len(r["alt"]) == 1 and r["chrom"] == "chr1"
    )


def _forms(r: dict[str, Any]) -> list[str]:
    c, p, ref, alt = r["chrom"], r["pos"], r["ref"], r["alt"]
    short = c.removeprefix("chr")
    return [
        f"{short}-{p}-{ref}-{alt}",
        f"{c}-{p}-{ref}-{alt}",
        f"{c}:{p}:{ref}:{alt}",
        f"{c}:{p} {ref}>{alt}",
        f"{c}_{p}_{ref.lower()}_{alt.lower()}",
        to_spdi(Variant(c, p, ref, alt)),
    ]


def test_every_id_form_finds_the_variant(api_client: TestClient, snv: dict[str, Any]) -> None:
    expected = format_variant_id(Variant(snv["chrom"], snv["pos"], snv["ref"], snv["alt"]))
    for form in _forms(snv):
        rec = api_client.get("/v1/variants/" + quote(form, safe="")).json()
        assert rec["variant_id"] == expected, form
        assert rec["seen"] is True and rec["query"] == form


def test_spdi_insertion_with_empty_ref_needs_and_uses_the_reference(
    api_client: TestClient, api_db: Path
) -> None:
    ins = next(r for r in _release_rows(api_db) if len(r["ref"]) == 1 and len(r["alt"]) > 1)
    spdi = to_spdi(Variant(ins["chrom"], ins["pos"], ins["ref"], ins["alt"]))
    assert ":" + ":" in spdi  # empty deleted sequence
    rec = api_client.get("/v1/variants/" + quote(spdi, safe="")).json()
    assert rec["seen"] is True and (rec["pos"], rec["ref"], rec["alt"]) == (
        ins["pos"],
        ins["ref"],
        ins["alt"],
    )


def _right_shifted(api_cohort: Path) -> list[tuple[str, Variant]]:
    """Raw VCF indels of the cohort whose left-aligned form differs from what was written."""
    ref = Reference(api_cohort / "ref.fa")
    out = []
    with pysam.VariantFile(str(api_cohort / "vcf" / "cohort.vcf.gz")) as vf:
        for rec in vf:
            for alt in rec.alts or ():
                raw = normalize(rec.chrom, rec.pos, rec.ref, alt)
                norm = normalize(rec.chrom, rec.pos, rec.ref, alt, ref)
                if raw.pos != norm.pos:
                    out.append((f"{rec.chrom}-{rec.pos}-{rec.ref}-{alt}", norm))
    return out


def test_right_shifted_indels_are_left_aligned_like_the_loader(
    api_client: TestClient, api_cohort: Path
) -> None:
    cases = _right_shifted(api_cohort)
    assert len(cases) >= 5
    seen = 0
    for text, norm in cases:
        rec = api_client.get("/v1/variants/" + quote(text, safe="")).json()
        assert rec["variant_id"] == format_variant_id(norm), text
        assert rec["pos"] < int(text.split("-")[1])
        assert "left-aligned" in rec["normalization"]
        seen += rec["seen"]
    # Some alleles of the cohort are carried by nobody who passes; most are seen.
    assert seen >= len(cases) // 2


def test_ref_mismatch_is_a_400(api_client: TestClient, snv: dict[str, Any]) -> None:
    wrong = next(b for b in "ACGT" if b not in (snv["ref"], snv["alt"]))
    err = assert_error(
        api_client.get(f"/v1/variants/{snv['chrom']}-{snv['pos']}-{wrong}-{snv['alt']}"),
        400,
        "invalid_variant",
    )
    assert "does not match the reference" in err["message"]


@pytest.mark.parametrize(
    "bad",
    [
        "foo",
        "chr1-0-A-G",
        "chrUn-5-A-G",
        "chr1-5-A-A",
        "chr1-5-A-Z",
        "chr1-999999999-A-G",
    ],
)
def test_malformed_ids_are_400(api_client: TestClient, bad: str) -> None:
    assert_error(api_client.get("/v1/variants/" + quote(bad, safe="")), 400, "invalid_variant")


def test_deletion_at_the_contig_start_is_anchored_on_the_next_base(api_client: TestClient) -> None:
    # Three bases deleted after chr1:5 of an N run left-align to the contig start,
    # where VCF anchors on the base after the event (never an empty allele).
    resp = api_client.get("/v1/variants/" + quote("NC_000001.11:5:3:", safe=""))
    assert resp.status_code == 200
    body = resp.json()
    assert (body["pos"], body["ref"][1:], body["alt"]) == (1, "NNN", body["ref"][0])
    assert body["seen"] is False


# --- batch ----------------------------------------------------------------------


def test_batch_keeps_order_and_reports_bad_ids_inline(api_client: TestClient, snv: dict[str, Any]) -> None:
    good = f"{snv['chrom']}-{snv['pos']}-{snv['ref']}-{snv['alt']}"
    absent = f"{snv['chrom']}-{snv['pos'] + 1}-N-{snv['alt']}"
    resp = api_client.post("/v1/variants", json={"variants": ["nonsense", good, absent]})
    data = resp.json()["data"]
    assert [d["query"] for d in data] == ["nonsense", good, absent]
    assert data[0]["error"]["code"] == "invalid_variant"
    assert data[1]["seen"] is True and data[2]["seen"] is False


def test_batch_limit(api_db: Path) -> None:
    with TestClient(create_app(api_db, Settings(max_batch_ids=3))) as client:
        assert client.post("/v1/variants", json={"variants": ["1-1-A-G"] * 3}).status_code == 200
        err = assert_error(
            client.post("/v1/variants", json={"variants": ["1-1-A-G"] * 4}), 413, "too_many_ids"
        )
        assert "limit is 3" in err["message"]


@pytest.mark.parametrize("body", [[1], {"variants": "x"}, {"ids": []}, None])
def test_batch_bad_bodies_are_422(api_client: TestClient, body: object) -> None:
    assert_error(api_client.post("/v1/variants", json=body), 422, "invalid_request")


def test_batch_not_json_is_422(api_client: TestClient) -> None:
    assert_error(
        api_client.post("/v1/variants", content=b"{nope", headers={"content-type": "application/json"}), 422
    )


# --- regions and genes --------------------------------------------------------------


def test_region_pages_cover_the_region_exactly(api_client: TestClient, api_db: Path) -> None:
    rows = [r for r in _release_rows(api_db) if r["chrom"] == "chr1"]
    start, end = rows[0]["pos"], rows[-1]["pos"]
    got: list[tuple[int, str, str]] = []
    url = f"/v1/regions/chr1:{start}-{end}?limit=7"
    pages = 0
    while True:
        body = api_client.get(url).json()
        RegionPage.model_validate(body)
        assert body["total"] == len(rows) and body["count"] <= 7
        got += [(d["pos"], d["ref"], d["alt"]) for d in body["data"]]
        pages += 1
        if body["next_cursor"] is None:
            break
        url = f"/v1/regions/chr1:{start}-{end}?limit=7&cursor={body['next_cursor']}"
    assert got == [(r["pos"], r["ref"], r["alt"]) for r in rows]
    assert pages == -(-len(rows) // 7)


def test_region_forms_and_limits(api_client: TestClient, api_db: Path) -> None:
    r = _release_rows(api_db)[0]
    a = api_client.get(f"/v1/regions/{r['chrom']}:{r['pos']}-{r['pos']}").json()
    b = api_client.get(f"/v1/regions/{r['chrom'].removeprefix('chr')}:{r['pos']:,}-{r['pos']:,}").json()
    assert a["data"] == b["data"] and a["total"] >= 1
    assert_error(api_client.get("/v1/regions/chr1:1-6000000"), 400, "region_too_large")
    assert_error(api_client.get("/v1/regions/chr1:10-5"), 400, "invalid_region")
    assert_error(api_client.get("/v1/regions/chr1-10-5"), 400, "invalid_region")
    assert_error(api_client.get("/v1/regions/chrUn:1-5"), 400, "invalid_region")
    assert_error(api_client.get("/v1/regions/chr1:1-5?limit=0"), 400, "invalid_limit")
    assert_error(api_client.get("/v1/regions/chr1:1-5?limit=abc"), 422, "invalid_request")
    assert_error(api_client.get("/v1/regions/chr1:1-5?cursor=!!!"), 400, "invalid_cursor")


def test_gene(api_client: TestClient) -> None:
    body = api_client.get("/v1/genes/myh7").json()
    assert body["gene"]["symbol"] == "MYH7" and body["gene"]["chrom"] == "chr14"
    assert (body["region"]["start"], body["region"]["end"]) == (23412740, 23435660)  # 1-based
    by_id = api_client.get("/v1/genes/ENSG00000092054").json()
    assert by_id["gene"] == body["gene"]
    shox = api_client.get("/v1/genes/SHOX").json()["gene"]
    assert shox["chrom"] == "chrX" and len(shox["other_loci"]) == 1
    assert_error(api_client.get("/v1/genes/NOTAGENE1"), 404, "gene_not_found")


# --- releases, stats, health, metrics, errors ------------------------------------------


def test_releases_stats_health_metrics(api_client: TestClient) -> None:
    rel = api_client.get("/v1/releases").json()
    assert rel["current"] == "r0001" and rel["count"] == 1 and rel["data"][0]["current"] is True
    assert "checksums" not in rel["data"][0]
    assert "checksums" in api_client.get("/v1/releases/r0001").json()
    stats = api_client.get("/v1/stats").json()
    assert stats["release"] == "r0001" and stats["samples"] == 40
    assert sum(stats["stats"]["by_sex"].values()) == 40
    for key in ("by_region", "by_patient_group", "by_month_received"):
        assert sum(stats["stats"][key].values()) == 40, key
    assert api_client.get("/health").json()["status"] == "ok"
    api_client.get("/v1/variants/1-1-A-G")
    text = api_client.get("/metrics").text
    assert 'variantdb_requests_total{method="GET",route="/v1/variants/{variant_id}",status="200"}' in text
    assert 'variantdb_release_info{release="r0001"} 1' in text


def test_unknown_release_everywhere(api_client: TestClient) -> None:
    for url in ("/v1/variants/1-1-A-G", "/v1/regions/chr1:1-10", "/v1/genes/MYH7", "/v1/stats"):
        assert_error(api_client.get(url + "?release=r9999"), 404, "release_not_found")
        assert_error(api_client.get(url + "?release=..%2Fetc"), 404, "release_not_found")
    assert_error(api_client.get("/v1/releases/r9999"), 404, "release_not_found")


def test_framework_errors_use_the_shape(api_client: TestClient) -> None:
    assert_error(api_client.get("/v2/nothing"), 404, "not_found")
    assert_error(api_client.delete("/v1/variants/1-1-A-G"), 405, "method_not_allowed")
    assert_error(api_client.put("/v1/variants"), 405)


# --- release switching -----------------------------------------------------------------


def test_switches_to_a_new_current_release_without_failing_requests(tmp_path: Path) -> None:
    build_release(tmp_path, "r0001", [("chr1", 100, "A", "G", 3, 200)])
    app = create_app(tmp_path, Settings(reload_interval=0.0))
    with TestClient(app) as client:
        first = client.get("/v1/variants/1-100-A-G").json()
        assert first["release"] == "r0001" and first["ac"] == 3
        in_flight = app.state.store.get(None)  # what a request being served holds
        build_release(tmp_path, "r0002", [("chr1", 100, "A", "G", 5, 200)], make_current=False)
        set_current(tmp_path, "r0002")
        second = client.get("/v1/variants/1-100-A-G").json()
        assert second["release"] == "r0002" and second["ac"] == 5
        # The old release keeps answering for whoever holds it, even after it is removed.
        shutil.rmtree(tmp_path / "releases" / "r0001")
        assert in_flight.index.find("chr1", 100, "A", "G") == 0
        assert in_flight.index.count_tuple(0)[0] == 3
        assert_error(client.get("/v1/variants/1-100-A-G?release=r0003"), 404, "release_not_found")
        assert "variantdb_release_switches_total" in client.get("/metrics").text


def test_pinned_release(tmp_path: Path) -> None:
    build_release(tmp_path, "r0001", [("chr1", 100, "A", "G", 3, 200)])
    build_release(tmp_path, "r0002", [("chr1", 100, "A", "G", 5, 200)])
    with TestClient(create_app(tmp_path)) as client:
        assert client.get("/v1/variants/1-100-A-G").json()["ac"] == 5
        assert client.get("/v1/variants/1-100-A-G?release=r0001").json()["ac"] == 3
        body = client.get("/v1/regions/chr1:1-1000?release=r0001&limit=1").json()
        assert body["release"] == "r0001"


def test_no_release_yet(tmp_path: Path) -> None:
    with TestClient(create_app(tmp_path)) as client:
        assert client.get("/health").status_code == 503
        assert_error(client.get("/v1/variants/1-100-A-G"), 404, "no_release")
        assert client.get("/v1/releases").json() == {"current": None, "count": 0, "data": []}


# --- one handler per endpoint, documented and answering ----------------------------------


def test_each_endpoint_has_one_handler(api_db: Path) -> None:
    """No plain route answers in front of a documented one: one FastAPI route per path and method."""
    from fastapi.routing import APIRoute

    app = create_app(api_db)
    seen: set[tuple[str, str]] = set()
    for route in app.router.routes:
        path = getattr(route, "path", "")
        if not path.startswith("/v1/"):
            continue
        assert isinstance(route, APIRoute), path
        for method in route.methods:
            assert (path, method) not in seen, (path, method)
            seen.add((path, method))
    assert {("/v1/variants/{variant_id:path}", "GET"), ("/v1/variants", "POST")} <= seen


def test_the_hot_routes_document_their_parameters_body_and_responses(api_client: TestClient) -> None:
    from variantdb.api.models import BatchRequest

    spec = api_client.get("/openapi.json").json()
    get = spec["paths"]["/v1/variants/{variant_id}"]["get"]
    params = {p["name"]: p for p in get["parameters"]}
    from variantdb.api.verdicts import VerdictParams

    verdict_params = list(VerdictParams.model_fields)
    assert list(params) == ["variant_id", "strata", "exclude_group", "release", "format", *verdict_params]
    assert all(params[name]["description"] for name in ("format", *verdict_params))
    assert params["variant_id"]["in"] == "path" and params["variant_id"]["required"] is True
    assert params["variant_id"]["schema"]["maxLength"] == 10_000
    assert params["strata"]["schema"] == {
        "default": True,
        "description": params["strata"]["description"],
        "title": "Strata",
        "type": "boolean",
    }
    assert params["release"]["schema"]["anyOf"][0] == {"maxLength": 64, "type": "string"}
    assert set(get["responses"]) == {"200", "400", "401", "403", "404", "422", "429"}
    for status in ("400", "404", "422"):
        ref = get["responses"][status]["content"]["application/json"]["schema"]["$ref"]
        assert ref == "#/components/schemas/ErrorPublic"
    post = spec["paths"]["/v1/variants"]["post"]
    assert [p["name"] for p in post["parameters"]] == ["strata", "exclude_group", "release", *verdict_params]
    body = post["requestBody"]
    assert body["required"] is True
    assert body["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/BatchRequest"}
    assert body["content"]["application/json"]["examples"]["two"]["value"]["variants"]
    assert spec["components"]["schemas"]["BatchRequest"] == BatchRequest.model_json_schema()
    assert set(post["responses"]) == {"200", "400", "401", "403", "404", "413", "422", "429"}
    for name in ("VariantPublic", "BatchResult", "ErrorPublic"):
        assert name in spec["components"]["schemas"], name


@pytest.mark.parametrize(
    ("query", "strata"),
    [
        ("", True),
        ("?strata=false", False),
        ("?strata=0", False),
        ("?strata=YES", True),
        ("?strata=off", False),
    ],
)
def test_strata_takes_the_usual_booleans(
    api_client: TestClient, snv: dict[str, Any], query: str, strata: bool
) -> None:
    good = f"{snv['chrom']}-{snv['pos']}-{snv['ref']}-{snv['alt']}"
    assert ("strata" in api_client.get(f"/v1/variants/{good}{query}").json()) is strata
    batch = api_client.post(f"/v1/variants{query}", json={"variants": [good]}).json()
    assert ("strata" in batch["data"][0]) is strata


def _locations(err: dict[str, Any]) -> list[str]:
    return [d["location"] for d in err["details"]]


def test_bad_parameters_are_422_naming_each_of_them(api_client: TestClient, snv: dict[str, Any]) -> None:
    good = f"{snv['chrom']}-{snv['pos']}-{snv['ref']}-{snv['alt']}"
    for query, where in (
        ("?strata=maybe", ["query.strata"]),
        ("?strata=", ["query.strata"]),
        ("?release=" + "r" * 65, ["query.release"]),
        ("?strata=maybe&release=" + "r" * 65, ["query.strata", "query.release"]),
    ):
        err = assert_error(api_client.get(f"/v1/variants/{good}{query}"), 422, "invalid_request")
        assert _locations(err) == where, query
        assert err["message"].startswith("the request is not valid: " + where[0])
        err = assert_error(api_client.post(f"/v1/variants{query}", json={"variants": [good]}), 422)
        assert _locations(err) == where, query
    err = assert_error(api_client.get("/v1/variants/" + "1" * 10_001 + "?strata=no"), 422, "invalid_request")
    assert _locations(err) == ["path.variant_id"] and "at most 10000 characters" in err["message"]
    # A parameter and the body wrong at once: both named in one answer.
    err = assert_error(api_client.post("/v1/variants?strata=maybe", json={"variants": [1]}), 422)
    assert _locations(err) == ["query.strata", "body.variants.0"]


def test_unusual_but_valid_requests(api_client: TestClient, snv: dict[str, Any]) -> None:
    good = f"{snv['chrom']}-{snv['pos']}-{snv['ref']}-{snv['alt']}"
    plain = api_client.get(f"/v1/variants/{good}").json()
    # Unknown parameters are ignored; a parameter sent twice counts its last value.
    assert api_client.get(f"/v1/variants/{good}?unknown=1").json() == plain
    assert "strata" not in api_client.get(f"/v1/variants/{good}?strata=true&strata=false").json()
    assert_error(api_client.get(f"/v1/variants/{good}?release=r0001&release=r0404"), 404, "release_not_found")
    assert api_client.get(f"/v1/variants/{good}?release=r0001").json() == plain
    # The id may hold slashes and spaces (the path parameter takes the rest of the path).
    spdi = quote(f"{snv['chrom']}:{snv['pos']} {snv['ref']}>{snv['alt']}")
    assert api_client.get(f"/v1/variants/{spdi}").json()["variant_id"] == plain["variant_id"]
    assert api_client.post("/v1/variants", json={"variants": []}).json()["count"] == 0


@pytest.mark.parametrize(
    ("body", "where", "kind"),
    [
        ([1], "body", "model_type"),
        ({"variants": "x"}, "body.variants", "list_type"),
        ({}, "body.variants", "missing"),
        ({"variants": ["1-1-A-G", 2]}, "body.variants.1", "string_type"),
        ({"variants": [], "more": 1}, "body.more", "extra_forbidden"),
    ],
)
def test_batch_body_problems_are_named(api_client: TestClient, body: object, where: str, kind: str) -> None:
    err = assert_error(api_client.post("/v1/variants", json=body), 422, "invalid_request")
    assert [(d["location"], d["type"]) for d in err["details"]] == [(where, kind)]


def test_the_hot_routes_are_counted_by_their_template(api_db: Path, snv: dict[str, Any]) -> None:
    good = f"{snv['chrom']}-{snv['pos']}-{snv['ref']}-{snv['alt']}"
    with TestClient(create_app(api_db)) as client:
        client.get(f"/v1/variants/{good}")
        client.get(f"/v1/variants/{good}?strata=maybe")
        client.post("/v1/variants", json={"variants": [good]})
        text = client.get("/metrics").text
    assert 'route="/v1/variants/{variant_id}",status="200"' in text
    assert 'route="/v1/variants/{variant_id}",status="422"' in text
    assert 'method="POST",route="/v1/variants",status="200"' in text
    assert "unmatched" not in text


def test_strata_can_be_left_out(api_client: TestClient, snv: dict[str, Any]) -> None:
    good = f"{snv['chrom']}-{snv['pos']}-{snv['ref']}-{snv['alt']}"
    full = api_client.get(f"/v1/variants/{good}").json()
    small = api_client.get(f"/v1/variants/{good}?strata=false").json()
    assert "strata" not in small and {**small, "strata": full["strata"]} == full
    batch = api_client.post("/v1/variants?strata=0", json={"variants": [good]}).json()
    assert batch["data"] == [small]
    assert_error(api_client.get(f"/v1/variants/{good}?strata=maybe"), 422, "invalid_request")


@pytest.fixture(scope="module")
def loaded(api_db: Path) -> tuple[list[dict[str, Any]], set[tuple[str, int, str, str]]]:
    rows = _release_rows(api_db)
    return rows, {(r["chrom"], r["pos"], r["ref"], r["alt"]) for r in rows}


@hyp_seed(20261122)
@hyp_settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    i=st.integers(0, 10_000),
    shift=st.integers(-3, 3),
    ref=st.text("ACGT", min_size=1, max_size=3),
    alt=st.text("ACGT", min_size=1, max_size=3),
)
def test_property_seen_exactly_when_loaded(
    api_client: TestClient,
    loaded: tuple[list[dict[str, Any]], set[tuple[str, int, str, str]]],
    i: int,
    shift: int,
    ref: str,
    alt: str,
) -> None:
    """Near every loaded variant, a probe is seen iff the loader wrote exactly that variant."""
    rows, present = loaded
    row = rows[i % len(rows)]
    for probe in (
        (row["chrom"], row["pos"], row["ref"], row["alt"]),
        (row["chrom"], row["pos"] + shift, ref, alt),
    ):
        resp = api_client.get(f"/v1/variants/{probe[0]}-{probe[1]}-{probe[2]}-{probe[3]}")
        if resp.status_code == 400:  # REF disagrees with the reference, or REF == ALT
            assert probe not in present
            continue
        rec = resp.json()
        key = (rec["chrom"], rec["pos"], rec["ref"], rec["alt"])
        assert rec["seen"] is (key in present), probe
        if rec["seen"]:
            _check_record(rec, next(r for r in rows if (r["chrom"], r["pos"], r["ref"], r["alt"]) == key))


@pytest.mark.slow
def test_no_request_fails_while_releases_switch_and_old_ones_vanish(tmp_path: Path) -> None:
    import threading

    build_release(tmp_path, "r0001", [("chr1", 100, "A", "G", 1, 200)])
    app = create_app(tmp_path, Settings(reload_interval=0.0))
    failures: list[str] = []
    seen_releases: set[str] = set()
    stop = threading.Event()
    with TestClient(app) as client:

        def hammer() -> None:
            while not stop.is_set():
                r = client.get("/v1/variants/1-100-A-G")
                if r.status_code != 200:
                    failures.append(r.text)
                else:
                    body = r.json()
                    seen_releases.add(body["release"])
                    if body["ac"] != int(body["release"][1:]):
                        failures.append(f"{body['release']} answered ac={body['ac']}")

        threads = [threading.Thread(target=hammer) for _ in range(4)]
        for t in threads:
            t.start()
        for k in range(2, 7):
            build_release(tmp_path, f"r{k:04d}", [("chr1", 100, "A", "G", k, 200)])
            shutil.rmtree(tmp_path / "releases" / f"r{k - 1:04d}")
        stop.set()
        for t in threads:
            t.join()
    assert not failures, failures[:5]
    assert "r0006" in seen_releases and len(seen_releases) >= 2


# --- filtering allele frequency (issue 4) ---------------------------------------


def test_faf_in_records_top_level_groups_and_strata(tmp_path: Path) -> None:
    # (100, 10000): Hail's faf95 0.00841331, faf99 0.00782095 (see tests/test_aggregate.py),
    # which lie on its 1e-6 grid just below the exact values served here.
    build_release(tmp_path, "r0001", [("chr1", 100, "A", "G", 100, 10_000)], gaps={"chr1": (1000, 2000)})
    with TestClient(create_app(tmp_path)) as client:
        rec = client.get("/v1/variants/chr1-100-A-G").json()
        VariantPublic.model_validate(rec)
        assert 0 <= rec["faf95"] - 0.00841331 < 1e-6 and 0 <= rec["faf99"] - 0.00782095 < 1e-6
        assert rec["faf99"] < rec["faf95"] < rec["af"]
        assert rec["raw"]["faf95"] > 0 and rec["all"]["faf99"] > 0
        assert all(set(s) >= {"faf95", "faf99"} for s in rec["strata"])
        singleton = [s for s in rec["strata"] if s["ac"] == 1]
        assert singleton and all(s["faf95"] == s["faf99"] == 0.0 for s in singleton)
        regions = {
            s["id"].removeprefix("region_"): s["faf95"] for s in rec["strata"] if s["kind"] == "region"
        }
        assert rec["faf95_max_region"] == max(regions.values()) > 0
        assert regions[rec["faf95_max_region_code"]] == rec["faf95_max_region"]
        absent = client.get("/v1/variants/chr1-999-A-G").json()
        assert (absent["faf95"], absent["faf99"]) == (0.0, 0.0)
        assert (absent["faf95_max_region"], absent["faf95_max_region_code"]) == (0.0, None)
        assert (absent["n_fail"], absent["n_carrier_families"]) == (0, 0)
        assert (rec["n_fail"], rec["n_carrier_families"]) == (
            0,
            51,
        )  # conftest_api.full_row: ac % 2, (ac + 2) // 2
        gap = client.get("/v1/variants/chr1-1500-A-G").json()
        assert gap["faf95"] is None and gap["raw"]["faf99"] is None
        assert gap["faf95_max_region"] is None and gap["faf95_max_region_code"] is None
        compact = client.get("/v1/variants/chr1-100-A-G?strata=false").json()
        assert compact["faf95"] == rec["faf95"]


# --- frequencies without a patient group (issue 4) -------------------------------


def test_exclude_group_subtracts_the_groups_stratum(api_client: TestClient, api_db: Path) -> None:
    rows = _release_rows(api_db)
    key = "group_hereditary_heart"
    ids = [f"{r['chrom']}-{r['pos']}-{r['ref']}-{r['alt']}" for r in rows]
    plain = api_client.post("/v1/variants", json={"variants": ids}).json()["data"]
    body = api_client.post("/v1/variants?exclude_group=hereditary_heart", json={"variants": ids}).json()
    assert any(r[f"ac_{key}"] > 0 for r in rows)  # the fixture has carriers in the group
    for rec, base, row in zip(body["data"], plain, rows, strict=True):
        VariantPublic.model_validate(rec)
        ac, an = row["ac"] - row[f"ac_{key}"], row["an"] - row[f"an_{key}"]
        assert (rec["ac"], rec["an"]) == (ac, an)
        assert rec["homozygote_count"] == row["homozygote_count"] - row[f"homozygote_count_{key}"]
        assert rec["hemizygote_count"] == row["hemizygote_count"] - row[f"hemizygote_count_{key}"]
        carriers_in_group = row[f"ac_{key}"] - row[f"homozygote_count_{key}"]
        assert rec["n_carriers"] == row["n_carriers"] - carriers_in_group
        assert rec["af"] == (ac / an if an else None)
        assert rec["faf95"] == faf_column(np.array([ac]), np.array([an]), 0.95)[0].as_py()
        assert rec["excluded_group"] == key and rec["seen"] is True
        assert rec["strata"] == base["strata"] and rec["raw"] == base["raw"] and rec["all"] == base["all"]
    # the single route agrees, by code, name or key in any case
    row = next(r for r in rows if r[f"ac_{key}"] > 0)
    vid = f"{row['chrom']}-{row['pos']}-{row['ref']}-{row['alt']}"
    recs = [
        api_client.get(f"/v1/variants/{vid}", params={"exclude_group": g}).json()
        for g in ("hereditary_heart", "Hereditary heart disease", "HEREDITARY_HEART", key)
    ]
    assert all(r == recs[0] for r in recs) and recs[0]["ac"] == row["ac"] - row[f"ac_{key}"]
    assert recs[0]["message"].endswith("outside patient group Hereditary heart disease")
    # an absent variant: AN at the position minus the group's
    alt = next(b for b in "ACGT" if b != row["ref"][0])
    absent_id = f"{row['chrom']}-{row['pos']}-{row['ref'][0]}-{alt}"
    full = api_client.get(f"/v1/variants/{absent_id}").json()
    out = api_client.get(f"/v1/variants/{absent_id}?exclude_group=hereditary_heart").json()
    group_an = next(s["an"] for s in full["strata"] if s["id"] == key)
    assert full["seen"] is out["seen"] is False and full["an"] > group_an > 0
    assert (out["ac"], out["an"], out["faf95"]) == (0, full["an"] - group_an, 0.0)
    assert out["message"].startswith("absent among")


def test_exclude_group_hand_worked(tmp_path: Path) -> None:
    # conftest_api.full_row: stratum i has ac (ac + i + seed) % 3, an an // 2 + i, hemizygotes i % 2.
    build_release(tmp_path, "r0001", [("chr1", 100, "A", "G", 9, 400)], gaps={"chr1": (1000, 2000)})
    i = next(k for k, s in enumerate(strata()) if s.key == "group_hereditary_cancer")
    g_ac, g_an = (9 + i) % 3, 200 + i
    with TestClient(create_app(tmp_path)) as client:
        rec = client.get("/v1/variants/chr1-100-A-G?exclude_group=hereditary_cancer&strata=false").json()
        assert (rec["ac"], rec["an"], rec["homozygote_count"]) == (9 - g_ac, 400 - g_an, 9 // 4)
        assert rec["af"] == (9 - g_ac) / (400 - g_an) and "strata" not in rec
        gap = client.get("/v1/variants/chr1-1500-A-G?exclude_group=hereditary_cancer").json()
        assert gap["an"] == 0 and gap["af"] is None and gap["coverage"] == "no_data"


def test_exclude_unknown_group_is_a_400(api_client: TestClient, snv: dict[str, Any]) -> None:
    good = f"{snv['chrom']}-{snv['pos']}-{snv['ref']}-{snv['alt']}"
    err = assert_error(api_client.get(f"/v1/variants/{good}?exclude_group=astronauts"), 400, "unknown_group")
    assert "astronauts" in err["message"] and "hereditary_heart" in err["message"]
    assert_error(
        api_client.post("/v1/variants?exclude_group=XX", json={"variants": [good]}), 400, "unknown_group"
    )
    # a sex or region is not a patient group
    assert_error(api_client.get(f"/v1/variants/{good}?exclude_group=sex_xx"), 400, "unknown_group")


def test_exclude_group_equals_loading_without_the_group(
    api_client: TestClient, api_db: Path, api_cohort: Path, tmp_path: Path
) -> None:
    """Leaving a patient group out at query time gives the counts of a load that never had it.

    Their descendants are left out of the second load too: they are non-founders, outside the
    headline counts either way, and without their parents they would become founders.
    """
    import pysam.bcftools

    from variantdb.load import load_batch

    group = "Rare disease in children"
    lines = (api_cohort / "manifest.tsv").read_text().splitlines()
    header = lines[0].split("\t")
    rows = [dict(zip(header, line.split("\t"), strict=True)) for line in lines[1:]]
    out = {r["sample_id"] for r in rows if r["patient_group"] == group}
    while True:
        more = {r["sample_id"] for r in rows if {r["father_id"], r["mother_id"]} & out} - out
        if not more:
            break
        out |= more
    keep = [r for r in rows if r["sample_id"] not in out]
    assert 10 < len(keep) < len(rows)
    (tmp_path / "in").mkdir()
    vcf = tmp_path / "in" / "kept.vcf.gz"
    pysam.bcftools.view(
        "-s", ",".join(r["sample_id"] for r in keep), "-Oz", "-o", str(vcf),
        str(api_cohort / "vcf" / "cohort.vcf.gz"), catch_stdout=False,
    )  # fmt: skip
    pysam.tabix_index(str(vcf), preset="vcf", force=True)
    manifest = tmp_path / "in" / "manifest.tsv"
    manifest.write_text(
        "\n".join(
            ["\t".join(header)] + ["\t".join({**r, "vcf": "kept.vcf.gz"}[h] for h in header) for r in keep]
        )
        + "\n"
    )
    db = tmp_path / "db"
    load_batch(db, manifest, reference=api_cohort / "ref.fa", batch_name="kept")
    ids = [f"{r['chrom']}-{r['pos']}-{r['ref']}-{r['alt']}" for r in _release_rows(api_db)]
    excluded = api_client.post("/v1/variants", params={"exclude_group": group}, json={"variants": ids}).json()
    with TestClient(create_app(db)) as client:
        never = client.post("/v1/variants", json={"variants": ids}).json()
    fields = ["ac", "an", "af", "faf95", "faf99", "homozygote_count", "hemizygote_count", "n_carriers"]
    for a, b in zip(excluded["data"], never["data"], strict=True):
        assert {f: a[f] for f in fields} == {f: b[f] for f in fields}, a["variant_id"]
    assert sum(a["ac"] for a in excluded["data"]) < sum(r["ac"] for r in _release_rows(api_db))


def test_openapi_documents_exclude_group_and_faf(api_client: TestClient) -> None:
    spec = api_client.get("/openapi.json").json()
    for path, method in (("/v1/variants/{variant_id}", "get"), ("/v1/variants", "post")):
        params = {p["name"]: p for p in spec["paths"][path][method]["parameters"]}
        assert "patient group" in params["exclude_group"]["description"], path
    props = spec["components"]["schemas"]["VariantPublic"]["properties"]
    for name in (
        "faf95",
        "faf99",
        "faf95_max_region",
        "faf95_max_region_code",
        "n_fail",
        "n_carrier_families",
    ):
        assert props[name]["description"], name
