"""Writing the sub-cohort structures of a release: per-batch carrier segments, their merging, the row keys.

Counts for any sub-cohort, at query time: carriers per variant, sample metadata, no-call intervals.

The stored strata answer "by sex", "by region", "by patient group" one at a time.
A lab also asks for combinations the release did not foresee: XX founders in
Midtjylland with hereditary heart disease received in 2025, exomes only, parents
only. Re-aggregating the genotypes per question would take minutes; afquery
answers such questions with per-genotype sample bitmaps. This module does it
with structures written beside a release's variant table at publish time, in
``release_dir/subcohort/``:

``samples.parquet``
    One row per counted sample, in registry order (the *cohort row*): sex,
    region, patient group, technology, founder / parent flags, date received
    and a family number. No sample id or registry number: the file says what a
    sample is, never who.
``variant_key.npy``, ``variant_hash.npy``
    Per release variant row (the row numbers :class:`variantdb.release.index.ReleaseIndex`
    returns): its key (contig, position, top bits of the allele hash; see
    :func:`variant_keys`) and the 64-bit allele hash (:func:`allele_hash`).
``segments/NNNN/``
    One segment per batch, in load order (a batch with no call or gap left, all
    its samples withdrawn, has none), holding that batch's samples only:
    ``key.npy`` and ``hash.npy`` name each variant the batch carries (sorted),
    ``offsets.npy`` / ``crows.npy`` / ``codes.npy`` are a CSR of its carriers
    (cohort rows, in row order) with one code byte each: alt dosage (bits 0-1),
    haploid (bit 2), adj (bit 3), FILTER pass (bit 4);
    ``gaps_{adj,raw}_{key,start,end,row}.npy`` are the no-call intervals
    (1-based, inclusive) of its samples, merged per sample: ``adj`` where the
    sample has no call passing adj (any gap), ``raw`` where it has no call at
    all. Each interval is filed in the smallest bin of a hierarchy (1 kb, 8 kb,
    ... 256 Mb; tabix's scheme) that contains it, sorted by
    ``key = contig << 48 | level << 40 | bin``, so the intervals covering a
    position are found in seven contiguous slices, and those overlapping a
    region in seven slices too.

A segment depends on its batches' files and the cohort rows of their samples
only, never on the release's variant rows: the next release hard-links the
previous release's segments and writes one for the new batch
(:func:`extend_subcohort`), so publishing a batch does not copy the carriers of
those loaded before it. As in a log-structured merge tree, when the last
``subcohort_merge_fanout`` (4) segments are of the newest one's size tier or
below they are merged into one (:func:`_compact`, streamed, at most
``subcohort_merge_max_entries`` per publish), which keeps the segments a query
searches few. A full rebuild applies the same merges batch by batch, so it
writes the same files. A withdrawal renumbers cohort rows and rewrites every
segment.

At query time a filter becomes a boolean mask over cohort rows (cached per
filter); AC, homozygotes, hemizygotes and carriers are masked sums over a
variant's carriers in every segment (one binary search per segment), and AN is the ploidy (sex, contig, PAR) of the masked
samples minus that of the masked samples with a gap at the position. With the
default filter (founders, adj) the figures are the release's headline ones;
with one sex, region or patient group they are its stored stratum.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from variantdb.genome import CONTIG_INDEX, CONTIGS
from variantdb.release.aggregate import Cohort, _union_per_sample, call_files_for
from variantdb.schema import GAPS_SCHEMA
from variantdb.store.layout import literal_paths

__all__ = ["SUBCOHORT_VERSION", "allele_hash", "extend_subcohort", "variant_keys", "write_subcohort"]

#: Version of the files under ``release_dir/subcohort/``.
SUBCOHORT_VERSION: Final = 2
_DIR: Final = "subcohort"
_SEGMENTS: Final = "segments"
# A segment's carrier arrays: key and allele hash per variant entry, CSR offsets, cohort row and code per carrier.
_SEGMENT_ARRAYS: Final = {
    "key": np.uint64,
    "hash": np.uint64,
    "offsets": np.int64,
    "crows": np.uint32,
    "codes": np.uint8,
}
_DOSAGE: Final = 0b11
_HAPLOID: Final = 1 << 2
_ADJ: Final = 1 << 3
_PASS: Final = 1 << 4
# Bin levels: 1 kb up to 256 Mb (one bin holds the longest contig, chr1 at 249 Mb).
_SHIFTS: Final = np.array([10, 13, 16, 19, 22, 25, 28], dtype=np.int64)
_LEVELS: Final = np.arange(len(_SHIFTS), dtype=np.int64)
_NCODES: Final = 32
_CODES: Final = np.arange(_NCODES, dtype=np.int64)
# Per code byte: alt alleles, homozygous (diploid, dosage 2), hemizygous (haploid).
_CODE_DOSAGE: Final = _CODES & _DOSAGE
_CODE_HOM: Final = (((_CODES & _DOSAGE) == 2) & ((_CODES & _HAPLOID) == 0)).astype(np.int64)
_CODE_HEMI: Final = ((_CODES & _HAPLOID) != 0).astype(np.int64)
_KINDS: Final = ("adj", "raw")
_GAP_DTYPES: Final = (np.int64, np.int32, np.int32, np.uint32)
_CACHE: Final = 256


# --------------------------------------------------------------------------- building


def _sample_table(samples: pa.Table, cohort: Cohort) -> pa.Table:
    """Per cohort row: the metadata a filter reads, never an id."""
    rows = sorted(samples.to_pylist(), key=lambda r: r["sample_idx"])
    ids = {r["sample_id"] for r in rows}
    parents = {p for r in rows for p in (r.get("father_id"), r.get("mother_id")) if p in ids}
    named = {f: i for i, f in enumerate(sorted({r["family_id"] for r in rows if r.get("family_id")}))}
    family = [named[r["family_id"]] if r.get("family_id") else len(named) + i for i, r in enumerate(rows)]
    return pa.table(
        {
            "sex": pa.array([r["sex"] for r in rows], pa.string()),
            "region": pa.array([r.get("region") for r in rows], pa.string()),
            "patient_group": pa.array([r.get("patient_group") for r in rows], pa.string()),
            "technology": pa.array([r.get("technology") or "WGS" for r in rows], pa.string()),
            "founder": pa.array(cohort.founder.tolist(), pa.bool_()),
            "parent": pa.array([r["sample_id"] in parents for r in rows], pa.bool_()),
            "received": pa.array([r.get("received") for r in rows], pa.date32()),
            "family": pa.array(family, pa.int32()),
        }
    )


def allele_hash(ref: str, alt: str) -> int:
    """Return the 64-bit hash naming an allele at its position: the first 8 bytes of MD5 of ``REF>ALT``, big-endian.

    The segments name variants by position and this hash, never by release row,
    so a segment written for one release serves every later one unchanged.
    DuckDB computes the same value (:data:`_HASH_SQL`); the two are tested equal.
    """
    return int.from_bytes(hashlib.md5(f"{ref}>{alt}".encode()).digest()[:8], "big")


# The same hash in DuckDB: MD5 is a fixed function, its hex digest read as an unsigned integer.
_HASH_SQL: Final = "('0x' || md5(ref || '>' || alt)[1:16])::UBIGINT"
_PROBE: Final = ("A", "G")


def variant_keys(cidx: int, pos: np.ndarray, h: np.ndarray) -> np.ndarray:
    """Return the sort key of variants: contig (5 bits), position (28 bits), top 31 bits of the allele hash.

    Sorting a contig's variants by (position, hash) sorts them by (key, hash), so
    a variant is found in a segment by one binary search on the key and a check
    of the full hash (keys of two alleles at one position collide once in 2^31).
    """
    p = np.asarray(pos)
    if len(p) and (int(p.min()) < 1 or int(p.max()) >= 1 << 28):
        raise ValueError(f"position {int(p.max())} outside 1..2^28-1 cannot be keyed")
    key: np.ndarray = (
        (np.uint64(cidx) << np.uint64(59))
        | (p.astype(np.uint64) << np.uint64(31))
        | (np.asarray(h, dtype=np.uint64) >> np.uint64(33))
    )
    return key


def _segment_sql() -> str:
    # One call per sample and variant, exactly as variantdb.release.aggregate counts it, in key order;
    # within a variant by cohort row.
    return (
        "SELECT pos, h, s.crow, c.dosage, c.ploidy, c.adj, c.filter_pass FROM"
        " (SELECT sample_idx, pos, ('0x' || md5(ref || '>' || alt)[1:16])::UBIGINT AS h,"
        " max(dosage) AS dosage, max(ploidy) AS ploidy,"
        " bool_or(adj) AS adj, bool_or(filter_pass) AS filter_pass"
        " FROM read_parquet(?) GROUP BY sample_idx, pos, ref, alt) c"
        " JOIN crows s ON c.sample_idx = s.sample_idx"
        " ORDER BY pos, h, s.crow"
    )


def _release_keys_sql() -> str:
    return "SELECT pos, ('0x' || md5(ref || '>' || alt)[1:16])::UBIGINT AS h FROM read_parquet(?)"


def _hash_probe(con: duckdb.DuckDBPyConnection) -> int:
    """Return the allele hash of A>G as DuckDB computes it now (a changed hash would orphan old segments)."""
    rows = con.sql("SELECT ('0x' || md5($1)[1:16])::UBIGINT", params=[">".join(_PROBE)]).fetchall()
    return int(rows[0][0])


def _bin_keys(cidx: int, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Return the key of the smallest bin holding each interval (1-based inclusive)."""
    s = starts.astype(np.int64)[:, None] >> _SHIFTS[None, :]
    e = ends.astype(np.int64)[:, None] >> _SHIFTS[None, :]
    level = np.argmax(s == e, axis=1).astype(np.int64)
    b = s[np.arange(len(level)), level]
    key: np.ndarray = (np.int64(cidx) << 48) | (level << 40) | b
    return key


