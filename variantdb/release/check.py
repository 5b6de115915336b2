"""Verify a database: a release against its recorded checksums, the registry against the store.

What :func:`check_database` verifies:

- ``CURRENT`` names a release the registry records and whose folder exists, and
  no interrupted write is pending (``pending/``, a staged batch, ``CURRENT``
  behind the newest recorded release);
- the release (default: the current one) has exactly the files ``release.json``
  lists, each with the SHA-256 recorded at publish time;
- the current release counts the batches and the number of samples the registry has;
- every registry batch has its ``calls/`` and ``gaps/`` folders and no others exist;
  every ``sample_idx`` in a batch's calls and gaps is a sample of that batch in the
  registry, and no withdrawn sample's rows remain;
- sample ids and VCF paths are stored as pseudonyms only (64 hex digits), no VCF file name
  appears in clear anywhere else in the registry (stored load reports, changelog, ...), and
  the changelog's hash chain is unbroken.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from variantdb.release.files import checksums, read_current, read_release_meta
from variantdb.release.meta import ReleaseMetaError
from variantdb.store.batches import stored_sample_idx
from variantdb.store.changelog import verify_chain
from variantdb.store.layout import (
    KINDS,
    ReleaseNotFoundError,
    batch_dir,
    pending_root,
    registry_file,
    release_path,
    staging_root,
)
from variantdb.store.registry import VCF_NAME, Registry

__all__ = ["CheckReport", "check_database"]

_PSEUDONYM = re.compile(r"^[0-9a-f]{64}$")


@dataclass
class CheckReport:
    """Problems found (empty when the database is sound) and what was checked."""

    release: str | None = None
    problems: list[str] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when no problem was found."""
        return not self.problems


def _check_release(db: Path, release_id: str, report: CheckReport) -> None:
    try:
        meta = read_release_meta(db, release_id)
    except (ReleaseNotFoundError, ReleaseMetaError) as e:
        report.problems.append(str(e))
        return
    recorded = meta.checksums
    if "checksums" not in meta.model_fields_set:
        report.problems.append(f"release {release_id}: release.json records no checksums")
        return
    actual = checksums(release_path(db, release_id))
    for name in sorted(set(recorded) | set(actual)):
        if name not in actual:
            report.problems.append(f"release {release_id}: file {name} is missing")
        elif name not in recorded:
            report.problems.append(f"release {release_id}: file {name} was not part of the release")
        elif recorded[name] != actual[name]:
            report.problems.append(
                f"release {release_id}: file {name} has SHA-256 {actual[name][:16]}..., "
                f"recorded {recorded[name][:16]}... at publish"
            )
    report.checked.append(f"release {release_id}: {len(actual)} files against their checksums")


#: How each registry table names a row in a message.
_ROW_LABEL = {"samples": "sample_idx", "batches": "name", "releases": "id", "changelog": "seq", "meta": "key"}
#: Where a fix is in reach, what the operator can do.
_CLEAR_PATH_FIX = {
    ("batches", "report"): "; a withdrawal or the next load stores pseudonyms instead",
}


def _clear_spots(value: Any, where: str = "") -> list[str]:
    """Return where (``files[0].path``) a JSON value names a VCF file in clear, or holds a file ``path``."""
    if isinstance(value, dict):
        out = []
        for k, v in value.items():
            at = f"{where}.{k}" if where else str(k)
            if k == "path" and isinstance(v, str) and v:
                out.append(at)
            else:
                out += _clear_spots(v, at)
        return out
    if isinstance(value, list):
        return [s for i, v in enumerate(value) for s in _clear_spots(v, f"{where}[{i}]")]
    if isinstance(value, str) and VCF_NAME.search(value):
        return [where or "the value"]
    return []


