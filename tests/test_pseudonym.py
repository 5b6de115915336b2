"""Pseudonymized sample ids: a keyed HMAC, the secret outside the database, a verifier in the registry."""

from __future__ import annotations

import hashlib
import hmac
import stat
from pathlib import Path

import pytest

from tests.batch_data import make_batch
from variantdb.ingest.vcf import LoadError
from variantdb.lifecycle import withdraw
from variantdb.load import load_batch
from variantdb.store.pseudonym import PseudonymKeyError, load_pseudonymizer
from variantdb.store.registry import Registry


def test_key_file_is_created_0600_and_reused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key = tmp_path / "conf" / "variantdb" / "pseudonym.key"
    monkeypatch.setenv("VARIANTDB_PSEUDONYM_KEY_FILE", str(key))
    first = load_pseudonymizer()
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert stat.S_IMODE(key.parent.stat().st_mode) == 0o700
    assert len(key.read_text().strip()) == 64
    again = load_pseudonymizer()
    assert first.pseudonym("P1") == again.pseudonym("P1")
    expected = hmac.new(key.read_text().strip().encode(), b"P1", hashlib.sha256).hexdigest()
    assert first.pseudonym("P1") == expected
    assert "secret" not in repr(first) and key.read_text().strip() not in repr(first)


def test_environment_secret_wins_over_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VARIANTDB_PSEUDONYM_KEY_FILE", str(tmp_path / "unused.key"))
    monkeypatch.setenv("VARIANTDB_PSEUDONYM_KEY", "s3cret")
    p = load_pseudonymizer()
    assert p.pseudonym("P1") == hmac.new(b"s3cret", b"P1", hashlib.sha256).hexdigest()
    assert not (tmp_path / "unused.key").exists()


def test_unsafe_key_files_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key = tmp_path / "open.key"
    key.write_text("abc\n")
    key.chmod(0o644)
    monkeypatch.setenv("VARIANTDB_PSEUDONYM_KEY_FILE", str(key))
    with pytest.raises(PseudonymKeyError, match="readable by others"):
        load_pseudonymizer()
    db = tmp_path / "db"
    monkeypatch.setenv("VARIANTDB_PSEUDONYM_KEY_FILE", str(db / "pseudonym.key"))
    with pytest.raises(PseudonymKeyError, match="inside the database directory"):
        load_pseudonymizer(db)


def test_load_with_another_secret_is_refused_and_withdraw_finds_by_original_id(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VARIANTDB_PSEUDONYM_KEY", "first-secret")
    db = tmp_path / "db"
    load_batch(db, make_batch(tmp_path / "a"), batch_name="a", workers=1)
    with Registry(db) as reg:
        verifier = reg.con.execute("SELECT value FROM meta WHERE key = 'pseudonym_verifier'").fetchall()[0]
        ids = {r["sample_id"] for r in reg.samples().to_pylist()}
    assert verifier is not None and "first-secret" not in verifier[0]
    assert ids == {hmac.new(b"first-secret", s.encode(), hashlib.sha256).hexdigest() for s in "FMCU"}
    # Nor the VCF's path (a file is often named after the person): its HMAC, which the key holder can match.
    with Registry(db) as reg:
        stored_files = {r["vcf"] for r in reg.samples().to_pylist()}
    vcf = next((tmp_path / "a").glob("*.vcf.gz"))
    assert stored_files == {hmac.new(b"first-secret", f"vcf:{vcf}".encode(), hashlib.sha256).hexdigest()}
    assert not any(vcf.name in v for v in stored_files)
    # The same people again are refused, named by the ids the manifest gave.
    with pytest.raises(LoadError, match=r"sample id\(s\) already loaded: F \(batch a\)"):
        load_batch(db, make_batch(tmp_path / "b"), batch_name="b", workers=1)
    monkeypatch.setenv("VARIANTDB_PSEUDONYM_KEY", "another-secret")
    with pytest.raises(PseudonymKeyError, match="not the one this database was created with"):
        load_batch(db, make_batch(tmp_path / "c"), batch_name="c", workers=1)
    with pytest.raises(PseudonymKeyError, match="not the one this database was created with"):
        withdraw(db, ["F"])
    monkeypatch.setenv("VARIANTDB_PSEUDONYM_KEY", "first-secret")
    report = withdraw(db, ["F"])
    assert report.withdrawn == ["F"] and report.release == "r0002"
