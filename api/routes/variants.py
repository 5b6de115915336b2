"""``/v1/variants``: the frequency record of one variant, or of up to 10,000 in one request.

These two endpoints are the hot path, so each is served by a plain Starlette
route (:data:`fast_routes`, placed before the FastAPI routes by
:func:`variantdb.api.main.create_app`) that reads its few parameters itself: FastAPI's
parameter validation and dependency solving cost more than the lookup. The
FastAPI declarations below stay as the OpenAPI documentation of the same
endpoints and answer identically should they ever be reached; a test checks
that the two agree.
"""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Body, Path, Query
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from variantdb.api.access import spend_queries
from variantdb.api.auth import Caller, caller_of, granularity, may_see_strata, shape_record
from variantdb.api.deps import OpenRelease, ReleaseDep, ReleaseStore, SettingsDep
from variantdb.api.errors import APIError
from variantdb.api.lookup import excluded_group, record_for_query, records_for_ids
from variantdb.api.metrics import name_route
from variantdb.api.models import ACCESS_ERRORS, BatchRequest, BatchResult, ErrorPublic, VariantPublic
from variantdb.settings import Settings

__all__ = ["fast_routes", "router"]

router = APIRouter(prefix="/v1/variants", tags=["variants"])

_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorPublic, "description": "the id cannot be parsed or normalized"},
    404: {"model": ErrorPublic, "description": "unknown release"},
    422: {"model": ErrorPublic, "description": "invalid query parameters or body"},
    **ACCESS_ERRORS,
}
_MAX_ID = 10_000
_JSON = "application/json"
_STRATA_DOC = "include the strata (sex, region, patient group); false gives smaller records. Default true"
_EXCLUDE_DOC = (
    "a patient group (code or name, e.g. hereditary_heart) to leave out: the headline counts (ac, an, af, faf95, "
    "faf99, homozygote_count, hemizygote_count, n_carriers) become everyone's but that group's, derived from "
    "the stored strata; raw, all and strata stay as stored. An unknown group is a 400"
)


def _strata_flag(raw: str | None) -> bool:
    if raw is None:
        return True
    low = raw.lower()
    if low in ("true", "1", "yes", "on"):
        return True
    if low in ("false", "0", "no", "off"):
        return False
    raise APIError(
        422,
        "invalid_request",
        f"query parameter strata must be true or false, got {raw[:50]!r}",
        [{"location": "query.strata", "message": "not a boolean", "type": "bool_parsing"}],
    )


def _release_param(request: Request) -> str | None:
    release = request.query_params.get("release")
    if release is not None and len(release) > 64:
        raise APIError(
            422,
            "invalid_request",
            "query parameter release is longer than 64 characters",
            [{"location": "query.release", "message": "too long", "type": "string_too_long"}],
        )
    return release


def _check_exclude(caller: Caller, exclude: str | None) -> None:
    if exclude is not None and not may_see_strata(caller.role):
        raise APIError(
            403,
            "forbidden",
            "exclude_group derives the counts from the strata, which only a controlled key may see",
            [{"location": "query.exclude_group", "message": "needs a controlled key", "type": "forbidden"}],
        )


def _one(rel: OpenRelease, text: str, strata: bool, caller: Caller, exclude: str | None = None) -> Response:
    if len(text) > _MAX_ID:
        raise APIError(422, "invalid_request", f"variant id longer than {_MAX_ID:,} characters")
    _check_exclude(caller, exclude)
    level = granularity(caller.role)
    rec = record_for_query(
        rel, text, strata=strata and level == "record", exclude=excluded_group(rel, exclude)
    )
    rec = shape_record(rec, caller.role, caller.small_count_threshold)
    caller.granularity = level
    return Response(orjson.dumps(rec), media_type=_JSON)


def _batch(
    request: Request,
    rel: OpenRelease,
    ids: list[str],
    settings: Settings,
    strata: bool,
    exclude: str | None = None,
) -> Response:
    caller = caller_of(request)
    _check_exclude(caller, exclude)
    group = excluded_group(rel, exclude)
    if len(ids) > settings.max_batch_ids:
        raise APIError(
            413,
            "too_many_ids",
            f"{len(ids):,} ids in one request; the limit is {settings.max_batch_ids:,}: split the batch",
        )
    # Each id is one query of the daily budget; the request itself paid for the first.
    spend_queries(request, len(ids) - 1)
    level = granularity(caller.role)
    strata = strata and level == "record"
    role, threshold = caller.role, caller.small_count_threshold
    # Parsed, searched and read in bulk (api.lookup.records_for_ids), shaped one by one.
    data: list[dict[str, Any]] = []
    for text, rec in zip(ids, records_for_ids(rel, ids, strata=strata, exclude=group), strict=True):
        if isinstance(rec, APIError):
            error = {"status": rec.status, "code": rec.code, "message": rec.message, "details": None}
            data.append({"query": text, "error": error})
        else:
            data.append(shape_record(rec, role, threshold))
    caller.granularity = level
    return Response(orjson.dumps({"release": rel.id, "count": len(data), "data": data}), media_type=_JSON)


