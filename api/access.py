"""Access control of every HTTP request: identify the caller, apply the limits, write the audit line.

:class:`AccessMiddleware` wraps the whole app (pure ASGI, like the metrics
middleware). Per request it

1. reads the API key from ``Authorization: Bearer KEY`` or ``X-API-Key: KEY``.
   No key: the caller is ``public`` (or the deployment's ``VARIANTDB_ANONYMOUS_ROLE``).
   A malformed, unknown or revoked key is a 401, never silently public; an
   ``admin`` key is a 403 (admin is for the CLI only). Without a key, a browser
   is identified by a trusted reverse proxy's user header (setting
   ``proxy_user_header``, believed only from ``trusted_proxies``, whose
   ``X-Forwarded-For`` / ``X-Forwarded-Proto`` are applied too: the user gets
   the role of the unrevoked key named after them) or by its session cookie
   (:mod:`variantdb.api.sessions`; the session's key must still be valid, so a
   revocation ends it). An ended or unknown session is the anonymous view, and
   the response expires the cookie.
2. refuses a body over ``max_request_bytes`` (413; ``POST /v1/annotate`` has its own limit).
3. spends one request of the caller's rate and one query of its daily budget
   (:class:`variantdb.limits.Limiter`, shared by every worker): over either, a
   429 with ``Retry-After``. A key is limited per key, a caller without one per
   client address. ``/health``, ``/metrics``, ``/static/*`` and the API docs are not limited.
4. stores a :class:`variantdb.api.auth.Caller` in the scope (routes read it through
   :func:`variantdb.api.auth.caller_role`) and calls the app.
5. appends the audit line (:class:`variantdb.audit.AuditLog`), whatever the outcome, and the
   access-log line (:mod:`variantdb.api.accesslog`).

Keys are verified with scrypt once per worker process, off the event loop
(verifications per client address are limited like public requests, so guessing
secrets cannot tie up the workers), then cached by the whole key; the cache is
dropped whenever ``DB/access/keys.json`` changes (checked every
``reload_interval`` seconds), so a revocation takes effect within that interval
without a restart. The key cache is per process; the limits and the audit log
are shared by every worker.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any

import orjson
from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from variantdb.api.accesslog import log_request
from variantdb.api.auth import CALLER_SCOPE_KEY, ROLES, Caller, Role
from variantdb.api.errors import APIError, error_response
from variantdb.api.metrics import route_label
from variantdb.api.sessions import SESSION_COOKIE, SessionStore, SignedIn
from variantdb.audit import MAX_QUERY, AuditLog, now_iso
from variantdb.keys import ApiKey, KeyStore, KeyStoreError, parse_key
from variantdb.limits import Decision, Limiter
from variantdb.settings import Settings, get_settings

__all__ = [
    "SIGNED_IN_SCOPE_KEY",
    "Access",
    "AccessMiddleware",
    "KeyCache",
    "anonymous_role",
    "document_security",
    "signed_in",
    "spend_queries",
]

log = logging.getLogger("variantdb.api")

_UNLIMITED_PREFIXES = ("/static/",)
_UNLIMITED = frozenset(("/health", "/metrics", "/openapi.json", "/docs", "/redoc", "/docs/oauth2-redirect"))
_OWN_BODY_LIMIT = frozenset(("/v1/annotate",))
_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="variantdb"'}
#: Where the middleware puts the :class:`variantdb.api.sessions.SignedIn` of a browser in the scope.
SIGNED_IN_SCOPE_KEY = "variantdb.signed_in"
_BROWSER_ROLES = ("registered", "controlled")


def anonymous_role() -> Role:
    """Return the role of a caller without a key: ``VARIANTDB_ANONYMOUS_ROLE``, default ``public``.

    A closed network may serve everyone inside it as ``registered`` or
    ``controlled``; ``admin`` is never allowed over HTTP.

    Raises
    ------
    RuntimeError
        For any other value.
    """
    raw = get_settings().anonymous_role
    if raw not in ROLES or raw == "admin":
        raise RuntimeError(f"VARIANTDB_ANONYMOUS_ROLE must be public, registered or controlled, not {raw!r}")
    return raw


class KeyCache:
    """The service's view of ``DB/access/keys.json``: keys by id, verified keys cached.

    Parameters
    ----------
    db
        The database directory.
    reload_interval
        Seconds between checks of the key file for changes.
    """

    _MAX_BAD = 10_000

    def __init__(self, db: Path, reload_interval: float) -> None:
        self.store = KeyStore(db)
        self.reload_interval = reload_interval
        self._lock = threading.Lock()
        self._stamp: tuple[int, int, int] | None = None
        self._keys: dict[str, ApiKey] = {}
        self._checked = -1e18
        self._ok: dict[str, ApiKey] = {}
        self._bad: dict[str, str] = {}
        self._refresh(force=True)

    def _refresh(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._checked < self.reload_interval:
            return
        with self._lock:
            self._checked = now
            stamp = self.store.stamp()
            if stamp == self._stamp and not force:
                return
            try:
                keys = self.store.load()
            except (KeyStoreError, OSError) as e:
                # Fail closed: an unreadable key file means no key is accepted.
                log.error("cannot read the API keys (%s); every key is refused until it is fixed", e)
                keys = {}
            self._stamp, self._keys, self._ok, self._bad = stamp, keys, {}, {}

    def cached(self, key: str) -> ApiKey | str | None:
        """Return the key's record when verified before, the reason it is refused, or None: verify it."""
        self._refresh()
        rec = self._ok.get(key)
        if rec is not None:
            return rec
        bad = self._bad.get(key)
        if bad is not None:
            return bad
        kid = parse_key(key)
        if kid is None:
            return "malformed"
        stored = self._keys.get(kid)
        if stored is None:
            return self._remember_bad(key, "unknown")
        if stored.revoked is not None:
            return self._remember_bad(key, "revoked")
        return None

    def verify(self, key: str) -> ApiKey | str:
        """Verify a key against its stored hash (scrypt: call off the event loop); cache the outcome."""
        kid = parse_key(key)
        keys = self._keys
        stored = keys.get(kid) if kid else None
        if stored is None:
            return "unknown"
        if not KeyStore.verify(key, stored):
            return self._remember_bad(key, "unknown")
        if keys is self._keys:  # not reloaded meanwhile
            self._ok[key] = stored
        return stored

    def record(self, key_id: str) -> ApiKey | None:
        """Return the key record of an id as the key file holds it now (revoked or not), or None."""
        self._refresh()
        return self._keys.get(key_id)

    def by_name(self, name: str) -> ApiKey | None:
        """Return the unrevoked key whose name is ``name`` (a proxy's user), or None; the newest wins."""
        self._refresh()
        found = [k for k in self._keys.values() if k.name == name and k.revoked is None]
        return max(found, key=lambda k: k.created) if found else None

    def _remember_bad(self, key: str, reason: str) -> str:
        if len(self._bad) >= self._MAX_BAD:
            self._bad.clear()
        self._bad[key] = reason
        return reason


