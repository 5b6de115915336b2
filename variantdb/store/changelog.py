"""The append-only changelog: every load, withdrawal, consent change, release and prune.

Entries live in the registry DuckDB (table ``changelog``) and are written in the
same transaction as the change they record, so a crash leaves both or neither.
Each entry carries the SHA-256 of the previous entry's hash and its own fields
(a hash chain): ``variantdb check`` recomputes the chain, so an entry edited or
removed after the fact is found. Sample ids appear only as their pseudonyms.
"""

from __future__ import annotations

import datetime as dt
import getpass
import hashlib
import json
import os
from typing import Any

import duckdb

from variantdb.settings import get_settings
from variantdb.timestamps import format_utc

__all__ = ["ACTIONS", "DDL", "append", "current_operator", "read_log", "verify_chain"]

#: What an entry records.
ACTIONS = ("load", "withdraw", "consent", "release", "prune")

DDL = """
CREATE TABLE IF NOT EXISTS changelog (
    seq BIGINT PRIMARY KEY,
    logged_at TIMESTAMP NOT NULL,
    action VARCHAR NOT NULL,
    operator VARCHAR NOT NULL,
    subject VARCHAR,
    reason VARCHAR,
    details VARCHAR,
    hash VARCHAR NOT NULL
);
"""

_GENESIS = "0" * 64


def current_operator(explicit: str | None = None) -> str:
    """Return who is acting: ``explicit``, else ``VARIANTDB_OPERATOR``, else the OS user."""
    if explicit:
        return explicit
    env = get_settings().operator
    if env:
        return env
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid:{os.getuid()}"


def _digest(
    prev: str, seq: int, at: str, action: str, operator: str, subject: Any, reason: Any, details: str
) -> str:
    body = json.dumps([prev, seq, at, action, operator, subject, reason, details], ensure_ascii=False)
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def append(
    con: duckdb.DuckDBPyConnection,
    action: str,
    *,
    subject: str | None = None,
    reason: str | None = None,
    details: dict[str, Any] | None = None,
    operator: str | None = None,
) -> int:
    """Append one entry; call it inside the transaction of the change it records.

    Parameters
    ----------
    con
        The registry connection, in a transaction.
    action
        One of :data:`ACTIONS`.
    subject
        What the change is about: a batch name, a sample pseudonym, a release id.
    reason
        Why, as the operator gave it. Default None.
    details
        JSON-ready facts (counts, batches). Default None.
    operator
        Default :func:`current_operator`.

    Returns
    -------
    int
        The entry's sequence number.
    """
    if action not in ACTIONS:
        raise ValueError(f"changelog action {action!r} is not one of {', '.join(ACTIONS)}")
    rows = con.execute("SELECT seq, hash FROM changelog ORDER BY seq DESC LIMIT 1").fetchall()
    last = rows[0] if rows else None
    seq = 1 if last is None else int(last[0]) + 1
    prev = _GENESIS if last is None else str(last[1])
    at = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
    who = current_operator(operator)
    body = json.dumps(details or {}, sort_keys=True, default=str, ensure_ascii=False)
    digest = _digest(prev, seq, at.isoformat(), action, who, subject, reason, body)
    con.execute(
        "INSERT INTO changelog VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [seq, at, action, who, subject, reason, body, digest],
    )
    return seq


def read_log(
    con: duckdb.DuckDBPyConnection, since: dt.datetime | None = None, action: str | None = None
) -> list[dict[str, Any]]:
    """Return entries oldest first, optionally from a time (UTC) on and of one action."""
    rows = con.execute(
        "SELECT seq, logged_at, action, operator, subject, reason, details FROM changelog"
        " WHERE (?::TIMESTAMP IS NULL OR logged_at >= ?::TIMESTAMP) AND (?::VARCHAR IS NULL OR action = ?)"
        " ORDER BY seq",
        [since, since, action, action],
    ).fetchall()
    return [
        {
            "seq": r[0],
            "at": format_utc(r[1]),
            "action": r[2],
            "operator": r[3],
            "subject": r[4],
            "reason": r[5],
            "details": json.loads(r[6]) if r[6] else {},
        }
        for r in rows
    ]


def verify_chain(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Recompute the hash chain; return one problem per entry that does not follow from the one before."""
    problems = []
    prev = _GENESIS
    expect = 1
    for seq, at, action, operator, subject, reason, details, digest in con.execute(
        "SELECT seq, logged_at, action, operator, subject, reason, details, hash FROM changelog ORDER BY seq"
    ).fetchall():
        if seq != expect:
            problems.append(f"changelog: entry {expect} is missing (next is {seq})")
        want = _digest(prev, seq, at.isoformat(), action, operator, subject, reason, details or "{}")
        if want != digest:
            problems.append(f"changelog: entry {seq} ({action} at {at}) was altered after it was written")
        prev = digest
        expect = seq + 1
    return problems
