"""``/v1/subcohort``: counts for any combination of sample metadata, computed at query time.

One variant (``GET /v1/subcohort/variants/{id}``), a batch (``POST
/v1/subcohort/variants``) or a region (``GET /v1/subcohort/regions/{locus}``),
each with a filter: sex, region, patient group (or all but some), technology,
family role, date received, adj or raw. Counted from the release's sub-cohort
structures (:mod:`variantdb.subcohort`); the default filter gives the headline
figures, one sex / region / patient group gives the stored stratum. Sub-cohorts
are exact counts of arbitrary (small) groups, so only callers who may see strata
(:func:`variantdb.api.auth.may_see_strata`) get them.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Body, Depends, Path, Query
from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import Response

from variantdb.api.access import spend_queries
from variantdb.api.auth import caller_role, may_see_strata, note_granularity
from variantdb.api.deps import OpenRelease, ReleaseDep, ReleaseStore, SettingsDep, StoreDep
from variantdb.api.errors import APIError
from variantdb.api.lookup import parse_query
from variantdb.api.models import ErrorBody, ErrorPublic, RegionPublic
from variantdb.api.params import (
    RELEASE,
    Flag,
    PathText,
    Problem,
    RequestRoute,
    Text,
    Texts,
    check,
    parameters,
)
from variantdb.api.responses import ORJSONResponse
from variantdb.api.routes.regions import encode_cursor, page_window, parse_region
from variantdb.subcohort import (
    ROLES,
    SUBCOHORT_FIELDS,
    SubcohortFilter,
    SubcohortFilterError,
    SubcohortIndex,
    make_filter,
)
from variantdb.variant import Variant, format_variant_id

__all__ = ["hot_router", "router"]

router = APIRouter(prefix="/v1/subcohort", tags=["subcohort"])
#: The hot route, ``GET /v1/subcohort/variants/{id}``, placed at the front of the app's routes.
hot_router = APIRouter(
    prefix="/v1/subcohort",
    tags=["subcohort"],
    route_class=RequestRoute,
    default_response_class=ORJSONResponse,
)

_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {
        "model": ErrorPublic,
        "description": "bad id or region, or a filter value the release does not know",
    },
    403: {"model": ErrorPublic, "description": "the caller's role may not see sub-cohorts"},
    404: {"model": ErrorPublic, "description": "unknown release, or a release without sub-cohort structures"},
    422: {"model": ErrorPublic, "description": "invalid query parameters or body"},
}
_JSON = "application/json"


class SubcohortFilterPublic(BaseModel):
    """Which samples to count. Every field given narrows the set (AND); the values of one field are OR-ed.

    A list field also takes one string, comma-separated values allowed.
    """

    model_config = ConfigDict(extra="forbid")
    sex: list[str] | str | None = Field(default=None, description="XX, XY, unknown")
    region: list[str] | str | None = Field(default=None, description="region names or codes (regions.tsv)")
    patient_group: list[str] | str | None = Field(default=None, description="patient group names or codes")
    exclude_patient_group: list[str] | str | None = Field(
        default=None, description="patient groups to leave out"
    )
    technology: list[str] | str | None = Field(default=None, description="WGS, WES, panel")
    role: list[str] | str | None = Field(
        default=None,
        description="family role: " + "; ".join(f"{k}: {v}" for k, v in ROLES.items()) + ". Default founder",
    )
    received_from: str | None = Field(default=None, description="first date received, YYYY-MM-DD, inclusive")
    received_to: str | None = Field(default=None, description="last date received, YYYY-MM-DD, inclusive")
    raw: bool = Field(default=False, description="count every called genotype, not only adj ones")


class SubcohortCounts(BaseModel):
    """The counts of one variant among the matching samples."""

    ac: int = Field(description=SUBCOHORT_FIELDS["ac"])
    an: int = Field(description=SUBCOHORT_FIELDS["an"])
    af: float | None = Field(description=SUBCOHORT_FIELDS["af"])
    faf95: float | None = Field(description=SUBCOHORT_FIELDS["faf95"])
    faf99: float | None = Field(description=SUBCOHORT_FIELDS["faf99"])
    homozygote_count: int = Field(description=SUBCOHORT_FIELDS["homozygote_count"])
    hemizygote_count: int = Field(description=SUBCOHORT_FIELDS["hemizygote_count"])
    n_carriers: int = Field(description=SUBCOHORT_FIELDS["n_carriers"])
    n_carrier_families: int = Field(description=SUBCOHORT_FIELDS["n_carrier_families"])


class SubcohortVariant(SubcohortCounts):
    """A variant's counts in a sub-cohort, with what the query became."""

    query: str
    variant_id: str = Field(description="normalized id, CHROM-POS-REF-ALT (1-based)")
    chrom: str
    pos: int = Field(description="1-based")
    ref: str
    alt: str
    seen: bool = Field(description="the variant is in the release (it may still have ac 0 in the sub-cohort)")


