"""Crash trials: SIGKILL ``variantdb load``, ``withdraw`` and ``publish`` at random moments.

Each trial copies a prepared database, starts one command in a subprocess (its
own process group, so reader workers die with it), kills the group with SIGKILL
after a seeded random delay within the command's clean running time, and then
checks that:

1. ``CURRENT`` names the release from before the command or the one a clean
   run publishes (same variant tables, byte for byte), and that release's files
   match their publish-time checksums: never a mixture;
2. ``variantdb check`` passes (it finishes or undoes the interrupted write first,
   as the next write would);
3. rerunning the command completes, and the release it leaves has tables
   byte-identical to a clean run's.

Run: ``python -m benchmarks.crash_trials --trials 21 --seed 5 --work /tmp/NAME/crash``.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Trial", "prepare", "run_trials"]

COMMANDS = ("load", "withdraw", "publish")
_ROOT = Path(__file__).resolve().parents[1]


def _env() -> dict[str, str]:
    """The environment of the killed commands: this checkout's code first."""
    path = os.environ.get("PYTHONPATH")
    return {**os.environ, "PYTHONPATH": str(_ROOT) + (os.pathsep + path if path else "")}


@dataclass
class Trial:
    """One killed run and what was found after it."""

    n: int
    command: str
    armed: bool  # the delay ran from the moment the new release folder appeared
    delay: float
    killed: bool  # False when the command had already finished
    after_kill: str  # "old" or "new": the release CURRENT named right after the kill
    recovery: str  # what check did about an interrupted write
    ok: bool
    problem: str = ""


def _tables(db: Path) -> dict[str, bytes]:
    from variantdb.release import read_current, release_path

    current = read_current(db)
    if current is None:
        return {}
    root = release_path(db, current)
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != "release.json"
    }


def _argv(command: str, db: Path, cohort: Path, person: str) -> list[str]:
    base = [sys.executable, "-m", "loaders.cli", command, "--db", str(db)]
    if command == "load":
        return [
            *base,
            "--manifest",
            str(cohort / "b2.tsv"),
            "--batch",
            "b2",
            "--reference",
            str(cohort / "ref.fa"),
            "-q",
        ]
    if command == "withdraw":
        return [*base, "--sample", person, "--reason", "crash trial"]
    return [*base, "--reason", "crash trial"]


def prepare(work: Path, n_samples: int = 8, n_sites: int = 100, seed: int = 3) -> dict[str, object]:
    """Generate a small gVCF cohort as two batches and the databases each command starts from.

    Returns
    -------
    dict
        ``cohort`` folder, ``person`` (a sample id of batch b1 to withdraw), and per
        command the starting database (``start_<cmd>``), a clean run's tables
        (``clean_<cmd>``) and its running time in seconds (``seconds_<cmd>``).
    """
    from benchmarks.cohort import generate_cohort
    from loaders.batch import load_batch

    work.mkdir(parents=True, exist_ok=True)
    cohort = work / "cohort"
    manifest = generate_cohort(cohort, n_samples, n_sites, seed, layout="single", gvcf=True)
    lines = manifest.read_text().splitlines()
    half = 1 + (len(lines) - 1) // 2
    (cohort / "b1.tsv").write_text("\n".join(lines[:half]) + "\n")
    (cohort / "b2.tsv").write_text("\n".join([lines[0], *lines[half:]]) + "\n")
    person = lines[1].split("\t")[0]
    one = work / "start-one"
    two = work / "start-two"
    for db in (one, two):
        if db.exists():
            shutil.rmtree(db)
    load_batch(one, cohort / "b1.tsv", cohort / "ref.fa", "b1", workers=1)
    shutil.copytree(one, two)
    load_batch(two, cohort / "b2.tsv", cohort / "ref.fa", "b2", workers=1)
    out: dict[str, object] = {"cohort": cohort, "person": person}
    for command in COMMANDS:
        start = one if command == "load" else two
        clean = work / f"clean-{command}"
        if clean.exists():
            shutil.rmtree(clean)
        shutil.copytree(start, clean)
        t0 = time.perf_counter()
        subprocess.run(_argv(command, clean, cohort, person), check=True, capture_output=True, env=_env())
        out[f"seconds_{command}"] = time.perf_counter() - t0
        out[f"start_{command}"] = start
        out[f"clean_{command}"] = _tables(clean)
        out[f"old_{command}"] = _tables(start)
    return out