# --- documented FastAPI routes ----------------------------------------------------------


@router.get("/{variant_id:path}", response_model=VariantPublic, responses=_ERRORS)
async def get_variant(
    request: Request,
    rel: ReleaseDep,
    variant_id: Annotated[
        str,
        Path(
            description="1-55516888-G-GA, chr1-55516888-G-GA, chr1:55516888:G:GA, 'chr1:55516888 G>GA' "
            "(1-based) or SPDI NC_000001.11:55516887:G:GA (0-based)",
            max_length=_MAX_ID,
        ),
    ],
    strata: Annotated[bool, Query(description=_STRATA_DOC)] = True,
    exclude_group: Annotated[str | None, Query(description=_EXCLUDE_DOC)] = None,
) -> Response:
    """Return the frequency record of one variant; ``seen: false`` with the AN at its position if absent."""
    return _one(rel, variant_id, strata, caller_of(request), exclude_group)


@router.post(
    "",
    response_model=BatchResult,
    responses={**_ERRORS, 413: {"model": ErrorPublic, "description": "more ids than max_batch_ids"}},
)
async def post_variants(
    request: Request,
    rel: ReleaseDep,
    settings: SettingsDep,
    payload: Annotated[
        BatchRequest,
        Body(openapi_examples={"two": {"value": {"variants": ["1-55516888-G-GA", "chr2:100 A>G"]}}}),
    ],
    strata: Annotated[bool, Query(description=_STRATA_DOC)] = True,
    exclude_group: Annotated[str | None, Query(description=_EXCLUDE_DOC)] = None,
) -> Response:
    """Return the records of up to 10,000 ids, in request order; an unparsable id gets an error item."""
    return _batch(request, rel, payload.variants, settings, strata, exclude_group)


# --- the same endpoints as plain Starlette routes (the ones that actually answer) ----------


async def _fast_get(request: Request) -> Response:
    name_route(request.scope, "/v1/variants/{variant_id}")
    store: ReleaseStore = request.app.state.store
    rel = store.get(_release_param(request))
    return _one(
        rel,
        request.path_params["variant_id"],
        _strata_flag(request.query_params.get("strata")),
        caller_of(request),
        request.query_params.get("exclude_group"),
    )


def _invalid_body(message: str, location: str = "body") -> APIError:
    return APIError(
        422,
        "invalid_request",
        f"the request is not valid: {location}: {message}",
        [{"location": location, "message": message, "type": "invalid_body"}],
    )


async def _read_body(request: Request, limit: int) -> bytes:
    """Return the body, refusing more than ``limit`` bytes however it is sent (chunked too)."""
    parts: list[bytes] = []
    size = 0
    async for part in request.stream():
        size += len(part)
        if size > limit:
            raise APIError(
                413,
                "payload_too_large",
                f"the request body is over {limit:,} bytes (setting max_request_bytes); split the batch",
            )
        parts.append(part)
    return b"".join(parts)


async def _fast_post(request: Request) -> Response:
    name_route(request.scope, "/v1/variants")
    store: ReleaseStore = request.app.state.store
    strata = _strata_flag(request.query_params.get("strata"))
    release = _release_param(request)
    raw = await _read_body(request, store.settings.max_request_bytes)
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as e:
        raise _invalid_body(f"not JSON ({e})") from None
    if not isinstance(body, dict):
        raise _invalid_body('expected an object {"variants": [...]}')
    extra = set(body) - {"variants"}
    if extra:
        raise _invalid_body(f"unexpected field(s) {sorted(extra)}; only 'variants' is accepted")
    ids = body.get("variants")
    if not isinstance(ids, list):
        raise _invalid_body("variants must be a list of variant ids", "body.variants")
    for i, text in enumerate(ids):
        if not isinstance(text, str):
            raise _invalid_body(f"item {i} is not a string", f"body.variants.{i}")
    rel = store.get(release)
    return _batch(request, rel, ids, store.settings, strata, request.query_params.get("exclude_group"))


#: Routes that answer before the FastAPI ones (see the module docstring).
fast_routes = [
    Route("/v1/variants/{variant_id:path}", _fast_get, methods=["GET"]),
    Route("/v1/variants", _fast_post, methods=["POST"]),
]