class SubcohortVariantError(BaseModel):
    """An id of a batch that could not be parsed: the batch answers the others."""

    query: str
    error: ErrorBody


class SubcohortResult(BaseModel):
    """Sub-cohort counts of one or more variants."""

    release: str
    filter: dict[str, Any] = Field(description="the filter as understood (canonical names)")
    n_samples: int = Field(description="samples the filter matches")
    count: int
    data: list[SubcohortVariant | SubcohortVariantError]


class SubcohortBatchRequest(BaseModel):
    """Variant ids and one filter."""

    model_config = ConfigDict(extra="forbid")
    variants: list[str] = Field(
        description="variant ids in any accepted form; the response keeps their order"
    )
    filter: SubcohortFilterPublic = Field(default_factory=SubcohortFilterPublic)


class SubcohortRegionPage(BaseModel):
    """One page of a region's variants with their sub-cohort counts, in release order."""

    release: str
    region: RegionPublic
    filter: dict[str, Any]
    n_samples: int
    total: int = Field(description="variants in the whole region")
    count: int = Field(description="variants in this page")
    data: list[SubcohortVariant]
    next_cursor: str | None = Field(description="pass as ?cursor= for the next page; null on the last page")


SEX = Texts("sex", "XX, XY, unknown; repeat or comma-separate")
REGION = Texts("region", "region names or codes")
PATIENT_GROUP = Texts("patient_group", "patient group names or codes")
EXCLUDE_PATIENT_GROUP = Texts("exclude_patient_group", "patient groups to leave out")
TECHNOLOGY = Texts("technology", "WGS, WES, panel")
ROLE = Texts("role", "founder (default), non_founder, parent, all: " + "; ".join(ROLES.values()))
RECEIVED_FROM = Text("received_from", "YYYY-MM-DD, inclusive", max_length=40)
RECEIVED_TO = Text("received_to", "YYYY-MM-DD, inclusive", max_length=40)
RAW = Flag("raw", "count every called genotype, not only adj ones", default=False)
_FILTER = (
    SEX,
    REGION,
    PATIENT_GROUP,
    EXCLUDE_PATIENT_GROUP,
    TECHNOLOGY,
    ROLE,
    RECEIVED_FROM,
    RECEIVED_TO,
    RAW,
)
VARIANT_ID = PathText("variant_id", "any accepted id form (1-based, or SPDI 0-based)", max_length=10_000)


def _filter_query(
    sex: Annotated[list[str] | None, Query(description=SEX.description)] = None,
    region: Annotated[list[str] | None, Query(description=REGION.description)] = None,
    patient_group: Annotated[list[str] | None, Query(description=PATIENT_GROUP.description)] = None,
    exclude_patient_group: Annotated[
        list[str] | None, Query(description=EXCLUDE_PATIENT_GROUP.description)
    ] = None,
    technology: Annotated[list[str] | None, Query(description=TECHNOLOGY.description)] = None,
    role: Annotated[list[str] | None, Query(description=ROLE.description)] = None,
    received_from: Annotated[
        str | None, Query(description=RECEIVED_FROM.description, max_length=RECEIVED_FROM.max_length)
    ] = None,
    received_to: Annotated[
        str | None, Query(description=RECEIVED_TO.description, max_length=RECEIVED_TO.max_length)
    ] = None,
    raw: Annotated[bool, Query(description=RAW.description)] = RAW.default,
) -> dict[str, Any]:
    """Return the filter of the region route: the parameters of :data:`_FILTER`, read by FastAPI."""
    return {
        "sex": sex,
        "region": region,
        "patient_group": patient_group,
        "exclude_patient_group": exclude_patient_group,
        "technology": technology,
        "role": role,
        "received_from": received_from,
        "received_to": received_to,
        "raw": raw,
    }


