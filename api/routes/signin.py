"""Sign in and out of the web pages with an API key (a browser sends no key header).

``GET /signin`` shows a form; ``POST /signin`` verifies the key exactly as a key
sent per request is verified (scrypt, off the event loop, the attempts counted
against the client address) and opens a server-side session
(:mod:`variantdb.api.sessions`); ``POST /signout`` ends it. The key itself is
never stored, logged or put in the cookie.

Cross-site request forgery is refused three ways: the cookies are
``SameSite=Strict`` (a browser sends them on no cross-site request), every form
carries a token that is checked (the session's own after sign-in; before it, a
random token doubled in a ``SameSite=Strict`` cookie), and a request whose
``Origin`` header names another site is refused.
"""

from __future__ import annotations

import secrets
from typing import Annotated
from urllib.parse import parse_qs

from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import HTMLResponse, RedirectResponse, Response

from variantdb.api.access import Access, signed_in
from variantdb.api.auth import caller_of
from variantdb.api.routes.pages import render_page
from variantdb.api.sessions import CSRF_COOKIE, SESSION_COOKIE, check_csrf
from variantdb.keys import ApiKey, parse_key

__all__ = ["router"]

router = APIRouter(include_in_schema=False, tags=["pages"])

_MAX_FORM = 4096


def _safe_next(target: str | None) -> str:
    """Return a local path to go to after signing in: ``/`` for anything that could leave the site."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    if any(ord(c) < 32 for c in target) or target.startswith(("/signin", "/signout")):
        return "/"
    return target


def _same_origin(request: Request) -> bool:
    """Return False when the request's ``Origin`` names another site (no ``Origin``: the token decides)."""
    origin = request.headers.get("origin")
    if origin is None:
        return True
    own = f"{request.url.scheme}://{request.headers.get('host', request.url.netloc)}"
    return origin == own


async def _form(request: Request) -> dict[str, str]:
    body = await request.body()
    if len(body) > _MAX_FORM:
        return {}
    fields = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True, max_num_fields=10)
    return {k: v[0] for k, v in fields.items()}


def _form_page(
    request: Request, status: int = 200, problem: str | None = None, target: str = "/"
) -> HTMLResponse:
    given = request.cookies.get(CSRF_COOKIE)
    fresh = given is None or len(given) != 43
    token = secrets.token_urlsafe(32) if given is None or fresh else given
    page = render_page(request, "signin.html", status=status, problem=problem, csrf=token, target=target)
    if fresh:
        page.set_cookie(
            CSRF_COOKIE,
            token,
            path="/signin",
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
    return page


@router.get("/signin", response_class=HTMLResponse)
async def get_signin(
    request: Request, next: Annotated[str | None, Query(max_length=2000)] = None
) -> Response:
    """Show the sign-in form (or who is signed in)."""
    return _form_page(request, target=_safe_next(next))


@router.post("/signin", response_class=HTMLResponse)
async def post_signin(request: Request) -> Response:
    """Verify an API key and open a session; go on to the page the form came from."""
    form = await _form(request)
    target = _safe_next(form.get("next"))
    if not _same_origin(request):
        return _form_page(
            request, 403, "This form was sent from another site; sign in from this page.", target
        )
    if not check_csrf(request.cookies.get(CSRF_COOKIE), form.get("csrf")):
        return _form_page(
            request, 403, "The form had expired or was not sent from this page; please sign in again.", target
        )
    key = form.get("key", "").strip()
    access: Access = request.app.state.access
    caller = caller_of(request)
    found: ApiKey | str
    if parse_key(key) is None:
        found = "malformed"
    else:
        cached = access.keys.cached(key)
        if cached is not None:
            found = cached
        else:
            d = access.charge_verification(caller.client)
            if not d.allowed:
                return _form_page(
                    request, 429, f"Too many sign-in attempts; try again in {d.retry_after} s.", target
                )
            found = await run_in_threadpool(access.keys.verify, key)
    if isinstance(found, str):
        caller.extra = {"signin": "refused", "refused": found}
        what = {
            "malformed": "That is not an API key (they read vdb_ followed by an id and a secret).",
            "unknown": "That API key is not valid.",
            "revoked": "That API key has been revoked; ask your administrator for a new one.",
        }[found]
        return _form_page(request, 401, what, target)
    if found.role not in ("registered", "controlled"):
        caller.extra = {"signin": "refused", "refused": "admin"}
        return _form_page(
            request, 403, "Admin keys are for the command line only; sign in with a controlled key.", target
        )
    session_id, session = await run_in_threadpool(access.sessions.open, found.id)
    caller.extra = {"signin": found.id}
    done = RedirectResponse(target, status_code=303)
    done.set_cookie(
        SESSION_COOKIE,
        session_id,
        max_age=int(session.expires - session.created),
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    done.delete_cookie(CSRF_COOKIE, path="/signin")
    return done


@router.post("/signout", response_class=HTMLResponse)
async def post_signout(request: Request) -> Response:
    """End the browser's session (the form carries the session's CSRF token)."""
    form = await _form(request)
    who = signed_in(request)
    if not _same_origin(request) or who is None or who.session_id is None:
        # Nothing of this browser to end (no session, or one named by the proxy).
        return RedirectResponse("/", status_code=303)
    if not check_csrf(who.csrf, form.get("csrf")):
        return render_page(
            request,
            "error.html",
            status=403,
            title="Not signed out",
            message="The sign-out form was not sent from this site's page; use the Sign out button.",
            code="csrf",
        )
    access: Access = request.app.state.access
    await run_in_threadpool(access.sessions.close, who.session_id)
    done = RedirectResponse("/", status_code=303)
    done.delete_cookie(
        SESSION_COOKIE, path="/", httponly=True, samesite="strict", secure=request.url.scheme == "https"
    )
    return done
