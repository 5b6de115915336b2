"""Shared pytest fixtures. Each section belongs to one area; keep edits additive."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

# ---------------------------------------------------------------------------
# Pseudonymized sample ids (issue 6): the tests' secret lives in a temporary key
# file (created 0600 by the code under test), never in the user's ~/.config.
# Subprocesses inherit it through the environment.
# Access control (issue 6): the service tests written before API keys call
# without a key and read exact counts, so in tests a caller without a key is
# `controlled` (the deployment setting VARIANTDB_ANONYMOUS_ROLE). The access
# tests (tests/test_access.py) build their apps with anonymous_role="public",
# the production default, and use real keys.
# ---------------------------------------------------------------------------


# ---------------------------------------------------------------------------
# Tests never rewrite tracked files (issue 13): the tracked files under docs/
# and tests/data/ must be as they were when the run began. Regenerating them
# (e.g. VARIANTDB_UPDATE_SCREENSHOTS=1) is a deliberate act that skips this.
# ---------------------------------------------------------------------------

_ROOT = Path(__file__).resolve().parent.parent
_GUARDED = ("docs", "tests/data")


def _tracked_stats() -> dict[str, tuple[int, int]] | None:
    """Return ``{path: (size, mtime_ns)}`` of the tracked files under the guarded folders, or None off git."""
    import subprocess

    try:
        out = subprocess.run(
            ["git", "-C", str(_ROOT), "ls-files", "-z", "--", *_GUARDED],
            capture_output=True,
            check=True,
            timeout=30,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    stats = {}
    for name in out.decode().split("\0"):
        if name:
            try:
                st = (_ROOT / name).stat()
            except FileNotFoundError:
                stats[name] = (-1, -1)
            else:
                stats[name] = (st.st_size, st.st_mtime_ns)
    return stats


@pytest.fixture(scope="session", autouse=True)
def _tracked_files_unchanged() -> Iterator[None]:
    """Fail the run when a test rewrote a tracked file under docs/ or tests/data/."""
    before = None if os.environ.get("VARIANTDB_UPDATE_SCREENSHOTS") == "1" else _tracked_stats()
    yield
    if before is None:
        return
    after = _tracked_stats() or {}
    changed = sorted(p for p in before if after.get(p) != before[p])
    assert not changed, f"the test run rewrote tracked files (tests must write to tmp_path): {changed[:10]}"


@pytest.fixture(scope="session", autouse=True)
def pseudonym_key_file(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Point ``VARIANTDB_PSEUDONYM_KEY_FILE`` at a per-session file; unset ``VARIANTDB_PSEUDONYM_KEY``."""
    path = tmp_path_factory.mktemp("pseudonym") / "pseudonym.key"
    saved = {k: os.environ.get(k) for k in ("VARIANTDB_PSEUDONYM_KEY", "VARIANTDB_PSEUDONYM_KEY_FILE")}
    os.environ.pop("VARIANTDB_PSEUDONYM_KEY", None)
    os.environ["VARIANTDB_PSEUDONYM_KEY_FILE"] = str(path)
    yield path
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture(scope="session", autouse=True)
def _keyless_callers_controlled() -> Iterator[None]:
    """Serve callers without a key as ``controlled`` for the whole session (subprocesses too)."""
    old = os.environ.get("VARIANTDB_ANONYMOUS_ROLE")
    os.environ["VARIANTDB_ANONYMOUS_ROLE"] = "controlled"
    yield
    if old is None:
        os.environ.pop("VARIANTDB_ANONYMOUS_ROLE", None)
    else:
        os.environ["VARIANTDB_ANONYMOUS_ROLE"] = old


# ---------------------------------------------------------------------------
# Lookup service (issue 3): a fixture database built by the real loader.
# ---------------------------------------------------------------------------


@pytest.fixture(scope="session")
def api_cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small seeded synthetic cohort (multi-sample VCF, FASTA, manifest); returns its directory."""
    from benchmarks.cohort import generate_cohort

    out = tmp_path_factory.mktemp("api_cohort")
    generate_cohort(out, 40, 400, 7)
    return out


@pytest.fixture(scope="session")
def api_db(api_cohort: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A database with one release loaded by variantdb.load.load_batch from ``api_cohort``."""
    from variantdb.load import load_batch

    db = tmp_path_factory.mktemp("api_db")
    load_batch(db, api_cohort / "manifest.tsv", reference=api_cohort / "ref.fa", batch_name="b1")
    return db


@pytest.fixture(scope="session")
def api_client(api_db: Path) -> Iterator[TestClient]:
    """An in-process HTTP client of the service on ``api_db``."""
    from variantdb.api.main import create_app

    with TestClient(create_app(api_db)) as client:
        yield client
