"""The service's access log: one JSON object per request on the ``variantdb.access`` logger.

The audit log (:mod:`variantdb.audit`) is the record of who asked what, kept in the
database for the data protection officer; the access log is for operators: written
to standard output by ``variantdb serve`` (one JSON line per request, at level
``info``, so ``--log-level warning`` silences it), read by journald, Docker or a log
shipper. A line holds

``time``
    when the response finished, ISO 8601 UTC (``2026-12-07T08:15:00Z``);
``method``, ``path``
    the request; the query string is kept, but the value of any parameter whose
    name suggests a secret (key, token, secret, password, session, csrf, auth) is
    replaced by ``[redacted]``;
``status``, ``duration_ms``
    the response status and the time to the response's last byte, in milliseconds;
``role``
    the caller's role (public, registered, controlled).
"""

from __future__ import annotations

import logging
import re
from typing import Final
from urllib.parse import parse_qsl, urlencode

import orjson
from starlette.types import Scope

from variantdb.timestamps import now_utc

__all__ = ["ACCESS_LOGGER", "log_request", "redact_query"]

#: The logger the lines go to; ``variantdb serve`` sends it to standard output.
ACCESS_LOGGER: Final = "variantdb.access"
_log = logging.getLogger(ACCESS_LOGGER)
_SECRET_NAME = re.compile(r"key|token|secret|passw|session|csrf|auth", re.IGNORECASE)
_REDACTED: Final = "[redacted]"


def redact_query(query: str) -> str:
    """Return a query string with the values of secret-looking parameters replaced by ``[redacted]``."""
    if not query or not _SECRET_NAME.search(query):
        return query
    pairs = parse_qsl(query, keep_blank_values=True)
    return urlencode([(k, _REDACTED if _SECRET_NAME.search(k) else v) for k, v in pairs], safe="[]:,/")


def log_request(scope: Scope, role: str, status: int, seconds: float) -> None:
    """Write the access-log line of one finished request (nothing when the logger is off).

    Parameters
    ----------
    scope
        The request's ASGI scope (method, path, query string).
    role
        The caller's role.
    status
        The response status (500 when the app failed before answering).
    seconds
        Time from the request's arrival to its last byte.
    """
    if not _log.isEnabledFor(logging.INFO):
        return
    path = str(scope.get("path", ""))
    qs: bytes = scope.get("query_string", b"")
    if qs:
        path += "?" + redact_query(qs.decode("latin-1"))
    line = {
        "time": now_utc(),
        "method": scope.get("method"),
        "path": path,
        "status": status,
        "duration_ms": round(seconds * 1000, 1),
        "role": role,
    }
    _log.info(orjson.dumps(line).decode())
