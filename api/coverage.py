"""The coverage track of an open release, opened once and shared by the routes that show coverage."""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

from variantdb.api.deps import OpenRelease
from variantdb.release.coverage import CoverageTrack

__all__ = ["coverage_track", "region_coverage"]

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
    entry = rel.meta.get("coverage")
    if not isinstance(entry, dict):
        return None
    try:
        track = CoverageTrack(rel.path, entry.get("n_samples") or {})
    except FileNotFoundError:
        return None
    with _lock:
        _tracks[key] = track
        while len(_tracks) > _KEEP:
            _tracks.popitem(last=False)
    return track


def region_coverage(
    rel: OpenRelease, chrom: str, start: int, end: int, min_samples: int = 1
) -> dict[str, Any] | None:
    """Return the ``coverage`` block of a region page (summary per technology), or None without a track."""
    track = coverage_track(rel)
    if track is None:
        return None
    return {
        "min_samples": min_samples,
        "technologies": [s.as_dict() for s in track.summary(chrom, start, end, min_samples)],
    }
