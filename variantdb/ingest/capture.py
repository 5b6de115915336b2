"""Apply the capture BEDs of exome and panel samples to a staged batch.

Reading: a sample whose manifest row has a ``capture_bed`` counts toward AN only
inside its capture regions (afquery's technology-aware AN). The rules:

- **Plain VCF/BCF samples**: outside the BED the sample has no call. The BED's
  complement on every loaded contig is written as raw no-call intervals
  (``gaps`` rows, ``raw=True``), so it leaves AN (raw and adj) there, and any
  call it has outside the BED is dropped from the counts (AC, homozygotes,
  carriers) and counted in the file's report as ``calls_outside_capture_bed``:
  a genotype where the sample is not counted in AN would make AC exceed what AN
  allows, and off-target calls of a capture are the poorest there are. This is
  what ``bcftools +setGT`` to missing outside each sample's BED, then
  ``+fill-tags``, counts, and what afquery 0.6 does (it counts only the samples
  its technology's BED covers, in AC as in AN); tests/test_capture.py checks
  both, site by site.
- **gVCF samples**: the gVCF's own reference blocks and calls say where the
  sample was called, so they take precedence and the BED is not applied (it is
  still read and validated). A gVCF's blocks already end where the reads end.

BEDs are read and validated before any genotype is read, so a bad BED refuses
the batch at once, naming file, line, field and value.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from variantdb.genome import CONTIGS
from variantdb.ingest.capture_regions import CaptureBedError, CaptureRegions, read_capture_bed
from variantdb.ingest.vcf import FileReport, LoadError, PartWriter
from variantdb.manifest import SampleRecord
from variantdb.schema import GAPS_SCHEMA
from variantdb.settings import Settings

__all__ = ["apply_capture_beds", "read_capture_beds"]


def read_capture_beds(records: list[SampleRecord]) -> dict[Path, CaptureRegions]:
    """Read and validate every capture BED the manifest names (each file once).

    Raises
    ------
    LoadError
        Listing every bad BED with the manifest line of a sample naming it.
    """
    out: dict[Path, CaptureRegions] = {}
    problems: list[str] = []
    for r in records:
        if r.capture_bed is None or r.capture_bed in out:
            continue
        try:
            out[r.capture_bed] = read_capture_bed(r.capture_bed)
        except CaptureBedError as e:
            problems.append(f"manifest line {r.line} (sample {r.sample_id}): {e}")
    if problems:
        raise LoadError("\n".join(problems))
    return out


def apply_capture_beds(
    beds: dict[Path, CaptureRegions],
    records: list[SampleRecord],
    sample_idx: dict[str, int],
    reports: list[FileReport],
    staging: Path,
    settings: Settings,
) -> None:
    """Restrict the staged batch's non-gVCF samples that have a capture BED to it.

    Writes the BEDs' complements as raw gaps under ``staging/gaps`` and rewrites
    the staged call files without the calls of those samples outside their BED.

    Parameters
    ----------
    beds
        From :func:`read_capture_beds`.
    records
        The batch's manifest rows.
    sample_idx
        Registry number of each sample id.
    reports
        One report per input file (``gvcf`` tells the file's kind); the files of
        restricted samples get ``skipped["calls_outside_capture_bed"]``.
    staging
        The batch's staging folder (``calls/`` and ``gaps/`` already written).
    settings
        ``batch_rows`` for the gap writer.
    """
    gvcf = {rep.path: rep.gvcf for rep in reports}
    restricted = [r for r in records if r.capture_bed is not None and not gvcf.get(str(r.vcf), False)]
    if not restricted:
        return
    gaps = PartWriter(staging / "gaps", GAPS_SCHEMA, "capture", None, settings.batch_rows)
    try:
        for r in restricted:
            sidx = sample_idx[r.sample_id]
            bed = beds[r.capture_bed]  # type: ignore[index]
            for chrom in CONTIGS:
                for s, e in bed.complement(chrom):
                    gaps.add(chrom, s, (sidx, chrom, s, e, True))
    finally:
        gaps.close()
    by_idx = {sample_idx[r.sample_id]: beds[r.capture_bed] for r in restricted}  # type: ignore[index]
    file_of = {sample_idx[r.sample_id]: str(r.vcf) for r in restricted}
    dropped = _drop_calls_outside(staging / "calls", by_idx, file_of)
    for rep in reports:
        if dropped.get(rep.path):
            rep.skipped["calls_outside_capture_bed"] += dropped[rep.path]


def _drop_calls_outside(
    calls_dir: Path, beds: dict[int, CaptureRegions], file_of: dict[int, str]
) -> Counter[str]:
    """Rewrite staged call files without restricted samples' calls outside their BED; count by input file."""
    dropped: Counter[str] = Counter()
    keys = np.array(sorted(beds), dtype=np.int64)
    for part in sorted(calls_dir.rglob("*.parquet")):
        pf = pq.ParquetFile(part)
        table = pf.read()
        if table.num_rows == 0:
            continue
        chrom = table.column("chrom")[0].as_py()  # one contig per partition folder
        sidx = table.column("sample_idx").to_numpy().astype(np.int64)
        pos = table.column("pos").to_numpy().astype(np.int64)
        keep = np.ones(table.num_rows, dtype=bool)
        hit = np.isin(sidx, keys)
        for s in np.unique(sidx[hit]).tolist():
            rows = np.flatnonzero(sidx == s)
            outside = rows[~beds[s].contains(chrom, pos[rows])]
            if outside.size:
                keep[outside] = False
                dropped[file_of[s]] += int(outside.size)
        if keep.all():
            continue
        kept = table.filter(keep)
        tmp = part.with_suffix(".tmp")
        pq.write_table(kept, tmp, compression="zstd")
        tmp.replace(part)
    return dropped