def _start_output(out: Path, samples: pa.Table, cohort: Cohort, memory_mb: int) -> duckdb.DuckDBPyConnection:
    """Write the sample table; return a DuckDB connection holding ``crows`` (cohort rows)."""
    out.mkdir(parents=True, exist_ok=True)
    pq.write_table(_sample_table(samples, cohort), out / "samples.parquet", compression="zstd")
    con = duckdb.connect()
    con.execute("SET memory_limit = $1", [f"{int(memory_mb)}MB"])
    con.register(
        "crows",
        pa.table(
            {
                "sample_idx": pa.array(cohort.sample_idx, pa.int32()),
                "crow": pa.array(np.arange(cohort.size), pa.int32()),
            }
        ),
    )
    return con


def _write_release_keys(con: duckdb.DuckDBPyConnection, release_dir: Path, out: Path) -> int:
    """Write the key and allele hash of every variant row of the release (one pass); return the rows.

    Raises
    ------
    ValueError
        Two alleles at one position share a 64-bit hash (never seen; the
        sub-cohort counts could not tell them apart).
    """
    from variantdb.store.layout import variants_file

    key_w = _Appender(out / "variant_key.npy", np.uint64)
    hash_w = _Appender(out / "variant_hash.npy", np.uint64)
    n = 0
    try:
        for chrom in CONTIGS:
            vfile = variants_file(release_dir, chrom)
            if not vfile.exists():
                continue
            t = con.sql(_release_keys_sql(), params=literal_paths([vfile])).to_arrow_table()
            pos = t.column("pos").to_numpy()
            h = t.column("h").to_numpy()
            order = np.lexsort((h, pos))
            same = (pos[order][1:] == pos[order][:-1]) & (h[order][1:] == h[order][:-1])
            if same.any():
                at = int(pos[order][1:][same][0])
                raise ValueError(f"{vfile}: two alleles at {chrom}:{at} share a 64-bit allele hash")
            key_w.add(variant_keys(CONTIG_INDEX[chrom], pos, h))
            hash_w.add(h)
            n += len(pos)
    except BaseException:
        key_w.abort()
        hash_w.abort()
        raise
    key_w.close()
    hash_w.close()
    return n


