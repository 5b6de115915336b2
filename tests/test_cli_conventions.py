"""Conventions every ``variantdb`` command keeps: ``--version``, ``-h``, ``VARIANTDB_DB`` as ``--db``."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

import variantdb
from variantdb.keys import KeyStore
from variantdb.loaders.cli import app

runner = CliRunner()


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout.strip() == f"variantdb {variantdb.__version__}"


@pytest.mark.parametrize("args", [["-h"], ["info", "-h"], ["keys", "list", "-h"], ["withdraw", "-h"]])
def test_short_help(args: list[str]) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.stdout


def test_variantdb_db_is_the_default_of_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _, rec = KeyStore(tmp_path).create("registered", "env")
    monkeypatch.setenv("VARIANTDB_DB", str(tmp_path))
    result = runner.invoke(app, ["keys", "list"])
    assert result.exit_code == 0, result.output
    assert rec.id in result.stdout
    # --db still wins over the variable.
    other = tmp_path / "other"
    other.mkdir()
    result = runner.invoke(app, ["keys", "list", "--db", str(other)])
    assert rec.id not in result.stdout


def test_without_db_or_variable_the_error_names_both(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VARIANTDB_DB", raising=False)
    for args in (["info"], ["keys", "list"], ["releases"]):
        result = runner.invoke(app, args)
        assert result.exit_code == 2, args
        assert "--db" in result.stderr and "VARIANTDB_DB" in result.stderr
        assert "Traceback" not in result.output
