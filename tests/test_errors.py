"""One base class for the core's user-facing errors, and the CLI printing them without a traceback."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

import variantdb
from variantdb.errors import VariantdbError
from variantdb.loaders.cli import app

CORE = Path(variantdb.__file__).resolve().parent
runner = CliRunner()


def _core_error_classes() -> list[type[BaseException]]:
    found = []
    for info in pkgutil.walk_packages(variantdb.__path__, "variantdb."):
        module = importlib.import_module(info.name)
        source = getattr(module, "__file__", None)
        if source is None or not Path(source).resolve().is_relative_to(CORE):
            continue  # variantdb.api and variantdb.loaders live outside the core's folder
        for name, obj in inspect.getmembers(module, inspect.isclass):
            if obj.__module__ == info.name and issubclass(obj, BaseException) and not name.startswith("_"):
                found.append(obj)
    return found


def test_every_core_error_subclasses_variantdb_error() -> None:
    classes = _core_error_classes()
    assert len(classes) >= 17, [c.__name__ for c in classes]
    assert not [f"{c.__module__}.{c.__name__}" for c in classes if not issubclass(c, VariantdbError)]


def test_each_keeps_its_builtin_base() -> None:
    # code that catches ValueError, LookupError or RuntimeError still catches them
    from variantdb.ingest.vcf import LoadError
    from variantdb.store.layout import ReleaseNotFoundError
    from variantdb.store.registry import DatabaseLockedError

    assert issubclass(LoadError, ValueError)
    assert issubclass(ReleaseNotFoundError, LookupError)
    assert issubclass(DatabaseLockedError, RuntimeError)


def _one_clean_line(output: str) -> str:
    lines = [line for line in output.splitlines() if line.strip()]
    assert "Traceback" not in output
    assert len(lines) == 1, output
    assert lines[0].startswith("error: "), output
    return lines[0]


def test_the_cli_prints_an_unknown_release_in_one_line(tmp_path: Path) -> None:
    result = runner.invoke(app, ["export", "--db", str(tmp_path), "--format", "tsv", "--release", "r0042"])
    assert result.exit_code == 1
    assert "r0042" in _one_clean_line(result.output)


def test_the_cli_prints_a_bad_manifest_without_a_traceback(tmp_path: Path) -> None:
    manifest = tmp_path / "batch.tsv"
    manifest.write_text("")
    result = runner.invoke(app, ["load", "--db", str(tmp_path / "db"), "--manifest", str(manifest), "-q"])
    assert result.exit_code == 1
    assert result.output.startswith(f"error: {manifest}: 1 problem(s) in the manifest")
    assert "the manifest is empty" in result.output and "Traceback" not in result.output


def test_the_cli_catches_any_core_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # an error no command caught by name before: the base class is enough
    from variantdb import lifecycle
    from variantdb.genes import GeneNotFoundError

    def fail(*args: object, **kwargs: object) -> None:
        raise GeneNotFoundError("no gene MYH99 in the gene table; check the symbol")

    monkeypatch.setattr(lifecycle, "publish", fail)
    result = runner.invoke(app, ["publish", "--db", str(tmp_path)])
    assert result.exit_code == 1
    assert _one_clean_line(result.output) == "error: no gene MYH99 in the gene table; check the symbol"