class _SegmentWriter:
    """Stream a segment's arrays to disk: carriers in key order, then or meanwhile no-call bins."""

    def __init__(self, seg: Path) -> None:
        self.seg = seg
        seg.mkdir(parents=True, exist_ok=True)
        self.arrays = {name: _Appender(seg / f"{name}.npy", dtype) for name, dtype in _SEGMENT_ARRAYS.items()}
        self.gaps = {
            kind: [
                _Appender(seg / f"gaps_{kind}_{name}.npy", dtype)
                for name, dtype in zip(("key", "start", "end", "row"), _GAP_DTYPES, strict=True)
            ]
            for kind in _KINDS
        }
        self.writers = [*self.arrays.values(), *self.gaps["adj"], *self.gaps["raw"]]
        self.n_entries = self.n_carriers = 0
        self.maxdup = 1
        self.arrays["offsets"].add(np.zeros(1, dtype=np.int64))

    def add_carriers(self, key: np.ndarray, h: np.ndarray, crows: np.ndarray, codes: np.ndarray) -> None:
        """Append carriers sorted by (key, hash, cohort row), one per row; no variant may continue later."""
        if len(key) == 0:
            return
        first = np.ones(len(key), dtype=bool)
        first[1:] = (key[1:] != key[:-1]) | (h[1:] != h[:-1])
        starts = np.flatnonzero(first)
        ekey = key[starts]
        edges = np.flatnonzero(np.concatenate([[True], ekey[1:] != ekey[:-1], [True]]))
        self.maxdup = max(self.maxdup, int(np.diff(edges).max()))
        self.arrays["key"].add(ekey)
        self.arrays["hash"].add(h[starts])
        self.arrays["offsets"].add(self.n_carriers + np.append(starts[1:], len(key)))
        self.arrays["crows"].add(crows)
        self.arrays["codes"].add(codes)
        self.n_entries += len(starts)
        self.n_carriers += len(key)

    def add_gaps(self, kind: str, arrays: Sequence[np.ndarray]) -> None:
        """Append no-call bins (key, start, end, row) sorted by (key, start, row)."""
        for writer, arr in zip(self.gaps[kind], arrays, strict=True):
            writer.add(arr)

    def abort(self) -> None:
        for w in self.writers:
            w.abort()

    def close(self) -> dict[str, Any]:
        """Write the files and ``segment.json``; return what it records."""
        for w in self.writers:
            w.close()
        meta = {
            "n_variants": self.n_entries,
            "n_carriers": self.n_carriers,
            "n_gaps": {kind: self.gaps[kind][0].n for kind in _KINDS},
            "maxdup": self.maxdup,
        }
        (self.seg / "segment.json").write_text(json.dumps(meta, indent=1))
        return meta


