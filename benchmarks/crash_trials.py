"""Crash trials: SIGKILL ``variantdb load``, ``withdraw`` and ``publish`` at random moments.

Each trial copies a prepared database, starts one command in a subprocess (its
own process group, so reader workers die with it) and kills the group with
SIGKILL: every other trial after a seeded random delay within the command's
clean running time, the others just before a seeded random one of the renames
the command makes (each step boundary of a write is a rename: the registry
commit lies between two of them). Then it checks that:

1. ``CURRENT`` names the release from before the command or the one a clean
   run publishes (same variant tables, byte for byte), and that release's files
   match their publish-time checksums: never a mixture;
2. ``variantdb check`` passes (it finishes or undoes the interrupted write first,
   as the next write would);
3. rerunning the command completes, and the release it leaves has tables
   byte-identical to a clean run's.

Run: ``python -m benchmarks.crash_trials --trials 21 --seed 5 --work /tmp/NAME/crash``;
``--every-rename`` kills each command before its 1st, 2nd, ... rename in turn instead.
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
    delay: float
    killed: bool  # False when the command had already finished
    after_kill: str  # "old" or "new": the release CURRENT named right after the kill
    recovery: str  # what check did about an interrupted write
    ok: bool
    rename: int = 0  # killed just before the process's N-th rename (0: killed by time)
    problem: str = ""


def _tables(db: Path) -> dict[str, bytes]:
    from variantdb.release.files import read_current
    from variantdb.store.layout import release_path

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
    base = [sys.executable, "-m", "variantdb.loaders.cli", command, "--db", str(db)]
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
        return [*base, "--sample", person, "--reason", "crash trial", "--yes"]
    return [*base, "--reason", "crash trial"]


# Run the CLI with os.rename / os.replace counted: SIGKILL the process just before the N-th one.
# Every step boundary of a write (release folder in place, staged batch moved in, a rewritten batch
# swapped, CURRENT switched) is a rename, and the registry commit lies between two of them.
_STEP_WRAPPER = """
import os, runpy, signal, sys
limit, seen = int(os.environ["VARIANTDB_CRASH_AT_RENAME"]), [0]
def counted(real):
    def op(*args, **kwargs):
        seen[0] += 1
        if seen[0] == limit:
            os.kill(os.getpid(), signal.SIGKILL)
        return real(*args, **kwargs)
    return op
os.rename, os.replace = counted(os.rename), counted(os.replace)
if os.environ.get("VARIANTDB_RENAME_COUNT_FILE"):
    import atexit
    atexit.register(lambda: open(os.environ["VARIANTDB_RENAME_COUNT_FILE"], "w").write(str(seen[0])))
