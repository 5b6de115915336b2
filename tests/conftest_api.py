"""Helpers for the index and API tests: small releases built with write_release.

Rows are given as tiny inline tuples; every schema column is derived from them
deterministically so a test can state the exact counts it expects.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from variantdb.frequency import FAF_CONFIDENCE, faf_lambda
from variantdb.genome import CONTIG_LENGTHS, CONTIGS
from variantdb.release.files import write_release
from variantdb.schema import GROUPS, an_columns, an_schema, strata, variants_schema

__all__ = ["build_release", "full_row", "make_an_track", "make_tables"]


def _faf(suffix: str, ac: int, an: int) -> dict[str, float | None]:
    return {
        f"{f}{suffix}": float(faf_lambda(np.int64(ac), ci)) / an if an else None
        for f, ci in FAF_CONFIDENCE.items()
    }


def full_row(chrom: str, pos: int, ref: str, alt: str, ac: int, an: int, seed: int = 0) -> dict[str, Any]:
    """Return one variant row with every column of variants_schema(), derived from ac and an."""
    row: dict[str, Any] = {"chrom": chrom, "pos": pos, "ref": ref, "alt": alt}
    for g, (gac, gan) in zip(GROUPS, ((ac, an), (ac + 1, an + 2), (ac + 2, an + 4)), strict=True):
        hom = gac // 4
        row |= {
            f"ac{g}": gac,
            f"an{g}": gan,
            f"af{g}": gac / gan if gan else None,
            **_faf(g, gac, gan),
            f"homozygote_count{g}": hom,
            f"hemizygote_count{g}": 1 if chrom in ("chrX", "chrY", "chrM") else 0,
            f"n_carriers{g}": gac - hom,
        }
    for i, s in enumerate(strata()):
        s_ac = (ac + i + seed) % 3 if ac else 0
        s_an = an // 2 + i
        row |= {
            f"ac_{s.key}": s_ac,
            f"an_{s.key}": s_an,
            f"af_{s.key}": s_ac / s_an if s_an else None,
            **_faf(f"_{s.key}", s_ac, s_an),
            f"homozygote_count_{s.key}": 0,
            f"hemizygote_count_{s.key}": i % 2,
        }
    regions = [(row[f"faf95_{s.key}"], s.key.removeprefix("region_")) for s in strata() if s.kind == "region"]
    best = max((v for v, _ in regions if v is not None), default=None)
    row["n_fail"] = ac % 2
    row["n_carrier_families"] = (ac + 2) // 2
    row["faf95_max_region"] = best
    row["faf95_max_region_code"] = next(c for v, c in regions if v == best) if best else None
    return row


def make_tables(rows: list[tuple[str, int, str, str, int, int]]) -> list[pa.Table]:
    """Return the per-contig variant tables (sorted as the release contract says) of inline rows."""
    schema = variants_schema()
    full = [full_row(*r, seed=k) for k, r in enumerate(rows)]
    order = {c: i for i, c in enumerate(CONTIGS)}
    full.sort(key=lambda r: (order[r["chrom"]], r["pos"], r["ref"], r["alt"]))
    out = []
    for chrom in CONTIGS:
        part = [r for r in full if r["chrom"] == chrom]
        if part:
            out.append(pa.Table.from_pylist(part, schema=schema))
    return out


def make_an_track(
    contigs: list[str], an: int = 200, gaps: dict[str, tuple[int, int]] | None = None
) -> pa.Table:
    """Return an AN track tiling each contig with constant AN, with optional AN-0 gaps.

    Parameters
    ----------
    contigs
        Contigs to tile, whole length.
    an
        AN of the headline group; other columns are derived from it.
    gaps
        ``{chrom: (start, end)}``, 1-based inclusive, where every AN is 0 ("no data here").
    """
    gaps = gaps or {}
    cols = an_columns()
    rows = []
    for chrom in sorted(contigs, key=CONTIGS.index):
        segs: list[tuple[int, int, int]] = []
        length = CONTIG_LENGTHS[chrom]
        if chrom in gaps:
            gs, ge = gaps[chrom]
            if gs > 1:
                segs.append((1, gs - 1, an))
            segs.append((gs, ge, 0))
            if ge < length:
                segs.append((ge + 1, length, an))
        else:
            segs.append((1, length, an))
        for s, e, a in segs:
            row: dict[str, Any] = {"chrom": chrom, "start": s, "end": e}
            for i, c in enumerate(cols):
                row[c] = a + i if a else 0
            rows.append(row)
    return pa.Table.from_pylist(rows, schema=an_schema())


def build_release(
    db: Path,
    release_id: str,
    rows: list[tuple[str, int, str, str, int, int]],
    *,
    gaps: dict[str, tuple[int, int]] | None = None,
    meta: dict[str, Any] | None = None,
    make_current: bool = True,
) -> Path:
    """Write a release of inline rows with write_release; AN track tiles the chromosomes of the rows."""
    tables = make_tables(rows)
    contigs = sorted({r[0] for r in rows} | set(gaps or {}), key=CONTIGS.index)
    base_meta: dict[str, Any] = {
        "created": "2026-11-22T00:00:00Z",
        "reference": None,
        "strata": [{"key": s.key, "kind": s.kind, "value": s.value, "label": s.label} for s in strata()],
        "n_samples": 100,
        "batches": ["b1"],
        "stats": {
            "genomes": 100,
            "by_region": {"Hovedstaden": 60, "Sjælland": 40},
            "by_patient_group": {"Hereditary heart disease": 100},
            "by_sex": {"XX": 50, "XY": 50},
            "by_month": {"2026-10": 100},
        },
    }
    return write_release(
        db,
        release_id,
        tables,
        make_an_track(contigs, gaps=gaps),
        {**base_meta, **(meta or {})},
        make_current=make_current,
    )
