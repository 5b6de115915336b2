"""``/v1/variants``: the frequency record of one variant, or of up to 10,000 in one request."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Body, Path
from starlette.responses import Response

from api.deps import ReleaseDep, SettingsDep
from api.errors import APIError
from api.lookup import parse_query, record_for_query, record_for_variant
from api.models import BatchRequest, BatchResult, ErrorPublic, VariantPublic
from api.responses import json_response

__all__ = ["router"]

router = APIRouter(prefix="/v1/variants", tags=["variants"])

_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorPublic, "description": "the id cannot be parsed or normalized"},
    404: {"model": ErrorPublic, "description": "unknown release"},
    422: {"model": ErrorPublic, "description": "invalid query parameters"},
}


@router.get("/{variant_id:path}", response_model=VariantPublic, responses=_ERRORS)
async def get_variant(
    rel: ReleaseDep,
    variant_id: Annotated[
        str,
        Path(
            description="1-55516888-G-GA, chr1-55516888-G-GA, chr1:55516888:G:GA, 'chr1:55516888 G>GA' "
            "(1-based) or SPDI NC_000001.11:55516887:G:GA (0-based)",
            max_length=10_000,
        ),
    ],
) -> Response:
    """Return the frequency record of one variant; ``seen: false`` with the AN at its position if absent."""
    return json_response(record_for_query(rel, variant_id))


@router.post(
    "",
    response_model=BatchResult,
    responses={**_ERRORS, 413: {"model": ErrorPublic, "description": "more ids than max_batch_ids"}},
)
async def post_variants(
    rel: ReleaseDep,
    settings: SettingsDep,
    payload: Annotated[
        BatchRequest,
        Body(openapi_examples={"two": {"value": {"variants": ["1-55516888-G-GA", "chr2:100 A>G"]}}}),
    ],
) -> Response:
    """Return the records of up to 10,000 ids, in request order; an unparsable id gets an error item."""
    ids = payload.variants
    if len(ids) > settings.max_batch_ids:
        raise APIError(
            413,
            "too_many_ids",
            f"{len(ids):,} ids in one request; the limit is {settings.max_batch_ids:,}: split the batch",
        )
    data: list[dict[str, Any]] = []
    for text in ids:
        try:
            v = parse_query(rel, text)
        except APIError as e:
            data.append(
                {
                    "query": text,
                    "error": {"status": e.status, "code": e.code, "message": e.message, "details": None},
                }
            )
            continue
        data.append(record_for_variant(rel, v, text))
    return Response(
        orjson.dumps({"release": rel.id, "count": len(data), "data": data}), media_type="application/json"
    )
