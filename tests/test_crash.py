"""Crash safety: load, withdraw and publish killed with SIGKILL at seeded random moments (issue 5),
and a load meeting a full disk before or after its registry commit (issue 13).

Runs :mod:`benchmarks.crash_trials` at CI size; see its docstring for what each trial checks.
``python -m benchmarks.crash_trials --every-rename`` kills before every step boundary in turn.
"""

from __future__ import annotations

import errno
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

import variantdb.load
from benchmarks.crash_trials import run_trials
from tests.batch_data import make_batch
from variantdb.loaders.cli import app
from variantdb.release.check import check_database
from variantdb.release.files import read_current, set_current
from variantdb.store.registry import Registry


@pytest.mark.crash
def test_sigkill_at_random_moments_leaves_old_or_new_and_rerun_matches_clean(tmp_path: Path) -> None:
    trials = run_trials(tmp_path, trials=20, seed=5)
    failed = [t for t in trials if not t.ok]
    assert not failed, "\n".join(f"trial {t.n} ({t.command}, {t.delay} s): {t.problem}" for t in failed)
    assert len(trials) >= 20
    assert {t.command for t in trials} == {"load", "withdraw", "publish"}
    assert sum(t.killed for t in trials) >= len(trials) // 2  # most runs really were killed mid-way
    assert sum(t.rename > 0 for t in trials) == len(trials) // 2  # half at a step boundary of the write


# ---------------------------------------------------------------------------
# A full disk (issue 13): a clear error, and what the user is told matches what
# the database holds. ENOSPC is injected before and after the registry commit.
# ---------------------------------------------------------------------------

runner = CliRunner()


def _full(path: object = "/mnt/full/x") -> OSError:
    return OSError(errno.ENOSPC, "No space left on device", str(path))


def _load(db: Path, manifest: Path) -> str:
    result = runner.invoke(
        app, ["load", "--db", str(db), "--manifest", str(manifest), "--batch", "jan", "-q"]
    )
    assert "Traceback" not in result.output
    return f"exit {result.exit_code}: " + " ".join(result.output.split())


def _batches(db: Path) -> list[str]:
    with Registry(db, read_only=True) as reg:
        return reg.batch_names()


def _write_release_fails(*a: object, **k: object) -> None:
    raise _full("/data/db/releases/.r0001.tmp/variants/chr1.parquet")


def _commit_fails(self: Registry, *a: object, **k: object) -> None:
    raise duckdb.IOException('IO Error: Could not write file "registry.duckdb.wal": No space left on device')


@pytest.mark.parametrize(
    ("target", "fake"),
    [("write_release", _write_release_fails), ("Registry.add_batch", _commit_fails)],
    ids=["writing-the-release", "registry-commit"],
)
def test_full_disk_before_the_commit_changes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, target: str, fake: object
) -> None:
    if target == "write_release":
        monkeypatch.setattr(variantdb.load, "write_release", fake)
    else:
        monkeypatch.setattr(Registry, "add_batch", fake)
    db = tmp_path / "db"
    said = _load(db, make_batch(tmp_path / "in"))
    assert said.startswith("exit 1: error: out of disk space"), said
    assert "nothing was changed (batch 'jan' is not loaded)" in said and "load it again" in said
    assert _batches(db) == [] and read_current(db) is None
    for folder in ("staging", "releases", "calls", "gaps"):
        assert not (db / folder).exists() or not any((db / folder).iterdir()), folder
    monkeypatch.undo()
    assert _load(db, make_batch(tmp_path / "in")).startswith("exit 0")  # and it loads once space is back
    assert _batches(db) == ["jan"] and read_current(db) == "r0001"


def test_full_disk_after_the_commit_says_the_batch_is_loaded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_space(db: Path, release_id: str) -> None:
        raise _full(db / f".CURRENT.{release_id}")

    monkeypatch.setattr(variantdb.load, "set_current", no_space)  # going live fails, and so does recover
    db = tmp_path / "db"
    said = _load(db, make_batch(tmp_path / "in"))
    assert said.startswith("exit 1: error: out of disk space writing"), said
    assert "after batch 'jan' was recorded: the batch is loaded and release r0001 is published" in said
    assert "not yet the current release" in said and "do not load the batch again" in said
    assert _batches(db) == ["jan"] and read_current(db) is None  # what it said
    assert (db / "calls" / "batch=jan").is_dir()
    monkeypatch.undo()
    result = runner.invoke(app, ["check", "--db", str(db)])
    assert result.exit_code == 0, result.output
    assert read_current(db) == "r0001"
    assert "already loaded" in _load(db, make_batch(tmp_path / "in"))  # as it was told


def test_full_disk_after_the_commit_is_rolled_forward_when_it_can_be(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failure once the batch is recorded (closing the registry, going live) never loses the batch."""
    add_batch = Registry.add_batch

    def then_full(self: Registry, *a: object, **k: object) -> None:
        add_batch(self, *a, **k)  # type: ignore[arg-type]
        raise _full(self.db / "registry.duckdb")  # e.g. the checkpoint when the registry is closed

    failed = []

    def once(db: Path, release_id: str) -> None:
        if not failed:
            failed.append(release_id)
            raise _full(db / ".CURRENT")
        set_current(db, release_id)

    monkeypatch.setattr(Registry, "add_batch", then_full)
    monkeypatch.setattr(variantdb.load, "set_current", once)
    db = tmp_path / "db"
    said = _load(db, make_batch(tmp_path / "in"))
    assert said.startswith("exit 0"), said
    assert failed == ["r0001"]
    assert _batches(db) == ["jan"] and read_current(db) == "r0001"
    report = check_database(db)
    assert report.ok, report.problems
