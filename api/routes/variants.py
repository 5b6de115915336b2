"""``/v1/variants``: the frequency record of one variant, or of up to 10,000 in one request.

These two endpoints are the hot path: FastAPI's parameter validation and
dependency solving cost more than the lookup, so each handler takes only the
request and reads its few parameters through :mod:`variantdb.api.params`, whose
declarations also document them in OpenAPI (``openapi_extra``). One handler per
endpoint, documented and answering.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from variantdb.api.access import spend_queries
from variantdb.api.auth import Caller, caller_of, granularity, may_see_strata, shape_record
from variantdb.api.deps import OpenRelease, ReleaseStore
from variantdb.api.errors import APIError
from variantdb.api.lookup import (
    excluded_group,
    find_ids,
    parse_query,
    record_for_query,
    record_for_variant,
    records_for_ids,
)
from variantdb.api.models import ACCESS_ERRORS, BatchRequest, BatchResult, ErrorPublic, VariantPublic
from variantdb.api.params import (
    RELEASE,
    Flag,
    PathText,
    Problem,
    RequestRoute,
    Text,
    check,
    json_body,
    parameters,
    read_body,
)
from variantdb.api.responses import ORJSONResponse
from variantdb.api.va import va_response, wants_va
from variantdb.api.verdicts import (
    VerdictParams,
    attach_verdicts,
    parse_verdict_query,
    verdict_inputs,
    verdict_inputs_many,
)
from variantdb.settings import Settings
from variantdb.variant import Variant

__all__ = ["router"]

#: Placed at the front of the app's routes (see :func:`variantdb.api.main.create_app`).
router = APIRouter(
    prefix="/v1/variants", tags=["variants"], route_class=RequestRoute, default_response_class=ORJSONResponse
)

_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorPublic, "description": "the id cannot be parsed or normalized"},
    404: {"model": ErrorPublic, "description": "unknown release"},
    422: {"model": ErrorPublic, "description": "invalid query parameters or body"},
    **ACCESS_ERRORS,
}
_MAX_ID = 10_000
_JSON = "application/json"

VARIANT_ID = PathText(
    "variant_id",
    "1-55516888-G-GA, chr1-55516888-G-GA, chr1:55516888:G:GA, 'chr1:55516888 G>GA' "
    "(1-based) or SPDI NC_000001.11:55516887:G:GA (0-based)",
    max_length=_MAX_ID,
)
STRATA = Flag(
    "strata",
    "include the strata (sex, region, patient group); false gives smaller records. Default true",
    default=True,
)
EXCLUDE_GROUP = Text(
    "exclude_group",
    "a patient group (code or name, e.g. hereditary_heart) to leave out: the headline counts (ac, an, af, "
    "faf95, faf99, homozygote_count, hemizygote_count, n_carriers) become everyone's but that group's, "
    "derived from the stored strata; raw, all and strata stay as stored. An unknown group is a 400",
)
FORMAT = Text(
    "format",
    "va: the GA4GH VA-Spec CohortAlleleFrequencyStudyResult (strata as subCohortFrequency; also with "
    "Accept: application/ld+json or application/vnd.ga4gh.va+json); json (default): the record",
)
#: The verdict parameters, documented from the model that describes them (read by parse_verdict_query).
VERDICTS = tuple(Text(name, field.description or name) for name, field in VerdictParams.model_fields.items())


def _check_exclude(caller: Caller, exclude: str | None) -> None:
    if exclude is not None and not may_see_strata(caller.role):
        raise APIError(
            403,
            "forbidden",
            "exclude_group derives the counts from the strata, which only a controlled key may see",
            [{"location": "query.exclude_group", "message": "needs a controlled key", "type": "forbidden"}],
        )


def _one(
    rel: OpenRelease,
    text: str,
    strata: bool,
    caller: Caller,
    exclude: str | None = None,
    params: Mapping[str, str] | None = None,
) -> Response:
    _check_exclude(caller, exclude)
    level = granularity(caller.role)
    asked = parse_verdict_query(rel, params) if params else None
    strata = strata and level == "record"
    group = excluded_group(rel, exclude)
    if asked is None:
        rec = shape_record(
            record_for_query(rel, text, strata=strata, exclude=group),
            caller.role,
            caller.small_count_threshold,
        )
    else:
        v = parse_query(rel, text)
        row = rel.index.find(v.chrom, v.pos, v.ref, v.alt)
        rec = record_for_variant(rel, v, text, strata=strata, row=row, exclude=group)
        rec = shape_record(rec, caller.role, caller.small_count_threshold)
        attach_verdicts(
            [rec],
            [verdict_inputs(rel, v, row, asked.group)],
            asked,
            caller.role,
            caller.small_count_threshold,
        )
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
    asked = parse_verdict_query(rel, request.query_params)
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
    found = find_ids(rel, ids)
    data: list[dict[str, Any]] = []
    for text, rec in zip(
        ids, records_for_ids(rel, ids, strata=strata, exclude=group, found=found), strict=True
    ):
        if isinstance(rec, APIError):
            error = {"status": rec.status, "code": rec.code, "message": rec.message, "details": None}
            data.append({"query": text, "error": error})
        else:
            data.append(shape_record(rec, role, threshold))
    if asked is not None:
        # The verdicts' inputs are read for the same variants and rows, in one pass.
        parsed, rows = found
        variants = [v for v in parsed if isinstance(v, Variant)]
        many = iter(verdict_inputs_many(rel, variants, rows, asked.group))
        inputs = [next(many) if isinstance(v, Variant) else None for v in parsed]
        attach_verdicts(data, inputs, asked, role, threshold)
    caller.granularity = level
    return Response(orjson.dumps({"release": rel.id, "count": len(data), "data": data}), media_type=_JSON)


@router.get(
    "/{variant_id:path}",
    response_model=VariantPublic,
    responses=_ERRORS,
    openapi_extra=parameters(VARIANT_ID, STRATA, EXCLUDE_GROUP, RELEASE, FORMAT, *VERDICTS),
)
async def get_variant(request: Request) -> Response:
    """Return the frequency record of one variant; ``seen: false`` with the AN at its position if absent."""
    problems: list[Problem] = []
    variant_id = VARIANT_ID.read(request, problems)
    strata = STRATA.read(request, problems)
    exclude = EXCLUDE_GROUP.read(request, problems)
    release = RELEASE.read(request, problems)
    form = FORMAT.read(request, problems)
    check(problems)
    store: ReleaseStore = request.app.state.store
    rel = store.get(release)
    if wants_va(form, request.headers.get("accept")):
        return va_response(rel, variant_id, caller_of(request))
    return _one(rel, variant_id, strata, caller_of(request), exclude, request.query_params)


@router.post(
    "",
    response_model=BatchResult,
    responses={**_ERRORS, 413: {"model": ErrorPublic, "description": "more ids than max_batch_ids"}},
    openapi_extra={
        **parameters(STRATA, EXCLUDE_GROUP, RELEASE, *VERDICTS),
        **json_body(BatchRequest, {"two": {"value": {"variants": ["1-55516888-G-GA", "chr2:100 A>G"]}}}),
    },
)
async def post_variants(request: Request) -> Response:
    """Return the records of up to 10,000 ids, in request order; an unparsable id gets an error item."""
    problems: list[Problem] = []
    strata = STRATA.read(request, problems)
    exclude = EXCLUDE_GROUP.read(request, problems)
    release = RELEASE.read(request, problems)
    store: ReleaseStore = request.app.state.store
    payload = await read_body(request, BatchRequest, store.settings.max_request_bytes, problems)
    check(problems)
    assert payload is not None  # check() raised otherwise
    return _batch(request, store.get(release), payload.variants, store.settings, strata, exclude)
