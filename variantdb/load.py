"""Load one batch of genomes and publish a release that includes it.

The order of work makes a refused or interrupted load change nothing that
readers see:

1. validate the manifest and every file while writing calls and no-call
   intervals into ``DB/staging/<batch>/``;
2. aggregate the stored batches plus the staged one into a new release
   directory (not yet current);
3. record the batch, its samples and the release in the registry, in one
   transaction;
4. move the staged files into ``calls/`` and ``gaps/``, then switch ``CURRENT``.

A failure before step 3 leaves the registry, the stored calls and ``CURRENT``
as they were (the staging folder and unreferenced release are removed); a crash
after step 3 is rolled forward by :func:`recover` at the start of the next write.

Running out of disk space is reported as a :class:`LoadError` that says which
of the two happened: nothing changed, or the batch is loaded (and its release
made current then, or by the next write or ``variantdb check``).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import datetime as dt
import errno
import multiprocessing
import os
import shutil
import signal
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

import variantdb
from variantdb.genome import CONTIG_LENGTHS, CONTIGS, UnknownContigError, canonical_contig
from variantdb.ingest.capture import apply_capture_beds, read_capture_beds
from variantdb.ingest.reconcile import reconcile_calls
from variantdb.ingest.vcf import FileReport, LoadError, PartWriter, indexed_contigs, read_vcf
from variantdb.manifest import SampleRecord, read_manifest
from variantdb.release.aggregate import (
    Cohort,
    aggregate_contig,
    call_files_for,
    check_an_track,
    check_counts,
    cohort_stats,
    compute_an_track_from_files,
    make_cohort,
)
from variantdb.release.coverage import COVERAGE_FILE, write_coverage
from variantdb.release.files import (
    next_release_id,
    read_current,
    read_release_meta,
    set_current,
    write_release,
)
from variantdb.release.incremental import (
    count_source_columns,
    incremental_base,
    merge_contig,
    merge_coverage_contig,
    plan_delta,
)
from variantdb.release.meta import ReleaseDescription, ReleaseMeta, ReleaseStratum
from variantdb.release.retention import prune_releases
from variantdb.schema import CALLS_SCHEMA, GAPS_SCHEMA, GROUPS, variants_schema
from variantdb.settings import Settings, get_settings
from variantdb.store.batches import finish_pending
from variantdb.store.layout import (
    ReleaseNotFoundError,
    batch_dir,
    release_path,
    releases_dir,
    staging_root,
    variants_file,
)
from variantdb.store.pseudonym import load_pseudonymizer
from variantdb.store.registry import BATCH_NAME, BATCH_NAME_RULE, Registry, write_lock
from variantdb.subcohort import extend_subcohort, write_subcohort
from variantdb.timestamps import format_utc
from variantdb.variant import Reference

if TYPE_CHECKING:
    from variantdb.distributed import DaskCluster

__all__ = ["LoadReport", "is_out_of_space", "load_batch", "publish_incremental", "publish_release", "recover"]

Progress = Callable[[str, int, int | None], None]
#: Runs ``fn(*item, **shared)`` for each item and yields the results in order
#: (in-process by default; :meth:`variantdb.distributed.DaskCluster.map` on a cluster).
Mapper = Callable[..., Iterator[Any]]


@dataclass
class LoadReport:
    """What a load read, skipped and published."""

    batch: str
    release: str | None = None
    samples: int = 0
    files: list[FileReport] = field(default_factory=list)
    seconds: float = 0.0
    n_variants: int = 0
    skipped_existing: bool = False
    publish: str | None = None  # "incremental", or "full: <why>"
    warnings: list[str] = field(default_factory=list)  # the load succeeded; something after it did not

    def totals(self) -> dict[str, Any]:
        """Return the sums over files."""
        skipped: Counter[str] = Counter()
        other: Counter[str] = Counter()
        for f in self.files:
            skipped.update(f.skipped)
            other.update(f.other_contigs)
        return {
            "records": sum(f.records for f in self.files),
            "reference_blocks": sum(f.reference_blocks for f in self.files),
            "reference_records": sum(f.reference_records for f in self.files),
            "variant_records": sum(f.variants for f in self.files),
            "calls": sum(f.calls for f in self.files),
            "genotypes": sum(f.genotypes for f in self.files),
            "skipped": dict(skipped),
            "other_contigs": dict(other),
        }

    def as_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "batch": self.batch,
            "release": self.release,
            "samples": self.samples,
            "seconds": round(self.seconds, 3),
            "n_variants": self.n_variants,
            "skipped_existing": self.skipped_existing,
            "publish": self.publish,
            "warnings": list(self.warnings),
            "totals": self.totals(),
            "files": [f.as_dict() for f in self.files],
        }


def _noop(stage: str, advance: int, total: int | None) -> None:
    return None


_NO_SPACE_TEXT = ("no space left on device", "disk quota exceeded", "not enough space", "out of disk space")


def is_out_of_space(exc: BaseException) -> bool:
    """Tell whether an error (or one it was raised from) is the disk or quota running full.

    ``OSError`` with ``errno`` ENOSPC or EDQUOT, and DuckDB's and Arrow's errors,
    which carry the operating system's words in their message.
    """
    seen: set[int] = set()
    e: BaseException | None = exc
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        if isinstance(e, (OSError, duckdb.Error, pa.ArrowException)) and any(
            t in str(e).lower() for t in _NO_SPACE_TEXT
        ):
            return True
        e = e.__cause__ or e.__context__
    return False


def _cause(exc: BaseException) -> str:
    """Say what failed, naming the file when the error does."""
    if is_out_of_space(exc):
        where = getattr(exc, "filename", None)
        return "out of disk space" + (f" writing {where}" if where else f" ({str(exc)[:300]})")
    return f"{type(exc).__name__}: {str(exc)[:300]}"


def _recorded(db: Path, name: str) -> bool:
    """Finish or undo the interrupted load (:func:`recover`); return whether the registry records the batch."""
    try:
        recover(db)
    except Exception:  # e.g. still no space: the next write or `variantdb check` finishes it
        pass
    with Registry(db, read_only=True) as reg:
        return reg.has_batch(name)


def recover(db: Path) -> None:
    """Finish or undo a write that was interrupted, from what the registry says.

    Staged batches the registry knows are moved into place (the crash came after
    the commit); others are deleted. Release folders the registry does not know
    are deleted, and ``CURRENT`` is pointed at the newest recorded release.
    """
    db = Path(db)
    staging = staging_root(db)
    with Registry(db) as reg:
        known_batches = set(reg.batch_names())
        known_releases = [r["id"] for r in reg.releases()]
    finish_pending(db, known_releases)
    if staging.exists():
        for folder in staging.iterdir():
            if folder.name in known_batches:
                for kind in ("calls", "gaps"):
                    src = folder / kind
                    dst = db / kind / f"batch={folder.name}"
                    if src.exists() and not dst.exists():
                        dst.parent.mkdir(parents=True, exist_ok=True)
                        src.rename(dst)
            shutil.rmtree(folder, ignore_errors=True)
    root = releases_dir(db)
    if root.exists():
        for folder in root.iterdir():
            if folder.name not in known_releases:
                shutil.rmtree(folder, ignore_errors=True)
    if known_releases and read_current(db) != known_releases[-1]:
        set_current(db, known_releases[-1])


def load_batch(
    db: Path,
    manifest: Path,
    reference: Path | None = None,
    batch_name: str | None = None,
    progress: bool | Progress = False,
    settings: Settings | None = None,
    skip_existing: bool = False,
    workers: int | None = None,
    operator: str | None = None,
    cluster: DaskCluster | None = None,
    incremental: bool = True,
) -> LoadReport:
    """Validate and ingest one batch, then publish a release that includes it.

    Parameters
    ----------
    db
        Database directory; created if missing.
    manifest
        The batch's manifest (see :func:`variantdb.manifest.read_manifest`).
    reference
        A GRCh38 FASTA with ``.fai``: REF is checked and indels left-aligned.
        Default None: alleles are only trimmed.
    batch_name
        Default: the manifest's file name without suffix.
    progress
        A callback ``(stage, advance, total)``, or False for none. Default False.
    settings
        Default :func:`variantdb.settings.get_settings`.
    skip_existing
        A batch of the same name already loaded is a no-op instead of an error
        (the report's ``release`` is then the current one). Default False.
    workers
        Processes reading files in parallel (an indexed multi-sample file is
        split by contig). Default: the machine's CPU count, at most 8.
        Not used with ``cluster``.
    cluster
        Run the reading and the per-contig aggregation on this Dask cluster
        (:func:`variantdb.distributed.open_cluster`) instead of local processes.
        Inputs and ``db`` must then be on storage every worker sees; this is
        checked first. Default None.
    operator
        Who loads, for the changelog. Default: ``VARIANTDB_OPERATOR``, else the OS user.
    incremental
        Publish from the previous release and this batch's files alone when the
        previous release is a safe base (:func:`publish_incremental`); False
        always rebuilds from every batch. The release tables are the same either
        way. Default True.

    Raises
    ------
    LoadError, variantdb.manifest.ManifestError
        For bad input; nothing is changed then.
    """
    db = Path(db)
    manifest = Path(manifest)
    settings = settings or get_settings()
    report_progress: Progress = progress if callable(progress) else _noop
    name = batch_name or manifest.name.split(".")[0]
    if not BATCH_NAME.fullmatch(name):
        raise LoadError(
            f"batch name {name!r}"
            + ("" if batch_name else f" (from the manifest's file name {manifest.name!r})")
            + f" is not usable: a batch name has {BATCH_NAME_RULE}; give another with --batch"
        )
    workers = workers if workers is not None else min(8, os.cpu_count() or 1)
    if cluster is not None:
        # Workers run elsewhere, in another directory: give them absolute paths.
        db, workers = db.absolute(), cluster.workers
        reference = None if reference is None else Path(reference).absolute()
    started = time.perf_counter()
    with write_lock(db):
        records = read_manifest(manifest)
        recover(db)
        if reference is not None:
            Reference(reference).close()  # fail early on a missing or unindexed FASTA
        # The registry stores only keyed pseudonyms of sample, parent and family ids.
        pseudonyms = load_pseudonymizer(db)
        stored = [pseudonyms.record(r) for r in records]
        original = {s.sample_id: r.sample_id for s, r in zip(stored, records, strict=True)}
        staging = staging_root(db) / name
        committing = False
        try:
            with Registry(db) as reg:
                if reg.has_batch(name) and skip_existing:
                    return LoadReport(batch=name, release=read_current(db), skipped_existing=True)
                if reg.has_batch(name):
                    raise LoadError(f"batch {name!r} is already loaded in {db}; give another --batch name")
                pseudonyms.check_registry(reg.con)
                existing = reg.existing_sample_ids([r.sample_id for r in stored])
                if existing:
                    shown = ", ".join(f"{original[s]} (batch {b})" for s, b in list(existing.items())[:10])
                    raise LoadError(f"{manifest}: sample id(s) already loaded: {shown}")
                first_idx = reg.next_sample_idx()
            sample_idx = {r.sample_id: first_idx + i for i, r in enumerate(records)}
            if staging.exists():
                shutil.rmtree(staging)
            report = LoadReport(batch=name, samples=len(records))
            _ingest(
                records, sample_idx, staging, settings, reference, report, report_progress, workers, cluster
            )
            with Registry(db) as reg:
                samples = reg.samples()
                batches = reg.batch_names()
                recorded = [r["id"] for r in reg.releases()]
            new_rows = _sample_rows(stored, first_idx, name)
            all_samples = pa.concat_tables([samples, new_rows.cast(samples.schema)])
            release_id = next_release_id(db)
            why_full = _incremental_base(db, recorded, samples, batches) if incremental else "asked for"
            if why_full is None:
                meta = publish_incremental(
                    db,
                    release_id,
                    recorded[-1],
                    samples,
                    all_samples,
                    staging / "calls",
                    staging / "gaps",
                    [*batches, name],
                    settings,
                    reference,
                    report_progress,
                )
                report.publish = "incremental"
            else:
                meta = publish_release(
                    db,
                    release_id,
                    all_samples,
                    [*(batch_dir(db, "calls", b) for b in batches), staging / "calls"],
                    [*(batch_dir(db, "gaps", b) for b in batches), staging / "gaps"],
                    [*batches, name],
                    settings,
                    reference,
                    report_progress,
                    mapper=None if cluster is None else cluster.map,
                )
                report.publish = f"full: {why_full}"
            report.release = release_id
            report.n_variants = meta.n_variants
            report.seconds = time.perf_counter() - started
            committing = True
            with Registry(db) as reg:
                reg.add_batch(
                    name,
                    manifest,
                    stored,
                    first_idx,
                    report.as_dict(),
                    meta.as_json(),
                    operator,
                    vcf=pseudonyms.vcf,
                )
        except BaseException as e:
            # recover() follows the registry: it moves a recorded batch's staged files into
            # place (the commit happened, e.g. the error came from closing the registry) and
            # deletes anything else this load wrote.
            if not (committing and _recorded(db, name)):
                shutil.rmtree(staging, ignore_errors=True)
                if isinstance(e, Exception) and is_out_of_space(e):
                    try:
                        recover(db)
                    except Exception:  # the next write finishes the clean-up; readers saw nothing
                        pass
                    raise LoadError(
                        f"{_cause(e)}: nothing was changed (batch {name!r} is not loaded); "
                        f"free space on the file system of {db} and load it again"
                    ) from e
                recover(db)
                raise
            if not isinstance(e, Exception):
                raise
        # Committed: move the staged files into place and go live.
        try:
            for kind in ("calls", "gaps"):
                dst = db / kind / f"batch={name}"
                if (staging / kind).exists():
                    dst.parent.mkdir(parents=True, exist_ok=True)
                    (staging / kind).rename(dst)
            shutil.rmtree(staging, ignore_errors=True)
            set_current(db, release_id)
        except Exception as e:
            try:
                recover(db)  # rolls the committed load forward, as the next write would
            except Exception:
                raise LoadError(
                    f"{_cause(e)} after batch {name!r} was recorded: the batch is loaded and release "
                    f"{release_id} is published, but it is not yet the current release. Free space on the "
                    f"file system of {db}, then run `variantdb check --db {db}` (or any write), which makes "
                    f"{release_id} current; do not load the batch again"
                ) from e
        try:
            prune_releases(db, settings.keep_releases, operator)
        except Exception as e:
            if not is_out_of_space(e):
                raise
            report.warnings.append(
                f"old releases were not pruned ({_cause(e)}); `variantdb prune` removes them later"
            )
        report.seconds = time.perf_counter() - started
        return report


def _incremental_base(db: Path, recorded: list[str], samples: pa.Table, batches: list[str]) -> str | None:
    """Return why the newest recorded release cannot be built on, or None when it can."""
    if not recorded:
        return "no previous release"
    try:
        meta = read_release_meta(db, recorded[-1])
    except ReleaseNotFoundError:
        return f"release {recorded[-1]} is not on disk"
    for name in ("an.parquet", COVERAGE_FILE):
        if not (release_path(db, recorded[-1]) / name).exists():
            return f"release {recorded[-1]} has no {name}"
    return incremental_base(meta, samples, batches)


@dataclass(frozen=True)
class _Task:
    """One unit of reading: a file, or one contig of an indexed file."""

    path: Path
    samples: tuple[SampleRecord, ...]
    region: str | None


def _run_group(
    tasks: list[_Task],
    tag: str,
    sample_idx: dict[str, int],
    staging: Path,
    settings: Settings,
    reference: Path | None,
    progress: Callable[[int], None] | None = None,
) -> list[FileReport]:
    """Read a group of tasks into one set of Parquet parts (in a worker process or in-process).

    Grouping many small files per writer keeps the number of Parquet files, and
    the per-file cost of the aggregation, independent of the number of genomes.
    """
    ref = Reference(reference) if reference is not None else None
    calls = PartWriter(staging / "calls", CALLS_SCHEMA, tag, settings.call_bin_size, settings.batch_rows)
    gaps = PartWriter(staging / "gaps", GAPS_SCHEMA, tag, None, settings.batch_rows)
    try:
        return [
            read_vcf(t.path, t.samples, sample_idx, calls, gaps, settings, ref, progress, region=t.region)
            for t in tasks
        ]
    finally:
        calls.close()
        gaps.close()
        if ref is not None:
            ref.close()


def _plan(records: list[SampleRecord], workers: int) -> list[list[_Task]]:
    """Split the batch into groups of tasks for the workers.

    A task is one file, or one contig of an indexed multi-sample file when there
    are fewer files than workers. Tasks are grouped in order, a few groups per worker.
    """
    by_file: dict[Path, list[SampleRecord]] = defaultdict(list)
    for r in records:
        by_file[r.vcf].append(r)
    tasks = []
    for path, samples in by_file.items():
        contigs = indexed_contigs(path) if workers > 1 and len(by_file) < workers else None
        if contigs and len(contigs) > 1:
            tasks += [_Task(path, tuple(samples), c) for c in contigs]
        else:
            tasks.append(_Task(path, tuple(samples), None))
    n_groups = min(len(tasks), max(1, workers) * 4)
    size = -(-len(tasks) // n_groups)
    return [tasks[i : i + size] for i in range(0, len(tasks), size)]


def _ingest(
    records: list[SampleRecord],
    sample_idx: dict[str, int],
    staging: Path,
    settings: Settings,
    reference: Path | None,
    report: LoadReport,
    progress: Progress,
    workers: int,
    cluster: DaskCluster | None = None,
) -> None:
    beds = read_capture_beds(records)  # validated before any genotype is read
    (staging / "calls").mkdir(parents=True)
    (staging / "gaps").mkdir(parents=True)
    groups = _plan(records, workers)
    tasks = [t for g in groups for t in g]
    progress("read", 0, len(tasks))
    results: list[FileReport] = []
    if cluster is not None:
        cluster.check_access(_input_files(records, reference), staging)
        done = cluster.map(
            _run_group,
            [(group, f"{n:05d}") for n, group in enumerate(groups)],
            sample_idx=sample_idx,
            staging=staging,
            settings=settings,
            reference=reference,
        )
        for group, result in zip(groups, done, strict=True):
            results += result
            progress("read", len(group), len(tasks))
    elif workers <= 1 or len(groups) == 1:
        for n, group in enumerate(groups):
            results += _run_group(
                group,
                f"{n:05d}",
                sample_idx,
                staging,
                settings,
                reference,
                lambda k: progress("records", k, None),
            )
            progress("read", len(group), len(tasks))
    else:
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(
            max_workers=workers, mp_context=ctx, initializer=_die_with_parent, initargs=(os.getpid(),)
        ) as pool:
            futures = [
                pool.submit(_run_group, group, f"{n:05d}", sample_idx, staging, settings, reference)
                for n, group in enumerate(groups)
            ]
            try:
                for group, future in zip(groups, futures, strict=True):
                    results += future.result()
                    progress("read", len(group), len(tasks))
            except BaseException:
                for f in futures:
                    f.cancel()
                raise
    report.files.extend(_merge_reports(tasks, results, sample_idx, staging, settings))
    apply_capture_beds(beds, records, sample_idx, report.files, staging, settings)
    reconcile_calls(staging, report.files, {sample_idx[r.sample_id]: str(r.vcf) for r in records})


_PR_SET_PDEATHSIG = 1


def _die_with_parent(parent: int) -> None:
    """Make a reading worker exit when the load that started it dies (pool initializer).

    A load killed with SIGKILL cannot shut its pool down, and its workers (each
    holding a reader and buffers, ~170 MB) would run on under init. On Linux the
    kernel sends the worker SIGKILL when its parent ends (``PR_SET_PDEATHSIG``);
    elsewhere, and as a fallback, a daemon thread checks ``getppid`` every second.
    """
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent:  # the load died before the request above took effect
        os._exit(1)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, name="variantdb-parent-watch", daemon=True).start()


def _input_files(records: list[SampleRecord], reference: Path | None) -> list[Path]:
    """Return every file a reading task may open: inputs, their indexes, capture BEDs, the FASTA."""
    files: list[Path] = []
    for r in records:
        files.append(r.vcf)
        files += [p for ext in (".tbi", ".csi") if (p := Path(f"{r.vcf}{ext}")).exists()]
        if r.capture_bed is not None:
            files.append(r.capture_bed)
    if reference is not None:
        files += [reference, *(p for ext in (".fai", ".gzi") if (p := Path(f"{reference}{ext}")).exists())]
    return files


def _merge_reports(
    tasks: list[_Task],
    results: list[FileReport],
    sample_idx: dict[str, int],
    staging: Path,
    settings: Settings,
) -> list[FileReport]:
    """Fold per-contig reports into one per file; give split gVCFs their gaps on contigs they lack."""
    merged: dict[Path, FileReport] = {}
    seen_contigs: dict[Path, set[str]] = defaultdict(set)
    for task, rep in zip(tasks, results, strict=True):
        if task.region is not None:
            seen_contigs[task.path].add(task.region)
        if task.path not in merged:
            merged[task.path] = rep
            continue
        into = merged[task.path]
        into.gvcf = into.gvcf or rep.gvcf
        for name in ("records", "reference_blocks", "reference_records", "variants", "calls", "genotypes"):
            setattr(into, name, getattr(into, name) + getattr(rep, name))
        into.skipped.update(rep.skipped)
        into.other_contigs.update(rep.other_contigs)
    for n, (path, rep) in enumerate(merged.items()):
        if not rep.gvcf or path not in seen_contigs:
            continue
        covered = set()
        for c in seen_contigs[path]:
            try:
                covered.add(canonical_contig(c))
            except UnknownContigError:
                continue
        gaps = PartWriter(staging / "gaps", GAPS_SCHEMA, f"rest-{n:05d}", None, settings.batch_rows)
        idx = [sample_idx[s.sample_id] for s in next(t for t in tasks if t.path == path).samples]
        for chrom in CONTIGS:
            if chrom not in covered:
                for sidx in idx:
                    gaps.add(chrom, 1, (sidx, chrom, 1, CONTIG_LENGTHS[chrom], True))
        gaps.close()
    return list(merged.values())


def _sample_rows(records: list[SampleRecord], first_idx: int, batch: str) -> pa.Table:
    return pa.table(
        {
            "sample_idx": pa.array([first_idx + i for i in range(len(records))], pa.int32()),
            "sample_id": [r.sample_id for r in records],
            "batch": [batch] * len(records),
            "vcf": [str(r.vcf) for r in records],
            "sex": [r.sex for r in records],
            "region": [r.region for r in records],
            "patient_group": [r.patient_group for r in records],
            "family_id": [r.family_id for r in records],
            "father_id": [r.father_id for r in records],
            "mother_id": [r.mother_id for r in records],
            "technology": [r.technology for r in records],
            "capture_bed": [None if r.capture_bed is None else str(r.capture_bed) for r in records],
            "consent": [r.consent for r in records],
            "received": pa.array([r.received for r in records], pa.date32()),
            "withdrawn": [False] * len(records),
        }
    )


def _aggregate_connection(db: Path, settings: Settings) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("SET preserve_insertion_order = false")
    # Bounded memory whatever the batch size: DuckDB spills to disk past this.
    con.execute("SET memory_limit = $1", [f"{int(settings.aggregate_memory_mb)}MB"])
    spill = staging_root(db) / ".duckdb-spill" / "incremental"
    spill.mkdir(parents=True, exist_ok=True)
    con.execute("SET temp_directory = $1", [str(spill)])
    return con


def _release_meta(
    samples: pa.Table, cohort: Cohort, batches: list[str], settings: Settings, reference: Path | None
) -> ReleaseDescription:
    created = dt.datetime.now(dt.UTC).replace(microsecond=0)
    return ReleaseDescription(
        created=format_utc(created),
        code_version=variantdb.__version__,
        batches=batches,
        n_samples=cohort.size,
        reference=None if reference is None else str(Path(reference).resolve()),
        groups=GROUPS,
        strata=[ReleaseStratum(key=s.key, kind=s.kind, value=s.value, label=s.label) for s in cohort.strata],
        settings=settings.as_dict(),
        stats=cohort_stats(samples, cohort),
    )


def publish_release(
    db: Path,
    release_id: str,
    samples: pa.Table,
    call_dirs: list[Path],
    gap_dirs: list[Path],
    batches: list[str],
    settings: Settings,
    reference: Path | None,
    progress: Progress = _noop,
    mapper: Mapper | None = None,
) -> ReleaseMeta:
    """Aggregate calls and no-call intervals into a release directory (not made current).

    Parameters
    ----------
    mapper
        Runs the per-contig work (:func:`_release_contig`), e.g. on a Dask cluster.
        Default None: one contig after another in this process.

    Returns
    -------
    ReleaseMeta
        The release metadata written to ``release.json``.
    """
    cohort = make_cohort(samples)
    spill = staging_root(db) / ".duckdb-spill"
    tracks: list[pa.Table] = []
    progress("aggregate", 0, len(CONTIGS))
    run = mapper or _map_in_process
    work = [(c, call_files_for(call_dirs, c), call_files_for(gap_dirs, c)) for c in CONTIGS]

    def tables() -> Any:
        for table, track in run(
            _release_contig, work, cohort=cohort, memory_mb=settings.aggregate_memory_mb, spill=spill
        ):
            _check_counts(release_id, table, track)
            tracks.append(track)
            yield table
            progress("aggregate", 1, len(CONTIGS))

    meta = _release_meta(samples, cohort, batches, settings, reference)
    release_dir = write_release(
        db,
        release_id,
        tables(),
        lambda: pa.concat_tables(tracks),
        meta,
        make_current=False,
        extra=lambda d: write_subcohort(
            d, samples, cohort, call_dirs, gap_dirs, settings.aggregate_memory_mb, _merge_policy(settings)
        ),
    )
    write_coverage(release_dir, samples, gap_dirs)
    return read_release_meta(db, release_id)


def _check_counts(release_id: str, table: pa.Table, track: pa.Table) -> None:
    """Refuse to publish a contig whose counts break an invariant (see :func:`~variantdb.release.aggregate.check_counts`).

    Raises
    ------
    LoadError
        Naming the variants, fields and values; the release is then not written.
    """
    problems = check_counts(table) + check_an_track(track)
    if problems:
        raise LoadError(
            f"release {release_id} not published: its counts break an invariant, which no input should "
            "be able to do (please report it with the input that gave it):\n  " + "\n  ".join(problems)
        )


def _merge_policy(settings: Settings) -> tuple[int, int]:
    """Return how sub-cohort segments are merged (:func:`variantdb.subcohort.write_subcohort`)."""
    return settings.subcohort_merge_fanout, settings.subcohort_merge_max_entries


def _map_in_process(
    fn: Callable[..., Any], items: Iterable[tuple[Any, ...]], /, **shared: Any
) -> Iterator[Any]:
    """Run ``fn(*item, **shared)`` for each item in this process, lazily, in order (the default :data:`Mapper`)."""
    for item in items:
        yield fn(*item, **shared)


def _release_contig(
    chrom: str, call_files: list[str], gap_files: list[str], cohort: Cohort, memory_mb: int, spill: Path
) -> tuple[pa.Table, pa.Table]:
    """Return one contig's variant table and AN track, from its calls and gaps files.

    A function of files only, so it runs in-process or on a Dask worker alike.
    """
    # Streamed a bin at a time, so memory does not grow with the number of gVCFs.
    track = compute_an_track_from_files(
        chrom, gap_files, cohort, memory_mb=memory_mb, spill=spill / f"{chrom}-gaps"
    )
    if not call_files:  # nothing to count: no DuckDB connection to open
        return aggregate_contig(None, chrom, call_files, track, cohort), track  # type: ignore[arg-type]
    # Bounded memory whatever the batch size: DuckDB spills to disk past this, in a
    # folder of its own per contig (contigs may be aggregated at once by several processes).
    folder = spill / chrom
    folder.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    try:
        con.execute("SET preserve_insertion_order = false")
        con.execute("SET memory_limit = $1", [f"{int(memory_mb)}MB"])
        con.execute("SET temp_directory = $1", [str(folder)])
        con.register("cohort", cohort.table)
        table = aggregate_contig(con, chrom, call_files, track, cohort)
    finally:
        con.close()
    return table, track


def publish_incremental(
    db: Path,
    release_id: str,
    previous: str,
    old_samples: pa.Table,
    samples: pa.Table,
    call_dir: Path,
    gap_dir: Path,
    batches: list[str],
    settings: Settings,
    reference: Path | None,
    progress: Progress = _noop,
) -> ReleaseMeta:
    """Write the release of ``previous`` plus one new batch, reading only that batch's files.

    Parameters
    ----------
    db
        The database directory.
    release_id
        Id of the new release (not made current).
    previous
        The release counting exactly ``old_samples`` (see
        :func:`variantdb.release.incremental.incremental_base`).
    old_samples, samples
        Registry rows of the samples counted before and after the batch.
    call_dir, gap_dir
        The new batch's calls and gaps folders.
    batches
        Every batch the new release holds, the new one last.
    settings, reference, progress
        As :func:`publish_release`.

    Returns
    -------
    ReleaseMeta
        The release metadata written to ``release.json``; the release tables are
        byte-identical to :func:`publish_release` of the same samples.

    Notes
    -----
    Reads the previous release's variant table, AN and coverage tracks once, the batch's
    files, and the rows of already loaded relatives of the batch's samples from
    their own batches (see :mod:`variantdb.release.incremental`); the previous release's
    sub-cohort segments are linked, not read (:func:`variantdb.subcohort.extend_subcohort`),
    and their checksums taken from its ``release.json``.
    """
    delta = plan_delta(old_samples, samples, call_dir, gap_dir, db)
    prev_dir = release_path(db, previous)
    old_tracks = pq.read_table(prev_dir / "an.parquet")
    track_chrom = old_tracks.column("chrom")
    columns = count_source_columns(delta.strata)
    old_coverage = pq.read_table(prev_dir / COVERAGE_FILE)
    new_idx = set(samples.column("sample_idx").to_pylist()) - set(
        old_samples.column("sample_idx").to_pylist()
    )
    batch_samples = samples.filter(pa.array([i in new_idx for i in samples.column("sample_idx").to_pylist()]))
    coverage: list[pa.Table] = []
    con = _aggregate_connection(db, settings)
    tracks: list[pa.Table] = []
    progress("aggregate", 0, len(CONTIGS))

    def tables() -> Any:
        for chrom in CONTIGS:
            path = variants_file(prev_dir, chrom)
            old = pq.read_table(path, columns=columns) if path.exists() else variants_schema().empty_table()
            old_track = old_tracks.filter(pc.equal(track_chrom, chrom))
            table, track = merge_contig(con, chrom, old, old_track, delta)
            _check_counts(release_id, table, track)
            tracks.append(track)
            old_cov = old_coverage.filter(pc.equal(old_coverage.column("chrom"), chrom))
            coverage.append(merge_coverage_contig(chrom, old_cov, gap_dir, batch_samples))
            yield table
            progress("aggregate", 1, len(CONTIGS))

    cohort = make_cohort(samples)
    meta = _release_meta(samples, cohort, batches, settings, reference)
    # The sub-cohort structures link the previous release's segments (one per batch) and
    # add the batch's; written from every batch's files only when the old cohort is not
    # the head of the new one.
    old_cohort = make_cohort(old_samples).sample_idx
    n_old = old_cohort.size if np.array_equal(old_cohort, cohort.sample_idx[: old_cohort.size]) else -1
    call_dirs = [*(batch_dir(db, "calls", b) for b in batches[:-1]), call_dir]
    gap_dirs = [*(batch_dir(db, "gaps", b) for b in batches[:-1]), gap_dir]

    def subcohort(d: Path) -> Any:
        mb = settings.aggregate_memory_mb
        merge = _merge_policy(settings)
        done = extend_subcohort(prev_dir, d, samples, cohort, n_old, call_dir, gap_dir, mb, merge)
        return (
            done if done is not None else write_subcohort(d, samples, cohort, call_dirs, gap_dirs, mb, merge)
        )

    release_dir = write_release(
        db,
        release_id,
        tables(),
        lambda: pa.concat_tables(tracks),
        meta,
        make_current=False,
        extra=subcohort,
        previous=prev_dir,
    )
    con.close()
    write_coverage(release_dir, samples, [], tracks=coverage)
    return read_release_meta(db, release_id)
