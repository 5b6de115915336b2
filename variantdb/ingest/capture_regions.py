"""Capture BEDs of exome and panel samples: where such a sample was sequenced at all.

A sample of a targeted technology (an exome, a gene panel) has reads only inside
its capture regions, so it cannot speak for the rest of the genome: its VCF is
silent there, and silence in a plain VCF means "reference" (docs/semantics.md,
"How counts are made"). Its ``capture_bed`` therefore limits where it counts toward AN,
as afquery's technology-aware AN does: outside the BED the sample has no call.

The loader turns a BED's complement into no-call intervals (``gaps`` rows), so
the AN track, the variant table, annotation and coverage all follow without
knowing about BEDs. This module reads and validates the BED and answers the
interval questions.

Coordinates: a BED is 0-based half-open (``start`` counts from 0, ``end`` is
exclusive); :class:`CaptureRegions` holds 1-based inclusive intervals, as
``POS`` and the gaps table.
"""

from __future__ import annotations

import csv
import gzip
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from variantdb.errors import VariantdbError
from variantdb.genome import CONTIG_LENGTHS, CONTIGS, UnknownContigError, canonical_contig

__all__ = ["CaptureBedError", "CaptureRegions", "read_capture_bed"]

_HEADER_PREFIXES = ("#", "track", "browser")
_MAX_PROBLEMS = 20


class CaptureBedError(VariantdbError, ValueError):
    """A capture BED that cannot be used; the message names file, line, field and value."""


@dataclass(frozen=True)
class CaptureRegions:
    """The merged capture intervals of one BED, per canonical contig, 1-based inclusive.

    ``starts[chrom]`` and ``ends[chrom]`` are sorted int64 arrays of disjoint,
    non-adjacent intervals; a contig absent from the BED has no interval.
    """

    path: Path
    starts: dict[str, np.ndarray] = field(default_factory=dict)
    ends: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def n_intervals(self) -> int:
        """Number of merged intervals over all contigs."""
        return sum(len(s) for s in self.starts.values())

    @property
    def size(self) -> int:
        """Number of positions covered."""
        return int(sum((self.ends[c] - self.starts[c] + 1).sum() for c in self.starts))

    def contains(self, chrom: str, pos: np.ndarray) -> np.ndarray:
        """Return, per 1-based position on ``chrom``, whether it lies inside a capture interval.

        Parameters
        ----------
        chrom
            Canonical contig.
        pos
            1-based positions (any integer array).

        Returns
        -------
        numpy.ndarray
            bool, the shape of ``pos``.
        """
        pos = np.asarray(pos, dtype=np.int64)
        starts = self.starts.get(chrom)
        if starts is None or len(starts) == 0:
            return np.zeros(pos.shape, dtype=bool)
        i = np.searchsorted(starts, pos, side="right") - 1
        ok = i >= 0
        inside = np.zeros(pos.shape, dtype=bool)
        inside[ok] = pos[ok] <= self.ends[chrom][i[ok]]
        return inside

    def complement(self, chrom: str) -> Iterator[tuple[int, int]]:
        """Yield the 1-based inclusive intervals of ``chrom`` outside the capture, in order.

        A contig the BED does not name yields one interval, the whole contig.
        """
        length = CONTIG_LENGTHS[chrom]
        cur = 1
        starts = self.starts.get(chrom, np.zeros(0, dtype=np.int64))
        ends = self.ends.get(chrom, np.zeros(0, dtype=np.int64))
        for s, e in zip(starts.tolist(), ends.tolist(), strict=True):
            if s > cur:
                yield cur, s - 1
            cur = e + 1
        if cur <= length:
            yield cur, length


def _lines(path: Path) -> Iterator[str]:
    with open(path, "rb") as fh:
        magic = fh.read(2)
    opener = gzip.open if magic == b"\x1f\x8b" else open
    with opener(path, "rb") as raw, io.TextIOWrapper(raw, encoding="utf-8", newline="") as text:
        yield from text


