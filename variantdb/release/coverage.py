"""Coverage: how many samples have a confident call at each position, by sequencing technology.

AN says how many *alleles* were called at a position; a lab reading an absent
variant also asks *who* could have shown it: "absent among 1,200 genomes and 300
exomes covering this base" reads differently from "absent, but only 12 exomes
reach here". Each release carries a coverage track, ``coverage.parquet``:
piecewise-constant segments tiling every contig, like the AN track, with the
number of samples covered per technology.

A sample is *covered* at a position when it counts toward AN there in the adj
sense: its ploidy at the position is not 0 (sex, contig, PAR) and no no-call
interval of it (``gaps``: gVCF gaps and low-quality blocks, no-calls and non-adj
calls of plain VCFs, outside its capture BED) lies there. Every sample of the
release counts, founders and relatives alike. Summed over covered samples, the
ploidies give ``an_all``.

Positions are 1-based inclusive throughout.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from variantdb.genome import CONTIG_LENGTHS, CONTIGS, ploidy_segments
from variantdb.release.aggregate import _union_per_sample, call_files_for
from variantdb.release.files import file_sha256, write_release_meta
from variantdb.release.meta import ReleaseMeta, parse_release_meta
from variantdb.schema import GAPS_SCHEMA, SEXES, TECHNOLOGIES
from variantdb.store.layout import fsync_dir

__all__ = [
    "COVERAGE_FILE",
    "CoverageSummary",
    "CoverageTrack",
    "compute_coverage_track",
    "coverage_columns",
    "coverage_schema",
    "technology_keys",
    "write_coverage",
]

#: The coverage track's file in a release directory.
COVERAGE_FILE = "coverage.parquet"


def technology_keys() -> dict[str, str]:
    """Return ``{technology: column}``: ``all`` first, then each manifest technology."""
    return {"all": "n_covered", **{t: f"n_covered_{t.lower()}" for t in TECHNOLOGIES}}


def coverage_columns() -> list[str]:
    """Return the count columns of the coverage track, ``n_covered`` first."""
    return list(technology_keys().values())


def coverage_schema() -> pa.Schema:
    """Return the schema of a release's coverage track."""
    fields = [
        pa.field("chrom", pa.string(), False, {"description": "canonical contig"}),
        pa.field("start", pa.int32(), False, {"description": "first position of the segment (1-based)"}),
        pa.field(
            "end", pa.int32(), False, {"description": "last position of the segment (1-based, inclusive)"}
        ),
    ]
    for tech, col in technology_keys().items():
        who = "samples" if tech == "all" else f"{tech} samples"
        fields.append(
            pa.field(
                col,
                pa.int32(),
                False,
                {"description": f"{who} with a confident (adj) call over the segment, relatives included"},
            )
        )
    return pa.schema(fields, metadata={"description": "samples covered at every position of a release"})


@dataclass(frozen=True)
class _Samples:
    """The release's samples as the sweep needs them: sorted registry numbers, sex and technology codes."""

    idx: np.ndarray
    sex: np.ndarray
    tech: np.ndarray

    @classmethod
    def from_table(cls, samples: pa.Table) -> _Samples:
        rows = sorted(
            samples.select(["sample_idx", "sex", "technology"]).to_pylist(), key=lambda r: r["sample_idx"]
        )
        return cls(
            np.array([r["sample_idx"] for r in rows], dtype=np.int64),
            np.array([SEXES.index(r["sex"]) for r in rows], dtype=np.int64),
            np.array([TECHNOLOGIES.index(r["technology"] or "WGS") for r in rows], dtype=np.int64),
        )

    def weights(self) -> np.ndarray:
        """Per sample, the columns it counts in: ``all`` and its technology."""
        w = np.zeros((len(self.idx), 1 + len(TECHNOLOGIES)), dtype=np.int64)
        w[:, 0] = 1
        w[np.arange(len(self.idx)), 1 + self.tech] = 1
        return w


