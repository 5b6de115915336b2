"""The GA4GH Beacon v2 API under ``/beacon/v2``: informational endpoints and ``/g_variants``.

Granularity follows the caller's role (:func:`max_granularity`): a request asks
for ``boolean``, ``count`` or ``record`` and gets at most what its role allows,
``meta.returnedGranularity`` saying what it got. Every error under
``/beacon/v2`` is a Beacon error document (:class:`BeaconRoute` converts
parameter validation errors, unknown releases and the like), never the ``/v1``
error shape and never a 500 from bad input.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine, Mapping
from typing import Annotated, Any, Final

import numpy as np
import orjson
from fastapi import APIRouter, Body, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from variantdb.api.access import spend_queries
from variantdb.api.auth import Role, caller_role, may_see_counts, may_see_strata, note_granularity
from variantdb.api.beacon import models
from variantdb.api.beacon.models import (
    GRANULARITIES,
    BeaconRequestBody,
    Granularity,
    IncludeResultsets,
    Summary,
)
from variantdb.api.beacon.translate import BeaconQueryError, find_variants, parse_parameters
from variantdb.api.deps import OpenRelease, SettingsDep, StoreDep
from variantdb.api.errors import APIError
from variantdb.seen import ADJ_SEEN, SEEN_STATES, seen_states
from variantdb.settings import Settings

__all__ = ["PREFIX", "BeaconRoute", "adj_seen_rows", "max_granularity", "router"]

log = logging.getLogger("variantdb.api.beacon")

PREFIX: Final = "/beacon/v2"
_JSON = "application/json"
_META_PARAMS: Final = (
    "requestedGranularity",
    "includeResultsetResponses",
    "skip",
    "limit",
    "filters",
    "testMode",
    "apiVersion",
)


def _json(body: dict[str, Any], status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type=_JSON, headers=headers)


def _error(
    status: int, message: str, summary: Summary | None = None, headers: Mapping[str, str] | None = None
) -> Response:
    return _json(models.error_response_body(status, message, summary), status, headers)


class BeaconRoute(APIRoute):
    """A route whose every error is a Beacon error document, whatever raised it."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """Wrap FastAPI's handler: validation, service and unexpected errors become Beacon errors."""
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except BeaconQueryError as e:
                return _error(e.status, e.message)
            except RequestValidationError as e:
                where = "; ".join(
                    f"{'.'.join(str(x) for x in err.get('loc', ()))}: {err.get('msg', '')}"
                    for err in e.errors()[:5]
                )
                return _error(400, f"the request is not a valid Beacon request: {where}")
            except APIError as e:
                return _error(e.status, e.message, headers=e.headers)
            except StarletteHTTPException as e:
                return _error(e.status_code, str(e.detail), headers=e.headers)
            except Exception as e:  # a bug, never user input: keep Beacon's shape, hide the trace
                log.exception("beacon: %s %s failed", request.method, request.url.path)
                return _error(500, f"internal error ({type(e).__name__}); please report it")

        return route


router = APIRouter(prefix=PREFIX, tags=["beacon"], route_class=BeaconRoute)

_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "a Beacon error document: malformed, unsupported or non-GRCh38 query"},
    404: {"description": "a Beacon error document: no release is published"},
}


def max_granularity(role: Role) -> Granularity:
    """Return the most detailed Beacon granularity a role may receive.

    ``public`` gets ``boolean`` (seen or not), ``registered`` ``count`` (how many
    variants match), ``controlled`` and ``admin`` ``record`` (the variants with their
    frequencies by stratum).
    """
    if may_see_strata(role):
        return "record"
    if may_see_counts(role):
        return "count"
    return "boolean"


def adj_seen_rows(rel: OpenRelease, rows: list[int]) -> list[int]:
    """Keep the rows of variants an adj genotype carries (:data:`variantdb.seen.ADJ_SEEN`).

    Beacon's ``exists`` (and ``numTotalResults``, and the records listed) follow
    the adj genotypes of every sample, founders and relatives (``ac > 0`` or
    ``ac_all > 0``): a variant in the release only through calls failing the
    quality thresholds (``seen_low_quality``) does not exist for Beacon.
    """
    if not rows:
        return rows
    vals = rel.index.values[np.asarray(rows, dtype=np.int64)]
    names = vals.dtype.names or ()
    ac = np.asarray(vals["ac"])
    ac_all = np.asarray(vals["ac_all"]) if "ac_all" in names else np.zeros_like(ac)
    codes = seen_states(np.ones(len(rows), dtype=bool), ac, np.ones_like(ac), ac_all)
    keep = np.isin(codes, [SEEN_STATES.index(s) for s in ADJ_SEEN])
    return [r for r, k in zip(rows, keep.tolist(), strict=True) if k]


def _base_url(request: Request) -> str:
    return str(request.base_url)