def _write_segment(
    con: duckdb.DuckDBPyConnection, seg: Path, call_dirs: list[Path], gap_dirs: list[Path], cohort: Cohort
) -> dict[str, Any]:
    """Write the carriers and no-call bins of some batches (usually one) into ``seg``; return its record.

    A function of the batches' files and the cohort rows of their samples only:
    the same batch gives the same bytes in every release that counts it, so a
    later release links the files instead of writing them again.
    """
    w = _SegmentWriter(seg)
    try:
        for chrom in CONTIGS:
            cidx = CONTIG_INDEX[chrom]
            # Bin groups are disjoint position spans in order, so the key order holds across them.
            for _, _, files in _call_groups(con, call_files_for(call_dirs, chrom)):
                t = con.sql(_segment_sql(), params=[literal_paths(files)]).to_arrow_table()
                pos = t.column("pos").to_numpy()
                h = t.column("h").to_numpy()
                w.add_carriers(variant_keys(cidx, pos, h), h, t.column("crow").to_numpy(), _carrier_codes(t))
            for kind, parts in _contig_gaps(chrom, call_files_for(gap_dirs, chrom), cohort).items():
                w.add_gaps(kind, parts)
    except BaseException:
        w.abort()
        raise
    return w.close()


def _chunks(key: np.ndarray, size: int) -> list[Any]:
    """Return key values splitting a sorted key array into chunks of about ``size`` rows (None: the end)."""
    return [*np.unique(np.asarray(key[size::size])).tolist(), None]


