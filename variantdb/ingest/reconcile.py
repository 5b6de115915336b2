"""Make a staged batch's calls agree with its own no-call intervals.

A plain VCF can hold several records at one position for one sample (a
multi-allelic site written already split, as GATK joint calls and ``vt
decompose`` do). Each record is read on its own, and a no-call or non-adj
genotype in any of them removes the sample from AN at that position for every
allele there (see README "How counts are made"). A call of the same sample at
that position from a sibling record must then leave the counts too, or AC would
count alleles AN does not:

- inside a raw no-call interval of its sample (``gaps`` row, ``raw=True``) the
  call is dropped (from AC, homozygotes, carriers, raw and adj alike) and
  counted in the file's report as ``calls_at_no_call_positions``;
- inside an adj-only interval (a genotype below the thresholds) it is kept as a
  non-adj call (raw counts only), counted as ``calls_at_non_adj_positions``.

gVCF samples need nothing: their AN comes from what their records cover, and a
call covers its own position. Run once the batch's calls and gaps are staged.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from variantdb.ingest.vcf import FileReport
from variantdb.release.aggregate import union_per_sample
from variantdb.schema import GAPS_SCHEMA

__all__ = ["reconcile_calls"]


def reconcile_calls(staging: Path, reports: list[FileReport], file_of: dict[int, str]) -> None:
    """Drop (or mark non-adj) staged calls of plain-VCF samples lying in their own no-call intervals.

    Parameters
    ----------
    staging
        The batch's staging folder (``calls/`` and ``gaps/`` written).
    reports
        One report per input file; ``gvcf`` tells the file's kind, and the
        counts of changed calls are added to its ``skipped``.
    file_of
        Input file (as in ``FileReport.path``) of each sample's registry number.
    """
    gvcf = {rep.path: rep.gvcf for rep in reports}
    plain = np.array(sorted(i for i, f in file_of.items() if not gvcf.get(f, False)), dtype=np.int64)
    if plain.size == 0:
        return
    counts: dict[str, Counter[str]] = {}
    for folder in sorted((staging / "gaps").glob("contig=*")):
        files = sorted(str(p) for p in folder.rglob("*.parquet"))
        call_dir = staging / "calls" / folder.name
        if not files or not call_dir.exists():
            continue
        gaps = pq.ParquetDataset(
            files, schema=GAPS_SCHEMA, filters=[("sample_idx", "in", plain.tolist())]
        ).read()
        if gaps.num_rows == 0:
            continue
        rows = gaps.column("sample_idx").to_numpy().astype(np.int64)
        starts = gaps.column("start").to_numpy().astype(np.int64)
        ends = gaps.column("end").to_numpy().astype(np.int64)
        raw = gaps.column("raw").to_numpy(zero_copy_only=False).astype(bool)
        any_gap = union_per_sample(rows, starts, ends)
        raw_gap = union_per_sample(rows[raw], starts[raw], ends[raw])
        for part in sorted(call_dir.rglob("*.parquet")):
            _reconcile_part(part, any_gap, raw_gap, file_of, counts)
    for rep in reports:
        for name, n in counts.get(rep.path, Counter()).items():
            rep.skipped[name] += n


def _inside(
    sidx: np.ndarray, pos: np.ndarray, union: tuple[np.ndarray, np.ndarray, np.ndarray]
) -> np.ndarray:
    """Return which (sample, position) pairs lie in the sample's merged intervals."""
    rows, starts, ends = union
    if rows.size == 0:
        return np.zeros(len(sidx), dtype=bool)
    # Merged intervals of one sample do not overlap: sorted by (sample, start), the
    # candidate is the last interval starting at or before the position.
    order = np.lexsort((starts, rows))
    rows, starts, ends = rows[order], starts[order], ends[order]
    key = (rows << 33) + starts
    at = np.searchsorted(key, (sidx << 33) + pos, side="right") - 1
    ok = at >= 0
    at = np.maximum(at, 0)
    found: np.ndarray = ok & (rows[at] == sidx) & (ends[at] >= pos)
    return found


def _reconcile_part(
    part: Path,
    any_gap: tuple[np.ndarray, np.ndarray, np.ndarray],
    raw_gap: tuple[np.ndarray, np.ndarray, np.ndarray],
    file_of: dict[int, str],
    counts: dict[str, Counter[str]],
) -> None:
    table = pq.read_table(part)
    if table.num_rows == 0:
        return
    sidx = table.column("sample_idx").to_numpy().astype(np.int64)
    pos = table.column("pos").to_numpy().astype(np.int64)
    drop = _inside(sidx, pos, raw_gap)
    adj = table.column("adj").to_numpy(zero_copy_only=False).astype(bool)
    demote = adj & ~drop & _inside(sidx, pos, any_gap)
    if not drop.any() and not demote.any():
        return
    for name, mask in (("calls_at_no_call_positions", drop), ("calls_at_non_adj_positions", demote)):
        for s, n in zip(*np.unique(sidx[mask], return_counts=True), strict=True):
            counts.setdefault(file_of[int(s)], Counter())[name] += int(n)
    if demote.any():
        table = table.set_column(
            table.schema.get_field_index("adj"), table.schema.field("adj"), pa.array(adj & ~demote)
        )
    table = table.filter(pc.invert(pa.array(drop)))
    tmp = part.with_suffix(".tmp")
    pq.write_table(table, tmp, compression="zstd")
    tmp.replace(part)