FilterDep = Annotated[dict[str, Any], Depends(_filter_query)]


def _check_role(request: Request) -> None:
    role = caller_role(request)
    if not may_see_strata(role):
        raise APIError(
            403,
            "forbidden",
            f"sub-cohort counts are for the controlled role; this caller is {role!r}",
        )
    note_granularity(request, "record")


def _resolve(f: dict[str, Any], location: str) -> SubcohortFilter:
    try:
        return make_filter(**f)
    except SubcohortFilterError as e:
        raise APIError(
            400,
            "invalid_filter",
            str(e),
            [{"location": f"{location}.{e.field}", "message": str(e), "type": "invalid_filter"}],
        ) from None


@lru_cache(maxsize=8)
def _open(path: str) -> SubcohortIndex:
    return SubcohortIndex(path)


def _index(rel: OpenRelease) -> SubcohortIndex:
    try:
        sc = _open(str(rel.path))
    except FileNotFoundError:
        raise APIError(
            404,
            "subcohort_unavailable",
            f"release {rel.id} was published without sub-cohort structures; a new release (variantdb load) has them",
        ) from None
    except ValueError as e:  # written by an older version of variantdb
        raise APIError(
            404,
            "subcohort_unavailable",
            f"release {rel.id}: {e}; a new release (variantdb load, or publish) has the current structures",
        ) from None
    if sc.n_variants != rel.index.n_variants:
        # Rows would be misread: refuse rather than answer wrong counts.
        raise APIError(
            404,
            "subcohort_unavailable",
            f"release {rel.id}: the sub-cohort structures cover {sc.n_variants:,} variants, the index "
            f"{rel.index.n_variants:,}; republish the release",
        )
    return sc


def _variant_record(query: str, v: Variant, seen: bool, counts: dict[str, Any]) -> dict[str, Any]:
    return {
        "query": query,
        "variant_id": format_variant_id(v),
        "chrom": v.chrom,
        "pos": v.pos,
        "ref": v.ref,
        "alt": v.alt,
        "seen": seen,
        **counts,
    }


def _answer(
    rel: OpenRelease, f: SubcohortFilter, texts: list[str], parsed: list[Variant | APIError] | None = None
) -> dict[str, Any]:
    sc = _index(rel)
    if parsed is None:
        parsed = []
        for text in texts:
            try:
                parsed.append(parse_query(rel, text))
            except APIError as e:
                parsed.append(e)
    good = [v for v in parsed if isinstance(v, Variant)]
    rows = rel.index.find_many(good)
    counts = sc.counts(f, rows, [v.chrom for v in good], [v.pos for v in good])
    data: list[dict[str, Any]] = []
    k = 0
    for text, v in zip(texts, parsed, strict=True):
        if isinstance(v, APIError):
            data.append(
                {
                    "query": text,
                    "error": {"status": v.status, "code": v.code, "message": v.message, "details": None},
                }
            )
            continue
        data.append(_variant_record(text, v, rows[k] is not None, counts[k]))
        k += 1
    return {
        "release": rel.id,
        "filter": f.as_dict(),
        "n_samples": sc.mask(f).n,
        "count": len(data),
        "data": data,
    }


