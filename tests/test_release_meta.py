"""The typed model of ``release.json`` (variantdb/release/meta.py): written as it always was, read whatever its age."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.conftest_api import build_release
from variantdb.api.main import create_app
from variantdb.release.check import check_database
from variantdb.release.files import read_release_meta, write_release_meta
from variantdb.release.meta import ReleaseMeta, ReleaseMetaError
from variantdb.store.layout import release_path

# Keys the loader added to release.json after its first releases: a release written before lacks them.
LATER_KEYS = ("code_version", "coverage")


@pytest.fixture()
def db_copy(api_db: Path, tmp_path: Path) -> Path:
    """A copy of the loader-built ``api_db`` that a test may edit."""
    db = tmp_path / "db"
    shutil.copytree(api_db, db)
    return db


def _meta_path(db: Path) -> Path:
    return release_path(db, "r0001") / "release.json"


def test_a_release_json_written_by_the_loader_round_trips_byte_for_byte(api_db: Path, tmp_path: Path) -> None:
    written = _meta_path(api_db).read_bytes()
    meta = read_release_meta(api_db, "r0001")
    write_release_meta(tmp_path / "release.json", meta)
    assert (tmp_path / "release.json").read_bytes() == written
    assert list(meta.as_json()) == list(json.loads(written))
    assert meta.model_extra == {}  # the loader writes no key the model does not declare


def test_the_loader_writes_every_declared_key_with_its_type(api_db: Path) -> None:
    meta = read_release_meta(api_db, "r0001")
    assert meta.model_fields_set == set(ReleaseMeta.model_fields)
    assert meta.id == "r0001" and meta.batches == ["b1"] and meta.n_samples == 40
    assert meta.coverage is not None and meta.coverage.n_samples["all"] == 40
    assert meta.strata[0].key == "sex_xx" and meta.strata[0].kind == "sex"
    assert meta.contigs and sum(meta.contigs.values()) == meta.n_variants
    assert {"an.parquet", "coverage.parquet"} <= set(meta.checksums) and "release.json" not in meta.checksums


def test_a_release_written_before_later_keys_still_loads_and_is_served(db_copy: Path) -> None:
    path = _meta_path(db_copy)
    old = json.loads(path.read_text())
    for key in (*LATER_KEYS, "groups", "settings", "stats", "reference"):
        del old[key]
    path.write_text(json.dumps(old, indent=1, ensure_ascii=False))
    meta = read_release_meta(db_copy, "r0001")
    assert meta.code_version is None and meta.coverage is None and meta.stats is None
    assert meta.groups == {} and meta.settings == {} and meta.reference is None
    assert meta.as_json() == old  # the defaults are not written back
    assert check_database(db_copy).ok
    with TestClient(create_app(db_copy)) as client:
        body = client.get("/v1/releases/r0001").json()
        assert body["id"] == "r0001" and "coverage" not in body and "stats" not in body


def test_an_unknown_key_is_kept(db_copy: Path, tmp_path: Path) -> None:
    path = _meta_path(db_copy)
    newer = json.loads(path.read_text()) | {"curation": {"by": "a later version", "n": 2}}
    path.write_text(json.dumps(newer, indent=1, ensure_ascii=False))
    meta = read_release_meta(db_copy, "r0001")
    assert meta.model_extra == {"curation": {"by": "a later version", "n": 2}}
    write_release_meta(tmp_path / "release.json", meta)
    assert (tmp_path / "release.json").read_text() == path.read_text()
    with TestClient(create_app(db_copy)) as client:
        assert client.get("/v1/releases/r0001").json()["curation"] == {"by": "a later version", "n": 2}


def test_write_release_keeps_a_key_the_caller_adds(tmp_path: Path) -> None:
    release = build_release(tmp_path, "r0001", [("chr1", 100, "A", "G", 1, 200)], meta={"note": "pilot"})
    written = json.loads((release / "release.json").read_text())
    assert written["note"] == "pilot" and written["id"] == "r0001" and written["n_variants"] == 1
    assert read_release_meta(tmp_path, "r0001").model_extra == {"note": "pilot"}


def test_a_damaged_release_json_is_named_not_a_traceback(db_copy: Path) -> None:
    path = _meta_path(db_copy)
    path.write_text(json.dumps(json.loads(path.read_text()) | {"n_samples": "forty"}))
    with pytest.raises(ReleaseMetaError) as e:
        read_release_meta(db_copy, "r0001")
    assert str(path) in str(e.value) and "n_samples" in str(e.value) and "'forty'" in str(e.value)
    report = check_database(db_copy)
    assert not report.ok and any("n_samples" in p and str(path) in p for p in report.problems)
    path.write_text("{not json")
    with pytest.raises(ReleaseMetaError, match="is not a release's metadata"):
        read_release_meta(db_copy, "r0001")


def test_write_release_refuses_a_wrongly_typed_key(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="n_samples"):
        build_release(tmp_path, "r0001", [("chr1", 100, "A", "G", 1, 200)], meta={"n_samples": "many"})
    assert not release_path(tmp_path, "r0001").exists()