def _one_trial(n: int, command: str, delay: float, armed: bool, work: Path, prep: dict[str, object]) -> Trial:
    from typer.testing import CliRunner

    from loaders.batch import load_batch
    from loaders.cli import app
    from loaders.lifecycle import publish, withdraw
    from variantdb.check import check_database
    from variantdb.release import next_release_id, read_current

    db = work / f"trial-{n:03d}"
    if db.exists():
        shutil.rmtree(db)
    shutil.copytree(prep[f"start_{command}"], db)  # type: ignore[arg-type]
    cohort = Path(str(prep["cohort"]))
    old, clean = prep[f"old_{command}"], prep[f"clean_{command}"]
    before = read_current(db)
    new_folder = db / "releases" / next_release_id(db)
    proc = subprocess.Popen(
        _argv(command, db, cohort, str(prep["person"])),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=_env(),
        start_new_session=True,
    )
    if armed:
        # Aim at the end of the write: from the moment the new release folder is in place
        # (registry commit, store swap and CURRENT switch follow), after a random delay.
        while proc.poll() is None and not new_folder.exists():
            time.sleep(0.005)
    time.sleep(delay)
    killed = proc.poll() is None
    if killed:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    trial = Trial(n, command, armed, round(delay, 3), killed, "", "", False)
    # 1. Right after the kill, before anything repairs it: old or new, checksums intact.
    tables = _tables(db)
    trial.after_kill = "old" if tables == old else "new" if tables == clean else "mixed"
    current = read_current(db)
    report = check_database(db, current)
    integrity = [p for p in report.problems if p.startswith(f"release {current}")]
    if trial.after_kill == "mixed" or integrity:
        trial.problem = f"after the kill: release {current} is {trial.after_kill}; {integrity}"
        return trial
    # 2. variantdb check passes (finishing the interrupted write first).
    result = CliRunner().invoke(app, ["check", "--db", str(db)])
    trial.recovery = "; ".join(
        line.removeprefix("interrupted write: ")
        for line in result.output.splitlines()
        if "interrupted write:" in line
    )
    if result.exit_code != 0:
        trial.problem = f"variantdb check failed: {result.output[-500:]}"
        return trial
    # 3. The rerun completes with a clean run's counts.
    if command == "load":
        load_batch(db, cohort / "b2.tsv", cohort / "ref.fa", "b2", skip_existing=True, workers=1)
    elif command == "withdraw":
        withdraw(db, [str(prep["person"])], reason="crash trial")
    else:
        # A publish whose release was committed before the kill is done; otherwise run it again.
        if read_current(db) == before:
            publish(db, reason="crash trial")
    if _tables(db) != clean:
        trial.problem = f"after the rerun, release {read_current(db)} differs from a clean run's"
        return trial
    final = check_database(db)
    if not final.ok:
        trial.problem = f"check after the rerun: {final.problems}"
        return trial
    trial.ok = True
    shutil.rmtree(db, ignore_errors=True)
    return trial


def run_trials(work: Path, trials: int = 21, seed: int = 5) -> list[Trial]:
    """Run ``trials`` killed commands (load, withdraw, publish in turn) with seeded random delays.

    Every other trial draws its delay over the command's clean running time (x1.1, so
    some runs finish); the others wait for the new release folder to appear and then
    draw a delay of at most 0.3 s, which lands in the commit, swap and switch steps.
    """
    prep = prepare(work)
    rng = random.Random(seed)
    out = []
    for n in range(trials):
        command = COMMANDS[n % len(COMMANDS)]
        seconds = float(prep[f"seconds_{command}"])  # type: ignore[arg-type]
        armed = n % 2 == 1
        delay = rng.uniform(0.0, 0.3) if armed else rng.uniform(0.0, 1.1 * seconds)
        out.append(_one_trial(n, command, delay, armed, work, prep))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=21)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--work", type=Path, default=Path("/tmp/variantdb-crash"))
    args = parser.parse_args()
    t0 = time.perf_counter()
    results = run_trials(args.work, args.trials, args.seed)
    for t in results:
        print(
            f"{t.n:3d} {t.command:8s} kill at {'release+' if t.armed else ''}{t.delay:.3f} s  killed={t.killed!s:5s} "
            f"after kill: {t.after_kill:3s} {'ok' if t.ok else 'FAILED ' + t.problem}"
            + (f" (check: {t.recovery})" if t.recovery else "")
        )
    outcomes = Counter((t.command, t.after_kill) for t in results)
    print("outcomes:", dict(sorted(outcomes.items())), f"in {time.perf_counter() - t0:.0f} s")
    sys.exit(0 if all(t.ok for t in results) else 1)


if __name__ == "__main__":
    main()
