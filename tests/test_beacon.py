"""GA4GH Beacon v2 under /beacon/v2: every response validated against the official v2.1.1 schemas.

Two databases: a tiny release of inline rows (``beacon_db``) where every expected answer is
written down, and the session database built by the real loader (``api_db``, with a FASTA) for
normalization and a cross-check of range queries against DuckDB over the release's Parquet.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import duckdb
import pytest
from fastapi.testclient import TestClient
from httpx2 import Response

import variantdb.api.beacon.endpoints as beacon_router
from tests.beacon_schemas import errors
from tests.conftest_api import build_release
from variantdb.api.main import create_app
from variantdb.schema import strata
from variantdb.store.layout import variants_file
from variantdb.variant import to_spdi

B = "/beacon/v2"

# 1-based VCF positions; Beacon start = POS - 1.
ROWS = [
    ("chr1", 100, "A", "G", 3, 200),  # SNV: Beacon [99, 100)
    ("chr1", 200, "ACGT", "A", 5, 200),  # deletion over POS 200-203: Beacon [199, 203)
    ("chr1", 300, "C", "CTT", 1, 200),  # insertion after POS 300: Beacon [299, 300)
    ("chr1", 300, "C", "T", 2, 200),  # SNV at the same POS
    ("chr1", 400, "AC", "GT", 2, 200),  # MNP: Beacon [399, 401)
    ("chrX", 5_000_000, "T", "C", 4, 200),
]


@pytest.fixture(scope="module")
def beacon_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("beacon_db")
    build_release(db, "r0001", ROWS)
    return db


@pytest.fixture(scope="module")
def client(beacon_db: Path) -> Iterator[TestClient]:
    with TestClient(create_app(beacon_db)) as c:
        yield c


def _get(client: TestClient, **params: Any) -> Response:
    return client.get(f"{B}/g_variants?{urlencode(params, doseq=True)}")


def _exists(client: TestClient, **params: Any) -> bool:
    r = _get(client, **params)
    assert r.status_code == 200, r.text
    assert not errors("responses/beaconBooleanResponse.json", r.json())
    return bool(r.json()["responseSummary"]["exists"])


def _records(client: TestClient, **params: Any) -> list[dict[str, Any]]:
    r = _get(client, requestedGranularity="record", includeResultsetResponses="ALL", limit=0, **params)
    body = _valid_resultsets(r)
    return body["response"]["resultSets"][0]["results"]  # type: ignore[no-any-return]


def _valid_resultsets(r: Response) -> dict[str, Any]:
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["meta"]["returnedGranularity"] == "record"
    assert not errors("responses/beaconResultsetsResponse.json", body)
    for rs in body["response"]["resultSets"]:
        for rec in rs["results"]:
            assert not errors("genomicVariation", rec), rec
    return body  # type: ignore[no-any-return]


def assert_beacon_error(r: Response, status: int, words: str = "") -> str:
    """A Beacon error document (never the /v1 shape), valid against beaconErrorResponse."""
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert not errors("responses/beaconErrorResponse.json", body)
    assert set(body) == {"meta", "error"}
    assert body["error"]["errorCode"] == status
    message: str = body["error"]["errorMessage"]
    assert words.lower() in message.lower(), message
    return message


# --- the schemas themselves ---------------------------------------------------------------------


def test_the_validator_rejects_what_the_schemas_forbid() -> None:
    """Negative controls: the offline validator resolves references and does fail."""
    assert errors("responses/beaconBooleanResponse.json", {"meta": {}, "responseSummary": {"exists": "yes"}})
    bad_record = {"variantInternalId": "x", "variation": {"location": {"type": "SequenceLocation"}}}
    assert errors("genomicVariation", bad_record)
    assert errors("responses/beaconErrorResponse.json", {"meta": {}, "error": {"errorMessage": "no code"}})


# --- informational endpoints --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "schema"),
    [
        ("", "responses/beaconInfoResponse.json"),
        ("/", "responses/beaconInfoResponse.json"),
        ("/info", "responses/beaconInfoResponse.json"),
        ("/service-info", "responses/ga4gh-service-info-1-0-0-schema.json"),
        ("/configuration", "responses/beaconConfigurationResponse.json"),
        ("/map", "responses/beaconMapResponse.json"),
        ("/entry_types", "responses/beaconEntryTypesResponse.json"),
        ("/filtering_terms", "responses/beaconFilteringTermsResponse.json"),
    ],
)
def test_informational_endpoints_validate(client: TestClient, path: str, schema: str) -> None:
    r = client.get(B + path, follow_redirects=True)
    assert r.status_code == 200, r.text
    assert not errors(schema, r.json())


def test_info_names_the_release_and_the_map_points_at_g_variants(client: TestClient) -> None:
    info = client.get(f"{B}/info").json()["response"]
    assert info["info"] == {"assembly": "GRCh38", "release": "r0001"}
    root = client.get(f"{B}/map").json()["response"]["endpointSets"]["genomicVariant"]["rootUrl"]
    assert root.endswith(f"{B}/g_variants")
    assert (
        client.get(
            root.removeprefix("http://testserver"),
            params={"referenceName": "1", "start": 99, "alternateBases": "G"},
        ).status_code
        == 200
    )
    config = client.get(f"{B}/configuration").json()["response"]
    assert set(config["entryTypes"]) == {"genomicVariant"}
    assert client.get(f"{B}/filtering_terms").json()["response"]["filteringTerms"] == []


def test_info_before_any_release(tmp_path: Path) -> None:
    with TestClient(create_app(tmp_path)) as c:
        r = c.get(f"{B}/info")
        assert r.status_code == 200 and not errors("responses/beaconInfoResponse.json", r.json())
        q = _get(c, referenceName="1", start=99, alternateBases="G")
        assert_beacon_error(q, 404, "no release")


# --- 0-based start, both ways ---------------------------------------------------------------------


def test_sequence_query_start_is_zero_based(client: TestClient) -> None:
    # The SNV at POS 100 is found by start=99, not by start=100 (the 1-based number) nor 98.
    assert _exists(client, referenceName="1", start=99, referenceBases="A", alternateBases="G")
    assert not _exists(client, referenceName="1", start=100, referenceBases="A", alternateBases="G")
    assert not _exists(client, referenceName="1", start=98, referenceBases="A", alternateBases="G")
    # The deletion at POS 200 (VCF style, with its padding base), and the insertion at POS 300.
    assert _exists(client, referenceName="chr1", start=199, referenceBases="ACGT", alternateBases="A")
    assert not _exists(client, referenceName="chr1", start=200, referenceBases="ACGT", alternateBases="A")
    assert _exists(client, referenceName="NC_000001.11", start=299, referenceBases="C", alternateBases="CTT")
    assert _exists(client, referenceName="X", start=4_999_999, referenceBases="T", alternateBases="C")
    assert not _exists(client, referenceName="X", start=5_000_000, referenceBases="T", alternateBases="C")


def test_record_location_is_zero_based_and_round_trips(client: TestClient) -> None:
    recs = _records(client, referenceName="1", start=199, referenceBases="ACGT", alternateBases="A")
    assert len(recs) == 1
    var = recs[0]["variation"]
    assert recs[0]["variantInternalId"] == "1-200-ACGT-A"
    assert var["variantType"] == "DEL"
    assert var["location"]["sequence_id"] == "refseq:NC_000001.11"
    assert var["location"]["interval"]["start"]["value"] == 199  # POS 200, 0-based
    assert var["location"]["interval"]["end"]["value"] == 203  # 4 reference bases, half-open
    # The record's own coordinates find it again.
    assert _exists(
        client,
        referenceName="1",
        start=var["location"]["interval"]["start"]["value"],
        referenceBases=var["referenceBases"],
        alternateBases=var["alternateBases"],
    )


@pytest.mark.parametrize(
    ("start", "end", "found"),
    [
        # SNV at POS 100 = Beacon [99, 100)
        (99, 100, {"1-100-A-G"}),
        (100, 101, set()),  # just after
        (98, 99, set()),  # just before: end is exclusive
        (0, 100, {"1-100-A-G"}),
        # deletion at POS 200-203 = Beacon [199, 203): partial overlaps count, on both edges
        (202, 203, {"1-200-ACGT-A"}),  # its last base only: found by looking back
        (203, 250, set()),  # first base after it
        (150, 200, {"1-200-ACGT-A"}),  # its first (padding) base only
        (150, 199, set()),
        # two variants at POS 300
        (299, 300, {"1-300-C-CTT", "1-300-C-T"}),
        # MNP at POS 400-401 = Beacon [399, 401)
        (400, 401, {"1-400-AC-GT"}),
        (401, 500, set()),
        (0, 1000, {"1-100-A-G", "1-200-ACGT-A", "1-300-C-CTT", "1-300-C-T", "1-400-AC-GT"}),
    ],
)
def test_range_query_edges(client: TestClient, start: int, end: int, found: set[str]) -> None:
    recs = _records(client, referenceName="1", start=start, end=end)
    assert {r["variantInternalId"] for r in recs} == found
    r = _get(client, referenceName="1", start=start, end=end, requestedGranularity="count")
    assert not errors("responses/beaconCountResponse.json", r.json())
    assert r.json()["responseSummary"] == {"exists": bool(found), "numTotalResults": len(found)}


@pytest.mark.parametrize(
    ("start", "end", "found"),
    [
        # SNV at POS 100: 0-based start 99, exclusive end 100; brackets are half-open
        ([99, 100], [100, 101], {"1-100-A-G"}),
        ([100, 101], [100, 101], set()),
        ([99, 100], [101, 102], set()),
        ([98, 99], [100, 101], set()),
        # deletion: start 199, end 203
        ([190, 200], [203, 204], {"1-200-ACGT-A"}),
        ([190, 200], [200, 203], set()),
        ([0, 1000], [0, 1000], {"1-100-A-G", "1-200-ACGT-A", "1-300-C-CTT", "1-300-C-T", "1-400-AC-GT"}),
        ([0, 1000], [300, 301], {"1-300-C-CTT", "1-300-C-T"}),
    ],
)
def test_bracket_query(client: TestClient, start: list[int], end: list[int], found: set[str]) -> None:
    recs = _records(client, referenceName="1", start=",".join(map(str, start)), end=",".join(map(str, end)))
    assert {r["variantInternalId"] for r in recs} == found
    # the repeated-parameter form and the POST form agree
    assert {
        r["variantInternalId"] for r in _records(client, referenceName="1", start=start, end=end)
    } == found
    body = {
        "meta": {"apiVersion": "v2.0.0"},
        "query": {
            "requestParameters": {"referenceName": "1", "start": start, "end": end},
            "requestedGranularity": "count",
        },
    }
    r = client.post(f"{B}/g_variants", json=body)
    assert not errors("responses/beaconCountResponse.json", r.json())
    assert r.json()["responseSummary"]["numTotalResults"] == len(found)


def test_range_filters(client: TestClient) -> None:
    ids = {
        r["variantInternalId"]
        for r in _records(client, referenceName="1", start=0, end=1000, variantType="SNP")
    }
    assert ids == {"1-100-A-G", "1-300-C-T"}
    for vtype, want in (("DEL", "1-200-ACGT-A"), ("INS", "1-300-C-CTT"), ("MNP", "1-400-AC-GT")):
        recs = _records(client, referenceName="1", start=0, end=1000, variantType=vtype)
        assert [r["variantInternalId"] for r in recs] == [want]
    recs = _records(client, referenceName="1", start=0, end=1000, alternateBases="T")
    assert [r["variantInternalId"] for r in recs] == ["1-300-C-T"]


def test_wildcards_and_queries_without_reference_bases(client: TestClient) -> None:
    assert _exists(client, referenceName="1", start=99, referenceBases="N", alternateBases="G")
    assert _exists(client, referenceName="1", start=99, alternateBases="G")
    assert _exists(client, referenceName="1", start=99, alternateBases="N")
    assert not _exists(client, referenceName="1", start=99, alternateBases="T")
    assert _exists(client, referenceName="1", start=299, referenceBases="C", alternateBases="CNN")
    assert not _exists(client, referenceName="1", start=299, referenceBases="C", alternateBases="CN")
    recs = _records(client, referenceName="1", start=299, alternateBases="N")
    assert [r["variantInternalId"] for r in recs] == ["1-300-C-T"]


# --- granularity by role --------------------------------------------------------------------------

ROLE_MAX = {"public": "boolean", "registered": "count", "controlled": "record", "admin": "record"}


@pytest.mark.parametrize("role", list(ROLE_MAX))
@pytest.mark.parametrize("requested", ["boolean", "count", "record"])
def test_granularity_is_downgraded_to_the_role(
    client: TestClient, monkeypatch: pytest.MonkeyPatch, role: str, requested: str
) -> None:
    monkeypatch.setattr(beacon_router, "caller_role", lambda request: role)
    order = ["boolean", "count", "record"]
    want = order[min(order.index(requested), order.index(ROLE_MAX[role]))]
    params = {"referenceName": "1", "start": 0, "end": 1000, "requestedGranularity": requested}
    for r in (
        _get(client, **params),
        client.post(
            f"{B}/g_variants",
            json={
                "meta": {"apiVersion": "v2.0.0"},
                "query": {
                    "requestParameters": {"referenceName": "1", "start": [0], "end": [1000]},
                    "requestedGranularity": requested,
                },
            },
        ),
    ):
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["meta"]["returnedGranularity"] == want
        assert body["meta"]["receivedRequestSummary"]["requestedGranularity"] == requested
        if want == "boolean":
            assert not errors("responses/beaconBooleanResponse.json", body)
            assert body["responseSummary"] == {"exists": True}
            assert "response" not in body
        elif want == "count":
            assert not errors("responses/beaconCountResponse.json", body)
            assert body["responseSummary"] == {"exists": True, "numTotalResults": 5}
            assert "response" not in body
        else:
            _valid_resultsets(r)
            assert body["response"]["resultSets"][0]["resultsCount"] == 5
        assert ("granularityNote" in body["info"]) == (want != requested)
        # no count of anything and no allele bases reach a caller allowed only less
        text = r.text
        if want != "record":
            assert "frequencyInPopulations" not in text and "alleleCount" not in text
        if want == "boolean":
            assert "numTotalResults" not in text


def test_max_granularity_table() -> None:
    for role, want in ROLE_MAX.items():
        assert beacon_router.max_granularity(role) == want  # type: ignore[arg-type]


# --- result sets and pagination -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("include", "hit_listed", "miss_listed"),
    [("HIT", True, False), ("MISS", False, True), ("ALL", True, True), ("NONE", False, False)],
)
def test_include_resultset_responses(
    client: TestClient, include: str, hit_listed: bool, miss_listed: bool
) -> None:
    for start, hit in ((99, True), (100, False)):
        r = _get(
            client,
            referenceName="1",
            start=start,
            referenceBases="A",
            alternateBases="G",
            requestedGranularity="record",
            includeResultsetResponses=include,
        )
        body = _valid_resultsets(r)
        assert body["responseSummary"]["exists"] is hit
        sets = body["response"]["resultSets"]
        assert len(sets) == int(hit_listed if hit else miss_listed)
        for rs in sets:
            assert rs["id"] == "r0001" and rs["setType"] == "dataset" and rs["exists"] is hit
            assert rs["resultsCount"] == len(rs["results"]) == int(hit)


def test_pagination_skips_pages_of_limit_records(client: TestClient) -> None:
    everything = [r["variantInternalId"] for r in _records(client, referenceName="1", start=0, end=1000)]
    assert len(everything) == 5
    pages = []
    for skip in range(4):
        r = _get(
            client, referenceName="1", start=0, end=1000, requestedGranularity="record", skip=skip, limit=2
        )
        body = _valid_resultsets(r)
        assert body["meta"]["receivedRequestSummary"]["pagination"] == {"skip": skip, "limit": 2}
        rs = body["response"]["resultSets"][0]
        assert rs["resultsCount"] == 5 and body["responseSummary"]["numTotalResults"] == 5
        pages.append([x["variantInternalId"] for x in rs["results"]])
    assert pages == [everything[0:2], everything[2:4], everything[4:5], []]
    # limit 0 is "as many as allowed": max_page_size, said in the summary
    r = _get(client, referenceName="1", start=0, end=1000, requestedGranularity="record", limit=0)
    assert r.json()["meta"]["receivedRequestSummary"]["pagination"]["limit"] == 1000
    body = {
        "meta": {"apiVersion": "v2.0.0"},
        "query": {
            "requestParameters": {"referenceName": "1", "start": [0], "end": [1000]},
            "requestedGranularity": "record",
            "pagination": {"skip": 1, "limit": 3},
        },
    }
    rs = _valid_resultsets(client.post(f"{B}/g_variants", json=body))["response"]["resultSets"][0]
    assert [x["variantInternalId"] for x in rs["results"]] == everything[3:5]


# --- frequencies ---------------------------------------------------------------------------------


def test_frequency_in_populations_matches_the_v1_record(client: TestClient) -> None:
    for row in ROWS:
        chrom, pos, ref, alt = row[:4]
        rec = _records(client, referenceName=chrom, start=pos - 1, referenceBases=ref, alternateBases=alt)[0]
        v1 = client.get(f"/v1/variants/{chrom}-{pos}-{ref}-{alt}").json()
        (fip,) = rec["frequencyInPopulations"]
        assert fip["version"] == "r0001" and fip["sourceReference"].endswith("/v1/releases/r0001")
        freqs = fip["frequencies"]
        expected = [("All (adj genotypes of founders)", v1)] + [
            (
                f"{ {'sex': 'Sex', 'region': 'Region', 'patient_group': 'Patient group'}[s['kind']] }: {s['value']}",
                s,
            )
            for s in v1["strata"]
            if s["an"]
        ]
        assert len(expected) > len(strata()) // 2
        assert [f["population"] for f in freqs] == [p for p, _ in expected]
        for f, (_, c) in zip(freqs, expected, strict=True):
            assert f["alleleCount"] == c["ac"] and f["alleleNumber"] == c["an"]
            assert f["alleleFrequency"] == c["ac"] / c["an"]
            assert f["alleleCountHomozygous"] == c["homozygote_count"]
            assert f["alleleCountHemizygous"] == c["hemizygote_count"]
            assert f["alleleCountHeterozygous"] == c["ac"] - 2 * c["homozygote_count"] - c["hemizygote_count"]


# --- errors: Beacon's document, never a 500 --------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "words"),
    [
        ({"referenceName": "1", "start": 99, "alternateBases": "G", "assemblyId": "GRCh37"}, "GRCh38 only"),
        ({"referenceName": "1", "start": 99, "alternateBases": "G", "assemblyId": "hg19"}, "GRCh38 only"),
        (
            {"referenceName": "1", "start": 99, "referenceBases": "A", "alternateBases": "Z"},
            "not made of bases",
        ),
        ({"referenceName": "1", "start": 99, "referenceBases": "A", "alternateBases": "R"}, "IUPAC"),
        ({"referenceName": "1", "start": 99, "referenceBases": "A", "alternateBases": "A"}, "same allele"),
        ({"referenceName": "1", "start": 99}, "needs alternateBases"),
        ({"referenceName": "1", "start": -1, "alternateBases": "G"}, "non-negative"),
        ({"referenceName": "1", "start": "x", "alternateBases": "G"}, "non-negative integer"),
        ({"referenceName": "1", "start": "1,2,3", "end": 5}, "one or two"),
        ({"referenceName": "1", "start": 100, "end": 100}, "greater than start"),
        ({"referenceName": "1", "start": "1,2", "end": 5}, "not a query this beacon answers"),
        ({"referenceName": "1", "start": "5,2", "end": "6,9"}, "bracket"),
        ({"referenceName": "1", "start": 0, "end": 50_000_000}, "limit"),
        ({"referenceName": "chrUn_KI270302v1", "start": 1, "alternateBases": "G"}, "primary contig"),
        ({"start": 99, "alternateBases": "G"}, "referenceName is required"),
        ({"referenceName": "1", "alternateBases": "G"}, "start is required"),
        ({"referenceName": "1", "start": 300_000_000, "alternateBases": "G"}, "past the end"),
        ({"referenceName": "1", "start": 99, "alternateBases": "G", "geneId": "BRCA1"}, "not supported"),
        ({"referenceName": "1", "start": 99, "alternateBases": "G", "variantType": "CNV"}, "variantType"),
        ({"referenceName": "1", "start": 99, "alternateBases": "G", "bogus": "1"}, "unknown"),
        ({"referenceName": "1", "start": 99, "alternateBases": "G", "filters": "NCIT:C1"}, "filtering terms"),
        (
            {"referenceName": "1", "start": 99, "alternateBases": "G", "requestedGranularity": "all"},
            "granularity",
        ),
        (
            {"referenceName": "1", "start": 99, "alternateBases": "G", "includeResultsetResponses": "X"},
            "include",
        ),
        ({"referenceName": "1", "start": 99, "alternateBases": "G", "limit": "-1"}, "limit"),
        ({"referenceName": "1", "start": 99, "alternateBases": "G", "skip": "a"}, "skip"),
        # an empty allele needs the reference base before it, and this release has no FASTA
        ({"referenceName": "1", "start": 100, "referenceBases": "", "alternateBases": "TT"}, "reference"),
    ],
)
def test_bad_queries_get_a_beacon_error(client: TestClient, params: dict[str, Any], words: str) -> None:
    assert_beacon_error(_get(client, **params), 400, words)


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"query": {"requestedGranularity": "everything"}}, "not a valid Beacon request"),
        ({"query": {"pagination": {"skip": -1}}}, "not a valid Beacon request"),
        ({"query": {"requestParameters": []}}, "not a valid Beacon request"),
        ([1, 2], "not a valid Beacon request"),
        (
            {"query": {"requestParameters": {"referenceName": "1", "start": [True], "alternateBases": "G"}}},
            "start",
        ),
        (
            {
                "query": {
                    "requestParameters": {"referenceName": ["1", "2"], "start": [5], "alternateBases": "G"}
                }
            },
            "referenceName",
        ),
        (
            {"query": {"requestParameters": {"referenceName": "1", "start": [5], "alternateBases": 7}}},
            "alternateBases",
        ),
        (
            {
                "query": {
                    "requestParameters": {"referenceName": "1", "start": [5], "alternateBases": "G"},
                    "filters": [{"id": "NCIT:C1"}],
                }
            },
            "filtering terms",
        ),
        # numbers past any position, and a requestedSchemas entry of the wrong type (once a 500)
        (
            {"query": {"requestParameters": {"referenceName": "1", "start": [1, 2], "end": [3, 2**70]}}},
            "past the end",
        ),
        ({"meta": {"requestedSchemas": [{"entityType": 2**70}]}}, "not a valid Beacon request"),
    ],
)
def test_bad_bodies_get_a_beacon_error(client: TestClient, body: Any, words: str) -> None:
    assert_beacon_error(client.post(f"{B}/g_variants", json=body), 400, words)


def test_unparseable_body_unknown_path_and_wrong_method(client: TestClient) -> None:
    r = client.post(f"{B}/g_variants", content=b"{not json", headers={"content-type": "application/json"})
    assert_beacon_error(r, 400, "not a valid Beacon request")
    assert_beacon_error(client.get(f"{B}/individuals"), 404, "no such Beacon endpoint")
    assert_beacon_error(client.delete(f"{B}/g_variants"), 405, "not allowed")
    assert_beacon_error(client.post(f"{B}/info"), 405, "not allowed")
    # the /v1 error shape stays as it was
    assert set(client.get("/v1/nothing").json()) == {"error"}


def test_an_error_echoes_what_was_understood(client: TestClient) -> None:
    r = _get(
        client,
        referenceName="1",
        start=99,
        referenceBases="G",
        alternateBases="T",
        assemblyId="GRCh38",
        requestedGranularity="count",
    )
    # no reference FASTA in this release: a REF that disagrees is simply not found
    assert r.status_code == 200 and r.json()["responseSummary"]["exists"] is False
    r = _get(
        client,
        referenceName="1",
        start=99,
        alternateBases="G",
        assemblyId="NCBI36",
        requestedGranularity="count",
    )
    summary = r.json()["meta"]["receivedRequestSummary"]
    assert_beacon_error(r, 400, "NCBI36")
    assert summary["requestedGranularity"] == "count"


def test_post_body_forms(client: TestClient) -> None:
    """The schema-valid form (parameters under g_variant) and the common flat form give one answer."""
    nested = {
        "meta": {"apiVersion": "v2.0.0", "requestedSchemas": [{"entityType": "genomicVariant"}]},
        "query": {
            "requestParameters": {
                "g_variant": {
                    "referenceName": "1",
                    "start": [99],
                    "referenceBases": "A",
                    "alternateBases": "G",
                    "assemblyId": "GRCh38",
                }
            },
            "requestedGranularity": "count",
            "testMode": True,
        },
    }
    assert not errors("requests/beaconRequestBody.json", nested)
    flat = {
        "meta": {"apiVersion": "v2.0.0"},
        "query": {
            "requestParameters": nested["query"]["requestParameters"]["g_variant"] | {"start": 99},
            "requestedGranularity": "count",
        },
    }  # type: ignore[index]
    for body in (nested, flat):
        r = client.post(f"{B}/g_variants", json=body)
        assert r.status_code == 200, r.text
        assert not errors("responses/beaconCountResponse.json", r.json())
        assert r.json()["responseSummary"] == {"exists": True, "numTotalResults": 1}
    assert client.post(f"{B}/g_variants", json=nested).json()["meta"]["testMode"] is True
    # an empty body is a valid request with nothing to look for
    assert_beacon_error(client.post(f"{B}/g_variants"), 400, "referenceName is required")


# --- the loader's database: normalization, and range counts against DuckDB --------------------------


@pytest.fixture(scope="module")
def loaded(api_db: Path) -> Iterator[TestClient]:
    with TestClient(create_app(api_db)) as c:
        yield c


#: Beacon's exists follows the adj genotypes of every sample (variantdb.seen.ADJ_SEEN).
_ADJ_SEEN = "(ac > 0 OR ac_all > 0)"


def _release_table(db: Path) -> str:
    rel = db / "releases" / (db / "CURRENT").read_text().strip()
    return str(variants_file(rel, "chr1").parent / "*.parquet")


def test_every_loaded_indel_is_found_in_its_trimmed_spdi_form(loaded: TestClient, api_db: Path) -> None:
    """Beacon's maximally trimmed alleles with a 0-based start are SPDI's: anchored with the FASTA."""
    con = duckdb.connect()
    rows = con.execute(
        "SELECT chrom, pos, ref, alt FROM read_parquet(?) WHERE length(ref) <> length(alt) "
        f"AND {_ADJ_SEEN} ORDER BY chrom, pos",
        [_release_table(api_db)],
    ).fetchall()
    assert len(rows) > 20
    from variantdb.variant import Variant

    for chrom, pos, ref, alt in rows:
        _, start, tref, talt = to_spdi(Variant(chrom, pos, ref, alt)).split(":")
        assert "" in (tref, talt)
        r = _get(
            loaded,
            referenceName=chrom,
            start=start,
            referenceBases=tref,
            alternateBases=talt,
            requestedGranularity="record",
        )
        body = _valid_resultsets(r)
        ids = [x["variantInternalId"] for x in body["response"]["resultSets"][0]["results"]]
        assert ids == [f"{chrom.removeprefix('chr')}-{pos}-{ref}-{alt}"], (chrom, pos, ref, alt)


def test_ref_disagreeing_with_the_reference_is_a_beacon_error(loaded: TestClient, api_db: Path) -> None:
    con = duckdb.connect()
    chrom, pos, ref = con.execute(
        "SELECT chrom, pos, ref FROM read_parquet(?) WHERE length(ref) = 1 AND length(alt) = 1 LIMIT 1",
        [_release_table(api_db)],
    ).fetchone()  # type: ignore[misc]
    wrong = next(b for b in "ACGT" if b != ref)
    other = next(b for b in "ACGT" if b not in (ref, wrong))
    r = _get(loaded, referenceName=chrom, start=pos - 1, referenceBases=wrong, alternateBases=other)
    assert_beacon_error(r, 400, "does not match the reference")


def test_range_counts_agree_with_duckdb_over_the_release(loaded: TestClient, api_db: Path) -> None:
    """numTotalResults of random ranges = rows of the release table whose REF span overlaps [start+1, end]."""
    con = duckdb.connect()
    table = _release_table(api_db)
    spans = con.execute(
        "SELECT chrom, min(pos), max(pos + length(ref)) FROM read_parquet(?) GROUP BY chrom ORDER BY chrom",
        [table],
    ).fetchall()
    deletions = con.execute(
        "SELECT chrom, pos, length(ref) FROM read_parquet(?) WHERE length(ref) > 1 ORDER BY chrom, pos LIMIT 30",
        [table],
    ).fetchall()
    rng = random.Random(11)
    queries = []
    for chrom, lo, hi in spans:
        for _ in range(8):
            a = rng.randrange(max(0, lo - 100), hi + 100)
            queries.append((chrom, a, a + rng.choice([1, 2, 5, 50, 500, 5000])))
    # every deletion by its last reference base alone: found only by looking back
    queries += [(c, p - 1 + n - 1, p - 1 + n) for c, p, n in deletions]
    assert deletions and len(queries) > 50
    nonzero = 0
    for chrom, start, end in queries:
        want = con.execute(
            "SELECT count(*) FROM read_parquet(?) WHERE chrom = ? AND pos <= ? AND pos + length(ref) - 1 >= ? "
            f"AND {_ADJ_SEEN}",
            [table, chrom, end, start + 1],
        ).fetchone()[0]  # type: ignore[index]
        r = _get(loaded, referenceName=chrom, start=start, end=end, requestedGranularity="count")
        assert r.status_code == 200, r.text
        assert r.json()["responseSummary"]["numTotalResults"] == want, (chrom, start, end)
        nonzero += want > 0
    assert nonzero > 30


def test_variant_page_links_to_its_beacon_query(loaded: TestClient, api_db: Path) -> None:
    import re

    con = duckdb.connect()
    chrom, pos, ref, alt = con.execute(
        "SELECT chrom, pos, ref, alt FROM read_parquet(?) WHERE length(ref) > 1 LIMIT 1",
        [_release_table(api_db)],
    ).fetchone()  # type: ignore[misc]
    html = loaded.get(f"/variant/{chrom}-{pos}-{ref}-{alt}").text
    m = re.search(r'<a href="([^"]+)">Beacon v2 form</a>', html)
    assert m, "no Beacon link on the variant page"
    r = loaded.get(m.group(1).replace("&amp;", "&"))
    assert r.status_code == 200 and r.json()["responseSummary"]["exists"] is True
    assert r.json()["meta"]["receivedRequestSummary"]["requestParameters"]["g_variant"]["start"] == [pos - 1]


def test_range_queries_agree_with_bcftools_view_regions(
    loaded: TestClient, api_db: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """bcftools view -r CHR:A-B keeps records whose REF span overlaps [A, B] (1-based): Beacon [A-1, B)."""
    import shutil
    import subprocess

    if shutil.which("bcftools") is None:
        pytest.skip("bcftools is not on the PATH (Debian: apt-get install bcftools tabix)")
    from variantdb.export import export_release

    vcf = tmp_path_factory.mktemp("beacon_bcftools") / "release.vcf.gz"
    export_release(api_db, "vcf", vcf)
    con = duckdb.connect()
    table = _release_table(api_db)
    dels = con.execute(
        "SELECT chrom, pos, length(ref) FROM read_parquet(?) WHERE length(ref) > 2 ORDER BY chrom, pos LIMIT 15",
        [table],
    ).fetchall()
    assert dels
    rng = random.Random(5)
    regions = []
    for chrom, pos, n in dels:
        regions.append((chrom, pos + n - 2, pos + n - 1))  # 1-based: the deletion's last base(s)
        regions.append((chrom, pos + n, pos + n + rng.choice([0, 3, 40])))  # just after it
        regions.append((chrom, max(1, pos - 30), pos))  # ending on its padding base
    nonempty = 0
    for chrom, a, b in regions:
        out = subprocess.run(
            [
                "bcftools",
                "view",
                "-H",
                "-i",
                "INFO/AC>0 || INFO/AC_all>0",
                "-r",
                f"{chrom}:{a}-{b}",
                str(vcf),
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        want = sorted(
            f"{f[0].removeprefix('chr')}-{f[1]}-{f[3]}-{f[4]}"
            for f in (line.split("\t") for line in out.splitlines())
        )
        recs = _records(loaded, referenceName=chrom, start=a - 1, end=b)
        assert sorted(r["variantInternalId"] for r in recs) == want, (chrom, a, b)
        nonempty += bool(want)
    assert nonempty >= len(dels)  # every deletion is seen at least by its last base


@pytest.mark.parametrize(
    ("headers", "status", "words"),
    [
        ({"Authorization": "Bearer not-a-key"}, 401, "key"),
        ({"X-API-Key": "vdb_000000000000_" + "x" * 43}, 401, "key"),
    ],
)
def test_a_refused_key_gets_a_beacon_error_under_beacon(
    client: TestClient, headers: dict[str, str], status: int, words: str
) -> None:
    """The access middleware answers before any route: under /beacon/v2 its refusals are Beacon documents too."""
    r = client.get(f"{B}/g_variants?referenceName=1&start=99&alternateBases=G", headers=headers)
    assert_beacon_error(r, status, words)
    # ... while /v1 keeps its own error shape.
    v1 = client.get("/v1/variants/1-100-A-G", headers=headers)
    assert v1.status_code == status and v1.json()["error"]["code"] == "invalid_key"
