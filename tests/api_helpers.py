"""Helpers shared by several test files (moved from test_api.py); no tests here."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from httpx2 import Response

from variantdb.genome import CONTIGS
from variantdb.store.layout import variants_file


def assert_error(resp: Response, status: int, code: str | None = None) -> dict[str, Any]:
    """Check the one error shape of the service and return its body."""
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/json")
    body = resp.json()
    assert set(body) == {"error"}
    err = body["error"]
    assert set(err) == {"status", "code", "message", "details"}
    assert err["status"] == status and isinstance(err["message"], str) and err["message"]
    if code is not None:
        assert err["code"] == code, err
    return err  # type: ignore[no-any-return]


def _release_rows(db: Path) -> list[dict[str, Any]]:
    rel = db / "releases" / (db / "CURRENT").read_text().strip()
    rows: list[dict[str, Any]] = []
    for chrom in CONTIGS:
        part = variants_file(rel, chrom)
        if part.exists():
            rows += pq.read_table(part).to_pylist()
    return rows
