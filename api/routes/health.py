"""``/health`` and ``/metrics``: for load balancers and Prometheus."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import PlainTextResponse, Response

from variantdb.api.deps import StoreDep
from variantdb.api.errors import APIError
from variantdb.api.metrics import CONTENT_TYPE, Metrics
from variantdb.api.models import ErrorPublic, Health
from variantdb.api.responses import json_response

__all__ = ["router"]

router = APIRouter(tags=["health"])


@router.get(
    "/health",
    response_model=Health,
    responses={503: {"model": Health, "description": "no release published"}},
)
async def health(store: StoreDep) -> Response:
    """Return ok and the live release; 503 while no release is published."""
    try:
        rel = store.get(None)
    except APIError:
        return json_response(
            {"status": "no_release", "release": None, "n_variants": None, "normalization": None}, 503
        )
    return json_response(
        {
            "status": "ok",
            "release": rel.id,
            "n_variants": rel.index.n_variants,
            "normalization": rel.reference_note,
        }
    )


@router.get(
    "/metrics",
    response_class=PlainTextResponse,
    responses={200: {"content": {"text/plain": {}}}, 500: {"model": ErrorPublic}},
)
async def metrics(request: Request, store: StoreDep) -> PlainTextResponse:
    """Return this process's metrics in the Prometheus text format."""
    m: Metrics = request.app.state.metrics
    extra: dict[str, tuple[str, float, dict[str, str]]] = {
        "variantdb_release_switches_total": (
            "Releases switched to since start (CURRENT changed).",
            store.switches,
            {},
        ),
    }
    cur = store.current()
    if cur is not None:
        extra["variantdb_release_info"] = ("The release being served (value 1).", 1, {"release": cur.id})
        extra["variantdb_release_variants"] = (
            "Variants in the served release.",
            cur.index.n_variants,
            {"release": cur.id},
        )
    return PlainTextResponse(m.render(extra), media_type=CONTENT_TYPE)
