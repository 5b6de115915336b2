"""Loading on Dask: the same release, byte for byte, as an in-process load; clear errors for unseen files.

The cluster tests start real Dask processes: a two-worker ``LocalCluster``
(processes, one thread each) and, for the storage checks, a ``dask scheduler``
and a ``dask worker`` in a mount namespace of its own where a folder the client
sees is hidden under an empty tmpfs, as on a machine that lacks a mount.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pytest

from benchmarks.cohort import generate_cohort
from variantdb.distributed import DaskCluster, open_cluster, probe_worker
from variantdb.ingest.vcf import LoadError
from variantdb.load import load_batch

pytestmark = pytest.mark.distributed


# A fresh process must import this worktree's code, as pytest does.
def _env() -> dict[str, str]:
    """The environment for subprocesses, read when they start: the session fixtures (the pseudonym key file)
    set variables after this module is imported, and a snapshot taken at import would miss them."""
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent.parent), *sys.path])}


@pytest.fixture(scope="module")
def cluster() -> Iterator[DaskCluster]:
    with open_cluster("local", 2) as c:
        yield c


@pytest.fixture(scope="module")
def cohorts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Three small seeded cohorts: single-sample VCFs, single-sample gVCFs, one indexed multi-sample VCF."""
    root = tmp_path_factory.mktemp("cohorts")
    return {
        "vcf": generate_cohort(root / "vcf", 24, 300, 5, layout="single"),
        "gvcf": generate_cohort(root / "gvcf", 12, 200, 6, layout="single", gvcf=True),
        "multi": generate_cohort(root / "multi", 20, 300, 7),
    }