def _current(store: StoreDep) -> OpenRelease | None:
    try:
        return store.get(None)
    except APIError:
        return None


# --- informational endpoints -------------------------------------------------------------------


@router.get("", summary="Beacon information", responses=_ERRORS)
@router.get("/", include_in_schema=False)
@router.get("/info", summary="Beacon information", responses=_ERRORS)
async def get_info(request: Request, store: StoreDep) -> Response:
    """Return the Beacon v2 info document (``beaconInfoResponse``)."""
    return _json(models.info(_current(store), _base_url(request)))


@router.get("/service-info", summary="GA4GH service-info", responses=_ERRORS)
async def get_service_info(request: Request) -> Response:
    """Return the GA4GH service-info document of this beacon."""
    return _json(models.service_info(_base_url(request)))


@router.get("/configuration", summary="Beacon configuration", responses=_ERRORS)
async def get_configuration() -> Response:
    """Return the Beacon configuration: entry types, maturity and security levels."""
    return _json(models.configuration())


@router.get("/map", summary="Beacon map", responses=_ERRORS)
async def get_map(request: Request) -> Response:
    """Return the Beacon map: where each entry type is served."""
    return _json(models.map_(_base_url(request).rstrip("/") + PREFIX))


@router.get("/entry_types", summary="Beacon entry types", responses=_ERRORS)
async def get_entry_types() -> Response:
    """Return the entry types of this beacon (genomic variants)."""
    return _json(models.entry_types())


@router.get("/filtering_terms", summary="Beacon filtering terms", responses=_ERRORS)
async def get_filtering_terms() -> Response:
    """Return the filtering terms this beacon accepts: none."""
    return _json(models.filtering_terms())


# --- g_variants ----------------------------------------------------------------------------------


def _choice(name: str, value: Any, allowed: tuple[str, ...]) -> str:
    if value in allowed:
        return str(value)
    if isinstance(value, str):
        for a in allowed:
            if value.lower() == a.lower():
                return a
    raise BeaconQueryError(400, f"{name} must be one of {', '.join(allowed)}, got {str(value)[:50]!r}")


def _count(name: str, value: str) -> int:
    if not (value.isascii() and value.isdigit() and len(value) <= 10):
        raise BeaconQueryError(400, f"{name} must be a non-negative integer, got {value[:50]!r}")
    return int(value)


def _answer(
    request: Request,
    store: StoreDep,
    settings: Settings,
    summary: Summary,
    params: Mapping[str, Any],
    filters: list[Any],
) -> Response:
    """Run a parsed g_variants request; errors carry the request's summary in their meta."""
    try:
        if filters:
            raise BeaconQueryError(
                400,
                "this beacon has no filtering terms (see /beacon/v2/filtering_terms); send the query "
                "without filters",
            )
        query = parse_parameters(params, settings.max_region_span)
        summary.parameters = query.echo()
        rel = store.get(None)
        rows = adj_seen_rows(rel, find_variants(rel, query))
    except BeaconQueryError as e:
        return _error(e.status, e.message, summary)
    except APIError as e:
        return _error(e.status, e.message, summary)
    role = caller_role(request)
    allowed = max_granularity(role)
    requested = summary.requested_granularity
    returned = min(requested, allowed, key=GRANULARITIES.index)
    info: dict[str, Any] = {"release": rel.id, "assembly": "GRCh38"}
    if returned != requested:
        info["granularityNote"] = (
            f"requestedGranularity {requested} was answered as {returned}: "
            f"the caller's role ({role}) allows at most {allowed}"
        )
    note_granularity(request, returned)
    total = len(rows)
    if returned == "boolean":
        return _json(models.boolean_response(summary, total > 0, info))
    if returned == "count":
        return _json(models.count_response(summary, total, info))
    first = summary.skip * summary.limit
    include = summary.include_resultsets
    listed = include == "ALL" or (include == "HIT" and total > 0) or (include == "MISS" and total == 0)
    page = rows[first : first + summary.limit] if listed else []
    # Every record returned is one query of the daily budget, as on /v1; the request paid for one.
    spend_queries(request, len(page) - 1)
    base = _base_url(request)
    records = [models.genomic_variation(rel, row, base) for row in page]
    return _json(models.resultsets_response(summary, rel, total, records, info))


def _page_limit(settings: Settings, limit: int) -> int:
    """Return the page size used: ``limit`` 0 (Beacon's "as many as allowed") and larger are capped."""
    return settings.max_page_size if limit == 0 else min(limit, settings.max_page_size)


