"""``/v1/regions`` and ``/v1/genes``: the variants in a region or gene, paged with an explicit cursor.

A page holds at most ``limit`` variants (default ``page_size``, at most
``max_page_size``) and a ``next_cursor`` while more remain, so nothing is ever
truncated silently. The cursor names the release it was issued by, so paging
on while ``CURRENT`` switches stays within one release. A region wider than
``max_region_span`` is refused with 400.
"""

from __future__ import annotations

import base64
import re
from typing import Any

import orjson
from fastapi import APIRouter, Path, Query, Request
from starlette.responses import Response

from variantdb.api.access import spend_queries
from variantdb.api.auth import caller_of, granularity, may_see_counts, shape_record
from variantdb.api.coverage import region_coverage
from variantdb.api.deps import OpenRelease, ReleaseStore, SettingsDep, StoreDep
from variantdb.api.errors import APIError
from variantdb.api.lookup import record_for_row
from variantdb.api.models import ACCESS_ERRORS, ErrorPublic, RegionPage
from variantdb.genes import GeneNotFoundError, find_gene
from variantdb.genome import CONTIG_LENGTHS, UnknownContigError, canonical_contig
from variantdb.settings import Settings

__all__ = ["check_listing", "parse_region", "resolve_gene", "router"]

router = APIRouter(prefix="/v1", tags=["regions"])

_REGION = re.compile(r"^(?P<chrom>[\w.]+):(?P<start>[\d,]+)-(?P<end>[\d,]+)$")
_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorPublic, "description": "malformed or oversized region, or a bad cursor"},
    404: {"model": ErrorPublic, "description": "unknown release or gene"},
    422: {"model": ErrorPublic, "description": "invalid query parameters"},
    **ACCESS_ERRORS,
}

_Cursor = Query(default=None, max_length=200, description="next_cursor of the previous page")
_Release = Query(default=None, max_length=64, description="pin a release id; default: the current release")


def _limit(settings: Settings, limit: int | None) -> int:
    if limit is None:
        return settings.page_size
    if not 1 <= limit <= settings.max_page_size:
        raise APIError(
            400, "invalid_limit", f"limit must be between 1 and {settings.max_page_size}, got {limit}"
        )
    return limit