def compute_coverage_track(chrom: str, gaps: pa.Table, samples: pa.Table) -> pa.Table:
    """Return the coverage track of one contig.

    Parameters
    ----------
    chrom
        Canonical contig.
    gaps
        :data:`~variantdb.schema.GAPS_SCHEMA` rows of this contig (samples not in
        ``samples`` are ignored). Raw and adj-only gaps both uncover a sample.
    samples
        Registry rows of the release's samples (``sample_idx``, ``sex``,
        ``technology``), withdrawn ones already dropped.

    Returns
    -------
    pyarrow.Table
        :func:`coverage_schema` rows tiling ``[1, length]``, adjacent segments with
        equal counts merged.
    """
    s = _Samples.from_table(samples)
    n = len(s.idx)
    ncol = len(coverage_columns())
    length = CONTIG_LENGTHS[chrom]
    segs = ploidy_segments(chrom)
    seg_starts = np.array([a for a, _, _ in segs], dtype=np.int64)
    # (n_seg, n_samples): does the sample carry any allele in the segment?
    present = np.array([[p[SEXES[x]] > 0 for x in s.sex] for _, _, p in segs], dtype=np.int64).reshape(
        len(segs), n
    )
    w = s.weights()
    base = present @ w  # (n_seg, ncol)

    g_idx = gaps.column("sample_idx").to_numpy().astype(np.int64)
    rows = np.minimum(np.searchsorted(s.idx, g_idx), max(n - 1, 0))
    keep = (s.idx[rows] == g_idx) if n else np.zeros(len(g_idx), dtype=bool)
    rows, starts, ends = _union_per_sample(
        rows[keep],
        gaps.column("start").to_numpy().astype(np.int64)[keep],
        gaps.column("end").to_numpy().astype(np.int64)[keep],
    )
    pieces = []
    for k, (s0, e0, _) in enumerate(segs):
        lo = np.maximum(starts, s0)
        hi = np.minimum(ends, e0)
        inside = np.flatnonzero((lo <= hi) & (present[k, rows] > 0))
        if inside.size:
            pieces.append((lo[inside], hi[inside], rows[inside]))
    bp = np.unique(
        np.concatenate([seg_starts, [length + 1], *(p[0] for p in pieces), *(p[1] + 1 for p in pieces)])
    )
    diff = np.zeros((len(bp), ncol), dtype=np.int64)
    for lo, hi, rr in pieces:
        i_s = np.searchsorted(bp, lo)
        i_e = np.searchsorted(bp, hi + 1)
        for c in range(ncol):
            wc = w[rr, c]
            if wc.any():
                diff[:, c] += np.bincount(i_s, weights=wc, minlength=len(bp)).astype(np.int64)
                diff[:, c] -= np.bincount(i_e, weights=wc, minlength=len(bp)).astype(np.int64)
    uncovered = np.cumsum(diff, axis=0)[:-1]
    seg_of = np.searchsorted(seg_starts, bp[:-1], side="right") - 1
    counts = base[seg_of] - uncovered
    change = np.ones(len(counts), dtype=bool)
    change[1:] = (counts[1:] != counts[:-1]).any(axis=1)
    first = np.flatnonzero(change)
    last = np.append(first[1:] - 1, len(counts) - 1)
    cols: dict[str, Any] = {
        "chrom": pa.array([chrom] * len(first), pa.string()),
        "start": pa.array(bp[:-1][first], pa.int32()),
        "end": pa.array(bp[1:][last] - 1, pa.int32()),
    }
    for j, name in enumerate(coverage_columns()):
        cols[name] = pa.array(counts[first, j], pa.int32())
    return pa.table(cols, schema=coverage_schema())


def _read_gaps(gap_dirs: list[Path], chrom: str) -> pa.Table:
    files = call_files_for(gap_dirs, chrom)
    return pq.ParquetDataset(files, schema=GAPS_SCHEMA).read() if files else GAPS_SCHEMA.empty_table()


