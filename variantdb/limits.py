"""Request-rate and daily query limits shared by every worker process of the service.

The state lives in one small file, ``DB/access/limits.bin``, memory-mapped by
each worker: a fixed table of :data:`SLOTS` slots of 32 bytes (identity hash,
token-bucket tokens, time of the last update, UTC day, queries that day). A
check takes an exclusive ``flock`` on the file, reads and updates the caller's
slot, and releases it: a few microseconds, and exact across processes (two
workers never both spend the last token). The file is scratch state: deleting it
while the service is stopped resets every limit.

An identity is the key id of a caller with a key, or ``addr:<client address>``
of one without. The rate is a token bucket holding at most one minute's worth
of requests (the burst) and refilled continuously; under a high rate with no
budget to count (a controlled key's defaults) a worker takes a tenth of a
second's tokens at once and spends them locally for at most a second, so the
file is locked about once per hundred requests; the budget counts variant
queries (a batch of 500 ids is 500) per UTC day. When the slots an identity
hashes to are all taken by others active the same day, the least recently used
is reused (its counts restart); with 65,536 slots that needs tens of thousands
of concurrent callers.
"""

from __future__ import annotations

import fcntl
import hashlib
import math
import mmap
import os
import struct
import time
from dataclasses import dataclass
from pathlib import Path

from variantdb.store.layout import access_dir

__all__ = ["SLOTS", "Decision", "Limiter", "limits_path"]

SLOTS = 1 << 16
_SLOT = struct.Struct("<QddII")  # ident hash, tokens, last update (unix s), UTC day, queries that day
_PROBE = 32
_DAY = 86_400


def limits_path(db: Path) -> Path:
    """Return ``DB/access/limits.bin``."""
    return access_dir(db) / "limits.bin"


@dataclass(frozen=True)
class Decision:
    """The answer of :meth:`Limiter.take`: allowed, or why not and for how long."""

    allowed: bool
    reason: str | None = None  # "rate" or "budget"
    retry_after: int = 0  # seconds
    used_today: int = 0


_ALLOW = Decision(True)


class Limiter:
    """The shared limit table of one database, opened by one process.

    Parameters
    ----------
    db
        The database directory.
    """

    def __init__(self, db: Path) -> None:
        self.path = limits_path(db)
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        size = SLOTS * _SLOT.size
        if os.fstat(self._fd).st_size < size:
            fcntl.flock(self._fd, fcntl.LOCK_EX)
            try:
                if os.fstat(self._fd).st_size < size:
                    os.ftruncate(self._fd, size)
            finally:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
        self._map = mmap.mmap(self._fd, size)
        # Per-process memos: an identity's hash, and where its slot was last found (checked on use).
        self._hashes: dict[str, int] = {}
        self._offsets: dict[int, int] = {}
        # Rate tokens taken from the shared bucket ahead of use: identity -> [tokens left, when taken].
        self._leases: dict[str, list[float]] = {}

    def close(self) -> None:
        """Unmap and close the table."""
        self._map.close()
        os.close(self._fd)

    @staticmethod
    def _hash(ident: str) -> int:
        h = int.from_bytes(hashlib.blake2b(ident.encode(), digest_size=8).digest(), "little")
        return h or 1  # 0 marks an empty slot

    def _find(self, h: int, now: float, today: int) -> tuple[int, bool]:
        """Return (offset of the identity's slot, whether it was found) among its probe sequence."""
        m = self._map
        start = h % SLOTS
        free = -1
        oldest, oldest_at = -1, math.inf
        for i in range(_PROBE):
            off = ((start + i) % SLOTS) * _SLOT.size
            ident, _, last, day, _ = _SLOT.unpack_from(m, off)
            if ident == h:
                return off, True
            if free < 0 and (ident == 0 or (day != today and now - last > 60)):
                free = off
            if last < oldest_at:
                oldest, oldest_at = off, last
        return (free if free >= 0 else oldest), False

    def take(self, ident: str, requests: int, queries: int, per_minute: int, per_day: int) -> Decision:
        """Spend ``requests`` from the rate and ``queries`` from the daily budget of an identity, if both allow.

        Parameters
        ----------
        ident
            The caller's identity (key id, or ``addr:`` and the client address).
        requests
            Requests to take from the token bucket (0 for a budget-only charge).
        queries
            Variant queries to add to today's count.
        per_minute
            Rate: requests per minute (also the burst); 0 is no rate limit.
        per_day
            Budget: queries per UTC day; 0 is no budget.

        Returns
        -------
        Decision
            Allowed (and spent), or refused (nothing spent) with the reason and
            the seconds until a retry can succeed.
        """
        if per_minute <= 0 and per_day <= 0:
            return _ALLOW
        lease = per_minute // 600  # a tenth of a second's worth
        if lease > 1 and (per_day <= 0 or queries == 0) and requests == 1:
            return self._take_leased(ident, lease, per_minute)
        return self._take(ident, requests, queries, per_minute, per_day)

    def _take_leased(self, ident: str, lease: int, per_minute: int) -> Decision:
        """Spend one request of a high rate with no budget to count, from tokens taken ahead in bulk.

        Leased tokens are spent from the shared bucket when taken, so all workers
        together never exceed the rate; a lease is dropped after one second, so
        a worker's unused tokens delay the others by at most that.
        """
        now = time.monotonic()
        held = self._leases.get(ident)
        if held is not None and held[0] >= 1 and now - held[1] < 1.0:
            held[0] -= 1
            return _ALLOW
        d = self._take(ident, lease, 0, per_minute, 0)
        if d.allowed:
            self._leases[ident] = [lease - 1, now]
            if len(self._leases) > SLOTS:
                self._leases.clear()
            return d
        self._leases.pop(ident, None)
        return self._take(ident, 1, 0, per_minute, 0)

    def _take(self, ident: str, requests: int, queries: int, per_minute: int, per_day: int) -> Decision:
        h = self._hashes.get(ident)
        if h is None:
            if len(self._hashes) >= SLOTS:
                self._hashes.clear()
                self._offsets.clear()
            h = self._hashes[ident] = self._hash(ident)
        now = time.time()
        today = int(now // _DAY)
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        try:
            off = self._offsets.get(h, -1)
            found = False
            if off >= 0:
                at, tokens, last, day, used = _SLOT.unpack_from(self._map, off)
                found = at == h
            if not found:
                off, found = self._find(h, now, today)
                if found:
                    _, tokens, last, day, used = _SLOT.unpack_from(self._map, off)
                    self._offsets[h] = off
                else:
                    tokens, last, day, used = float(per_minute), now, today, 0
                    self._offsets[h] = off
            if day != today:
                day, used = today, 0
            if per_minute > 0:
                tokens = min(float(per_minute), tokens + max(0.0, now - last) * per_minute / 60.0)
                if tokens < requests:
                    wait = (requests - tokens) * 60.0 / per_minute
                    _SLOT.pack_into(self._map, off, h, tokens, now, day, used)
                    return Decision(False, "rate", max(1, math.ceil(wait)), used)
            if per_day > 0 and used + queries > per_day:
                _SLOT.pack_into(self._map, off, h, tokens, now, day, used)
                return Decision(False, "budget", max(1, math.ceil((today + 1) * _DAY - now)), used)
            _SLOT.pack_into(
                self._map, off, h, tokens - requests if per_minute > 0 else 0.0, now, day, used + queries
            )
            return _ALLOW
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
