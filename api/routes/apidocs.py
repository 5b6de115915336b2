"""The interactive API documentation (``/docs``, ``/redoc``) with every asset served from here.

FastAPI's own pages load Swagger UI, ReDoc and fonts from a CDN, so they are
blank in a closed hospital network. These pages load the same scripts from
``/static/apidocs/``: the files shipped by the PyPI package ``fastapi-offline``
(MIT; Swagger UI is Apache-2.0, ReDoc MIT), read once at import. No font is
loaded (ReDoc falls back to the system's), and Swagger UI's online validator is off.
"""

from __future__ import annotations

from importlib.resources import files

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from starlette.responses import HTMLResponse, Response

from variantdb.api.errors import APIError

__all__ = ["ASSETS", "router"]

router = APIRouter(include_in_schema=False, tags=["docs"])

_PREFIX = "/static/apidocs/"
#: The assets the two pages load, by name, with their media types.
ASSETS: dict[str, str] = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "redoc.standalone.js": "text/javascript; charset=utf-8",
    "favicon.png": "image/png",
}
_FILES = files("fastapi_offline") / "static"
_BYTES = {name: (_FILES / name).read_bytes() for name in ASSETS}
# Both UIs run an inline bootstrap script and inject styles; ReDoc's search runs in a blob: worker.
# No other host may be contacted.
_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; worker-src 'self' blob:; connect-src 'self'; "
    "base-uri 'none'; frame-ancestors 'none'"
)


def _page(html: HTMLResponse) -> HTMLResponse:
    html.headers["Content-Security-Policy"] = _CSP
    html.headers["X-Content-Type-Options"] = "nosniff"
    return html


@router.get("/docs", response_class=HTMLResponse)
async def get_swagger_ui(request: Request) -> HTMLResponse:
    """Swagger UI on the service's OpenAPI document, every asset local."""
    root = request.scope.get("root_path", "")
    return _page(
        get_swagger_ui_html(
            openapi_url=f"{root}{request.app.openapi_url}",
            title=f"{request.app.title} - API",
            oauth2_redirect_url=f"{root}/docs/oauth2-redirect",
            swagger_js_url=f"{root}{_PREFIX}swagger-ui-bundle.js",
            swagger_css_url=f"{root}{_PREFIX}swagger-ui.css",
            swagger_favicon_url=f"{root}{_PREFIX}favicon.png",
            swagger_ui_parameters={"validatorUrl": None},
        )
    )


@router.get("/docs/oauth2-redirect", response_class=HTMLResponse)
async def get_swagger_ui_redirect() -> HTMLResponse:
    """Swagger UI's OAuth2 redirect page (no external asset)."""
    return _page(get_swagger_ui_oauth2_redirect_html())


@router.get("/redoc", response_class=HTMLResponse)
async def get_redoc(request: Request) -> HTMLResponse:
    """ReDoc on the service's OpenAPI document, every asset local, no web fonts."""
    root = request.scope.get("root_path", "")
    return _page(
        get_redoc_html(
            openapi_url=f"{root}{request.app.openapi_url}",
            title=f"{request.app.title} - API reference",
            redoc_js_url=f"{root}{_PREFIX}redoc.standalone.js",
            redoc_favicon_url=f"{root}{_PREFIX}favicon.png",
            with_google_fonts=False,
        )
    )


@router.get(_PREFIX + "{name}")
async def get_asset(name: str) -> Response:
    """Serve one asset of the documentation pages (:data:`ASSETS`; no path from the URL reaches the disk)."""
    media = ASSETS.get(name)
    if media is None:
        raise APIError(404, "not_found", f"no such asset: {_PREFIX}{name[:100]}")
    return Response(
        _BYTES[name],
        media_type=media,
        headers={"Cache-Control": "public, max-age=86400", "X-Content-Type-Options": "nosniff"},
    )