@hot_router.get(
    "/variants/{variant_id:path}",
    response_model=SubcohortResult,
    responses=_ERRORS,
    openapi_extra=parameters(VARIANT_ID, RELEASE, *_FILTER),
)
async def get_subcohort_variant(request: Request) -> Response:
    """Return one variant's counts among the samples matching the filter (``count`` 1; a bad id is a 400)."""
    problems: list[Problem] = []
    variant_id = VARIANT_ID.read(request, problems)
    release = RELEASE.read(request, problems)
    filt: dict[str, Any] = {p.name: p.read(request, problems) for p in _FILTER}
    check(problems)
    store: ReleaseStore = request.app.state.store
    rel = store.get(release)
    _check_role(request)
    f = _resolve(filt, "query")
    body = _answer(rel, f, [variant_id], [parse_query(rel, variant_id)])
    return Response(orjson.dumps(body), media_type=_JSON)


@router.post(
    "/variants",
    response_model=SubcohortResult,
    responses={**_ERRORS, 413: {"model": ErrorPublic, "description": "more ids than max_batch_ids"}},
)
async def post_subcohort_variants(
    request: Request,
    rel: ReleaseDep,
    settings: SettingsDep,
    payload: Annotated[
        SubcohortBatchRequest,
        Body(
            openapi_examples={
                "heart": {
                    "value": {
                        "variants": ["1-55516888-G-GA", "chr2:100 A>G"],
                        "filter": {"sex": ["XX"], "region": ["Midtjylland"], "received_from": "2025-01-01"},
                    }
                }
            }
        ),
    ],
) -> Response:
    """Return the counts of up to ``max_batch_ids`` variants among the samples matching one filter."""
    _check_role(request)
    f = _resolve(payload.filter.model_dump(), "body.filter")
    if len(payload.variants) > settings.max_batch_ids:
        raise APIError(
            413,
            "too_many_ids",
            f"{len(payload.variants):,} ids in one request; the limit is {settings.max_batch_ids:,}: split the batch",
        )
    # Every id is one query of the daily budget; the request paid for one.
    spend_queries(request, len(payload.variants) - 1)
    return Response(orjson.dumps(_answer(rel, f, payload.variants)), media_type=_JSON)


@router.get("/regions/{locus}", response_model=SubcohortRegionPage, responses=_ERRORS)
async def get_subcohort_region(
    request: Request,
    store: StoreDep,
    settings: SettingsDep,
    filt: FilterDep,
    locus: Annotated[
        str,
        Path(
            description="the genomic region, CHROM:START-END, 1-based inclusive, e.g. chr1:55516000-55517000 "
            "(?region= filters the samples by home region)",
            max_length=200,
        ),
    ],
    cursor: Annotated[
        str | None, Query(max_length=200, description="next_cursor of the previous page")
    ] = None,
    limit: Annotated[
        int | None, Query(description="variants per page (default page_size, at most max_page_size)")
    ] = None,
    release: Annotated[
        str | None, Query(max_length=64, description="pin a release id; default: the current release")
    ] = None,
) -> Response:
    """Return a region's variants with their counts among the samples matching the filter, one page at a time."""
    _check_role(request)
    f = _resolve(filt, "query")
    chrom, start, end = parse_region(locus, settings)
    rel, lo, hi, page_lo, stop = page_window(store, settings, release, cursor, limit, chrom, start, end)
    sc = _index(rel)
    spend_queries(request, stop - page_lo - 1)
    variants = [rel.index.variant_at(r) for r in range(page_lo, stop)]
    counts = sc.region_counts(f, chrom, page_lo, stop, [v.pos for v in variants])
    data = [_variant_record(format_variant_id(v), v, True, c) for v, c in zip(variants, counts, strict=True)]
    next_cursor = encode_cursor(rel.id, stop) if stop < hi else None
    body = {
        "release": rel.id,
        "region": {"chrom": chrom, "start": start, "end": end},
        "filter": f.as_dict(),
        "n_samples": sc.mask(f).n,
        "total": hi - lo,
        "count": len(data),
        "data": data,
        "next_cursor": next_cursor,
    }
    return Response(orjson.dumps(body), media_type=_JSON)