class Access:
    """Keys, limits and audit log of one service process (``app.state.access``).

    Parameters
    ----------
    db
        The database directory.
    settings
        Limits and thresholds.
    anonymous
        The role of a caller without a key. Default :func:`anonymous_role`.
    """

    def __init__(self, db: Path, settings: Settings, anonymous: Role | None = None) -> None:
        self.settings = settings
        self.anonymous: Role = anonymous or anonymous_role()
        self.keys = KeyCache(db, settings.reload_interval)
        self.limiter = Limiter(db)
        self.audit = AuditLog(db)
        self.sessions = SessionStore(db, settings.session_max_age)
        self.trusted_proxies = frozenset(p.strip() for p in settings.trusted_proxies.split(",") if p.strip())
        s = settings
        self._limits: dict[str, tuple[int, int]] = {
            "public": (s.public_requests_per_minute, s.public_daily_queries),
            "registered": (s.registered_requests_per_minute, s.registered_daily_queries),
            "controlled": (s.controlled_requests_per_minute, s.controlled_daily_queries),
        }

    def charge_verification(self, client: str | None) -> Decision:
        """Count one key verification (scrypt, ~50 ms) against a client address: ``public_requests_per_minute``."""
        return self.limiter.take(f"verify:{client}", 1, 0, self.settings.public_requests_per_minute, 0)

    def take(self, caller: Caller, requests: int, queries: int) -> Decision:
        """Spend from the caller's rate and daily budget (see :meth:`variantdb.limits.Limiter.take`)."""
        per_minute, per_day = self._limits.get(caller.role, (0, 0))
        ident = f"key:{caller.key_id}" if caller.key_id else f"addr:{caller.client}"
        return self.limiter.take(ident, requests, queries, per_minute, per_day)


