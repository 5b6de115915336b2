"""Browser sessions: a lab user signs in with an API key once and the pages know who they are.

A browser sends no ``Authorization`` header, so without a session every page is
the public view. ``POST /signin`` (:mod:`variantdb.api.routes.signin`) verifies a
key and opens a session here; the browser then holds only a random session id in
a cookie (``HttpOnly``, ``SameSite=Strict``, ``Secure`` over https) that carries
no key material. :class:`variantdb.api.access.AccessMiddleware` turns the cookie
back into the key's id and role on every request.

Sessions live in one small SQLite file, ``DB/access/sessions.sqlite`` (WAL), so
every worker process of the service shares them: a session opened by one worker
is honoured by the next, and a sign-out in one ends it everywhere. The file
holds the SHA-256 of each session id, never the id itself, so a copy of the file
cannot be replayed as a cookie. A session ends on sign-out, after
``session_max_age`` seconds, or when its key is revoked (the middleware checks
the key's state on every use, through the same key cache as a key sent per
request).

Each session has a CSRF token; every state-changing form carries it in a hidden
field and :func:`check_csrf` compares it in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from variantdb.store.layout import access_dir

__all__ = [
    "CSRF_COOKIE",
    "SESSION_COOKIE",
    "Session",
    "SessionStore",
    "SignedIn",
    "check_csrf",
    "sessions_path",
]

#: The cookie holding the session id (random, 256 bits; no key material).
SESSION_COOKIE = "variantdb_session"
#: The cookie holding the sign-in form's CSRF token before a session exists (double submit).
CSRF_COOKIE = "variantdb_csrf"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    id_hash TEXT PRIMARY KEY,
    key_id TEXT NOT NULL,
    csrf TEXT NOT NULL,
    created REAL NOT NULL,
    expires REAL NOT NULL
)
"""
# Expired rows are swept at most this often (seconds) by the process that opens a session.
_SWEEP_INTERVAL = 300.0


def sessions_path(db: Path) -> Path:
    """Return ``DB/access/sessions.sqlite``."""
    return access_dir(db) / "sessions.sqlite"


def _hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


@dataclass(frozen=True)
class Session:
    """One open session: the key it was opened with, its CSRF token and when it ends (unix s)."""

    key_id: str
    csrf: str
    created: float
    expires: float


@dataclass(frozen=True)
class SignedIn:
    """Who a browser is signed in as, for the pages: key id and name, role, how, and the CSRF token.

    ``via`` is ``"session"`` (signed in with a key at ``/signin``; ``csrf`` and
    ``session_id`` set) or ``"proxy"`` (named by the reverse proxy; no session,
    nothing to sign out of here).
    """

    key_id: str
    name: str
    role: str
    csrf: str | None
    via: str
    session_id: str | None = None


class SessionStore:
    """The sessions of one database, shared by every worker (``DB/access/sessions.sqlite``).

    Parameters
    ----------
    db
        The database directory.
    max_age
        Seconds a session lasts from sign-in (setting ``session_max_age``).
    """

    def __init__(self, db: Path, max_age: int) -> None:
        self.path = sessions_path(db)
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.max_age = max_age
        self._local = threading.local()
        self._swept = 0.0
        con = self._con()
        with con:
            con.execute(_SCHEMA)
        self.path.chmod(0o600)

    def _con(self) -> sqlite3.Connection:
        # One connection per thread: route handlers run in a thread pool.
        con: sqlite3.Connection | None = getattr(self._local, "con", None)
        if con is None:
            con = sqlite3.connect(self.path, timeout=5.0, isolation_level=None)
            con.execute("PRAGMA journal_mode=WAL")
            con.execute("PRAGMA synchronous=NORMAL")
            self._local.con = con
        return con

    def open(self, key_id: str) -> tuple[str, Session]:
        """Open a session for a verified key; return the session id (for the cookie only) and the session."""
        session_id = secrets.token_urlsafe(32)
        now = time.time()
        s = Session(key_id, secrets.token_urlsafe(32), now, now + self.max_age)
        con = self._con()
        con.execute(
            "INSERT INTO sessions VALUES (?, ?, ?, ?, ?)",
            (_hash(session_id), s.key_id, s.csrf, s.created, s.expires),
        )
        if now - self._swept > _SWEEP_INTERVAL:
            self._swept = now
            con.execute("DELETE FROM sessions WHERE expires < ?", (now,))
        return session_id, s

    def get(self, session_id: str) -> Session | None:
        """Return the open session of an id, or None when unknown or expired (an expired one is deleted)."""
        if not session_id or len(session_id) > 100:
            return None
        con = self._con()
        row = con.execute(
            "SELECT key_id, csrf, created, expires FROM sessions WHERE id_hash = ?", (_hash(session_id),)
        ).fetchone()
        if row is None:
            return None
        s = Session(*row)
        if s.expires <= time.time():
            self.close(session_id)
            return None
        return s

    def close(self, session_id: str) -> None:
        """End a session (sign-out, revoked key); closing an unknown one does nothing."""
        self._con().execute("DELETE FROM sessions WHERE id_hash = ?", (_hash(session_id),))

    def close_key(self, key_id: str) -> int:
        """End every session opened with a key; return how many."""
        cur = self._con().execute("DELETE FROM sessions WHERE key_id = ?", (key_id,))
        return cur.rowcount


def check_csrf(expected: str | None, given: str | None) -> bool:
    """Return True when a form's CSRF token matches the session's (constant time; empty never matches)."""
    if not expected or not given:
        return False
    return hmac.compare_digest(expected.encode(), given.encode())
