"""Generate a synthetic release of N variants directly (no genotypes), for the lookup benchmark.

The release has the real layout and schema (``variants_schema()``, ``an.parquet``,
``index/``, ``release.json``, ``CURRENT``) so the service and the peers read it
exactly as they read a loaded one. Counts imitate a 60,000-genome cohort: AN near
120,000, AC heavy-tailed (most variants rare), strata splitting AC and AN.

Each contig is written in chunks of at most ``CHUNK`` rows through a Parquet
writer, so memory stays bounded at 100M variants.

    python benchmarks/synthetic_release.py --db /tmp/bench100m --n 100000000
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import shutil
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from variantdb.frequency import FAF_CONFIDENCE, faf_column, faf_max_columns
from variantdb.genome import CONTIG_LENGTHS, CONTIGS
from variantdb.release.files import set_current
from variantdb.release.index import build_index
from variantdb.schema import GROUPS, an_columns, an_schema, strata, variants_schema
from variantdb.store.layout import release_path, variants_file

CHUNK = 2_000_000
GENOMES = 60_000
_BASES = np.array(list("ACGT"))


def _alleles(rng: np.random.Generator, k: int) -> tuple[np.ndarray, np.ndarray]:
    ref = _BASES[rng.integers(0, 4, k)]
    kind = rng.random(k)
    shift = rng.integers(1, 4, k)
    snv_alt = _BASES[(np.searchsorted(_BASES, ref) + shift) % 4]
    ins = np.char.add(ref, np.array(["C", "TA"])[rng.integers(0, 2, k)])
    dels_ref = np.char.add(ref, np.array(["G", "TC", "AAT"])[rng.integers(0, 3, k)])
    alt = np.where(kind < 0.85, snv_alt, np.where(kind < 0.93, ins, ref))
    ref = np.where(kind < 0.93, ref, dels_ref)
    return ref.astype(str), alt.astype(str)


def _chunk(rng: np.random.Generator, chrom: str, lo: int, hi: int, k: int) -> pa.Table:
    """Variants with positions in ``[lo, hi)``, sorted by (pos, ref, alt)."""
    pos = np.unique(rng.integers(lo, hi, k))
    ref, alt = _alleles(rng, len(pos))
    # About 5% of sites carry a second allele (a 3-base insertion, never equal to the first).
    extra = pos[rng.random(len(pos)) < 0.05]
    eref = _BASES[rng.integers(0, 4, len(extra))]
    pos = np.concatenate([pos, extra])
    ref = np.concatenate([ref, eref])
    alt = np.concatenate([alt, np.char.add(eref, "GGA")])
    order = np.lexsort((alt, ref, pos))
    pos, ref, alt = pos[order], ref[order], alt[order]
    n = len(pos)
    cols: dict[str, Any] = {
        "chrom": pa.array(np.full(n, chrom)),
        "pos": pos.astype(np.int32),
        "ref": pa.array(ref),
        "alt": pa.array(alt),
    }
    hap = chrom in ("chrX", "chrY", "chrM")
    an = (2 * GENOMES - rng.integers(0, 2000, n)).astype(np.int32)
    ac = np.minimum(rng.zipf(1.7, n), an).astype(np.int32)
    hom = rng.binomial(ac // 2, 0.1).astype(np.int32)
    hemi = (rng.binomial(ac - 2 * hom, 0.3) if hap else np.zeros(n)).astype(np.int32)
    for g, (dac, dan) in zip(
        GROUPS, ((0, 0), (rng.integers(0, 3, n), 400), (rng.integers(0, 5, n), 30_000)), strict=True
    ):
        gac = (ac + dac).astype(np.int32)
        gan = (an + dan).astype(np.int32)
        cols |= {
            f"ac{g}": gac,
            f"an{g}": gan,
            f"af{g}": gac / gan,
            **{f"{f}{g}": faf_column(gac, gan, ci) for f, ci in FAF_CONFIDENCE.items()},
            f"homozygote_count{g}": hom,
            f"hemizygote_count{g}": hemi,
            f"n_carriers{g}": (gac - hom - hemi // 2).astype(np.int32),
        }
    fractions = {"sex": [0.5, 0.5], "region": [0.3, 0.15, 0.22, 0.23, 0.1], "patient_group": [0.1] * 10}
    by_kind: dict[str, list[Any]] = {}
    for s in strata():
        by_kind.setdefault(s.kind, []).append(s)
    for kind, members in by_kind.items():
        left = ac.copy()
        share_left = 1.0
        for i, s in enumerate(members):
            f = fractions[kind][i]
            s_ac = left if i == len(members) - 1 else rng.binomial(left, min(1.0, f / share_left))
            left = left - s_ac
            share_left -= f
            s_an = (an * f).astype(np.int32)
            s_ac = np.minimum(s_ac, s_an).astype(np.int32)
            cols |= {
                f"ac_{s.key}": s_ac,
                f"an_{s.key}": s_an,
                f"af_{s.key}": np.where(s_an > 0, s_ac / np.maximum(s_an, 1), np.nan),
                **{f"{f}_{s.key}": faf_column(s_ac, s_an, ci) for f, ci in FAF_CONFIDENCE.items()},
                f"homozygote_count_{s.key}": np.minimum(hom, s_ac // 2).astype(np.int32),
                f"hemizygote_count_{s.key}": np.minimum(hemi, s_ac).astype(np.int32),
            }
    cols["n_fail"] = rng.binomial(ac, 0.05).astype(np.int32)
    cols["n_carrier_families"] = np.maximum(cols["n_carriers_all"] - rng.binomial(ac, 0.1), 0).astype(
        np.int32
    )
    regions = [s for s in strata() if s.kind == "region"]
    cols["faf95_max_region"], cols["faf95_max_region_code"] = faf_max_columns(
        [cols[f"faf95_{s.key}"] for s in regions], [s.key.removeprefix("region_") for s in regions], n
    )
    schema = variants_schema()
    arrays = [pa.array(cols[f.name], type=f.type, from_pandas=True) for f in schema]
    return pa.Table.from_arrays(arrays, schema=schema)


def _an_track(rng: np.random.Generator, contigs: list[str]) -> pa.Table:
    """Segments of about 200 kb with varying AN; every 50th segment has AN 0 (no data)."""
    out: dict[str, list[Any]] = {"chrom": [], "start": [], "end": []}
    cols = an_columns()
    for c in cols:
        out[c] = []
    for chrom in contigs:
        length = CONTIG_LENGTHS[chrom]
        bounds = np.unique(
            np.concatenate([[1, length + 1], rng.integers(2, length, max(1, length // 200_000))])
        )
        for j, (s, e) in enumerate(itertools.pairwise(bounds)):
            out["chrom"].append(chrom)
            out["start"].append(int(s))
            out["end"].append(int(e) - 1)
            base = 0 if j % 50 == 49 else 2 * GENOMES - int(rng.integers(0, 2000))
            for i, c in enumerate(cols):
                out[c].append(base if c in ("an", "an_raw", "an_all") else base // (3 + i % 5))
    return pa.Table.from_pydict(out, schema=an_schema())


def write_synthetic_release(db: Path, release_id: str, n: int, seed: int = 1) -> dict[str, Any]:
    """Write a synthetic release of about ``n`` variants into ``db`` and make it current.

    Returns
    -------
    dict
        Timings (generate+write, index build) and the exact variant count.
    """
    rng = np.random.default_rng(seed)
    db = Path(db)
    final = release_path(db, release_id)
    tmp = final.parent / f".tmp-{release_id}"
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / "variants").mkdir(parents=True)
    total = sum(CONTIG_LENGTHS.values())
    t0 = time.perf_counter()
    counts: dict[str, int] = {}
    for chrom in CONTIGS:
        length = CONTIG_LENGTHS[chrom]
        # 5% extra alleles are added per site, so sites are drawn for n / 1.05 in all.
        k_total = max(1, round(n / 1.05 * length / total))
        n_chunks = max(1, -(-k_total // CHUNK))
        part = variants_file(tmp, chrom)
        part.parent.mkdir(exist_ok=True)
        writer = pq.ParquetWriter(part, variants_schema(), compression="zstd")
        rows = 0
        for j in range(n_chunks):
            lo = 1 + j * length // n_chunks
            hi = 1 + (j + 1) * length // n_chunks
            table = _chunk(rng, chrom, lo, min(hi, length - 10), k_total // n_chunks)
            writer.write_table(table, row_group_size=1 << 17)
            rows += table.num_rows
        writer.close()
        counts[chrom] = rows
    pq.write_table(_an_track(rng, list(CONTIGS)), tmp / "an.parquet", compression="zstd")
    t1 = time.perf_counter()
    build_index(tmp)
    t2 = time.perf_counter()
    meta = {
        "id": release_id,
        "created": datetime.now(UTC).isoformat(),
        "reference": None,
        "n_variants": sum(counts.values()),
        "contigs": counts,
        "strata": [s.key for s in strata()],
        "samples": GENOMES,
        "batches": 1,
        "synthetic": True,
        "stats": {"genomes": GENOMES},
        "checksums": {},
    }
    (tmp / "release.json").write_text(json.dumps(meta, indent=1))
    os.replace(tmp, final)
    set_current(db, release_id)
    return {"n_variants": meta["n_variants"], "write_s": t1 - t0, "index_s": t2 - t1}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--db", type=Path, required=True)
    ap.add_argument("--n", type=int, required=True)
    ap.add_argument("--id", default="r0001")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    print(json.dumps(write_synthetic_release(args.db, args.id, args.n, args.seed)))


if __name__ == "__main__":
    main()
