"""Run a load's per-file and per-contig work on a Dask distributed cluster.

``variantdb load --scheduler ADDRESS`` hands the two parallel stages of a load
to Dask: reading files into calls and gaps (:func:`variantdb.load._run_group`, one
task per group of files, or per contig of an indexed multi-sample file) and
aggregating each contig into the release (:func:`variantdb.load._release_contig`).
Both are top-level functions of files, so a worker needs the same code
(``variantdb`` installed at the same version) and the same view of the files:

- every input named by the manifest (and the FASTA given with ``--reference``)
  at the same absolute path on every worker;
- the database directory at the same absolute path, shared (NFS, Lustre, CephFS,
  or object storage mounted through fsspec or a FUSE driver): workers write the
  staged Parquet parts there and the client publishes from them.

Both are checked on every machine (one worker per host) before any genotype is read
(:meth:`DaskCluster.check_access`), so a node that lacks a mount fails the load
with its name and the path, instead of half-way through.

Everything else (the registry, the release directory, the ``CURRENT`` switch) is
done by the client process, as in an in-process load: one process writes.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from variantdb.ingest.vcf import LoadError

__all__ = ["LOCAL", "DaskCluster", "open_cluster", "probe_worker"]

#: The ``--scheduler`` value that starts a cluster on this machine.
LOCAL = "local"

_TOKEN_FILE = ".dask-shared-check"
_CONNECT_TIMEOUT_S = 20
_MAX_SHOWN = 10


def probe_worker(files: Sequence[tuple[str, int]], token_path: str, token: str) -> dict[str, Any]:
    """Check, on one worker, that inputs are readable and the database directory is shared.

    Parameters
    ----------
    files
        ``(absolute path, size in bytes on the client)`` of every input.
    token_path
        A file the client wrote in the staging folder of the database.
    token
        Its content: reading the same text proves the folder is the client's, not
        a local folder of the same name.

    Returns
    -------
    dict
        ``host``, ``version`` (of ``variantdb`` on the worker) and ``problems``,
        a list of messages (empty when all is well).
    """
    import variantdb

    problems: list[str] = []
    for path, size in files:
        try:
            with open(path, "rb") as fh:
                fh.read(1)
            actual = os.stat(path).st_size
        except OSError as e:
            problems.append(f"cannot read {path}: {e.strerror or e}")
            continue
        if actual != size:
            problems.append(
                f"{path} is {actual:,} bytes here but {size:,} bytes on the client: not the same file"
            )
    try:
        seen = Path(token_path).read_text()
    except OSError as e:
        problems.append(f"cannot read the database's staging folder ({token_path}: {e.strerror or e})")
    else:
        if seen != token:
            problems.append(f"{Path(token_path).parent} is a different folder here than on the client")
    folder = Path(token_path).parent
    if not os.access(folder, os.W_OK):
        problems.append(f"cannot write to the database's staging folder {folder}")
    return {"host": socket.gethostname(), "version": variantdb.__version__, "problems": problems}


def _running(keys: list[Any], dask_worker: Any) -> int:
    """Return how many of ``keys`` a worker is still executing (cancelled or not)."""
    busy = ("executing", "long-running", "cancelled", "resumed")
    return sum(1 for k in keys if (ts := dask_worker.state.tasks.get(k)) is not None and ts.state in busy)


@dataclass
class DaskCluster:
    """A connected Dask client, with the two operations a load needs of it.

    Build one with :func:`open_cluster`.
    """

    client: Any  # distributed.Client
    address: str

    @property
    def workers(self) -> int:
        """Number of task slots (worker threads) in the cluster: how many tasks run at once."""
        return max(1, int(sum(self.client.nthreads().values())))

    def map(
        self, fn: Callable[..., Any], items: Iterable[tuple[Any, ...]], /, **shared: Any
    ) -> Iterator[Any]:
        """Run ``fn(*item, **shared)`` for every item on the cluster; yield the results in order.

        ``shared`` values are sent to the workers once (scattered), not once per
        task. A task's exception is raised here, with its type (a worker's
        :class:`~variantdb.ingest.vcf.LoadError` stays a ``LoadError``) once the tasks
        still pending are cancelled and those already running have ended.

        Notes
        -----
        Dask cannot stop a running task; a cancelled one runs on, unseen. Waiting
        for those keeps a failed load from returning while its tasks still write
        into the staging folder (which the caller deletes, and a rerun refills).
        """
        client = self.client
        scattered = {k: client.scatter(v, broadcast=True, hash=False) for k, v in shared.items()}
        futures = [client.submit(fn, *item, **scattered, pure=False) for item in items]
        finished = False
        try:
            for future in futures:
                yield future.result()
            finished = True
        finally:
            client.cancel(futures)
            client.cancel(list(scattered.values()))
            if not finished:
                keys = [f.key for f in futures]
                while any(client.run(_running, keys=keys, on_error="ignore").values()):
                    time.sleep(0.2)

    def check_access(self, files: Sequence[Path], staging: Path) -> None:
        """Check on every machine that ``files`` are readable and ``staging`` is the client's folder.

        One worker per host checks (workers of one host share its mounts), so a
        batch of thousands of files is opened once per machine, not once per core.

        Raises
        ------
        LoadError
            Naming each worker and what it could not see, and what to do about it.
        """
        import variantdb

        staging.mkdir(parents=True, exist_ok=True)
        token = secrets.token_hex(16)
        token_path = staging / _TOKEN_FILE
        token_path.write_text(token)
        inputs = [(str(p), p.stat().st_size) for p in dict.fromkeys(Path(f).absolute() for f in files)]
        one_per_host: dict[str, str] = {}
        for address, info in sorted(self.client.scheduler_info(n_workers=-1)["workers"].items()):
            one_per_host.setdefault(str(info.get("host", address)), address)
        try:
            answers: dict[str, dict[str, Any]] = self.client.run(
                probe_worker, inputs, str(token_path), token, workers=list(one_per_host.values())
            )
        finally:
            token_path.unlink(missing_ok=True)
        lines = []
        for worker, answer in sorted(answers.items()):
            where = f"dask worker {worker} (host {answer['host']})"
            if answer["version"] != variantdb.__version__:
                lines.append(
                    f"{where} runs variantdb {answer['version']}, the client {variantdb.__version__}: "
                    "install the same version on every machine"
                )
            lines += [f"{where}: {p}" for p in answer["problems"][:_MAX_SHOWN]]
            if len(answer["problems"]) > _MAX_SHOWN:
                lines.append(f"{where}: ... and {len(answer['problems']) - _MAX_SHOWN:,} more")
        if lines:
            raise LoadError(
                "the Dask workers cannot see the load's files; inputs, the --reference FASTA and the "
                "--db folder must be on storage every worker sees, at the same absolute path:\n  "
                + "\n  ".join(lines)
            )


@contextmanager
def open_cluster(
    scheduler: str, workers: int | None = None, timeout: float = _CONNECT_TIMEOUT_S
) -> Iterator[DaskCluster]:
    """Connect to a Dask scheduler, or start a local cluster; close what was opened on exit.

    Parameters
    ----------
    scheduler
        ``"local"`` starts a ``LocalCluster`` of ``workers`` processes on this
        machine (one thread each: the reader holds the GIL). Any other value is the
        address of a running scheduler, e.g. ``tcp://10.0.0.1:8786``, whose
        workers are used as they are.
    workers
        Worker processes of a local cluster. Default: the CPU count, at most 8.
        With a scheduler address it must be None (the cluster has its own workers).
    timeout
        Seconds to wait for a scheduler to answer, and then for a first worker. Default 20.

    Raises
    ------
    LoadError
        When the scheduler cannot be reached or has no workers.
    """
    from distributed import Client, LocalCluster

    if scheduler == LOCAL:
        n = workers if workers is not None else min(8, os.cpu_count() or 1)
        if n < 1:
            raise LoadError(f"--workers must be at least 1, not {n}")
        with (
            LocalCluster(
                n_workers=n,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
                silence_logs=logging.ERROR,
            ) as cluster,
            Client(cluster) as client,
        ):
            yield DaskCluster(client, cluster.scheduler_address)
        return
    if workers is not None:
        raise LoadError(
            f"--workers {workers} starts a local cluster or process pool; with --scheduler {scheduler} "
            "the cluster's own workers are used: leave --workers out"
        )
    try:
        client = Client(scheduler, timeout=f"{timeout}s", set_as_default=False)
    except (OSError, TimeoutError, ValueError) as e:
        raise LoadError(f"cannot reach the Dask scheduler at {scheduler}: {e}") from None
    try:
        try:
            client.wait_for_workers(1, timeout=timeout)
        except TimeoutError:
            raise LoadError(
                f"the Dask scheduler at {scheduler} has no workers (waited {timeout:g} s): "
                f"start some with `dask worker {scheduler}`"
            ) from None
        yield DaskCluster(client, scheduler)
    finally:
        client.close()