def _merge_segments(srcs: list[Path], dst: Path, chunk: int = 1 << 20) -> dict[str, Any]:
    """Merge segments into one at ``dst``, streamed by key range; return its record.

    The result equals :func:`_write_segment` of all their batches at once (tested).
    Carriers are merged in (key, hash, cohort row) order and no-call bins in
    (key, start, row) order, a key range at a time (``chunk`` rows of the largest
    segment), so memory stays near one chunk whatever the segments hold.
    """
    parts = [
        {name: np.load(src / f"{name}.npy", mmap_mode="r") for name in _SEGMENT_ARRAYS}
        | {
            f"gaps_{kind}_{n}": np.load(src / f"gaps_{kind}_{n}.npy", mmap_mode="r")
            for kind in _KINDS
            for n in ("key", "start", "end", "row")
        }
        for src in srcs
    ]
    w = _SegmentWriter(dst)
    try:
        big = max(parts, key=lambda p: len(p["key"]))["key"]
        lo = [0] * len(parts)
        for bound in _chunks(big, chunk):
            keys, hashes, crows, codes = [], [], [], []
            for i, p in enumerate(parts):
                a = lo[i]
                b = len(p["key"]) if bound is None else int(p["key"].searchsorted(np.uint64(bound)))
                lo[i] = b
                if b == a:
                    continue
                off = np.asarray(p["offsets"][a : b + 1], dtype=np.int64)
                lens = np.diff(off)
                keys.append(np.repeat(np.asarray(p["key"][a:b]), lens))
                hashes.append(np.repeat(np.asarray(p["hash"][a:b]), lens))
                crows.append(np.asarray(p["crows"][off[0] : off[-1]]))
                codes.append(np.asarray(p["codes"][off[0] : off[-1]]))
            if keys:
                k, h, c, d = (np.concatenate(x) for x in (keys, hashes, crows, codes))
                order = np.lexsort((c, h, k))
                w.add_carriers(k[order], h[order], c[order], d[order])
        for kind in _KINDS:
            names = [f"gaps_{kind}_{n}" for n in ("key", "start", "end", "row")]
            big = max(parts, key=lambda p: len(p[names[0]]))[names[0]]
            lo = [0] * len(parts)
            for bound in _chunks(big, chunk):
                cols: list[list[np.ndarray]] = [[], [], [], []]
                for i, p in enumerate(parts):
                    a = lo[i]
                    b = len(p[names[0]]) if bound is None else int(p[names[0]].searchsorted(np.int64(bound)))
                    lo[i] = b
                    for col, name in zip(cols, names, strict=True):
                        col.append(np.asarray(p[name][a:b]))
                key, start, end, row = (np.concatenate(col) for col in cols)
                if len(key):
                    order = np.lexsort((row, start, key))
                    w.add_gaps(kind, (key[order], start[order], end[order], row[order]))
    except BaseException:
        w.abort()
        raise
    return w.close()


def _weight(meta: dict[str, Any]) -> int:
    """Return a segment's size: its carriers and no-call intervals."""
    return int(meta["n_carriers"]) + sum(int(v) for v in meta["n_gaps"].values())


def _tier(weight: int, fanout: int) -> int:
    """Return the tier of a segment: floor(log_fanout(weight))."""
    t, w = 0, max(weight, 1)
    while w >= fanout:
        w //= fanout
        t += 1
    return t


