"""Withdrawal, consent, rebuilding a release, and research exports.

A withdrawal follows the load's order of work, so a crash at any moment leaves
the old release or the new one, never a mixture:

1. rewrite the batch folders holding the person's calls and no-call intervals
   without them, into ``DB/pending/<release>/`` (:func:`variantdb.store.batches.stage_without`);
2. aggregate the remaining samples over the stored batches (the rewritten ones
   from the pending folder) into a new release directory, not yet current;
3. mark the samples withdrawn, record the release and the changelog entries in
   one registry transaction;
4. swap the rewritten folders into place, then switch ``CURRENT``.

:func:`variantdb.load.recover` discards a pending folder whose release the
registry does not know (a crash before step 3) and finishes the swaps of one it
knows (a crash after it).
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from variantdb.errors import VariantdbError
from variantdb.export import export_release
from variantdb.load import Progress, publish_release, recover
from variantdb.release.files import (
    next_release_id,
    read_current,
    read_release_meta,
    set_current,
)
from variantdb.release.retention import prune_releases
from variantdb.settings import Settings, get_settings
from variantdb.store import changelog
from variantdb.store.batches import finish_pending, stage_without
from variantdb.store.layout import ReleaseNotFoundError, batch_dir, pending_dir, registry_file
from variantdb.store.pseudonym import load_pseudonymizer
from variantdb.store.registry import Registry, write_lock

__all__ = [
    "ChangeReport",
    "LifecycleError",
    "ResearchExport",
    "WithdrawPlan",
    "export_research",
    "plan_withdraw",
    "publish",
    "set_research_opt_out",
    "withdraw",
]

RESEARCH_OPT_OUT = "research_opt_out"


class LifecycleError(VariantdbError, ValueError):
    """A withdrawal, consent change or publish that cannot be done as asked; nothing was changed."""


@dataclass
class ChangeReport:
    """What a withdrawal or a publish did."""

    release: str | None = None
    withdrawn: list[str] = field(default_factory=list)
    already_withdrawn: list[str] = field(default_factory=list)
    rewritten_batches: list[str] = field(default_factory=list)
    n_samples: int = 0
    n_variants: int = 0
    pruned: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return dict(self.__dict__)


def _noop(stage: str, advance: int, total: int | None) -> None:
    return None


@contextmanager
def _changing(db: Path) -> Iterator[None]:
    """Hold the database's write lock for a change.

    A folder that is no database is refused first, and an interrupted change is
    rolled forward or back (:func:`variantdb.load.recover`).
    """
    with write_lock(db):
        if not registry_file(db).exists():
            raise LifecycleError(f"{db} is not a variantdb database (no registry.duckdb)")
        recover(db)
        yield


def _find_samples(reg: Registry, ids: Sequence[str], db: Path) -> dict[str, dict[str, Any]]:
    """Return registry rows by original id; refuse ids the registry does not hold."""
    pseudonyms = load_pseudonymizer(db, create=False)  # a new secret could match nobody
    pseudonyms.check_registry(reg.con)
    by_pseudonym = {pseudonyms.pseudonym(s): s for s in ids}
    rows = reg.con.execute(
        "SELECT sample_idx, sample_id, batch, withdrawn, consent FROM samples WHERE list_contains(?, sample_id)",
        [list(by_pseudonym)],
    ).fetchall()
    found = {
        by_pseudonym[r[1]]: {
            "sample_idx": r[0],
            "pseudonym": r[1],
            "batch": r[2],
            "withdrawn": r[3],
            "consent": r[4],
        }
        for r in rows
    }
    missing = [s for s in ids if s not in found]
    if missing:
        raise LifecycleError(
            f"no sample {', '.join(repr(s) for s in missing[:10])} in {db} "
            "(ids are matched by their keyed pseudonym; give the id as the manifest gave it)"
        )
    return found


def _rebuild(
    db: Path,
    drop: dict[str, dict[str, Any]],
    reason: str | None,
    operator: str | None,
    settings: Settings,
    progress: Progress,
    report: ChangeReport,
) -> None:
    """Publish a release over the stored batches without the ``drop`` samples (under the write lock)."""
    release_id = next_release_id(db)
    idx = {int(r["sample_idx"]) for r in drop.values()}
    affected = sorted({str(r["batch"]) for r in drop.values()})
    current = read_current(db)
    ref = read_release_meta(db, current).reference if current else None
    try:
        if affected:
            stage_without(db, release_id, affected, idx)
        with Registry(db) as reg:
            samples = reg.samples()
            batches = reg.batch_names()
        if not batches:
            raise LifecycleError(f"{db} has no batch loaded; nothing to publish")
        keep = pc.invert(pc.is_in(samples.column("sample_idx"), value_set=pa.array(sorted(idx), pa.int32())))
        samples = samples.filter(keep)
        staged = pending_dir(db, release_id)
        dirs = {
            kind: [batch_dir(staged, kind, b) if b in affected else batch_dir(db, kind, b) for b in batches]
            for kind in ("calls", "gaps")
        }
        meta = publish_release(
            db,
            release_id,
            samples,
            dirs["calls"],
            dirs["gaps"],
            batches,
            settings,
            None if ref is None else Path(ref),
            progress,
        )
        with Registry(db) as reg:
            reg.con.execute("BEGIN TRANSACTION")
            try:
                reg.con.execute(
                    "UPDATE samples SET withdrawn = true WHERE list_contains(?, sample_idx)", [sorted(idx)]
                )
                for r in sorted(drop.values(), key=lambda r: int(r["sample_idx"])):
                    changelog.append(
                        reg.con,
                        "withdraw",
                        subject=str(r["pseudonym"]),
                        reason=reason,
                        details={"batch": r["batch"], "release": release_id},
                        operator=operator,
                    )
                reg.add_release(meta.as_json(), _in_transaction=True, operator=operator)
                # Reports stored before paths were pseudonymized may still name the person's file.
                reg.scrub_report_paths(load_pseudonymizer(db, create=False).vcf)
                reg.con.execute("COMMIT")
            except BaseException:
                reg.con.execute("ROLLBACK")
                raise
    except BaseException:
        recover(db)
        raise
    # Committed: swap the rewritten folders in and go live.
    finish_pending(db, [release_id])
    set_current(db, release_id)
    report.release = release_id
    report.rewritten_batches = affected
    report.n_samples = meta.n_samples
    report.n_variants = meta.n_variants
    report.pruned = prune_releases(db, settings.keep_releases, operator)


def withdraw(
    db: Path,
    sample_ids: Sequence[str],
    reason: str | None = None,
    operator: str | None = None,
    settings: Settings | None = None,
    progress: Progress = _noop,
) -> ChangeReport:
    """Remove people from every count of a new release and delete their calls and intervals.

    Parameters
    ----------
    db
        Database directory.
    sample_ids
        The ids as the manifest gave them (hashed here with the database's secret).
    reason
        Recorded in the changelog. Default None.
    operator
        Default :func:`variantdb.store.changelog.current_operator`.
    settings
        Default :func:`variantdb.settings.get_settings`.
    progress
        A callback ``(stage, advance, total)``.

    Returns
    -------
    ChangeReport
        ``release`` is None when every sample was already withdrawn (nothing to do).

    Raises
    ------
    LifecycleError
        An id the database does not hold; nothing is changed then.
    """
    db = Path(db)
    settings = settings or get_settings()
    started = time.perf_counter()
    ids = list(dict.fromkeys(sample_ids))
    if not ids:
        raise LifecycleError("give at least one --sample to withdraw")
    report = ChangeReport()
    with _changing(db):
        with Registry(db) as reg:
            found = _find_samples(reg, ids, db)
        report.already_withdrawn = [s for s in ids if found[s]["withdrawn"]]
        report.withdrawn = [s for s in ids if not found[s]["withdrawn"]]
        drop = {s: found[s] for s in report.withdrawn}
        if drop:
            _rebuild(db, drop, reason, operator, settings, progress, report)
    report.seconds = time.perf_counter() - started
    return report


@dataclass
class WithdrawPlan:
    """What :func:`withdraw` would do, found without changing anything (``variantdb withdraw --dry-run``)."""

    withdraw: list[str]
    already_withdrawn: list[str]
    batches: list[str]
    n_samples_after: int


def plan_withdraw(db: Path, sample_ids: Sequence[str]) -> WithdrawPlan:
    """Return what withdrawing ``sample_ids`` would change; read only (no lock, no recovery, no write).

    Raises
    ------
    LifecycleError
        No id given, or an id the database does not hold (as :func:`withdraw` would).
    """
    db = Path(db)
    ids = list(dict.fromkeys(sample_ids))
    if not ids:
        raise LifecycleError("give at least one --sample to withdraw")
    with Registry(db, read_only=True) as reg:
        found = _find_samples(reg, ids, db)
        row = reg.con.execute("SELECT count(*) FROM samples WHERE NOT withdrawn").fetchone()
    kept = int(row[0]) if row else 0
    drop = [s for s in ids if not found[s]["withdrawn"]]
    return WithdrawPlan(
        withdraw=drop,
        already_withdrawn=[s for s in ids if found[s]["withdrawn"]],
        batches=sorted({str(found[s]["batch"]) for s in drop}),
        n_samples_after=kept - len(drop),
    )


def publish(
    db: Path,
    reason: str | None = None,
    operator: str | None = None,
    settings: Settings | None = None,
    progress: Progress = _noop,
) -> ChangeReport:
    """Publish a new release from everything stored (a full rebuild), e.g. after a settings change."""
    db = Path(db)
    settings = settings or get_settings()
    started = time.perf_counter()
    report = ChangeReport()
    with _changing(db):
        _rebuild(db, {}, reason, operator, settings, progress, report)
    report.seconds = time.perf_counter() - started
    return report


def set_research_opt_out(
    db: Path,
    sample_ids: Sequence[str],
    opt_out: bool,
    reason: str | None = None,
    operator: str | None = None,
) -> dict[str, tuple[str, str]]:
    """Set or clear the research opt-out of samples, with a changelog entry each, in one transaction.

    Returns
    -------
    dict
        ``{original id: (old consent, new consent)}``. No release is published: the
        clinical counts do not change; research exports read the flag when they run.
    """
    db = Path(db)
    ids = list(dict.fromkeys(sample_ids))
    if not ids:
        raise LifecycleError("give at least one --sample")
    new = RESEARCH_OPT_OUT if opt_out else "given"
    changes: dict[str, tuple[str, str]] = {}
    with _changing(db):
        with Registry(db) as reg:
            found = _find_samples(reg, ids, db)
            gone = [s for s in ids if found[s]["withdrawn"]]
            if gone:
                raise LifecycleError(
                    f"sample(s) {', '.join(repr(s) for s in gone)} withdrew consent altogether; "
                    "their data is deleted and research consent no longer applies"
                )
            reg.con.execute("BEGIN TRANSACTION")
            try:
                for s in ids:
                    old = str(found[s]["consent"])
                    changes[s] = (old, new)
                    if old == new:
                        continue
                    reg.con.execute(
                        "UPDATE samples SET consent = ? WHERE sample_idx = ?", [new, found[s]["sample_idx"]]
                    )
                    changelog.append(
                        reg.con,
                        "consent",
                        subject=str(found[s]["pseudonym"]),
                        reason=reason,
                        details={"from": old, "to": new},
                        operator=operator,
                    )
                reg.con.execute("COMMIT")
            except BaseException:
                reg.con.execute("ROLLBACK")
                raise
    return changes


@dataclass
class ResearchExport:
    """What a research export counted and wrote."""

    release: str
    n_variants: int
    n_samples: int
    n_opted_out: int


def export_research(
    db: Path,
    fmt: str,
    out: Path | None,
    region: str | None = None,
    release: str | None = None,
    settings: Settings | None = None,
) -> ResearchExport:
    """Export a release's variant table recounted without the samples who opted out of research.

    The counts are aggregated afresh, with the release's own code, from the stored
    calls of the release's batches, over its samples that are neither withdrawn nor
    opted out, into a scratch database that is removed afterwards; then exported
    as :func:`variantdb.export.export_release` writes any release. The stored calls
    are read under the writer lock, so no load or withdrawal changes them meanwhile.

    Parameters
    ----------
    db, fmt, out, region, release
        As :func:`variantdb.export.export_release`.
    settings
        Default :func:`variantdb.settings.get_settings`.
    """
    db = Path(db)
    settings = settings or get_settings()
    with write_lock(db):
        recover(db)
        release = release or read_current(db)
        if release is None:
            raise ReleaseNotFoundError(f"{db} has no release yet; load a batch first")
        meta = read_release_meta(db, release)
        batches = meta.batches
        with Registry(db) as reg:
            samples = reg.samples()
            known = set(reg.batch_names())
        lost = [b for b in batches if b not in known]
        if lost:
            raise LifecycleError(f"release {release} counts batch(es) {', '.join(lost)} no longer stored")
        in_release = pc.is_in(samples.column("batch"), value_set=pa.array(batches))
        samples = samples.filter(in_release)
        opted = pc.equal(samples.column("consent"), RESEARCH_OPT_OUT)
        n_opted = int(pc.sum(opted).as_py() or 0)
        samples = samples.filter(pc.invert(opted))
        scratch = Path(tempfile.mkdtemp(prefix="variantdb-research-"))
        try:
            ref = meta.reference
            publish_release(
                scratch,
                release,
                samples,
                [batch_dir(db, "calls", b) for b in batches],
                [batch_dir(db, "gaps", b) for b in batches],
                batches,
                settings,
                None if ref is None else Path(ref),
            )
            n = export_release(scratch, fmt, out, region, release)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    return ResearchExport(release, n, samples.num_rows, n_opted)