def _clear_paths(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Return a problem for every registry value that names a VCF file in clear.

    ``samples.vcf`` is checked per sample elsewhere; every other text column of
    every table is searched, and JSON columns are walked so a message says where.
    """
    columns = con.execute(
        "SELECT table_name, column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = 'main' AND data_type IN ('VARCHAR', 'JSON') ORDER BY table_name, ordinal_position"
    ).fetchall()
    problems = []
    for table, column, kind in columns:
        if (table, column) == ("samples", "vcf"):
            continue
        label = _ROW_LABEL.get(table)
        key = f'"{label}"' if label else "rowid"
        rows = con.execute(
            f'SELECT {key}, "{column}" FROM "{table}" '
            f'WHERE regexp_matches("{column}", \'(?i)(\\.(g?vcf|bcf)|"path")\') ORDER BY 1'
        ).fetchall()
        for row_key, text in rows:
            value: Any = text
            if kind == "JSON" or (isinstance(text, str) and text[:1] in "[{"):
                try:
                    value = json.loads(text)
                except ValueError:
                    value = text
            spots = _clear_spots(value)
            if not spots:
                continue
            shown = ", ".join(spots[:3]) + (f" and {len(spots) - 3} more" if len(spots) > 3 else "")
            problems.append(
                f"registry {table}.{column} ({label or 'row'} {row_key}): "
                f"{len(spots)} VCF path(s) stored in clear, not as pseudonyms ({shown})"
                + _CLEAR_PATH_FIX.get((table, column), "")
            )
    return problems


def check_database(db: Path, release: str | None = None) -> CheckReport:
    """Verify a database; see the module docstring for what is checked.

    Parameters
    ----------
    db
        Database directory.
    release
        The release to verify against its checksums. Default: the current one.
    """
    db = Path(db)
    report = CheckReport()
    if not registry_file(db).exists():
        report.problems.append(f"{db} is not a variantdb database (no registry.duckdb)")
        return report
    with Registry(db, read_only=True) as reg:
        recorded = [r["id"] for r in reg.releases()]
        batches = reg.batch_names()
        rows = reg.con.execute("SELECT sample_idx, sample_id, batch, withdrawn, vcf FROM samples").fetchall()
        report.problems += verify_chain(reg.con)
        report.problems += _clear_paths(reg.con)
        n_log = reg.con.execute("SELECT count(*) FROM changelog").fetchall()[0]
    report.checked.append(f"changelog: {0 if n_log is None else n_log[0]} entries in an unbroken hash chain")
    current = read_current(db)
    if current is None:
        if recorded:
            report.problems.append(f"CURRENT is missing; the registry records releases up to {recorded[-1]}")
    elif current not in recorded:
        report.problems.append(f"CURRENT names {current}, which the registry does not record")
    elif current != recorded[-1]:
        report.problems.append(
            f"CURRENT names {current} but the registry's newest release is {recorded[-1]}: "
            "an interrupted write; any write (or `variantdb check`) finishes it"
        )
    pending = pending_root(db)
    if pending.exists() and any(pending.iterdir()):
        report.problems.append(f"an interrupted change is pending in {pending}")
    staging = staging_root(db)
    if staging.exists() and any(p.name != ".duckdb-spill" for p in staging.iterdir()):
        report.problems.append(f"an interrupted load is staged in {staging}")
    report.release = release or current
    if report.release is not None:
        _check_release(db, report.release, report)
        if release is not None and release not in recorded:
            report.problems.append(f"release {release} is not recorded in the registry")
    if current is not None and current in recorded:
        try:
            meta = read_release_meta(db, current)
        except (ReleaseNotFoundError, ReleaseMetaError) as e:
            report.problems.append(str(e))
        else:
            if meta.batches != batches:
                report.problems.append(
                    f"the current release {current} counts batches {meta.batches}, the registry has {batches}"
                )
            live = sum(1 for r in rows if not r[3])
            if meta.n_samples != live:
                report.problems.append(
                    f"the current release {current} counts {meta.n_samples} samples, "
                    f"the registry has {live} not withdrawn"
                )
    by_batch: dict[str, dict[int, bool]] = {}
    for idx, sid, batch, withdrawn, vcf in rows:
        by_batch.setdefault(batch, {})[int(idx)] = bool(withdrawn)
        if not _PSEUDONYM.match(sid):
            report.problems.append(f"sample {idx}: its id is stored in clear, not as a pseudonym")
        if not _PSEUDONYM.match(str(vcf)):
            report.problems.append(f"sample {idx}: its VCF path is stored in clear, not as a pseudonym")
    for kind in KINDS:
        root = db / kind
        on_disk = {p.name.removeprefix("batch=") for p in root.iterdir()} if root.exists() else set()
        for extra in sorted(on_disk - set(batches)):
            report.problems.append(f"{kind}/batch={extra} holds a batch the registry does not know")
        for batch in batches:
            if not batch_dir(db, kind, batch).is_dir():
                report.problems.append(f"{kind}/batch={batch} is missing")
                continue
            samples = by_batch.get(batch, {})
            for idx in sorted(stored_sample_idx(db, kind, batch)):
                if idx not in samples:
                    report.problems.append(
                        f"{kind}/batch={batch} holds rows of sample {idx}, not of this batch"
                    )
                elif samples[idx]:
                    report.problems.append(f"{kind}/batch={batch} still holds rows of withdrawn sample {idx}")
    n_withdrawn = sum(1 for r in rows if r[3])
    report.checked.append(
        f"store: {len(batches)} batches, {len(rows) - n_withdrawn} samples, "
        f"{n_withdrawn} withdrawn with no rows left"
    )
    return report