@router.get("/g_variants", summary="Genomic variants (Beacon query string)", responses=_ERRORS)
async def get_g_variants(
    request: Request,
    store: StoreDep,
    settings: SettingsDep,
    referenceName: str | None = Query(None, description="contig: 1-22, X, Y, MT, chr1 or NC_000001.11"),
    start: str | None = Query(
        None,
        description="0-based start: one position (sequence or range query) or two, comma-separated "
        "or repeated, for a bracket query",
    ),
    end: str | None = Query(
        None, description="0-based exclusive end: one (range query) or two (bracket query)"
    ),
    referenceBases: str | None = Query(None, description="reference bases from start (A, C, G, T, N)"),
    alternateBases: str | None = Query(None, description="alternate bases from start (A, C, G, T, N)"),
    assemblyId: str | None = Query(
        None, description="GRCh38 (or hg38, GRCh38.p14); other assemblies are refused"
    ),
    variantType: str | None = Query(None, description="SNP, MNP, INS, DEL or INDEL"),
    requestedGranularity: str | None = Query(None, description="boolean (default), count or record"),
    includeResultsetResponses: str | None = Query(None, description="HIT (default), MISS, ALL or NONE"),
    skip: str | None = Query(None, description="pages to skip (default 0)"),
    limit: str | None = Query(None, description="records per page (default 10; 0: the most allowed)"),
    filters: str | None = Query(None, description="not supported: this beacon has no filtering terms"),
    testMode: str | None = Query(None, description="true marks a test request"),
) -> Response:
    """Answer a Beacon v2 genomic-variant query given in the query string.

    Positions are Beacon's: ``start`` 0-based, ``end`` 0-based exclusive. A variant
    at VCF POS p is found with ``start=p-1``.
    """
    qp = request.query_params
    summary = Summary()
    try:
        summary.requested_granularity = _choice(  # type: ignore[assignment]
            "requestedGranularity", qp.get("requestedGranularity", "boolean"), GRANULARITIES
        )
        summary.include_resultsets = _choice(  # type: ignore[assignment]
            "includeResultsetResponses",
            qp.get("includeResultsetResponses", "HIT"),
            ("ALL", "HIT", "MISS", "NONE"),
        )
        summary.skip = _count("skip", qp.get("skip", "0"))
        summary.limit = _page_limit(settings, _count("limit", qp.get("limit", "10")))
        summary.test_mode = _choice("testMode", qp.get("testMode", "false"), ("true", "false")) == "true"
        if qp.get("apiVersion"):
            summary.api_version = qp["apiVersion"][:50]
    except BeaconQueryError as e:
        return _error(e.status, e.message, summary)
    params: dict[str, Any] = {}
    for key in qp:  # parse_parameters refuses unknown and unsupported names
        if key not in _META_PARAMS:
            values = qp.getlist(key)
            params[key] = values if key in ("start", "end") and len(values) > 1 else values[-1]
    filter_list = [f for f in qp.get("filters", "").split(",") if f.strip()]
    return _answer(request, store, settings, summary, params, filter_list)


@router.post("/g_variants", summary="Genomic variants (Beacon request body)", responses=_ERRORS)
async def post_g_variants(
    request: Request,
    store: StoreDep,
    settings: SettingsDep,
    body: Annotated[BeaconRequestBody | None, Body()] = None,
) -> Response:
    """Answer a Beacon v2 genomic-variant query given as a Beacon request body.

    ``query.requestParameters`` holds the g_variant parameters, flat or under
    ``g_variant``; ``start`` and ``end`` are lists of 0-based positions (a bare
    integer is read as a list of one).
    """
    body = body or BeaconRequestBody()
    q = body.query
    include: IncludeResultsets = q.includeResultsetResponses
    summary = Summary(
        api_version=(body.meta.apiVersion or models.API_VERSION),
        requested_schemas=[r.as_dict() for r in body.meta.requestedSchemas],
        skip=q.pagination.skip,
        limit=_page_limit(settings, q.pagination.limit),
        requested_granularity=q.requestedGranularity,
        include_resultsets=include,
        test_mode=q.testMode,
    )
    params = q.requestParameters
    if set(params) == {"g_variant"} and isinstance(params["g_variant"], dict):
        params = params["g_variant"]
    return _answer(request, store, settings, summary, params, q.filters)


# --- anything else under /beacon/v2 --------------------------------------------------------------


@router.api_route(
    "/{path:path}",
    methods=["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"],
    include_in_schema=False,
)
async def not_found(request: Request, path: str) -> Response:
    """Answer unknown Beacon paths (404) and wrong methods on known ones (405) in Beacon's shape."""
    known: dict[str, set[str]] = {}
    for r in router.routes:
        if isinstance(r, APIRoute) and r.path != f"{PREFIX}/{{path:path}}":
            known.setdefault(r.path, set()).update(r.methods or ())
    here = request.url.path.rstrip("/")
    if request.method not in known.get(here, {request.method}):
        return _error(405, f"method {request.method} is not allowed on {request.url.path}")
    return _error(
        404,
        f"no such Beacon endpoint: {request.url.path}; this beacon serves {PREFIX}, /info, /service-info, "
        "/configuration, /map, /entry_types, /filtering_terms and /g_variants",
    )
