"""Typed dependencies: the release store that the routes read through.

:class:`ReleaseStore` opens releases lazily and watches ``DB/CURRENT``. When it
names a new release, the store opens it and swaps one reference; a request in
flight keeps the :class:`OpenRelease` it already holds (its memory maps stay
valid even if the old release directory is later removed), so no request fails
during a switch.

A release opened for ``?release=`` stays open, but each use first checks that
its ``release.json`` is still on disk (one ``stat``, repeated at most every
:data:`PRESENCE_INTERVAL` seconds per release): once ``prune`` or a withdrawal
removes a release, every worker answers 404 for it within that interval instead
of serving the memory-mapped copy, which may hold a withdrawn person's data.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

from fastapi import Depends, Query, Request

from variantdb.api.errors import APIError
from variantdb.api.params import RELEASE
from variantdb.api.records import RecordLayout
from variantdb.release.files import read_current, read_release_meta
from variantdb.release.index import ReleaseIndex
from variantdb.release.meta import ReleaseMeta
from variantdb.settings import Settings, get_settings
from variantdb.store.layout import RELEASE_ID, ReleaseNotFoundError, release_path
from variantdb.variant import Reference

__all__ = [
    "PRESENCE_INTERVAL",
    "OpenRelease",
    "ReleaseDep",
    "ReleaseStore",
    "SettingsDep",
    "StoreDep",
    "get_release",
    "get_store",
]

log = logging.getLogger("variantdb.api")

PRESENCE_INTERVAL = 0.5
"""Seconds a pinned release is trusted to still be on disk before its folder is checked again."""


@dataclass
class OpenRelease:
    """A release opened for serving: metadata, memory-mapped index, reference and record layout."""

    id: str
    path: Path
    meta: ReleaseMeta
    index: ReleaseIndex
    layout: RecordLayout
    reference: Reference | None
    reference_note: str
    opened: float = field(default_factory=time.time)


def _open_release(db: Path, release_id: str) -> OpenRelease:
    meta = read_release_meta(db, release_id)
    path = release_path(db, release_id)
    index = ReleaseIndex.open(path)
    ref_path = meta.reference
    reference = None
    if ref_path:
        try:
            reference = Reference(ref_path)
            note = "left-aligned and REF-checked against the release's reference"
        except (OSError, ValueError) as e:
            # Serving on is better than refusing every lookup, but the response says so.
            log.warning(
                "release %s: reference %s cannot be opened (%s); ids are only trimmed",
                release_id,
                ref_path,
                e,
            )
            # The response names the file, never where it lives on the server.
            name = Path(str(ref_path)).name
            note = f"trimmed only: the release's reference {name} is not readable by the service"
    else:
        note = "trimmed only: the release has no reference FASTA, so indels are not left-aligned"
    layout = RecordLayout(index, [s.model_dump() for s in meta.strata] or None)
    return OpenRelease(release_id, path, meta, index, layout, reference, note)


class ReleaseStore:
    """The releases of one database, opened on demand; follows ``CURRENT``.

    Parameters
    ----------
    db
        The database directory.
    settings
        Limits and the ``reload_interval`` (seconds) between checks of ``CURRENT``.
    max_pinned
        Releases other than the current one kept open for ``?release=`` queries.
    """

    def __init__(self, db: Path, settings: Settings | None = None, max_pinned: int = 4) -> None:
        self.db = Path(db)
        self.settings = settings or get_settings()
        self.max_pinned = max_pinned
        self._lock = threading.Lock()
        self._current: OpenRelease | None = None
        self._pinned: OrderedDict[str, OpenRelease] = OrderedDict()
        self._checked = 0.0
        self._present: dict[str, float] = {}
        self.switches = 0

    def current(self) -> OpenRelease | None:
        """Return the live release (re-reading ``CURRENT`` at most every ``reload_interval`` s), or None."""
        now = time.monotonic()
        cur = self._current
        if cur is not None and now - self._checked < self.settings.reload_interval:
            return cur
        with self._lock:
            self._checked = now
            live = read_current(self.db)
            cur = self._current
            if live is None:
                return cur
            if cur is None or cur.id != live:
                try:
                    opened = self._pinned.pop(live, None) or _open_release(self.db, live)
                except (OSError, ValueError, ReleaseNotFoundError) as e:
                    # A half-written pointer or release: keep serving the old one.
                    log.warning("cannot switch to release %s: %s", live, e)
                    return cur
                if cur is not None:
                    self.switches += 1
                    self._remember(cur)
                self._current = opened
                log.info("serving release %s", live)
            return self._current

    def _remember(self, rel: OpenRelease) -> None:
        self._pinned[rel.id] = rel
        self._pinned.move_to_end(rel.id)
        while len(self._pinned) > self.max_pinned:
            self._pinned.popitem(last=False)

    def get(self, release_id: str | None = None) -> OpenRelease:
        """Return a release by id, or the current one when ``release_id`` is None.

        Raises
        ------
        APIError
            404 ``release_not_found`` for an unknown id, 404 ``no_release`` before any release.
        """
        cur = self.current()
        if release_id is None or (cur is not None and cur.id == release_id):
            if cur is None:
                raise APIError(
                    404, "no_release", f"no release is published in this database ({self.db.name}) yet"
                )
            return cur
        rel = self._pinned.get(release_id)
        if rel is not None:
            if self._still_published(rel):
                return rel
            with self._lock:
                if self._pinned.get(release_id) is rel:
                    del self._pinned[release_id]
            log.info("release %s was removed; no longer served", release_id)
            raise self._not_published(release_id)
        if not RELEASE_ID.match(release_id):
            raise APIError(
                404, "release_not_found", f"{release_id!r} is not a release id (e.g. r0001); see /v1/releases"
            )
        with self._lock:
            try:
                rel = _open_release(self.db, release_id)
            except (ReleaseNotFoundError, FileNotFoundError):
                raise self._not_published(release_id) from None
            self._remember(rel)
            self._present[release_id] = time.monotonic()
        return rel

    @staticmethod
    def _not_published(release_id: str) -> APIError:
        return APIError(404, "release_not_found", f"release {release_id} is not published; see /v1/releases")

    def _still_published(self, rel: OpenRelease) -> bool:
        """Whether a pinned release's ``release.json`` is still on disk (checked at most every PRESENCE_INTERVAL s)."""
        now = time.monotonic()
        if now - self._present.get(rel.id, -PRESENCE_INTERVAL) < PRESENCE_INTERVAL:
            return True
        # prune renames the folder away (atomically) before deleting it, so one stat sees it at once.
        if (rel.path / "release.json").exists():
            self._present[rel.id] = now
            return True
        self._present.pop(rel.id, None)
        return False


def get_store(request: Request) -> ReleaseStore:
    """Return the app's release store."""
    store: ReleaseStore = request.app.state.store
    return store


StoreDep = Annotated[ReleaseStore, Depends(get_store)]


def get_release(
    store: StoreDep,
    release: Annotated[
        str | None,
        Query(description=RELEASE.description, max_length=RELEASE.max_length),
    ] = None,
) -> OpenRelease:
    """Return the release a request asks for (``?release=ID``) or the current one."""
    return store.get(release)


ReleaseDep = Annotated[OpenRelease, Depends(get_release)]


def _settings(store: StoreDep) -> Settings:
    return store.settings


SettingsDep = Annotated[Settings, Depends(_settings)]