def _compact(out: Path, segments: list[dict[str, Any]], fanout: int, max_entries: int) -> None:
    """Merge trailing segments of one size tier, ``fanout`` at a time (LSM size tiering).

    After a batch's segment is appended: while the last ``fanout`` segments are
    all of a tier no higher than the last one's (smaller ones left behind by an
    irregular batch join in), they become one segment, and the check repeats
    (a merge can complete a run of the next tier). Every publish merges at most
    ``max_entries`` carriers and intervals in all, so its cost is bounded
    whatever is loaded; segments too big to merge within that stay as they are
    (raise the setting for batches of real genomes). A function of the segment
    sizes in load order, so a full rebuild, which applies it after each batch,
    writes the same segments as the incremental publishes did.
    """
    budget = max_entries
    while fanout >= 2 and len(segments) >= fanout:
        tier = _tier(_weight(segments[-1]), fanout)
        group = segments[-fanout:]
        total = sum(_weight(s) for s in group)
        if any(_tier(_weight(s), fanout) > tier for s in group) or total > budget:
            return
        budget -= total
        first = len(segments) - fanout
        tmp = out / _SEGMENTS / f".merge-{first:04d}"
        meta = _merge_segments([out / s["dir"] for s in group], tmp)
        for s in group:
            shutil.rmtree(out / s["dir"])
        rel = _segment_dir(first)
        tmp.rename(out / rel)
        segments[first:] = [{"dir": rel, **meta}]


def _finish(
    out: Path,
    con: duckdb.DuckDBPyConnection,
    n_samples: int,
    n_variants: int,
    segments: list[dict[str, Any]],
    merge: tuple[int, int],
) -> dict[str, Any]:
    """Record what was written in ``subcohort.json``; return that record."""
    meta = {
        "version": SUBCOHORT_VERSION,
        "n_samples": n_samples,
        "n_variants": n_variants,
        "n_carriers": sum(s["n_carriers"] for s in segments),
        "n_gaps": {kind: sum(s["n_gaps"][kind] for s in segments) for kind in _KINDS},
        "bin_shifts": _SHIFTS.tolist(),
        "hash_probe": _hash_probe(con),
        "merge": list(merge),
        "segments": segments,
    }
    (out / "subcohort.json").write_text(json.dumps(meta, indent=1))
    return meta


def _segment_dir(i: int) -> str:
    return f"{_SEGMENTS}/{i:04d}"


def _add_segment(
    con: duckdb.DuckDBPyConnection,
    out: Path,
    segments: list[dict[str, Any]],
    call_dir: Path,
    gap_dir: Path,
    cohort: Cohort,
) -> None:
    """Write the next segment from one batch's folders and list it; a batch with nothing left adds none.

    A batch whose samples were all withdrawn (or hold no call and no gap) leaves
    no segment, so the structures equal those of a database that never loaded it.
    """
    rel = _segment_dir(len(segments))
    meta = _write_segment(con, out / rel, [call_dir], [gap_dir], cohort)
    if meta["n_variants"] == 0 and not any(meta["n_gaps"].values()):
        shutil.rmtree(out / rel)
        return
    segments.append({"dir": rel, **meta})


def write_subcohort(
    release_dir: Path,
    samples: pa.Table,
    cohort: Cohort,
    call_dirs: list[Path],
    gap_dirs: list[Path],
    memory_mb: int = 1024,
    merge: tuple[int, int] = (4, 1 << 26),
) -> dict[str, Any]:
    """Write the sub-cohort structures of a release into ``release_dir/subcohort/``: one segment per batch.

    Parameters
    ----------
    release_dir
        The (not yet published) release directory, whose ``variants/<contig>.parquet``
        tables are already written and sorted.
    samples
        The registry rows of the counted samples (withdrawn ones dropped).
    cohort
        :func:`variantdb.release.aggregate.make_cohort` of ``samples``.
    call_dirs, gap_dirs
        Stored calls and no-call intervals of every batch (``calls/batch=B``,
        ``gaps/batch=B``), in load order: one segment each, merged as the
        incremental publishes would have merged them (:func:`_compact`).
    memory_mb
        DuckDB's memory limit. Default 1024.
    merge
        ``(fanout, max_entries)`` of :func:`_compact` (settings
        ``subcohort_merge_fanout``, ``subcohort_merge_max_entries``). Default (4, 2**26).

    Returns
    -------
    dict
        What ``subcohort/subcohort.json`` records (version, counts, segments).
    """
    out = Path(release_dir) / _DIR
    con = _start_output(out, samples, cohort, memory_mb)
    try:
        n_variants = _write_release_keys(con, Path(release_dir), out)
        segments: list[dict[str, Any]] = []
        # Streamed to disk contig by contig (and bin by bin): memory stays near one bin's calls.
        for calls, gaps in zip(call_dirs, gap_dirs, strict=True):
            _add_segment(con, out, segments, calls, gaps, cohort)
            _compact(out, segments, *merge)
        return _finish(out, con, cohort.size, n_variants, segments, merge)
    finally:
        con.close()