def _split_manifest(manifest: Path, out: Path, parts: int) -> list[Path]:
    """Write the manifest's rows as ``parts`` manifests of consecutive rows beside it (same VCF paths)."""
    header, *rows = manifest.read_text().splitlines()
    size = -(-len(rows) // parts)
    paths = []
    for i in range(parts):
        path = out / f"part{i + 1}.tsv"
        path.write_text("\n".join([header, *rows[i * size : (i + 1) * size]]) + "\n")
        paths.append(path)
    return paths


def _release_files(db: Path, release: str) -> dict[str, bytes]:
    root = db / "releases" / release
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _sorted_rows(db: Path, kind: str) -> list[tuple[object, ...]]:
    files = [str(p) for p in sorted((db / kind).rglob("*.parquet"))]
    cols = "* EXCLUDE (batch)" if kind == "calls" else "*"
    rel = duckdb.sql(
        f"SELECT {cols} FROM read_parquet($files, hive_partitioning = true)", params={"files": files}
    )
    return sorted(rel.fetchall(), key=repr)


@pytest.mark.parametrize("kind", ["vcf", "gvcf", "multi"])
def test_cluster_load_is_byte_identical_to_in_process(
    kind: str, cohorts: dict[str, Path], cluster: DaskCluster, tmp_path: Path
) -> None:
    manifest = cohorts[kind]
    ref = manifest.parent / "ref.fa"
    # Two batches (the second aggregated over the stored first) for the single-sample
    # inputs; the multi-sample file is split by contig across the workers.
    manifests = _split_manifest(manifest, manifest.parent, 2) if kind != "multi" else [manifest]
    reports = {}
    for name, run in (("local", {"workers": 1}), ("dask", {"cluster": cluster})):
        db = tmp_path / name
        reports[name] = [
            load_batch(db, m, reference=ref, batch_name=f"b{i}", **run) for i, m in enumerate(manifests)
        ]
    local, dask = tmp_path / "local", tmp_path / "dask"
    for a, b in zip(reports["local"], reports["dask"], strict=True):
        assert a.release == b.release
        assert a.n_variants == b.n_variants > 0
        assert a.totals() == b.totals()
        files_a, files_b = _release_files(local, a.release), _release_files(dask, b.release)
        assert files_a.keys() == files_b.keys()
        assert any(k.startswith("variants/") for k in files_a) and "an.parquet" in files_a
        differ = [k for k in files_a if k != "release.json" and files_a[k] != files_b[k]]
        assert differ == []
        meta_a, meta_b = json.loads(files_a["release.json"]), json.loads(files_b["release.json"])
        assert meta_a.pop("created") and meta_b.pop("created")
        assert meta_a == meta_b  # checksums of every file included
    # The stored calls and gaps hold the same rows (in other Parquet parts: the tasks are grouped differently).
    for stored in ("calls", "gaps"):
        assert _sorted_rows(local, stored) == _sorted_rows(dask, stored)
    assert not (dask / "staging" / "b0").exists()


def test_cluster_load_refuses_bad_input_with_the_readers_message(
    cohorts: dict[str, Path], cluster: DaskCluster, tmp_path: Path
) -> None:
    folder = tmp_path / "in"
    shutil.copytree(cohorts["vcf"].parent, folder)
    vcf = sorted((folder / "vcf").glob("*.vcf.gz"))[3]
    data = vcf.read_bytes()
    vcf.write_bytes(data[: len(data) // 2])  # truncated bgzip
    vcf.with_name(vcf.name + ".tbi").unlink(missing_ok=True)
    db = tmp_path / "db"
    with pytest.raises(LoadError, match=vcf.name):
        load_batch(db, folder / "manifest.tsv", reference=folder / "ref.fa", cluster=cluster)
    # Nothing published, nothing staged, and no task left running to write there later.
    time.sleep(2)
    assert not (db / "CURRENT").exists()
    assert not any((db / "staging").glob("manifest*"))


def test_probe_worker_names_unreadable_and_different_files(tmp_path: Path) -> None:
    present = tmp_path / "a.vcf.gz"
    present.write_bytes(b"x" * 10)
    token = tmp_path / "staging" / "token"
    token.parent.mkdir()
    token.write_text("abc")
    ok = probe_worker([(str(present), 10)], str(token), "abc")
    assert ok["problems"] == []
    bad = probe_worker(
        [(str(tmp_path / "missing.vcf.gz"), 5), (str(present), 11)], str(token), "another client's token"
    )
    assert bad["problems"] == [
        f"cannot read {tmp_path / 'missing.vcf.gz'}: No such file or directory",
        f"{present} is 10 bytes here but 11 bytes on the client: not the same file",
        f"{token.parent} is a different folder here than on the client",
    ]


def _unshare_works() -> bool:
    if shutil.which("unshare") is None or shutil.which("mount") is None:
        return False
    probe = subprocess.run(["unshare", "-m", "--propagation", "private", "true"], capture_output=True)
    return probe.returncode == 0


@contextmanager
def _scheduler_and_worker(tmp_path: Path, hidden: Path | None = None) -> Iterator[str]:
    """Start ``dask scheduler`` and one ``dask worker`` as the README's multi-machine steps do.

    With ``hidden``, the worker runs in a mount namespace of its own where that folder
    is an empty tmpfs: a machine that lacks the shared mount.
    """
    bin_dir = Path(sys.executable).parent
    sched_file = tmp_path / "scheduler.json"
    logs = [open(tmp_path / f"{n}.log", "w") for n in ("scheduler", "worker")]
    scheduler = subprocess.Popen(
        [str(bin_dir / "dask"), "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
         "--scheduler-file", str(sched_file)],
        env=_env(), stdout=logs[0], stderr=logs[0],
    )  # fmt: skip
    procs = [scheduler]
    try:
        for _ in range(300):
            if sched_file.exists() and sched_file.stat().st_size > 0:
                break
            time.sleep(0.1)
        address = json.loads(sched_file.read_text())["address"]
        worker = (
            f"exec '{bin_dir / 'dask'}' worker '{address}' --nthreads 1 --nworkers 1 --no-nanny "
            "--no-dashboard --host 127.0.0.1"
        )
        if hidden is None:
            cmd = ["sh", "-c", worker]
        else:
            cmd = [
                "unshare",
                "-m",
                "--propagation",
                "private",
                "sh",
                "-c",
                f"mount -t tmpfs none '{hidden}' && {worker}",
            ]
        procs.append(subprocess.Popen(cmd, env=_env(), stdout=logs[1], stderr=logs[1]))
        yield address
    finally:
        for proc in reversed(procs):
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for log in logs:
            log.close()


@pytest.fixture
def hidden_cluster(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[tuple[str, Path]]:
    """A scheduler and one worker that sees an empty tmpfs where the client sees ``request.param``."""
    if not _unshare_works():
        pytest.skip(
            "needs `unshare -m` and `mount` (root in a mount namespace) to hide a folder from a worker"
        )
    hidden = Path(request.param(tmp_path))
    hidden.mkdir(parents=True, exist_ok=True)
    with _scheduler_and_worker(tmp_path, hidden) as address:
        yield address, hidden


def test_cli_load_on_a_running_scheduler(cohorts: dict[str, Path], tmp_path: Path) -> None:
    manifest = cohorts["gvcf"]
    ref = manifest.parent / "ref.fa"
    load_batch(tmp_path / "local", manifest, reference=ref, batch_name="b", workers=1)
    with _scheduler_and_worker(tmp_path) as address:
        cmd = [sys.executable, "-m", "variantdb.loaders.cli", "load", "--db", str(tmp_path / "dask"), "--manifest",
               str(manifest), "--reference", str(ref), "--batch", "b", "--scheduler", address, "--quiet"]  # fmt: skip
        done = subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    local, dask = _release_files(tmp_path / "local", "r0001"), _release_files(tmp_path / "dask", "r0001")
    assert [k for k in local if k != "release.json" and local[k] != dask[k]] == []


@pytest.mark.parametrize(
    ("hidden_cluster", "what"),
    [(lambda t: t / "in" / "vcf", "cannot read"), (lambda t: t / "db", "staging folder")],
    indirect=["hidden_cluster"],
    ids=["inputs", "db"],
)
def test_worker_without_the_shared_storage_fails_the_load_naming_it(
    hidden_cluster: tuple[str, Path], what: str, cohorts: dict[str, Path], tmp_path: Path
) -> None:
    address, hidden = hidden_cluster
    folder = tmp_path / "in"
    shutil.copytree(cohorts["vcf"].parent, folder, dirs_exist_ok=True)
    db = tmp_path / "db"
    with open_cluster(address) as cluster, pytest.raises(LoadError) as caught:
        load_batch(db, folder / "manifest.tsv", reference=folder / "ref.fa", cluster=cluster)
    message = str(caught.value)
    assert "storage every worker sees" in message
    assert f"dask worker {address.rsplit(':', 1)[0]}" in message or "dask worker tcp://127.0.0.1" in message
    assert what in message and str(hidden) in message
    assert not (db / "CURRENT").exists()


def test_open_cluster_errors(tmp_path: Path) -> None:
    with pytest.raises(LoadError, match="leave --workers out"), open_cluster("tcp://127.0.0.1:1", 2):
        pass
    with pytest.raises(LoadError, match=r"cannot reach the Dask scheduler at tcp://127\.0\.0\.1:1"):
        with open_cluster("tcp://127.0.0.1:1", timeout=1):
            pass
    with pytest.raises(LoadError, match="at least 1"), open_cluster("local", 0):
        pass


def test_cli_load_on_a_local_cluster(cohorts: dict[str, Path], tmp_path: Path) -> None:
    manifest = cohorts["multi"]
    db, report = tmp_path / "db", tmp_path / "report.json"
    cmd = [sys.executable, "-m", "variantdb.loaders.cli", "load", "--db", str(db), "--manifest", str(manifest),
           "--reference", str(manifest.parent / "ref.fa"), "--scheduler", "local", "--workers", "2",
           "--quiet", "--report", str(report)]  # fmt: skip
    done = subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    data = json.loads(report.read_text())
    assert data["release"] == "r0001" and data["samples"] == 20 and data["n_variants"] > 0
    assert (db / "CURRENT").read_text().strip() == "r0001"
    # A scheduler address with --workers is refused before anything is done.
    cmd[cmd.index("local")] = "tcp://127.0.0.1:1"
    done = subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert "leave --workers out" in done.stderr and "Traceback" not in done.stderr
