"""The coverage track of an open release, opened once and shared by the routes that show coverage."""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

from variantdb.api.auth import Role, granularity
from variantdb.api.deps import OpenRelease
from variantdb.disclosure import floor_count, is_small, protect_parts
from variantdb.release.coverage import CoverageTrack

__all__ = ["coverage_track", "protect_covered", "protect_summary", "region_coverage"]

_tracks: OrderedDict[tuple[str, float], CoverageTrack] = OrderedDict()
_lock = threading.Lock()
_KEEP = 4


def coverage_track(rel: OpenRelease) -> CoverageTrack | None:
    """Return the release's coverage track (a few releases kept open), or None if it has none."""
    key = (str(rel.path), rel.opened)
    with _lock:
        track = _tracks.get(key)
        if track is not None:
            _tracks.move_to_end(key)
            return track
    entry = rel.meta.coverage
    if entry is None:
        return None
    try:
        track = CoverageTrack(rel.path, entry.n_samples)
    except FileNotFoundError:
        return None
    with _lock:
        _tracks[key] = track
        while len(_tracks) > _KEEP:
            _tracks.popitem(last=False)
    return track


def protect_covered(covered: dict[str, int], threshold: int) -> dict[str, Any]:
    """Floor samples by technology (``all`` and its parts) so that no small part can be computed.

    ``all`` is the sum of the technologies; see :func:`variantdb.disclosure.protect_parts`.
    """
    parts = {k: v for k, v in covered.items() if k != "all"}
    total = covered.get("all")
    if total is None or is_small(total, threshold):
        shown = protect_parts(parts, None, threshold)
        return {"all": floor_count(total, threshold), **shown} if total is not None else shown
    return {"all": total, **protect_parts(parts, total, threshold)}


_SUMMARY_FIGURES = ("mean", "min", "max", "fraction_at_least", "fraction_all")


def protect_summary(
    track: CoverageTrack,
    chrom: str,
    start: int,
    end: int,
    rows: list[dict[str, Any]],
    threshold: int,
) -> list[dict[str, Any]]:
    """Protect the per-technology summary of a region for a caller at granularity ``count``.

    Each technology's ``n_samples`` is floored with its siblings
    (:func:`protect_covered`). A technology whose covered samples are not exact in
    some segment of the region (small, or withheld beside a small one) has its
    ``mean``, ``min``, ``max`` and fractions withheld too: over one position they
    are that count, and ``fraction_at_least`` probed with ``?min_samples=`` would
    give it back.
    """
    n = protect_covered({r["technology"]: r["n_samples"] for r in rows}, threshold)
    total, _ = track.segments(chrom, start, end, 0, 1)
    _, segments = track.segments(chrom, start, end, 0, max(total, 1))
    inexact: set[str] = set()
    for seg in segments:
        shown = protect_covered(seg["covered"], threshold)
        inexact |= {k for k, v in shown.items() if not isinstance(v, int)}
    out = []
    for row in rows:
        tech = row["technology"]
        row = {**row, "n_samples": n.get(tech, row["n_samples"])}
        if tech in inexact or not isinstance(row["n_samples"], int):
            row |= dict.fromkeys(_SUMMARY_FIGURES)
        out.append(row)
    return out


def region_coverage(
    rel: OpenRelease,
    chrom: str,
    start: int,
    end: int,
    min_samples: int = 1,
    role: Role = "controlled",
    threshold: int = 5,
) -> dict[str, Any] | None:
    """Return the ``coverage`` block of a region page (summary per technology), or None without a track.

    Below granularity ``record`` the summary is protected (:func:`protect_summary`).
    """
    track = coverage_track(rel)
    if track is None:
        return None
    rows = [s.as_dict() for s in track.summary(chrom, start, end, min_samples)]
    if granularity(role) != "record":
        rows = protect_summary(track, chrom, start, end, rows, threshold)
    return {"min_samples": min_samples, "technologies": rows}
