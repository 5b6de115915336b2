"""The API documentation pages (api/routes/apidocs.py) load nothing from outside the service."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.conftest_api import build_release
from variantdb.api.main import create_app
from variantdb.api.routes.apidocs import ASSETS


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    db = tmp_path_factory.mktemp("apidocs_db")
    build_release(db, "r0001", [("chr1", 100, "A", "G", 1, 10)])
    with TestClient(create_app(Path(db))) as c:
        yield c


def _urls(html: str) -> list[str]:
    return re.findall(r"""(?:src|href|url)\s*[=:]\s*['"]([^'"]+)['"]""", html)


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_docs_pages_reference_only_local_urls(client: TestClient, page: str) -> None:
    r = client.get(page)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    urls = _urls(r.text)
    assert urls, "no asset found in the page"
    assert not [u for u in urls if not u.startswith("/")], urls
    assert "http://" not in r.text and "https://" not in r.text
    assert "fonts.googleapis" not in r.text
    # The browser is told to contact no other host either.
    csp = r.headers["content-security-policy"]
    assert "http" not in csp and "default-src 'self'" in csp
    for url in urls:
        asset = client.get(url)
        assert asset.status_code == 200, url
        assert len(asset.content) > 0


def test_every_asset_is_served_with_its_type(client: TestClient) -> None:
    for name, media in ASSETS.items():
        r = client.get(f"/static/apidocs/{name}")
        assert r.status_code == 200, name
        assert r.headers["content-type"] == media
    assert client.get("/static/apidocs/../pyproject.toml").status_code == 404
    r = client.get("/static/apidocs/nope.js")
    assert r.status_code == 404
    assert set(r.json()["error"]) == {"status", "code", "message", "details"}


def test_the_swagger_bundle_is_the_real_one(client: TestClient) -> None:
    assert b"SwaggerUIBundle" in client.get("/static/apidocs/swagger-ui-bundle.js").content
    assert b"Redoc" in client.get("/static/apidocs/redoc.standalone.js").content