def _refusal(d: Decision, caller: Caller) -> tuple[str, dict[str, str]]:
    who = f"key {caller.key_id}" if caller.key_id else f"client address {caller.client} (no key)"
    if d.reason == "rate":
        message = f"too many requests from {who}; retry in {d.retry_after} s"
    else:
        message = (
            f"the daily query budget of {who} is spent ({d.used_today:,} queries today, UTC); "
            f"it renews in {d.retry_after} s"
        )
        if not caller.key_id:
            message += "; a registered key has a larger budget"
    return message, {"Retry-After": str(d.retry_after)}


def document_security(app: FastAPI) -> None:
    """Declare the two ways of sending a key in the OpenAPI document (optional: no key is public).

    The keys are read by :class:`AccessMiddleware`, not by route dependencies,
    so the schemes are added to the generated document once.
    """
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = build()
        schema.setdefault("components", {})["securitySchemes"] = {
            "bearer": {
                "type": "http",
                "scheme": "bearer",
                "description": "an API key from `variantdb keys create`: vdb_<id>_<secret>",
            },
            "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key", "description": "the same key"},
        }
        # {} first: every route also answers without a key, as public.
        schema["security"] = [{}, {"bearer": []}, {"apiKey": []}]
        return schema

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented way to extend the schema


def signed_in(request: Request) -> SignedIn | None:
    """Return who the browser of a request is signed in as (session or proxy), or None."""
    found = request.scope.get(SIGNED_IN_SCOPE_KEY)
    return found if isinstance(found, SignedIn) else None


def spend_queries(request: Request, n: int) -> None:
    """Charge ``n`` more variant queries (a batch's ids beyond the first) to the caller's daily budget.

    Raises
    ------
    APIError
        429 ``query_budget_exceeded`` with ``Retry-After`` when the budget cannot cover them.
    """
    caller = request.scope.get(CALLER_SCOPE_KEY)
    access: Access | None = getattr(request.app.state, "access", None)
    if not isinstance(caller, Caller) or access is None or n <= 0:
        return
    caller.n_queries += n
    d = access.take(caller, 0, n)
    if not d.allowed:
        message, headers = _refusal(d, caller)
        raise APIError(429, "query_budget_exceeded", message, headers=headers)


