"""Pruning old releases by a retention setting; never the current release.

The registry rows go first, with a changelog entry per release, in one
transaction; then each folder is renamed to a hidden name (atomic) and deleted.
A crash in between leaves a folder the registry does not know, which
:func:`variantdb.load.recover` deletes. A service still holding a pruned release
open keeps serving it from its memory maps until it lets go.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from variantdb.release.files import read_current
from variantdb.store import changelog
from variantdb.store.layout import release_path
from variantdb.store.registry import Registry

__all__ = ["plan_prune", "prune_releases", "releases_to_prune"]


def releases_to_prune(ids: list[str], current: str | None, keep: int) -> list[str]:
    """Return the releases beyond the newest ``keep`` ones, leaving out the current one.

    Parameters
    ----------
    ids
        Release ids, oldest first.
    current
        The live release, never pruned.
    keep
        How many of the newest releases to keep (the current one is kept besides); 0 keeps all.
    """
    if keep <= 0:
        return []
    return [r for r in ids[: max(0, len(ids) - keep)] if r != current]


def plan_prune(db: Path, keep: int) -> list[str]:
    """Return the releases :func:`prune_releases` would delete now; read only (``prune --dry-run``)."""
    with Registry(Path(db), read_only=True) as reg:
        ids = [r["id"] for r in reg.releases()]
    return releases_to_prune(ids, read_current(Path(db)), keep)


def prune_releases(db: Path, keep: int, operator: str | None = None, reason: str | None = None) -> list[str]:
    """Delete all but the newest ``keep`` releases (and never the current one); return the deleted ids.

    Call under :func:`variantdb.store.registry.write_lock`.

    Parameters
    ----------
    db
        Database directory.
    keep
        Releases to keep, at least 1; 0 keeps all (does nothing).
    operator, reason
        For the changelog. Default: :func:`variantdb.store.changelog.current_operator`, no reason.
    """
    db = Path(db)
    if keep < 0:
        raise ValueError(f"keep must be >= 0 (0 keeps every release), not {keep}")
    current = read_current(db)
    with Registry(db) as reg:
        ids = [r["id"] for r in reg.releases()]
        doomed = releases_to_prune(ids, current, keep)
        if not doomed:
            return []
        reg.con.execute("BEGIN TRANSACTION")
        try:
            for rid in doomed:
                reg.con.execute("DELETE FROM releases WHERE id = ?", [rid])
                changelog.append(
                    reg.con, "prune", subject=rid, reason=reason, details={"keep": keep}, operator=operator
                )
            reg.con.execute("COMMIT")
        except BaseException:
            reg.con.execute("ROLLBACK")
            raise
    for rid in doomed:
        folder = release_path(db, rid)
        if folder.exists():
            hidden = folder.parent / f".pruned-{rid}"
            folder.rename(hidden)
            shutil.rmtree(hidden)
    return doomed