def write_coverage(
    release_dir: Path, samples: pa.Table, gap_dirs: list[Path], tracks: Iterable[pa.Table] | None = None
) -> dict[str, Any]:
    """Write a release's coverage track and record it in its ``release.json``.

    Called by the publisher once the release directory is written and before it
    is made current. ``coverage.parquet`` gets one row group per contig; the
    metadata gains ``coverage`` (samples per technology, the file) and the file's
    checksum.

    Parameters
    ----------
    release_dir
        The release directory (not yet current).
    samples
        Registry rows of the release's samples.
    gap_dirs
        Folders of ``gaps`` Parquet (``contig=C/`` partitions), one per batch.
    tracks
        The track's tables of every contig in :data:`~variantdb.genome.CONTIGS`
        order, computed already (an incremental publish sums them from the
        previous release's); ``gap_dirs`` is then not read. Default None.

    Returns
    -------
    dict
        The ``coverage`` entry written to ``release.json``.
    """
    release_dir = Path(release_dir)
    tmp = release_dir / f".{COVERAGE_FILE}.tmp"
    schema = coverage_schema()
    with pq.ParquetWriter(tmp, schema, compression="zstd") as writer:
        if tracks is None:
            tracks = (
                compute_coverage_track(chrom, _read_gaps(gap_dirs, chrom), samples) for chrom in CONTIGS
            )
        for track in tracks:
            writer.write_table(track)
    with open(tmp, "rb") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, release_dir / COVERAGE_FILE)
    techs = samples.column("technology").to_pylist()
    entry = {
        "file": COVERAGE_FILE,
        "n_samples": {"all": len(techs), **{t: sum((x or "WGS") == t for x in techs) for t in TECHNOLOGIES}},
        "definition": "samples with a confident (adj) call: ploidy > 0 and inside no no-call interval",
    }
    meta_path = release_dir / "release.json"
    meta = parse_release_meta(meta_path.read_text(), str(meta_path))
    # Only the new file is hashed: the rest of the release was checksummed when written.
    sums = dict(sorted({**meta.checksums, COVERAGE_FILE: file_sha256(release_dir / COVERAGE_FILE)}.items()))
    # Validated again (not model_copy): ``coverage`` becomes a set field, written like the others.
    meta = ReleaseMeta.model_validate({**meta.as_json(), "checksums": sums, "coverage": entry})
    tmp_meta = release_dir / ".release.json.tmp"
    write_release_meta(tmp_meta, meta)
    os.replace(tmp_meta, meta_path)
    fsync_dir(release_dir)
    return entry


@dataclass(frozen=True)
class CoverageSummary:
    """Coverage of one technology over a region."""

    technology: str
    n_samples: int
    mean: float
    min: int
    max: int
    fraction_at_least: float
    fraction_all: float

    def as_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "technology": self.technology,
            "n_samples": self.n_samples,
            "mean": round(self.mean, 4),
            "min": self.min,
            "max": self.max,
            "fraction_at_least": round(self.fraction_at_least, 6),
            "fraction_all": round(self.fraction_all, 6),
        }


