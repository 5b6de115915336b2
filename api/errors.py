"""One JSON error shape for every HTTP error the service returns.

``{"error": {"status": 404, "code": "release_not_found", "message": "...", "details": null}}``

Routes raise :class:`APIError`; FastAPI's own errors (validation, unknown path,
wrong method) are converted by the handlers installed by :func:`install_error_handlers`,
so a client parses exactly one shape.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

__all__ = ["APIError", "error_response", "install_error_handlers", "invalid_request"]

_CODES = {
    400: "bad_request",
    401: "invalid_key",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    410: "gone",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    429: "too_many_requests",
    500: "internal_error",
    503: "unavailable",
}


class APIError(Exception):
    """An error answered with the service's JSON error shape.

    Parameters
    ----------
    status
        HTTP status (4xx).
    code
        Stable machine-readable code, e.g. ``invalid_variant``.
    message
        What was wrong, where, and what to do about it.
    details
        Optional structured details (e.g. per-field validation problems).
    headers
        Optional response headers (e.g. ``Retry-After`` of a 429).
    """

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        self.headers = headers


def error_response(
    status: int,
    code: str,
    message: str,
    details: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    """Return a response in the error shape."""
    body = {"error": {"status": status, "code": code, "message": message, "details": details}}
    return Response(orjson.dumps(body), status_code=status, media_type="application/json", headers=headers)


def invalid_request(details: list[dict[str, Any]]) -> APIError:
    """Return the 422 of a request's invalid parameters or body (``details``: location, message, type)."""
    where = "; ".join(f"{d['location']}: {d['message']}" for d in details[:5])
    return APIError(422, "invalid_request", f"the request is not valid: {where}", details)


def _validation_details(exc: RequestValidationError) -> list[dict[str, Any]]:
    out = []
    for err in exc.errors():
        loc = [str(x) for x in err.get("loc", ())]
        out.append(
            {"location": ".".join(loc), "message": str(err.get("msg", "")), "type": str(err.get("type", ""))}
        )
    return out


def install_error_handlers(app: FastAPI) -> None:
    """Convert every error FastAPI or a route raises into the one error shape."""

    async def api_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, APIError)
        return error_response(exc.status, exc.code, exc.message, exc.details, exc.headers)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        status = exc.status_code
        if status == 404:
            message = f"no such endpoint: {request.method} {request.url.path}; see /docs for the API"
        elif status == 405:
            message = f"method {request.method} is not allowed on {request.url.path}; see /docs"
        else:
            message = str(exc.detail)
        return error_response(
            status, _CODES.get(status, "http_error"), message, None, dict(exc.headers or {})
        )

    async def validation_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        return await api_error(request, invalid_request(_validation_details(exc)))

    async def unexpected(request: Request, exc: Exception) -> Response:
        # A bug, never user input: keep the shape, hide the trace.
        return error_response(
            500, "internal_error", f"internal error ({type(exc).__name__}); please report it"
        )

    app.add_exception_handler(APIError, api_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(Exception, unexpected)