def encode_cursor(release: str, row: int) -> str:
    """Return the ``next_cursor`` of a page that stops before ``row`` of ``release``."""
    return base64.urlsafe_b64encode(f"{release}:{row}".encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[str, int]:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        release, row = text.split(":")
        return release, int(row)
    except (ValueError, UnicodeDecodeError):
        raise APIError(
            400, "invalid_cursor", "the cursor is not one this service issued; start again without it"
        ) from None


def page_window(
    store: ReleaseStore,
    settings: Settings,
    release: str | None,
    cursor: str | None,
    limit: int | None,
    chrom: str,
    start: int,
    end: int,
) -> tuple[OpenRelease, int, int, int, int]:
    """Resolve one page of a region; return ``(release, lo, hi, first, stop)``.

    The release is the one asked for, or the cursor's own; ``[lo, hi)`` are the
    region's rows and ``[first, stop)`` the page's.

    Raises
    ------
    APIError
        400 ``invalid_limit`` or ``invalid_cursor``; 404 for an unknown release.
    """
    n = _limit(settings, limit)
    first: int | None = None
    if cursor is not None:
        cur_release, first = _decode_cursor(cursor)
        if release is not None and release != cur_release:
            raise APIError(
                400, "invalid_cursor", f"the cursor belongs to release {cur_release}, not {release}"
            )
        release = cur_release
    rel = store.get(release)
    lo, hi = rel.index.region_rows(chrom, start, end)
    if first is not None and not lo <= first <= hi:
        raise APIError(
            400, "invalid_cursor", "the cursor does not belong to this region; start again without it"
        )
    page_lo = lo if first is None else first
    return rel, lo, hi, page_lo, min(hi, page_lo + n)


def parse_region(text: str, settings: Settings) -> tuple[str, int, int]:
    """Parse ``chrom:start-end`` (1-based inclusive; commas allowed), refusing spans over the limit."""
    m = _REGION.match(text.strip())
    if not m:
        raise APIError(
            400,
            "invalid_region",
            f"region {text[:100]!r} is not CHROM:START-END (1-based, e.g. chr1:55516000-55517000)",
        )
    try:
        chrom = canonical_contig(m["chrom"])
    except UnknownContigError as e:
        raise APIError(400, "invalid_region", str(e)) from None
    start, end = int(m["start"].replace(",", "")), int(m["end"].replace(",", ""))
    length = CONTIG_LENGTHS[chrom]
    if not 1 <= start <= end:
        raise APIError(
            400, "invalid_region", f"region {text[:100]!r}: need 1 <= start <= end (1-based inclusive)"
        )
    if start > length:
        raise APIError(400, "invalid_region", f"region start {start} is past the end of {chrom} ({length})")
    span = end - start + 1
    if span > settings.max_region_span:
        raise APIError(
            400,
            "region_too_large",
            f"region spans {span:,} bp; the limit is {settings.max_region_span:,} bp: split it into smaller regions",
        )
    return chrom, start, min(end, length)


def check_listing(request: Request) -> None:
    """Refuse a region or gene listing to a caller who may not see counts.

    A listing names every variant of a region, records and all: a ``public``
    caller may only ask whether one variant was seen (``/v1/variants``).

    Raises
    ------
    APIError
        403 ``forbidden``.
    """
    if not may_see_counts(caller_of(request).role):
        raise APIError(
            403,
            "forbidden",
            "listing the variants of a region or gene needs an API key (registered or controlled); "
            "without one, ask about single variants with /v1/variants",
        )


def _page(
    request: Request,
    store: StoreDep,
    settings: Settings,
    release: str | None,
    chrom: str,
    start: int,
    end: int,
    cursor: str | None,
    limit: int | None,
    gene: dict[str, Any] | None = None,
    show_coverage: bool = False,
) -> Response:
    rel, lo, hi, lo_page, stop = page_window(store, settings, release, cursor, limit, chrom, start, end)
    caller = caller_of(request)
    # Every variant listed is one query of the daily budget; the request paid for one.
    spend_queries(request, stop - lo_page - 1)
    data = [
        shape_record(record_for_row(rel, row), caller.role, caller.small_count_threshold)
        for row in range(lo_page, stop)
    ]
    caller.granularity = granularity(caller.role)
    body = {
        "release": rel.id,
        "region": {"chrom": chrom, "start": start, "end": end},
        "gene": gene,
        "total": hi - lo,
        "count": len(data),
        "data": data,
        "next_cursor": encode_cursor(rel.id, stop) if stop < hi else None,
        "coverage": (
            region_coverage(rel, chrom, start, end, 1, caller.role, caller.small_count_threshold)
            if show_coverage
            else None
        ),
    }
    return Response(orjson.dumps(body), media_type="application/json")


@router.get("/regions/{region}", response_model=RegionPage, responses=_ERRORS)
async def get_region(
    request: Request,
    store: StoreDep,
    settings: SettingsDep,
    region: str = Path(
        description="CHROM:START-END, 1-based inclusive, e.g. chr1:55516000-55517000", max_length=200
    ),
    cursor: str | None = _Cursor,
    limit: int | None = Query(
        default=None, description="variants per page (default page_size, at most max_page_size)"
    ),
    release: str | None = _Release,
) -> Response:
    """Return the variants whose position lies in a region, one page at a time (registered or controlled keys)."""
    check_listing(request)
    chrom, start, end = parse_region(region, settings)
    return _page(request, store, settings, release, chrom, start, end, cursor, limit, show_coverage=True)


@router.get("/genes/{symbol}", response_model=RegionPage, responses=_ERRORS)
async def get_gene(
    request: Request,
    store: StoreDep,
    settings: SettingsDep,
    symbol: str = Path(description="HGNC symbol (MYH7) or Ensembl gene id (ENSG00000092054)", max_length=100),
    cursor: str | None = _Cursor,
    limit: int | None = Query(
        default=None, description="variants per page (default page_size, at most max_page_size)"
    ),
    release: str | None = _Release,
) -> Response:
    """Return the variants within a gene's span (GRCh38 gene table shipped with variantdb), paged."""
    check_listing(request)
    gene = resolve_gene(symbol, settings)
    return _page(
        request,
        store,
        settings,
        release,
        gene["chrom"],
        gene["start"],
        gene["end"],
        cursor,
        limit,
        gene,
        show_coverage=True,
    )


def resolve_gene(symbol: str, settings: Settings) -> dict[str, Any]:
    """Return a gene's record (1-based span, other loci of the symbol) for a region query.

    Raises
    ------
    APIError
        404 for an unknown gene, 400 for a span over ``max_region_span``.
    """
    try:
        loci = find_gene(symbol)
    except GeneNotFoundError as e:
        raise APIError(404, "gene_not_found", str(e)) from None
    g = loci[0]
    span = g.end - g.start + 1
    if span > settings.max_region_span:
        raise APIError(
            400,
            "region_too_large",
            f"gene {g.symbol} spans {span:,} bp, over the limit {settings.max_region_span:,}; query it as regions",
        )
    return {**g._asdict(), "other_loci": [o.gene_id for o in loci[1:]]}