class CoverageTrack:
    """A release's coverage track, read one contig at a time and kept in memory (a few contigs).

    Parameters
    ----------
    release_dir
        The release directory holding ``coverage.parquet``.
    n_samples
        Samples per technology (``release.json``'s ``coverage.n_samples``).
    max_contigs
        Contigs kept loaded. Default 4.

    Raises
    ------
    FileNotFoundError
        When the release has no coverage track (published before it existed).
    """

    def __init__(self, release_dir: Path, n_samples: dict[str, int], max_contigs: int = 4) -> None:
        self.path = Path(release_dir) / COVERAGE_FILE
        if not self.path.is_file():
            raise FileNotFoundError(f"{self.path}: the release has no coverage track")
        self.n_samples = {t: int(n_samples.get(t, 0)) for t in technology_keys()}
        self._file = pq.ParquetFile(self.path)
        self._groups: dict[str, list[int]] = {}
        chrom_col = self._file.schema_arrow.get_field_index("chrom")
        for g in range(self._file.metadata.num_row_groups):
            stats = self._file.metadata.row_group(g).column(chrom_col).statistics
            name = stats.min if stats is not None and stats.has_min_max else None
            if name is not None:
                self._groups.setdefault(str(name), []).append(g)
        self._cache: OrderedDict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = OrderedDict()
        self._max = max_contigs
        self._lock = threading.Lock()

    def _contig(self, chrom: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        with self._lock:
            hit = self._cache.get(chrom)
            if hit is not None:
                self._cache.move_to_end(chrom)
                return hit
            groups = self._groups.get(chrom, [])
            if groups:
                t = self._file.read_row_groups(groups)
            else:
                t = coverage_schema().empty_table()
            arrays = (
                t.column("start").to_numpy().astype(np.int64),
                t.column("end").to_numpy().astype(np.int64),
                np.stack([t.column(c).to_numpy() for c in coverage_columns()], axis=1).astype(np.int64)
                if t.num_rows
                else np.zeros((0, len(coverage_columns())), dtype=np.int64),
            )
            self._cache[chrom] = arrays
            while len(self._cache) > self._max:
                self._cache.popitem(last=False)
            return arrays

    def at(self, chrom: str, pos: int) -> dict[str, int] | None:
        """Return the covered samples per technology at a 1-based position, or None where the track has none."""
        starts, ends, values = self._contig(chrom)
        i = int(np.searchsorted(starts, pos, side="right")) - 1
        if i < 0 or ends[i] < pos:
            return None
        return dict(zip(technology_keys(), (int(v) for v in values[i]), strict=True))

    def _window(self, chrom: str, start: int, end: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        starts, ends, values = self._contig(chrom)
        lo = max(int(np.searchsorted(ends, start, side="left")), 0)
        hi = int(np.searchsorted(starts, end, side="right"))
        return np.maximum(starts[lo:hi], start), np.minimum(ends[lo:hi], end), values[lo:hi]

    def summary(self, chrom: str, start: int, end: int, min_samples: int = 1) -> list[CoverageSummary]:
        """Return per technology (``all`` first) the coverage of ``[start, end]`` (1-based inclusive).

        ``mean`` is covered samples averaged over the positions, ``fraction_at_least``
        the share of positions with at least ``min_samples`` covered samples of the
        technology, ``fraction_all`` the share where every sample of it is covered
        (0 when it has no sample). Positions the track does not hold count as 0.
        """
        s, e, v = self._window(chrom, start, end)
        span = end - start + 1
        width = (e - s + 1)[:, None]
        out = []
        full = len(s) > 0 and int(width.sum()) == span
        for j, tech in enumerate(technology_keys()):
            col = v[:, j] if len(v) else np.zeros(0, dtype=np.int64)
            n = self.n_samples[tech]
            w = width[:, 0]
            out.append(
                CoverageSummary(
                    technology=tech,
                    n_samples=n,
                    mean=float((col * w).sum() / span),
                    min=int(col.min()) if full else 0,
                    max=int(col.max()) if len(col) else 0,
                    fraction_at_least=float(w[col >= min_samples].sum() / span),
                    fraction_all=float(w[col >= n].sum() / span) if n > 0 else 0.0,
                )
            )
        return out

    def segments(
        self, chrom: str, start: int, end: int, offset: int = 0, limit: int = 100
    ) -> tuple[int, list[dict[str, Any]]]:
        """Return (total, page): the segments overlapping ``[start, end]``, clipped to it, from ``offset``."""
        s, e, v = self._window(chrom, start, end)
        keys = list(technology_keys())
        page = [
            {
                "start": int(s[i]),
                "end": int(e[i]),
                "covered": dict(zip(keys, (int(x) for x in v[i]), strict=True)),
            }
            for i in range(offset, min(len(s), offset + limit))
        ]
        return len(s), page