class AccessMiddleware:
    """Identify, limit and audit every HTTP request (see the module docstring).

    Parameters
    ----------
    app
        The app to wrap.
    access
        The process's :class:`Access`.
    """

    def __init__(self, app: ASGIApp, access: Access) -> None:
        self.app = app
        self.access = access

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer a refusal, or pass the request on with its caller; then write the audit line."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        access = self.access
        client = scope.get("client")
        from_proxy = client is not None and client[0] in access.trusted_proxies
        if from_proxy:
            client = _forwarded(scope, client)
        caller = Caller(
            access.anonymous,
            client=client[0] if client else "unknown",
            small_count_threshold=access.settings.small_count_threshold,
        )
        status = 500
        expire_cookie = False

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                if expire_cookie:
                    headers = [*message.get("headers", []), (b"set-cookie", _expired_cookie(scope))]
                    message = {**message, "headers": headers}
            await send(message)

        try:
            key, length, refusal = self._headers(scope)
            if refusal is None and key is not None:
                keys = access.keys
                found = keys.cached(key)
                if found is None:
                    refusal = self._charge_hash(caller)
                    if refusal is None:
                        found = await run_in_threadpool(keys.verify, key)
                if refusal is None:
                    refusal = self._apply_key(found, key, caller)  # type: ignore[arg-type]  # set above
            if refusal is None and key is None:
                expire_cookie = self._identify_browser(scope, caller, from_proxy)
            if refusal is None:
                refusal = self._limit(scope, caller, length)
            if refusal is not None:
                await refusal(scope, receive, send_status)
                return
            scope[CALLER_SCOPE_KEY] = caller
            await self.app(scope, receive, send_status)
        finally:
            self._audit(scope, caller, status)
            log_request(scope, caller.role, status, time.perf_counter() - started)

    @staticmethod
    def _headers(scope: Scope) -> tuple[str | None, bytes | None, Any]:
        """Return (the API key sent, Content-Length, a refusal of malformed headers or None)."""
        auth: bytes | None = None
        api_key: bytes | None = None
        length: bytes | None = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                if auth is not None:
                    return (
                        None,
                        None,
                        _refuse(401, "invalid_key", "more than one Authorization header", _CHALLENGE),
                    )
                auth = value
            elif name == b"x-api-key":
                if api_key is not None:
                    return (
                        None,
                        None,
                        _refuse(401, "invalid_key", "more than one X-API-Key header", _CHALLENGE),
                    )
                api_key = value
            elif name == b"content-length":
                length = value
        key: str | None = None
        if auth is not None:
            scheme, _, rest = auth.partition(b" ")
            if scheme.lower() != b"bearer" or not rest.strip():
                message = "the Authorization header must be 'Bearer <key>'"
                return None, None, _refuse(401, "invalid_key", message, _CHALLENGE)
            key = rest.strip().decode("latin-1")
        if api_key is not None:
            other = api_key.strip().decode("latin-1")
            if key is not None and other != key:
                message = "Authorization and X-API-Key carry different keys"
                return None, None, _refuse(401, "invalid_key", message, _CHALLENGE)
            key = other
        return key, length, None

    def _identify_browser(self, scope: Scope, caller: Caller, from_proxy: bool) -> bool:
        """Make a keyless caller the proxy's user or the session's key holder; return True to expire the cookie.

        The SQLite read of a session takes tens of microseconds: done on the event loop.
        """
        access = self.access
        proxy_header = access.settings.proxy_user_header
        proxy_name = proxy_header.lower().encode("latin-1") if proxy_header else None
        user: bytes | None = None
        cookie: bytes | None = None
        for name, value in scope["headers"]:
            if name == proxy_name:
                user = value
            elif name == b"cookie":
                cookie = value if cookie is None else cookie + b"; " + value
        if user is not None:
            who = user.decode("latin-1").strip()
            if not from_proxy:
                caller.extra = {"refused": f"{proxy_header} from an untrusted address"}
            else:
                rec = access.keys.by_name(who)
                if rec is not None and rec.role in _BROWSER_ROLES:
                    caller.key_id, caller.role = rec.id, rec.role
                    caller.extra = {"via": "proxy", "user": who}
                    scope[SIGNED_IN_SCOPE_KEY] = SignedIn(rec.id, rec.name, rec.role, None, "proxy")
                    return False
                caller.extra = {"refused": f"no registered or controlled key is named {who[:100]!r}"}
        session_id = _cookie_value(cookie, SESSION_COOKIE) if cookie is not None else None
        if not session_id:
            return False
        s = access.sessions.get(session_id)
        rec = access.keys.record(s.key_id) if s is not None else None
        if s is None or rec is None or rec.revoked is not None or rec.role not in _BROWSER_ROLES:
            if s is not None:
                access.sessions.close(session_id)  # the key was revoked or removed
            caller.extra = {**(caller.extra or {}), "session": "ended"}
            return True
        caller.key_id, caller.role = rec.id, rec.role
        caller.extra = {**(caller.extra or {}), "via": "session"}
        scope[SIGNED_IN_SCOPE_KEY] = SignedIn(rec.id, rec.name, rec.role, s.csrf, "session", session_id)
        return False

    def _charge_hash(self, caller: Caller) -> Any:
        """Count a key verification against the client address (public_requests_per_minute); 429 when over."""
        # A hash costs ~50 ms of CPU: guessing secrets of a known id cannot tie up the workers.
        d = self.access.charge_verification(caller.client)
        if d.allowed:
            return None
        message = f"too many new keys from client address {caller.client}; retry in {d.retry_after} s"
        return _refuse(429, "rate_limited", message, {"Retry-After": str(d.retry_after)})

    @staticmethod
    def _apply_key(found: ApiKey | str, key: str, caller: Caller) -> Any:
        """Make the caller the key's holder; return the 401 / 403 of a refused key, or None."""
        if isinstance(found, str):
            caller.key_id = parse_key(key)
            caller.role = "public"
            caller.extra = {"refused": found}
            what = {
                "malformed": "the API key is malformed (expected vdb_<id>_<secret>)",
                "unknown": "the API key is not valid",
                "revoked": f"the API key {caller.key_id} has been revoked",
            }[found]
            return _refuse(401, "invalid_key", what, _CHALLENGE)
        caller.key_id = found.id
        caller.role = found.role  # type: ignore[assignment]  # KEY_ROLES are roles
        if found.role == "admin":
            message = "admin keys are for the command line only; use a controlled key"
            return _refuse(403, "admin_key_over_http", message)
        return None

    def _limit(self, scope: Scope, caller: Caller, length: bytes | None) -> Any:
        """Return the 413 of an oversized body or the 429 of a caller over its limits, or None."""
        path: str = scope.get("path", "")
        if length is not None and path not in _OWN_BODY_LIMIT:
            try:
                size = int(length)
            except ValueError:
                return _refuse(400, "bad_request", "the Content-Length header is not a number")
            limit = self.access.settings.max_request_bytes
            if size > limit:
                return _refuse(
                    413,
                    "payload_too_large",
                    f"the request body is {size:,} bytes; the limit is {limit:,} (setting max_request_bytes)",
                )
        if path in _UNLIMITED or path.startswith(_UNLIMITED_PREFIXES):
            caller.n_queries = 0
            return None
        d = self.access.take(caller, 1, 1)
        if d.allowed:
            return None
        message, headers = _refusal(d, caller)
        code = "rate_limited" if d.reason == "rate" else "query_budget_exceeded"
        return _refuse(429, code, message, headers)

    def _audit(self, scope: Scope, caller: Caller, status: int) -> None:
        path: str = scope.get("path", "")
        qs: bytes = scope.get("query_string", b"")
        query = path + ("?" + qs.decode("latin-1") if qs else "")
        if len(query) > MAX_QUERY:
            query = query[:MAX_QUERY] + "...(cut)"
        route: Any = scope.get("route")
        entry = {
            "time": now_iso(),
            "key": caller.key_id,
            "role": caller.role,
            "client": caller.client,
            "method": scope.get("method"),
            "endpoint": route_label(route.path) if route is not None else "unmatched",
            "query": query,
            "queries": caller.n_queries,
            "granularity": caller.granularity,
            "status": status,
        }
        if caller.extra:
            entry.update(caller.extra)
        try:
            self.access.audit.write(entry)
        except OSError as e:
            log.error("cannot write the audit log: %s", e)


