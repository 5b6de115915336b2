"""``/v1/coverage``: how many samples have a confident call at a position or over a region, by technology.

Read from the release's coverage track (:mod:`variantdb.release.coverage`). A position
(``chr1:55516888``) answers its covered samples; a region (``chr1:1000-2000``,
1-based inclusive, at most ``max_region_span``) answers a summary per technology
and its segments of constant coverage, paged by ``offset``. Counts are shown to
callers who may see counts (:func:`variantdb.api.auth.may_see_counts`), as for variants.
"""

from __future__ import annotations

import re
from typing import Any

import orjson
from fastapi import APIRouter, Path, Query, Request
from starlette.responses import Response

from variantdb.api.auth import caller_of, caller_role, granularity, may_see_counts, note_granularity
from variantdb.api.coverage import coverage_track, protect_covered, protect_summary
from variantdb.api.deps import SettingsDep, StoreDep
from variantdb.api.errors import APIError
from variantdb.api.models import CoveragePublic, ErrorPublic
from variantdb.api.routes.regions import parse_region
from variantdb.genome import CONTIG_LENGTHS, UnknownContigError, canonical_contig

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["coverage"])

_POSITION = re.compile(r"^(?P<chrom>[\w.]+):(?P<pos>[\d,]+)$")
_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorPublic, "description": "malformed or oversized position or region, or a bad limit"},
    403: {"model": ErrorPublic, "description": "the caller may not see counts"},
    404: {"model": ErrorPublic, "description": "unknown release, or a release without a coverage track"},
    422: {"model": ErrorPublic, "description": "invalid query parameters"},
}


def _parse_locus(text: str, settings: Any) -> tuple[str, int, int, bool]:
    """Return (chrom, start, end, is_position) of ``CHROM:POS`` or ``CHROM:START-END``."""
    m = _POSITION.match(text.strip())
    if m is None:
        chrom, start, end = parse_region(text, settings)
        return chrom, start, end, False
    try:
        chrom = canonical_contig(m["chrom"])
    except UnknownContigError as e:
        raise APIError(400, "invalid_region", str(e)) from None
    pos = int(m["pos"].replace(",", ""))
    if not 1 <= pos <= CONTIG_LENGTHS[chrom]:
        raise APIError(
            400, "invalid_region", f"position {pos} is outside {chrom} (1-{CONTIG_LENGTHS[chrom]}, 1-based)"
        )
    return chrom, pos, pos, True


@router.get("/coverage/{locus}", response_model=CoveragePublic, responses=_ERRORS)
async def get_coverage(
    request: Request,
    store: StoreDep,
    settings: SettingsDep,
    locus: str = Path(
        description="CHROM:POS (e.g. chr1:55516888) or CHROM:START-END (1-based inclusive, e.g. chr1:55516000-55517000)",
        max_length=200,
    ),
    min_samples: int = Query(
        default=1, ge=0, le=100_000_000, description="threshold of fraction_at_least (covered samples)"
    ),
    offset: int = Query(default=0, ge=0, le=1_000_000_000, description="first segment of the page"),
    limit: int | None = Query(
        default=None, description="segments per page (default page_size, at most max_page_size)"
    ),
    release: str | None = Query(
        default=None, max_length=64, description="pin a release id; default: the current release"
    ),
) -> Response:
    """Return how many samples have a confident call at a position or over a region, by technology.

    A sample is covered where it counts toward AN in the adj sense: its ploidy there
    is not 0 and it has no no-call interval there (gVCF gaps and blocks below the
    adj thresholds, no-calls and non-adj calls of plain VCFs, outside an exome's or
    panel's capture BED). Founders and relatives alike. The summary per technology
    gives the mean covered samples, the range, the share of positions with at least
    ``min_samples`` covered samples, and the share where every sample of the
    technology is covered; segments of constant coverage follow, paged.
    """
    role = caller_role(request)
    if not may_see_counts(role):
        raise APIError(
            403, "forbidden", "coverage counts need an API key (registered or controlled); see the README"
        )
    n = settings.page_size if limit is None else limit
    if not 1 <= n <= settings.max_page_size:
        raise APIError(
            400, "invalid_limit", f"limit must be between 1 and {settings.max_page_size}, got {limit}"
        )
    chrom, start, end, is_position = _parse_locus(locus, settings)
    rel = store.get(release)
    track = coverage_track(rel)
    if track is None:
        raise APIError(
            404,
            "no_coverage",
            f"release {rel.id} has no coverage track (published before coverage existed); load or publish anew",
        )
    total, segments = track.segments(chrom, start, end, offset, n)
    level = granularity(role)
    note_granularity(request, level)
    covered = track.at(chrom, start) if is_position else None
    technologies = [s.as_dict() for s in track.summary(chrom, start, end, min_samples)]
    if level != "record":
        # Counts of people by technology: small ones floored, and withheld where a difference would tell.
        threshold = caller_of(request).small_count_threshold
        covered = protect_covered(covered, threshold) if covered is not None else None
        technologies = protect_summary(track, chrom, start, end, technologies, threshold)
        segments = [{**seg, "covered": protect_covered(seg["covered"], threshold)} for seg in segments]
    body = {
        "release": rel.id,
        "region": {"chrom": chrom, "start": start, "end": end},
        "covered": covered,
        "min_samples": min_samples,
        "technologies": technologies,
        "total_segments": total,
        "count": len(segments),
        "segments": segments,
        "next_offset": offset + len(segments) if offset + len(segments) < total else None,
    }
    return Response(orjson.dumps(body), media_type="application/json")