def read_capture_bed(path: str | Path) -> CaptureRegions:
    """Read and validate a capture BED (plain or gzipped).

    Parameters
    ----------
    path
        A BED file: tab-separated ``chrom start end`` (0-based half-open) and any
        further columns, which are ignored. Lines starting with ``#``, ``track`` or
        ``browser`` and blank lines are skipped. Contigs may be named ``chr1`` or
        ``1`` (any alias :func:`variantdb.genome.canonical_contig` accepts);
        intervals may be unsorted and may overlap (they are merged).

    Returns
    -------
    CaptureRegions
        Merged 1-based inclusive intervals per contig.

    Raises
    ------
    CaptureBedError
        Naming the file, line, field and value of every problem (up to 20): a
        contig other than GRCh38 1-22, X, Y, M; a start or end that is not a
        non-negative integer; ``start >= end``; an end past the contig's GRCh38
        length; fewer than three columns; not UTF-8 text; no interval at all.
    """
    path = Path(path)
    if not path.is_file():
        raise CaptureBedError(f"capture BED {path}: no such file")
    problems: list[str] = []
    per_contig: dict[str, tuple[list[int], list[int]]] = {}
    try:
        reader = csv.reader(_lines(path), delimiter="\t", quoting=csv.QUOTE_NONE)
        for lineno, row in enumerate(reader, start=1):
            if len(problems) >= _MAX_PROBLEMS:
                problems.append("... (stopped after 20 problems)")
                break
            if not row or not "".join(row).strip() or row[0].startswith(_HEADER_PREFIXES):
                continue
            where = f"line {lineno}"
            if len(row) < 3:
                problems.append(
                    f"{where}: {len(row)} column(s); a BED line needs chrom, start, end (tab-separated)"
                )
                continue
            name, start_text, end_text = (v.strip() for v in row[:3])
            try:
                chrom = canonical_contig(name)
            except UnknownContigError:
                problems.append(
                    f"{where}: field chrom {name!r} is not a GRCh38 primary contig (1-22, X, Y, M); "
                    "remove other contigs from the BED"
                )
                continue
            values = []
            for label, text in (("start", start_text), ("end", end_text)):
                if not text.isascii() or not text.isdigit():
                    problems.append(f"{where}: field {label} {text!r} is not a non-negative integer")
                else:
                    values.append(int(text))
            if len(values) < 2:
                continue
            start, end = values
            if start >= end:
                problems.append(
                    f"{where}: start {start} >= end {end}; BED intervals are 0-based half-open, "
                    "so a one-base interval at POS is POS-1 POS"
                )
                continue
            if end > CONTIG_LENGTHS[chrom]:
                problems.append(
                    f"{where}: field end {end} is past the end of {chrom} ({CONTIG_LENGTHS[chrom]} in GRCh38)"
                )
                continue
            s, e = per_contig.setdefault(chrom, ([], []))
            s.append(start + 1)  # 0-based half-open -> 1-based inclusive
            e.append(end)
    except UnicodeDecodeError as err:
        raise CaptureBedError(
            f"capture BED {path}: not UTF-8 text ({err.reason} at byte {err.start})"
        ) from None
    except (OSError, EOFError, csv.Error) as err:
        raise CaptureBedError(f"capture BED {path}: cannot be read ({err})") from None
    if not problems and not per_contig:
        problems.append("no intervals: the BED holds no chrom/start/end line")
    if problems:
        raise CaptureBedError(f"capture BED {path}: " + "; ".join(problems))
    starts: dict[str, np.ndarray] = {}
    ends: dict[str, np.ndarray] = {}
    for chrom in CONTIGS:
        if chrom not in per_contig:
            continue
        lo = np.array(per_contig[chrom][0], dtype=np.int64)
        hi = np.array(per_contig[chrom][1], dtype=np.int64)
        order = np.argsort(lo, kind="stable")
        lo, hi = lo[order], hi[order]
        reach = np.maximum.accumulate(hi)
        # A new run starts where an interval begins past the reach of all before it
        # (adjacent intervals merge too: the union is what matters).
        new = np.ones(len(lo), dtype=bool)
        new[1:] = lo[1:] > reach[:-1] + 1
        first = np.flatnonzero(new)
        last = np.append(first[1:] - 1, len(lo) - 1)
        starts[chrom] = lo[first]
        ends[chrom] = reach[last]
    return CaptureRegions(path, starts, ends)
