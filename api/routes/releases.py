"""``/v1/releases`` and ``/v1/stats``: what is published, and the genomes behind a release."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.responses import Response

from api.deps import ReleaseDep, StoreDep
from api.errors import APIError
from api.models import ErrorPublic, ReleasePublic, ReleasesPublic, StatsPublic
from api.responses import json_response
from variantdb.release import ReleaseNotFoundError, list_releases, read_current, read_release_meta

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["releases"])


def _public(meta: dict[str, Any], current: str | None) -> dict[str, Any]:
    out = {k: v for k, v in meta.items() if k != "checksums"}
    out["current"] = meta.get("id") == current
    return out


@router.get("/releases", response_model=ReleasesPublic)
async def get_releases(store: StoreDep) -> Response:
    """Return every published release (oldest first) and which one is current."""
    current = read_current(store.db)
    data = []
    for rid in list_releases(store.db):
        try:
            data.append(_public(read_release_meta(store.db, rid), current))
        except ReleaseNotFoundError:
            continue  # removed between listing and reading
    return json_response({"current": current, "count": len(data), "data": data})


@router.get("/releases/{release_id}", response_model=ReleasePublic, responses={404: {"model": ErrorPublic}})
async def get_release_meta(store: StoreDep, release_id: str) -> Response:
    """Return one release's metadata, checksums included."""
    rel = store.get(release_id)
    out = dict(rel.meta)
    out["current"] = rel.id == read_current(store.db)
    return json_response(out)


@router.get("/stats", response_model=StatsPublic, responses={404: {"model": ErrorPublic}})
async def get_stats(rel: ReleaseDep) -> Response:
    """Return the genomes of a release by region, patient group, sex and month received."""
    stats = rel.meta.get("stats")
    if not isinstance(stats, dict):
        raise APIError(404, "no_stats", f"release {rel.id} recorded no statistics")
    return json_response(
        {
            "release": rel.id,
            "samples": rel.meta.get("n_samples", rel.meta.get("samples")),
            "batches": rel.meta.get("batches"),
            "stats": stats,
        }
    )
