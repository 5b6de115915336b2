"""The layout: one installed import name, and import arrows that point one way.

- ``variantdb/`` (the core) imports nothing from ``variantdb.api`` or ``variantdb.loaders``;
  the CLI (``loaders/``) and the service (``api/``) never import each other.
- Inside the core the layers point down: ``ingest``, ``store``, ``release`` and
  ``subcohort`` never import the orchestration above them (``load``, ``publish``,
  ``lifecycle``, ``export*``, ``distributed``, ``annotate``); ``store`` imports none of
  ``ingest``, ``release`` or ``subcohort``.
- Nothing spells the old top-level names ``api`` or ``loaders``.
- The built wheel installs one top-level name, ``variantdb`` (slow: builds a wheel).
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent

ORCHESTRATION = {
    "variantdb.load",
    "variantdb.publish",
    "variantdb.lifecycle",
    "variantdb.export",
    "variantdb.export_coverage",
    "variantdb.export_subcohort",
    "variantdb.distributed",
    "variantdb.annotate",
    "variantdb.api",
    "variantdb.loaders",
}
LAYERS = {"ingest", "store", "release", "subcohort"}
FORBIDDEN: dict[str, set[str]] = {
    # folder (relative to the repo) -> dotted prefixes its modules must not import
    "variantdb": {"variantdb.api", "variantdb.loaders", "api", "loaders"},
    "loaders": {"variantdb.api", "api"},
    "api": {"variantdb.loaders", "loaders"},
    **{f"variantdb/{layer}": ORCHESTRATION for layer in LAYERS},
    "variantdb/store": ORCHESTRATION | {"variantdb.ingest", "variantdb.release", "variantdb.subcohort"},
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
            out |= {f"{node.module}.{alias.name}" for alias in node.names}
    return out


def _hits(names: set[str], prefixes: set[str]) -> list[str]:
    return sorted(n for n in names if any(n == p or n.startswith(p + ".") for p in prefixes))


@pytest.mark.parametrize("folder", sorted(FORBIDDEN))
def test_imports_point_one_way(folder: str) -> None:
    bad = {
        str(path.relative_to(ROOT)): _hits(_imports(path), FORBIDDEN[folder])
        for path in sorted((ROOT / folder).rglob("*.py"))
        if _hits(_imports(path), FORBIDDEN[folder])
    }
    assert bad == {}


def test_no_old_top_level_names() -> None:
    """``import api`` / ``from loaders...`` would only work from a checkout, never from the wheel."""
    bad = []
    for folder in ("variantdb", "api", "loaders", "tests", "benchmarks"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            hits = _hits(_imports(path), {"api", "loaders"})
            if hits:
                bad.append(f"{path.relative_to(ROOT)}: {hits}")
    assert bad == []


def test_core_subpackages_exist() -> None:
    for layer in LAYERS:
        assert (ROOT / "variantdb" / layer / "__init__.py").is_file(), layer


@pytest.mark.slow
def test_wheel_installs_one_top_level_name(tmp_path: Path) -> None:
    # Build from a copy of the tracked files: setuptools writes build/ beside the sources.
    src = tmp_path / "src"
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True)
    for name in tracked.stdout.split("\n"):
        if name and (ROOT / name).is_file():
            (src / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, src / name)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(src)],
        check=True,
    )
    (wheel,) = tmp_path.glob("variantdb-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        tops = {name.split("/")[0] for name in zf.namelist()}
        names = set(zf.namelist())
    assert {t for t in tops if not t.endswith(".dist-info")} == {"variantdb"}
    assert "variantdb/api/main.py" in names and "variantdb/loaders/cli.py" in names
    assert "variantdb/api/templates/base.html" in names
    # A clean venv with the wheel alone (no dependencies): only `variantdb` is importable at top level.
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    site = next((venv / "lib").glob("python3*/site-packages"))
    with zipfile.ZipFile(wheel) as zf:
        zf.extractall(site)
    code = (
        "import importlib.util as u, sys;"
        "print(u.find_spec('variantdb') is not None, u.find_spec('api') is None, u.find_spec('loaders') is None)"
    )
    out = subprocess.run(
        [str(venv / "bin" / "python"), "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True
    ).stdout.split()
    assert out == ["True", "True", "True"]


def test_no_test_file_imports_another() -> None:
    """Shared helpers live in helper modules (tests/*.py not named test_*) or fixtures, never in a test file."""
    bad = []
    for path in sorted((ROOT / "tests").glob("*.py")):
        hits = [n for n in _imports(path) if n.startswith("tests.test_")]
        if hits:
            bad.append(f"{path.relative_to(ROOT)}: {sorted(hits)}")
    assert bad == []