def _carrier_codes(t: pa.Table) -> np.ndarray:
    """Return the one-byte genotype code of each row of a :func:`_segment_sql` result."""
    dosage = t.column("dosage").to_numpy().astype(np.uint8)
    code: np.ndarray = (
        (dosage & _DOSAGE)
        | np.where(t.column("ploidy").to_numpy() == 1, _HAPLOID, 0).astype(np.uint8)
        | np.where(t.column("adj").to_numpy(zero_copy_only=False), _ADJ, 0).astype(np.uint8)
        | np.where(t.column("filter_pass").to_numpy(zero_copy_only=False), _PASS, 0).astype(np.uint8)
    )
    return code


def _segment_complete(seg: Path) -> bool:
    """Return True when a segment folder holds every file a segment has (nothing lost since it was written)."""
    names = {
        "segment.json",
        *(f"{name}.npy" for name in _SEGMENT_ARRAYS),
        *(f"gaps_{kind}_{n}.npy" for kind in _KINDS for n in ("key", "start", "end", "row")),
    }
    return seg.is_dir() and names <= {p.name for p in seg.iterdir()}


def _link_tree(src: Path, dst: Path) -> None:
    """Hard-link every file of ``src`` into ``dst`` (a copy where the file system refuses links)."""
    dst.mkdir(parents=True, exist_ok=True)
    for path in sorted(src.iterdir()):
        target = dst / path.name
        try:
            os.link(path, target)
        except OSError:
            shutil.copy2(path, target)


def extend_subcohort(
    prev_dir: Path,
    release_dir: Path,
    samples: pa.Table,
    cohort: Cohort,
    n_old_samples: int,
    call_dir: Path,
    gap_dir: Path,
    memory_mb: int = 1024,
    merge: tuple[int, int] = (4, 1 << 26),
) -> dict[str, Any] | None:
    """Write a release's sub-cohort structures from the previous release's segments and one new batch.

    The incremental counterpart of :func:`write_subcohort`: the previous
    release's segments are hard-linked (nothing is read or copied) and the new
    batch's segment written from its files alone, so the cost is the batch's plus
    one pass over the variant table (its keys). The files are byte-identical to
    :func:`write_subcohort` of the same samples and batches.

    Parameters
    ----------
    prev_dir, release_dir
        The previous release and the new one (variant tables already written).
    samples, cohort
        Registry rows of the new release's samples and their cohort.
    n_old_samples
        Cohort rows of the previous release; they must be the first rows of
        ``cohort`` (the new batch's samples come after them).
    call_dir, gap_dir
        The new batch's calls and gaps folders.
    memory_mb
        DuckDB's memory limit. Default 1024.
    merge
        As :func:`write_subcohort`; the previous release must have used the same.

    Returns
    -------
    dict or None
        What ``subcohort/subcohort.json`` records; None when the previous release
        has no usable segments (the caller then writes them in full).
    """
    prev = Path(prev_dir) / _DIR
    try:
        prev_meta = json.loads((prev / "subcohort.json").read_text())
    except FileNotFoundError:
        return None
    if (
        prev_meta.get("version") != SUBCOHORT_VERSION
        or prev_meta.get("n_samples") != n_old_samples
        or prev_meta.get("merge") != list(merge)
    ):
        return None
    out = Path(release_dir) / _DIR
    con = _start_output(out, samples, cohort, memory_mb)
    try:
        if prev_meta.get("hash_probe") != _hash_probe(con):
            shutil.rmtree(out)
            return None
        n_variants = _write_release_keys(con, Path(release_dir), out)
        segments = list(prev_meta["segments"])
        if any(not _segment_complete(prev / s["dir"]) for s in segments):
            shutil.rmtree(out)
            return None
        for s in segments:
            _link_tree(prev / s["dir"], out / s["dir"])
        _add_segment(con, out, segments, call_dir, gap_dir, cohort)
        _compact(out, segments, *merge)
        return _finish(out, con, cohort.size, n_variants, segments, merge)
    finally:
        con.close()


