"""``/v1/releases`` and ``/v1/stats``: what is published, and the genomes behind a release."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from variantdb.api.auth import caller_of, granularity, may_see_counts, note_granularity, shape_stats
from variantdb.api.coverage import protect_covered
from variantdb.api.deps import ReleaseDep, StoreDep
from variantdb.api.errors import APIError
from variantdb.api.models import ACCESS_ERRORS, ErrorPublic, ReleasePublic, ReleasesPublic, StatsPublic
from variantdb.api.responses import json_response, without_paths
from variantdb.release.files import list_releases, read_current, read_release_meta
from variantdb.release.meta import ReleaseMeta
from variantdb.store.layout import ReleaseNotFoundError

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["releases"])


def _public(meta: ReleaseMeta, current: str | None, request: Request) -> dict[str, Any]:
    out: dict[str, Any] = without_paths({k: v for k, v in meta.as_json().items() if k != "checksums"})
    out["current"] = meta.id == current
    _shape_meta(out, request)
    return out


def _shape_meta(out: dict[str, Any], request: Request) -> None:
    """Cut the genome statistics of release metadata to what the caller may see (none for public)."""
    caller = caller_of(request)
    cov = out.get("coverage")
    if isinstance(cov, dict) and isinstance(cov.get("n_samples"), dict):
        # Genomes by sequencing technology are counts of people, as the statistics are.
        level = granularity(caller.role)
        if level == "boolean":
            out["coverage"] = {k: v for k, v in cov.items() if k != "n_samples"}
        elif level == "count":
            out["coverage"] = {
                **cov,
                "n_samples": protect_covered(cov["n_samples"], caller.small_count_threshold),
            }
    if "stats" in out:
        shaped = shape_stats(out["stats"], caller.role, caller.small_count_threshold)
        if shaped is None:
            del out["stats"]
        else:
            out["stats"] = shaped


@router.get("/releases", response_model=ReleasesPublic, responses=ACCESS_ERRORS)
async def get_releases(request: Request, store: StoreDep) -> Response:
    """Return every published release (oldest first) and which one is current."""
    current = read_current(store.db)
    data = []
    for rid in list_releases(store.db):
        try:
            data.append(_public(read_release_meta(store.db, rid), current, request))
        except ReleaseNotFoundError:
            continue  # removed between listing and reading
    return json_response({"current": current, "count": len(data), "data": data})


@router.get(
    "/releases/{release_id}",
    response_model=ReleasePublic,
    responses={404: {"model": ErrorPublic}, **ACCESS_ERRORS},
)
async def get_release_meta(request: Request, store: StoreDep, release_id: str) -> Response:
    """Return one release's metadata, checksums included (genome statistics need a key)."""
    rel = store.get(release_id)
    out: dict[str, Any] = without_paths(rel.meta.as_json())
    out["current"] = rel.id == read_current(store.db)
    _shape_meta(out, request)
    return json_response(out)


@router.get("/stats", response_model=StatsPublic, responses={404: {"model": ErrorPublic}, **ACCESS_ERRORS})
async def get_stats(request: Request, rel: ReleaseDep) -> Response:
    """Return the genomes of a release by region, patient group, sex and month received.

    Needs a key: a registered one sees counts from 1 to 4 as ``"<5"``.
    """
    caller = caller_of(request)
    if not may_see_counts(caller.role):
        raise APIError(
            403,
            "forbidden",
            "genome statistics are counts of people: they need an API key (registered or controlled)",
        )
    stats = rel.meta.stats
    if stats is None:
        raise APIError(404, "no_stats", f"release {rel.id} recorded no statistics")
    threshold = caller.small_count_threshold
    note_granularity(request, "record" if caller.role in ("controlled", "admin") else "count")
    return json_response(
        {
            "release": rel.id,
            "samples": rel.meta.n_samples,
            "batches": without_paths(rel.meta.batches),
            "stats": shape_stats(stats, caller.role, threshold),
        }
    )