def _forwarded(scope: Scope, client: Any) -> Any:
    """Apply a trusted proxy's ``X-Forwarded-For`` / ``X-Forwarded-Proto`` to the scope; return the client.

    The nearest address the proxy names (the last of ``X-Forwarded-For``) becomes the
    client (rate limits and the audit log); ``https`` in ``X-Forwarded-Proto`` makes
    the session cookie ``Secure``.
    """
    for name, value in scope["headers"]:
        if name == b"x-forwarded-for":
            last = value.decode("latin-1").split(",")[-1].strip()
            if last:
                client = (last, 0)
                scope["client"] = client
        elif name == b"x-forwarded-proto":
            proto = value.decode("latin-1").split(",")[-1].strip().lower()
            if proto in ("http", "https"):
                scope["scheme"] = proto
    return client


def _cookie_value(header: bytes, name: str) -> str | None:
    """Return the value of cookie ``name`` in a Cookie header, or None."""
    for part in header.decode("latin-1").split(";"):
        k, sep, v = part.strip().partition("=")
        if sep and k == name:
            return v.strip()
    return None


def _expired_cookie(scope: Scope) -> bytes:
    """Return the Set-Cookie value that makes the browser drop an ended session's cookie."""
    secure = "; Secure" if scope.get("scheme") == "https" else ""
    return f"{SESSION_COOKIE}=; Max-Age=0; Path=/; HttpOnly; SameSite=Strict{secure}".encode()


def _refuse(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Any:
    """Return an ASGI app answering the refusal: the one error shape, or Beacon's error document under /beacon/."""
    v1 = error_response(status, code, message, None, headers)

    async def refusal(scope: Scope, receive: Receive, send: Send) -> None:
        if str(scope.get("path", "")).startswith("/beacon/"):
            from variantdb.api.beacon.models import (
                error_response_body,  # Beacon clients parse Beacon's errors
            )

            body = orjson.dumps(error_response_body(status, message))
            beacon = Response(body, status_code=status, media_type="application/json", headers=headers)
            await beacon(scope, receive, send)
        else:
            await v1(scope, receive, send)

    return refusal