class _Appender:
    """Append arrays of one dtype to an ``.npy`` file whose length is known only at the end."""

    def __init__(self, path: Path, dtype: type | np.dtype[Any]) -> None:
        self.path = path
        self.dtype = np.dtype(dtype)
        self._raw_path = path.with_suffix(".raw")
        self._raw = open(self._raw_path, "wb")
        self.n = 0

    def add(self, arr: np.ndarray) -> None:
        a = np.ascontiguousarray(arr, dtype=self.dtype)
        self._raw.write(a.tobytes())
        self.n += len(a)

    def abort(self) -> None:
        """Drop what was written (a failed build)."""
        self._raw.close()
        self._raw_path.unlink(missing_ok=True)

    def close(self) -> None:
        """Write the ``.npy`` file."""
        self._raw.close()
        header = {
            "descr": np.lib.format.dtype_to_descr(self.dtype),
            "fortran_order": False,
            "shape": (self.n,),
        }
        with open(self.path, "wb") as dst, open(self._raw_path, "rb") as src:
            np.lib.format.write_array_header_1_0(dst, header)
            shutil.copyfileobj(src, dst, 1 << 22)
        self._raw_path.unlink()


def _call_groups(con: duckdb.DuckDBPyConnection, files: list[str]) -> list[tuple[int, int, list[str]]]:
    """Group a contig's call files by their ``bin=N`` folder into groups of disjoint position spans, in order.

    Each group is counted by one query. Bins whose spans overlap (a variant
    left-aligned across a bin edge) are merged, so a variant's carriers always
    come from one query and the carrier table stays in row order.
    """
    by_bin: dict[str, list[str]] = {}
    for f in files:
        parent = Path(f).parent.name
        by_bin.setdefault(parent if parent.startswith("bin=") else "", []).append(f)
    spans = []
    for fs in by_bin.values():
        row = con.sql(
            "SELECT min(pos), max(pos) FROM read_parquet(?)", params=[literal_paths(fs)]
        ).fetchall()[0]
        if row[0] is not None:
            spans.append((int(row[0]), int(row[1]), fs))
    spans.sort(key=lambda s: s[0])
    merged: list[tuple[int, int, list[str]]] = []
    for lo, hi, fs in spans:
        if merged and lo <= merged[-1][1]:
            m = merged[-1]
            merged[-1] = (m[0], max(hi, m[1]), m[2] + fs)
        else:
            merged.append((lo, hi, fs))
    return merged


def _contig_gaps(chrom: str, files: list[str], cohort: Cohort) -> dict[str, tuple[np.ndarray, ...]]:
    """Merge one contig's gaps per sample (adj: any gap; raw: raw gaps) and bin them; sorted by (key, start)."""
    if not files or cohort.size == 0:
        return {}
    gaps = pq.ParquetDataset(files, schema=GAPS_SCHEMA).read(columns=["sample_idx", "start", "end", "raw"])
    idx = gaps.column("sample_idx").to_numpy().astype(np.int64)
    rows = np.minimum(np.searchsorted(cohort.sample_idx, idx), cohort.size - 1)
    keep = cohort.sample_idx[rows] == idx
    rows = rows[keep]
    starts = gaps.column("start").to_numpy().astype(np.int64)[keep]
    ends = gaps.column("end").to_numpy().astype(np.int64)[keep]
    raw = gaps.column("raw").to_numpy(zero_copy_only=False).astype(bool)[keep]
    cidx = CONTIG_INDEX[chrom]
    out: dict[str, tuple[np.ndarray, ...]] = {}
    for kind, sel in (("adj", slice(None)), ("raw", raw)):
        r, s, e = _union_per_sample(rows[sel], starts[sel], ends[sel])
        if len(r) == 0:
            continue
        key = _bin_keys(cidx, s, e)
        order = np.lexsort((s, key))
        out[kind] = (key[order], s[order], e[order], r[order])
    return out
