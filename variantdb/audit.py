"""The append-only audit log of the service: one JSON line per HTTP request.

``DB/access/audit.log`` is opened with ``O_APPEND`` and each request's line is
written by a single ``write()``: the kernel appends each whole write at the end
of the file, so lines from several worker processes never interleave or
overwrite each other. A line holds the time (UTC), the key id (never key
material), the role, the method, the endpoint (route template), the query
(path and query string, cut to :data:`MAX_QUERY` characters), the number of
variant queries it counted, the granularity returned and the status. Values are
JSON-escaped, so a path or header carrying a newline cannot forge a line.

To rotate the log, rename it: each writer notices within a second and starts
a new file (logrotate's default ``create`` mode; not ``copytruncate``).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from variantdb.errors import VariantdbError
from variantdb.store.layout import access_dir
from variantdb.timestamps import UTC_FORMAT

__all__ = [
    "MAX_QUERY",
    "AuditLog",
    "AuditRead",
    "AuditReadError",
    "audit_path",
    "now_iso",
    "parse_since",
    "read_audit",
]

#: Longest query (path and query string) written; longer ones are cut and marked.
MAX_QUERY = 2000


def audit_path(db: Path) -> Path:
    """Return ``DB/access/audit.log``."""
    return access_dir(db) / "audit.log"


class AuditReadError(VariantdbError, ValueError):
    """The audit log or a filter given to :func:`read_audit` cannot be read."""


class AuditLog:
    """The writer of one process: one ``O_APPEND`` descriptor, one ``write()`` per line.

    Parameters
    ----------
    db
        The database directory.
    """

    #: Seconds between checks that the log was not moved away (rotated).
    check_interval = 1.0

    def __init__(self, db: Path) -> None:
        self.path = audit_path(db)
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._fd = self._open()
        self._checked = time.monotonic()

    def _open(self) -> int:
        return os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)

    def write(self, entry: dict[str, Any]) -> None:
        """Append one entry as a JSON line (to a new file once the old one was renamed away)."""
        now = time.monotonic()
        if now - self._checked >= self.check_interval:
            self._checked = now
            self._reopen_if_moved()
        os.write(self._fd, orjson.dumps(entry) + b"\n")

    def _reopen_if_moved(self) -> None:
        try:
            moved = os.stat(self.path).st_ino != os.fstat(self._fd).st_ino
        except FileNotFoundError:
            moved = True
        if moved:
            old, self._fd = self._fd, self._open()
            os.close(old)

    def close(self) -> None:
        """Close the descriptor."""
        os.close(self._fd)


_second: list[Any] = [-1, ""]


def now_iso() -> str:
    """Return the current UTC time as the log writes it (the one format, ``2026-12-07T08:15:00Z``)."""
    sec = int(time.time())
    if sec != _second[0]:
        # Formatting the date costs microseconds: once per second is enough.
        _second[:] = [sec, time.strftime(UTC_FORMAT, time.gmtime(sec))]
    return str(_second[1])


def parse_since(text: str) -> datetime:
    """Parse ``--since``: a date (``2026-11-22``, midnight UTC) or an ISO time (UTC unless it says otherwise).

    Raises
    ------
    AuditReadError
        When ``text`` is neither.
    """
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise AuditReadError(
            f"--since {text!r} is not a date (2026-11-22) or an ISO time (2026-11-22T10:00)"
        ) from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


@dataclass
class AuditRead:
    """Counts of a read: lines matched, lines skipped as unreadable."""

    matched: int = 0
    unreadable: int = 0


def read_audit(
    db: Path, key: str | None = None, since: datetime | None = None, stats: AuditRead | None = None
) -> Iterator[dict[str, Any]]:
    """Yield the audit entries of a database, oldest first, filtered by key id and time.

    Parameters
    ----------
    db
        The database directory.
    key
        Only entries of this key id; ``"public"`` gives the entries of callers without a key. Default: all.
    since
        Only entries at or after this time. Default: all.
    stats
        Filled with the matched and unreadable line counts. Default: not kept.
    """
    path = audit_path(db)
    if not path.exists():
        return
    stats = stats if stats is not None else AuditRead()
    with open(path, "rb") as fh:
        for line in fh:
            try:
                entry = orjson.loads(line)
                when = datetime.fromisoformat(entry["time"].replace("Z", "+00:00"))
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError):
                stats.unreadable += 1
                continue
            if key is not None and entry.get("key") != (None if key == "public" else key):
                continue
            if since is not None and when < since:
                continue
            stats.matched += 1
            yield entry
