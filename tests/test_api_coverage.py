"""``/v1/coverage`` and the ``coverage`` block of region pages, on the session fixture database."""

from __future__ import annotations

import itertools
import shutil
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient

from tests.api_helpers import assert_error
from variantdb.api.models import CoveragePublic, RegionPage
from variantdb.release.coverage import COVERAGE_FILE


def _current(db: Path) -> Path:
    return db / "releases" / (db / "CURRENT").read_text().strip()


def _an_rows(db: Path, chrom: str) -> list[dict[str, Any]]:
    return [r for r in pq.read_table(_current(db) / "an.parquet").to_pylist() if r["chrom"] == chrom]


def test_position_gives_covered_samples_half_of_an_all(api_client: TestClient, api_db: Path) -> None:
    rows = [r for r in _an_rows(api_db, "chr1") if 0 < r["an_all"]][:40]
    assert rows
    for r in rows:
        resp = api_client.get(f"/v1/coverage/1:{r['start']}")
        assert resp.status_code == 200, resp.text
        body = CoveragePublic.model_validate(resp.json())
        assert body.covered is not None
        assert 2 * body.covered["all"] == r["an_all"]  # all diploid on chr1
        assert body.covered["WGS"] == body.covered["all"] and body.covered["WES"] == 0
        assert body.region.start == body.region.end == r["start"] and body.total_segments == 1
        (all_,) = [t for t in body.technologies if t.technology == "all"]
        assert all_.mean == body.covered["all"] and all_.n_samples == 40


def test_region_segments_tile_the_region_across_pages(api_client: TestClient, api_db: Path) -> None:
    rows = _an_rows(api_db, "chr1")
    busy = [r for r in rows if r["an_all"] < max(x["an_all"] for x in rows)]
    start, end = busy[0]["start"] - 5, busy[min(30, len(busy) - 1)]["end"]
    segments: list[dict[str, Any]] = []
    offset: int | None = 0
    first_body = None
    while offset is not None:
        resp = api_client.get(f"/v1/coverage/chr1:{start}-{end}", params={"offset": offset, "limit": 7})
        assert resp.status_code == 200, resp.text
        body = resp.json()
        CoveragePublic.model_validate(body)
        first_body = first_body or body
        assert body["covered"] is None and body["count"] == len(body["segments"]) <= 7
        segments += body["segments"]
        offset = body["next_offset"]
    assert len(segments) == first_body["total_segments"] > 7
    assert segments[0]["start"] == start and segments[-1]["end"] == end
    assert all(a["end"] + 1 == b["start"] for a, b in itertools.pairwise(segments))
    span = end - start + 1
    mean = sum((s["end"] - s["start"] + 1) * s["covered"]["all"] for s in segments) / span
    (all_,) = [t for t in first_body["technologies"] if t["technology"] == "all"]
    assert all_["mean"] == pytest.approx(mean, abs=1e-4)
    assert all_["min"] == min(s["covered"]["all"] for s in segments) < all_["max"]


def test_region_page_carries_a_coverage_block(api_client: TestClient) -> None:
    resp = api_client.get("/v1/regions/chr1:1-2000000")
    assert resp.status_code == 200
    body = RegionPage.model_validate(resp.json())
    assert body.coverage is not None and body.coverage.min_samples == 1
    techs = {t.technology: t for t in body.coverage.technologies}
    assert list(techs) == ["all", "WGS", "WES", "panel"]
    direct = api_client.get("/v1/coverage/chr1:1-2000000").json()
    assert [t.model_dump() for t in body.coverage.technologies] == direct["technologies"]


@pytest.mark.parametrize(
    ("locus", "status", "code"),
    [
        ("chr1", 400, "invalid_region"),
        ("chr1:0", 400, "invalid_region"),
        ("chr1:999999999", 400, "invalid_region"),
        ("chrUn:5", 400, "invalid_region"),
        ("chr1:10-5", 400, "invalid_region"),
        ("chr1:1-999999999", 400, "region_too_large"),
    ],
)
def test_bad_loci_use_the_error_shape(api_client: TestClient, locus: str, status: int, code: str) -> None:
    assert_error(api_client.get(f"/v1/coverage/{locus}"), status, code)


def test_bad_parameters_use_the_error_shape(api_client: TestClient) -> None:
    assert_error(api_client.get("/v1/coverage/chr1:100", params={"limit": 0}), 400, "invalid_limit")
    assert_error(api_client.get("/v1/coverage/chr1:100", params={"min_samples": -1}), 422)
    assert_error(
        api_client.get("/v1/coverage/chr1:100", params={"release": "r9999"}), 404, "release_not_found"
    )


def test_counts_are_gated(api_db: Path) -> None:
    """A caller without a key (public) learns no coverage figures, by the endpoint or a region listing."""
    from variantdb.api.main import create_app
    from variantdb.settings import Settings

    # No limits: the session's other tests share this database's per-address budget.
    unlimited = Settings(public_requests_per_minute=0, public_daily_queries=0)
    with TestClient(create_app(api_db, unlimited, anonymous_role="public")) as client:
        assert_error(client.get("/v1/coverage/chr1:100"), 403, "forbidden")
        assert_error(client.get("/v1/regions/chr1:1-2000"), 403, "forbidden")


def test_release_without_a_track_is_a_404(api_db: Path, tmp_path: Path) -> None:
    from variantdb.api.main import create_app

    db = tmp_path / "db"
    shutil.copytree(api_db, db)
    (_current(db) / COVERAGE_FILE).unlink()
    with TestClient(create_app(db)) as client:
        assert_error(client.get("/v1/coverage/chr1:100"), 404, "no_coverage")
        assert client.get("/v1/regions/chr1:1-2000").json()["coverage"] is None


def test_openapi_documents_coverage(api_client: TestClient) -> None:
    spec = api_client.get("/openapi.json").json()
    op = spec["paths"]["/v1/coverage/{locus}"]["get"]
    assert {p["name"] for p in op["parameters"]} >= {"locus", "min_samples", "offset", "limit", "release"}
    assert {"200", "400", "403", "404"} <= set(op["responses"])
    assert "coverage" in spec["components"]["schemas"]["RegionPage"]["properties"]
