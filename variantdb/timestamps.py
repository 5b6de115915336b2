"""The one timestamp format of every output: ISO 8601 in UTC to the second, ``2026-12-07T08:15:00Z``.

CLI tables, TSV, JSON (``release.json``, the changelog, the audit log, the access
log, key records) all write times through :func:`format_utc`, so a reader parses
one form. The registry stores naive ``TIMESTAMP`` values that are UTC by
convention; :func:`format_utc` treats a naive datetime as UTC. Dates without a
time (a sample's date received) stay ``YYYY-MM-DD``.
"""

from __future__ import annotations

import datetime as dt
import time

__all__ = ["UTC_FORMAT", "format_utc", "now_utc", "parse_utc"]

#: :func:`time.strftime` / :meth:`datetime.datetime.strftime` pattern of the format.
UTC_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def format_utc(when: dt.datetime | str) -> str:
    """Return ``when`` as ``YYYY-MM-DDTHH:MM:SSZ`` (UTC, whole seconds).

    Parameters
    ----------
    when
        A datetime (naive means UTC; an aware one is converted) or an ISO 8601
        string in any form :func:`parse_utc` reads (e.g. ``2026-12-07T08:15:00+00:00``
        as older releases wrote it).

    Returns
    -------
    str
        E.g. ``2026-12-07T08:15:00Z``. Fractions of a second are dropped.
    """
    if isinstance(when, str):
        when = parse_utc(when)
    if when.tzinfo is not None:
        when = when.astimezone(dt.UTC).replace(tzinfo=None)
    return when.strftime(UTC_FORMAT)


def parse_utc(text: str) -> dt.datetime:
    """Parse an ISO 8601 date or time; return an aware UTC datetime (naive input is UTC).

    Raises
    ------
    ValueError
        When ``text`` is not ISO 8601.
    """
    when = dt.datetime.fromisoformat(text.strip())
    return when.replace(tzinfo=dt.UTC) if when.tzinfo is None else when.astimezone(dt.UTC)


def now_utc() -> str:
    """Return the current time in the format (``2026-12-07T08:15:00Z``)."""
    return time.strftime(UTC_FORMAT, time.gmtime())