sys.argv = ["variantdb", *sys.argv[1:]]
runpy.run_module("variantdb.loaders.cli", run_name="__main__")
"""


def prepare(work: Path, n_samples: int = 8, n_sites: int = 100, seed: int = 3) -> dict[str, object]:
    """Generate a small gVCF cohort as two batches and the databases each command starts from.

    Returns
    -------
    dict
        ``cohort`` folder, ``person`` (a sample id of batch b1 to withdraw), and per
        command the starting database (``start_<cmd>``), a clean run's tables
        (``clean_<cmd>``), its running time in seconds (``seconds_<cmd>``) and the
        number of renames it makes (``renames_<cmd>``).
    """
    from benchmarks.cohort import generate_cohort
    from variantdb.load import load_batch

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
        count = work / f"renames-{command}"
        env = {**_env(), "VARIANTDB_CRASH_AT_RENAME": "0", "VARIANTDB_RENAME_COUNT_FILE": str(count)}
        argv = [sys.executable, "-c", _STEP_WRAPPER, *_argv(command, clean, cohort, person)[3:]]
        subprocess.run(argv, check=True, capture_output=True, env=env)
        out[f"seconds_{command}"] = time.perf_counter() - t0
        out[f"renames_{command}"] = int(count.read_text())
        out[f"start_{command}"] = start
        out[f"clean_{command}"] = _tables(clean)
        out[f"old_{command}"] = _tables(start)
    return out


def _one_trial(
    n: int,
    command: str,
    delay: float,
    work: Path,
    prep: dict[str, object],
    crash_at_rename: int = 0,
) -> Trial:
    from typer.testing import CliRunner

    from variantdb.lifecycle import publish, withdraw
    from variantdb.load import load_batch
    from variantdb.loaders.cli import app
    from variantdb.release.check import check_database
    from variantdb.release.files import read_current

    db = work / f"trial-{n:03d}"
    if db.exists():
        shutil.rmtree(db)
    shutil.copytree(prep[f"start_{command}"], db)  # type: ignore[arg-type]
    cohort = Path(str(prep["cohort"]))
    old, clean = prep[f"old_{command}"], prep[f"clean_{command}"]
    before = read_current(db)
    argv = _argv(command, db, cohort, str(prep["person"]))
    env = _env()
    if crash_at_rename:
        argv = [sys.executable, "-c", _STEP_WRAPPER, *argv[3:]]
        env["VARIANTDB_CRASH_AT_RENAME"] = str(crash_at_rename)
    proc = subprocess.Popen(
        argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, start_new_session=True
    )
    if crash_at_rename:
        proc.wait()
    time.sleep(delay)
    killed = proc.poll() is None or proc.returncode == -signal.SIGKILL
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # the command, and any reader workers it left
    except ProcessLookupError:
        pass
    proc.wait()
    trial = Trial(n, command, round(delay, 3), killed, "", "", False, crash_at_rename)
    # 1. Right after the kill, before anything repairs it: the old release with the old tables, or
    #    the new one with a clean run's tables, and checksums intact.
    current = read_current(db)
    tables = _tables(db)
    if current == before:
        trial.after_kill = "old" if tables == old else "mixed"
    else:
        trial.after_kill = "new" if tables == clean else "mixed"
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
    some runs finish); the others are killed just before a randomly drawn one of the
    renames a clean run makes, which lands on the boundaries between the steps of the
    write (commit, swap, switch), where random delays rarely fall.
    """
    prep = prepare(work)
    rng = random.Random(seed)
    out = []
    for n in range(trials):
        command = COMMANDS[n % len(COMMANDS)]
        seconds = float(prep[f"seconds_{command}"])  # type: ignore[arg-type]
        if n % 2:
            step = rng.randint(1, int(prep[f"renames_{command}"]))  # type: ignore[call-overload]
            out.append(_one_trial(n, command, 0.0, work, prep, crash_at_rename=step))
        else:
            out.append(_one_trial(n, command, rng.uniform(0.0, 1.1 * seconds), work, prep))
    return out


def run_step_trials(work: Path, max_steps: int = 40) -> list[Trial]:
    """Kill each command just before its 1st, 2nd, ... rename until a run completes.

    This reaches every boundary between the steps of a write deterministically,
    where random delays hit the short windows only by luck.
    """
    prep = prepare(work)
    out: list[Trial] = []
    for command in COMMANDS:
        for step in range(1, max_steps + 1):
            trial = _one_trial(len(out), command, 0.0, work, prep, crash_at_rename=step)
            out.append(trial)
            if not trial.killed:
                break
        else:
            raise RuntimeError(f"{command} did not complete within {max_steps} renames")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=21)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--work", type=Path, default=Path("/tmp/variantdb-crash"))
    parser.add_argument(
        "--every-rename", action="store_true", help="Kill before each rename in turn instead of at random."
    )
    args = parser.parse_args()
    t0 = time.perf_counter()
    results = (
        run_step_trials(args.work) if args.every_rename else run_trials(args.work, args.trials, args.seed)
    )
    for t in results:
        print(
            f"{t.n:3d} {t.command:8s} kill at "
            + (f"rename {t.rename}" if t.rename else f"{t.delay:.3f} s")
            + f"  killed={t.killed!s:5s} "
            f"after kill: {t.after_kill:3s} {'ok' if t.ok else 'FAILED ' + t.problem}"
            + (f" (check: {t.recovery})" if t.recovery else "")
        )
    outcomes = Counter((t.command, t.after_kill) for t in results)
    print("outcomes:", dict(sorted(outcomes.items())), f"in {time.perf_counter() - t0:.0f} s")
    sys.exit(0 if all(t.ok for t in results) else 1)


if __name__ == "__main__":
    main()
