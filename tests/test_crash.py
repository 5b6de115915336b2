"""Crash safety: load, withdraw and publish killed with SIGKILL at seeded random moments (issue 5).

Runs :mod:`benchmarks.crash_trials` at CI size; see its docstring for what each trial checks.
``python -m benchmarks.crash_trials --every-rename`` kills before every step boundary in turn.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.crash_trials import run_trials


@pytest.mark.crash
def test_sigkill_at_random_moments_leaves_old_or_new_and_rerun_matches_clean(tmp_path: Path) -> None:
    trials = run_trials(tmp_path, trials=20, seed=5)
    failed = [t for t in trials if not t.ok]
    assert not failed, "\n".join(f"trial {t.n} ({t.command}, {t.delay} s): {t.problem}" for t in failed)
    assert len(trials) >= 20
    assert {t.command for t in trials} == {"load", "withdraw", "publish"}
    assert sum(t.killed for t in trials) >= len(trials) // 2  # most runs really were killed mid-way
    assert sum(t.rename > 0 for t in trials) == len(trials) // 2  # half at a step boundary of the write
