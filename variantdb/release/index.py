"""The memory-mapped lookup index of a release.

A lab asks "has this variant been seen, and how common is it?" millions of times
a day; answering from Parquet would cost a file read per question. The index
turns a release into a few flat numpy arrays that every service worker
memory-maps, so they share one copy through the page cache and a lookup is a
binary search plus a byte comparison.

Files under ``release_dir/index/``::

    keys.npy            int64 [n]: contig index << 32 | 1-based pos, sorted
    allele_offsets.npy  uint32 (int64 past 4 GiB of alleles) [n + 1]: row i's alleles
                        are alleles[off[i]:off[i+1]]
    alleles.npy         uint8: ``REF>ALT`` of every row, back to back
    values.npy          structured [n]: the count fields of a row, side by side
    an_starts.npy       int64 [m]: key of the first position of each AN segment
    an_ends.npy         int64 [m]: key of the last position (inclusive)
    an_values.npy       structured [m]: the AN columns of each segment
    index.json          format version, row counts, field names, contig row ranges

Notes
-----
Counts are stored row-major (one record per variant, each field in the narrowest
integer type that holds the release's largest value, read from the Parquet
statistics): a point lookup touches one or two pages instead of one page per
column, which keeps both latency and resident memory down at 100M variants.
``af`` fields are not stored; they are ``ac / an`` (None when ``an`` is 0),
computed on read exactly as the release table defines them. Nor are the
filtering allele frequencies ``faf95`` / ``faf99``: they are ``lambda(ac) / an``
where ``lambda`` depends on ``ac`` alone (:func:`variantdb.frequency.faf_lambda`),
so the index keeps one small table of ``lambda`` per confidence for every AC
from 0 to the release's largest (built when the index is opened, from the
``max_ac`` in ``index.json``) and derives them on read with the same float
operations as the release table: the record equals the Parquet row, costs no
bytes per variant, and counts derived at query time (a group left out) get
their faf the same way.
"""

from __future__ import annotations

import json
import mmap
import os
import shutil
import struct
import weakref
from bisect import bisect_left, bisect_right
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from variantdb.errors import VariantdbError
from variantdb.frequency import FAF_CONFIDENCE, af, faf, faf_lambda, faf_max
from variantdb.genome import CONTIG_INDEX, CONTIGS
from variantdb.schema import DERIVED_FIELDS, an_columns, variants_schema
from variantdb.variant import Variant

__all__ = [
    "INDEX_VERSION",
    "IndexFormatError",
    "ReleaseIndex",
    "build_index",
    "count_fields",
]

INDEX_VERSION: Final = 1
_SEP: Final = b">"
_BATCH_ROWS: Final = 1 << 18
_KEY_FIELDS: Final = ("chrom", "pos", "ref", "alt")


class IndexFormatError(VariantdbError, ValueError):
    """A release whose tables break the release contract (unsorted, unknown contig, ...)."""


def count_fields() -> list[str]:
    """Return the stored count fields of a variant row, in table order (every integer: no ``af``, ``faf*``)."""
    return [
        f.name
        for f in variants_schema()
        if f.name not in _KEY_FIELDS
        and not any(f.name == d or f.name.startswith(d + "_") for d in DERIVED_FIELDS)
    ]


def _narrow_dtype(lo: int, hi: int) -> str:
    """Return the narrowest little-endian integer dtype holding ``[lo, hi]``."""
    for kind in ("u1", "u2", "u4") if lo >= 0 else ("i1", "i2", "i4"):
        info = np.iinfo(np.dtype(kind))
        if info.min <= lo and hi <= info.max:
            return "<" + kind if kind[1] != "1" else "|" + kind
    return "<i8"


def _column_ranges(files: list[Path], names: list[str]) -> dict[str, tuple[int, int]]:
    """Read min/max of integer columns from Parquet statistics (no data pages read)."""
    lo: dict[str, int] = dict.fromkeys(names, 0)
    hi: dict[str, int] = dict.fromkeys(names, 0)
    unknown: set[str] = set()
    for path in files:
        md = pq.ParquetFile(path).metadata
        col_at = {md.schema.column(i).name: i for i in range(md.num_columns)}
        for rg in range(md.num_row_groups):
            group = md.row_group(rg)
            if group.num_rows == 0:
                continue
            for name in names:
                if name not in col_at:
                    raise IndexFormatError(f"{path}: column {name!r} of variants_schema() is missing")
                stats = group.column(col_at[name]).statistics
                if stats is None or not stats.has_min_max:
                    unknown.add(name)
                    continue
                lo[name] = min(lo[name], int(stats.min))
                hi[name] = max(hi[name], int(stats.max))
    for name in unknown:
        # Without statistics, keep the schema's own type rather than guess.
        lo[name], hi[name] = -(2**31), 2**31 - 1
    return {n: (lo[n], hi[n]) for n in names}


def _write_npy_from_raw(raw: Path, out: Path, size: int) -> None:
    """Wrap a raw uint8 file in an ``.npy`` header (the length is only known at the end)."""
    with open(out, "wb") as dst, open(raw, "rb") as src:
        np.lib.format.write_array_header_1_0(dst, {"descr": "|u1", "fortran_order": False, "shape": (size,)})
        shutil.copyfileobj(src, dst, 1 << 22)
    raw.unlink()


def _contig_files(release_dir: Path) -> list[tuple[str, Path]]:
    root = release_dir / "variants"
    found = {}
    if root.exists():
        for part in root.iterdir():
            if part.suffix == ".parquet":
                chrom = part.stem
                if chrom not in CONTIG_INDEX:
                    raise IndexFormatError(f"{part}: unknown contig {chrom!r}")
                found[chrom] = part
            else:
                raise IndexFormatError(f"{part}: not a contig's variant file (variants/<contig>.parquet)")
    return [(c, found[c]) for c in CONTIGS if c in found]


def build_index(release_dir: Path) -> None:
    """Build the lookup index of a release directory into ``release_dir/index/``.

    Parameters
    ----------
    release_dir
        A release laid out as :mod:`variantdb.release.files` describes: sorted
        ``variants/<contig>.parquet`` tables and ``an.parquet``.

    Raises
    ------
    IndexFormatError
        A table that is not sorted by (pos, ref, alt), an unknown contig, or a
        missing column: the release contract is broken and the index would lie.

    Notes
    -----
    Streams the tables in batches of 262,144 rows, appending each to the
    ``.npy`` files with plain writes (not through a memory map, whose dirty pages
    would count against the process), so peak memory stays near one batch (a
    few hundred MB) whatever the release size.
    """
    release_dir = Path(release_dir)
    out = release_dir / "index"
    if out.exists():
        shutil.rmtree(out)
    out.mkdir()
    files = _contig_files(release_dir)
    n = sum(pq.ParquetFile(p).metadata.num_rows for _, p in files)
    fields = count_fields()
    ranges = _column_ranges([p for _, p in files], fields)
    vdtype = np.dtype([(f, _narrow_dtype(*ranges[f])) for f in fields])

    keys = _NpyWriter(out / "keys.npy", np.dtype("<i8"), n)
    offsets = _NpyWriter(out / "allele_offsets.wide.npy", np.dtype("<i8"), n + 1)
    values = _NpyWriter(out / "values.npy", vdtype, n)
    offsets.append(np.zeros(1, dtype="<i8"))
    try:
        contig_rows, base = _write_rows(files, fields, vdtype, keys, offsets, values, out / "alleles.raw")
    finally:
        for w in (keys, offsets, values):
            w.abort()
    for w in (keys, offsets, values):
        w.check()
    _write_npy_from_raw(out / "alleles.raw", out / "alleles.npy", base)
    _narrow_offsets(out, n, base)
    an_info = _build_an(release_dir / "an.parquet", out)
    meta = {
        "version": INDEX_VERSION,
        "n_variants": n,
        "allele_bytes": base,
        "fields": fields,
        "dtypes": {f: vdtype[f].str for f in fields},
        "max_ac": max([ranges[f][1] for f in fields if f == "ac" or f.startswith("ac_")] or [0]),
        "contig_rows": contig_rows,
        **an_info,
    }
    (out / "index.json").write_text(json.dumps(meta, indent=1))


def _write_rows(
    files: list[tuple[str, Path]],
    fields: list[str],
    vdtype: np.dtype[Any],
    keys: _NpyWriter,
    offsets: _NpyWriter,
    values: _NpyWriter,
    raw: Path,
) -> tuple[dict[str, list[int]], int]:
    """Stream every contig's rows into the writers; return contig row ranges and allele bytes."""
    row = 0
    base = 0
    last_key = -1
    last_alleles = b""
    contig_rows: dict[str, list[int]] = {}
    with open(raw, "wb") as allele_fh:
        for chrom, path in files:
            cidx = CONTIG_INDEX[chrom]
            start_row = row
            pf = pq.ParquetFile(path)
            for batch in pf.iter_batches(
                batch_size=_BATCH_ROWS, columns=["chrom", "pos", "ref", "alt", *fields]
            ):
                m = batch.num_rows
                if m == 0:
                    continue
                if pc.any(pc.not_equal(batch.column("chrom"), chrom)).as_py():
                    raise IndexFormatError(f"{path}: rows of another contig than {chrom}")
                pos = batch.column("pos").to_numpy(zero_copy_only=False).astype(np.int64)
                k = (np.int64(cidx) << np.int64(32)) | pos
                if (m > 1 and bool(np.any(np.diff(k) < 0))) or int(k[0]) < last_key:
                    raise IndexFormatError(f"{path}: variants are not sorted by position")
                joined = pc.binary_join_element_wise(
                    batch.column("ref"), batch.column("alt"), _SEP.decode()
                ).cast(pa.large_string())
                # Offsets and data of the freshly built array (offset 0, no nulls).
                buf_off = np.frombuffer(joined.buffers()[1], dtype=np.int64, count=m + 1)
                data = joined.buffers()[2]
                nbytes = int(buf_off[-1] - buf_off[0])
                allele_fh.write(memoryview(data)[int(buf_off[0]) : int(buf_off[0]) + nbytes])
                _check_allele_order(k, joined, last_key, last_alleles, path)
                keys.append(k)
                offsets.append(buf_off[1:] - buf_off[0] + base)
                chunk = np.empty(m, dtype=vdtype)
                for f in fields:
                    col = batch.column(f)
                    if col.null_count:
                        raise IndexFormatError(f"{path}: column {f} has nulls")
                    chunk[f] = col.to_numpy(zero_copy_only=False)
                values.append(chunk)
                last_key = int(k[-1])
                last_alleles = joined[m - 1].as_py().encode()
                row += m
                base += nbytes
            contig_rows[chrom] = [start_row, row]
    return contig_rows, base


def _narrow_offsets(out: Path, n: int, total: int) -> None:
    """Store the allele offsets as uint32 when the alleles fit in 4 GiB (halves the file at 100M rows)."""
    wide = out / "allele_offsets.wide.npy"
    if total >= 1 << 32:
        wide.rename(out / "allele_offsets.npy")
        return
    with open(wide, "rb") as fh:
        np.lib.format.read_magic(fh)
        np.lib.format.read_array_header_1_0(fh)
        start = fh.tell()
    dst = _NpyWriter(out / "allele_offsets.npy", np.dtype("<u4"), n + 1)
    step = 1 << 24
    for i in range(0, n + 1, step):
        part = np.fromfile(wide, dtype="<i8", count=min(step, n + 1 - i), offset=start + 8 * i)
        dst.append(part.astype("<u4"))
    dst.abort()
    dst.check()
    wide.unlink()


def _check_allele_order(
    k: np.ndarray, joined: pa.Array, last_key: int, last_alleles: bytes, path: Path
) -> None:
    """Refuse two rows with the same key and the same alleles (a duplicate would hide counts)."""
    dup = np.flatnonzero(k[1:] == k[:-1])
    if len(dup) == 0 and int(k[0]) != last_key:
        return
    strings = joined.to_pylist()
    if int(k[0]) == last_key and strings[0].encode() == last_alleles:
        raise IndexFormatError(f"{path}: duplicate variant {strings[0]} at key {last_key}")
    for i in dup:
        if strings[i] == strings[i + 1]:
            raise IndexFormatError(f"{path}: duplicate variant {strings[i]} at row {i + 1} of a batch")


class _NpyWriter:
    """Write a 1-D ``.npy`` file of known length by appending chunks (bounded memory)."""

    def __init__(self, path: Path, dtype: np.dtype[Any], n: int) -> None:
        self.path = path
        self.dtype = dtype
        self.n = n
        self.written = 0
        self._fh = open(path, "wb")
        header = {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False, "shape": (n,)}
        np.lib.format.write_array_header_1_0(self._fh, header)

    def append(self, arr: np.ndarray[Any, Any]) -> None:
        """Append rows (converted to the file's dtype)."""
        a = np.ascontiguousarray(arr, dtype=self.dtype)
        self._fh.write(a.tobytes())
        self.written += len(a)

    def abort(self) -> None:
        """Close the file (idempotent); used on every exit path."""
        self._fh.close()

    def check(self) -> None:
        """Raise unless exactly ``n`` rows were written."""
        if self.written != self.n:
            raise IndexFormatError(f"{self.path}: wrote {self.written} rows, expected {self.n}")


def _build_an(path: Path, out: Path) -> dict[str, Any]:
    cols = an_columns()
    n = pq.ParquetFile(path).metadata.num_rows if path.exists() else 0
    ranges = _column_ranges([path], cols) if n else {c: (0, 0) for c in cols}
    dtype = np.dtype([(c, _narrow_dtype(*ranges[c])) for c in cols])
    starts = _NpyWriter(out / "an_starts.npy", np.dtype("<i8"), n)
    ends = _NpyWriter(out / "an_ends.npy", np.dtype("<i8"), n)
    values = _NpyWriter(out / "an_values.npy", dtype, n)
    try:
        _write_an_rows(path, n, cols, dtype, starts, ends, values)
    finally:
        for w in (starts, ends, values):
            w.abort()
    for w in (starts, ends, values):
        w.check()
    return {"an_segments": n, "an_fields": cols, "an_dtypes": {c: dtype[c].str for c in cols}}


def _write_an_rows(
    path: Path,
    n: int,
    cols: list[str],
    dtype: np.dtype[Any],
    starts: _NpyWriter,
    ends: _NpyWriter,
    values: _NpyWriter,
) -> None:
    last_end = -1
    if n:
        for batch in pq.ParquetFile(path).iter_batches(batch_size=_BATCH_ROWS):
            m = batch.num_rows
            if m == 0:
                continue
            chrom_idx = np.array(
                [CONTIG_INDEX.get(c, -1) for c in batch.column("chrom").to_pylist()], dtype=np.int64
            )
            if bool(np.any(chrom_idx < 0)):
                raise IndexFormatError(f"{path}: unknown contig in the AN track")
            s = (chrom_idx << 32) | batch.column("start").to_numpy(zero_copy_only=False).astype(np.int64)
            e = (chrom_idx << 32) | batch.column("end").to_numpy(zero_copy_only=False).astype(np.int64)
            if bool(np.any(e < s)) or bool(np.any(s[1:] <= e[:-1])) or int(s[0]) <= last_end:
                raise IndexFormatError(f"{path}: AN segments are not sorted and disjoint")
            starts.append(s)
            ends.append(e)
            chunk = np.empty(m, dtype=dtype)
            for c in cols:
                chunk[c] = batch.column(c).to_numpy(zero_copy_only=False)
            values.append(chunk)
            last_end = int(e[-1])


def _load(path: Path) -> np.ndarray[Any, Any]:
    arr: np.ndarray[Any, Any] = np.load(path, mmap_mode="r", allow_pickle=False)
    return arr


def _data_offset(path: Path) -> int:
    """Return where the data of an ``.npy`` file starts (after its header)."""
    with open(path, "rb") as fh:
        version = np.lib.format.read_magic(fh)
        if version == (1, 0):
            np.lib.format.read_array_header_1_0(fh)
        else:
            np.lib.format.read_array_header_2_0(fh)
        return fh.tell()


def _mv(arr: np.ndarray[Any, Any], fmt: str) -> memoryview[int]:
    """Return a flat memoryview of an array's bytes, as bytes (``B``), int64 (``q``) or uint32 (``I``)."""
    raw: memoryview[int] = memoryview(np.ascontiguousarray(arr)).cast("B")  # type: ignore[arg-type]
    return raw if fmt == "B" else raw.cast(fmt)  # type: ignore[call-overload]


_STRUCT_CODES: Final = {
    "u1": "B",
    "u2": "H",
    "u4": "I",
    "u8": "Q",
    "i1": "b",
    "i2": "h",
    "i4": "i",
    "i8": "q",
}


def _record_struct(dtype: np.dtype[Any]) -> struct.Struct:
    """Return a Struct reading one record of a structured integer dtype (unpacking beats numpy per row)."""
    assert dtype.fields is not None
    codes = []
    for name in dtype.names or ():
        sub = dtype.fields[name][0]
        codes.append(_STRUCT_CODES[f"{sub.kind}{sub.itemsize}"])
    return struct.Struct("<" + "".join(codes))


def _advise_random(arr: np.ndarray[Any, Any]) -> None:
    """Tell the kernel that an index file is read at random: no readahead around each touched page."""
    mm = getattr(arr, "_mmap", None)
    if mm is not None and hasattr(mmap, "MADV_RANDOM"):
        try:
            mm.madvise(mmap.MADV_RANDOM)
        except OSError:
            pass


class ReleaseIndex:
    """A release's lookup index, memory-mapped read-only.

    Open with :meth:`open`. Every method is safe to call from many threads (the
    arrays are read-only) and touches only the pages it needs.
    """

    def __init__(self, release_dir: Path) -> None:
        d = Path(release_dir) / "index"
        meta_path = d / "index.json"
        if not meta_path.exists():
            raise FileNotFoundError(f"{d}: no index; build it with variantdb.release.index.build_index")
        self.meta: dict[str, Any] = json.loads(meta_path.read_text())
        if self.meta.get("version") != INDEX_VERSION:
            raise IndexFormatError(f"{d}: index version {self.meta.get('version')}, expected {INDEX_VERSION}")
        self.release_dir = Path(release_dir)
        self.keys = _load(d / "keys.npy")
        self.allele_offsets = _load(d / "allele_offsets.npy")
        self.alleles = _load(d / "alleles.npy")
        self.values = _load(d / "values.npy")
        self.an_starts = _load(d / "an_starts.npy")
        self.an_ends = _load(d / "an_ends.npy")
        self.an_values = _load(d / "an_values.npy")
        # memoryviews give bisect and slicing at C speed without numpy's per-call overhead.
        for arr in (self.keys, self.allele_offsets, self.alleles, self.values):
            _advise_random(arr)
        self._keys_mv = _mv(self.keys, "q")
        self._off_mv = _mv(self.allele_offsets, "I" if self.allele_offsets.dtype.itemsize == 4 else "q")
        self._values_struct = _record_struct(self.values.dtype)
        # Count rows are read with pread rather than through the map: each lookup
        # touches a different 4 KiB page of an ~18 GB file at 100M variants, and
        # the kernel's fault-around would map 64 KiB per touch into the process.
        # pread goes through the same shared page cache without growing RSS.
        self._values_fd = os.open(d / "values.npy", os.O_RDONLY)
        self._values_start = _data_offset(d / "values.npy")
        if hasattr(os, "posix_fadvise"):
            os.posix_fadvise(self._values_fd, 0, 0, os.POSIX_FADV_RANDOM)
        self._closer = weakref.finalize(self, os.close, self._values_fd)
        self._an_values_mv = _mv(self.an_values, "B")
        self._an_struct = _record_struct(self.an_values.dtype)
        self._alleles_mv = _mv(self.alleles, "B")
        self._an_starts_mv = _mv(self.an_starts, "q")
        self._an_ends_mv = _mv(self.an_ends, "q")
        self.fields: list[str] = list(self.meta["fields"])
        self.an_fields: list[str] = list(self.meta["an_fields"])
        self.n_variants = int(self.meta["n_variants"])
        max_ac = self.meta.get("max_ac")
        if max_ac is None:  # an index built before faf: read the largest AC once
            ac_fields = [f for f in self.fields if f == "ac" or f.startswith("ac_")]
            max_ac = max([int(self.values[f].max()) for f in ac_fields if self.n_variants] or [0])
        lam = np.arange(int(max_ac) + 1)
        #: per faf field, lambda(ac) for every ac of the release (a list: indexing it is the fast path)
        self.faf_lambda: dict[str, list[float]] = {
            name: faf_lambda(lam, ci).tolist() for name, ci in FAF_CONFIDENCE.items()
        }

    @classmethod
    def open(cls, release_dir: Path) -> ReleaseIndex:
        """Memory-map the index of a release directory.

        Parameters
        ----------
        release_dir
            ``DB/releases/<id>``, with ``index/`` built by :func:`build_index`.
        """
        return cls(release_dir)

    def __len__(self) -> int:
        return self.n_variants

    def find(self, chrom: str, pos: int, ref: str, alt: str) -> int | None:
        """Return the row of an exact (normalized) variant, or None when it is not in the release.

        Parameters
        ----------
        chrom
            Canonical contig (``chr1`` ... ``chrM``).
        pos
            1-based position (VCF ``POS``).
        ref, alt
            Normalized alleles; compared byte for byte with the stored ones.
        """
        cidx = CONTIG_INDEX.get(chrom)
        if cidx is None or not 0 < pos < (1 << 32):
            return None
        key = (cidx << 32) | pos
        keys = self._keys_mv
        i = bisect_left(keys, key)
        n = len(keys)
        if i == n or keys[i] != key:
            return None
        want = f"{ref}>{alt}".encode()
        off = self._off_mv
        alleles = self._alleles_mv
        while i < n and keys[i] == key:
            a, b = off[i], off[i + 1]
            if b - a == len(want) and alleles[a:b] == want:
                return i
            i += 1
        return None

    def _query_keys(self, variants: list[Variant]) -> np.ndarray[Any, np.dtype[np.int64]]:
        """Return the key of each variant (-1 for an unknown contig or a position out of range)."""
        return np.fromiter(
            (
                (CONTIG_INDEX.get(v.chrom, -1) << 32) | v.pos if 0 < v.pos < (1 << 32) else -1
                for v in variants
            ),
            dtype=np.int64,
            count=len(variants),
        )

    def find_many(self, variants: list[Variant]) -> list[int | None]:
        """Return the row of each normalized variant (None when absent), searching all at once.

        Notes
        -----
        Two ``np.searchsorted`` over the sorted keys give each query its rows at
        the same position (none for most absent variants, one or two otherwise);
        a candidate whose ``REF>ALT`` has the query's length is then compared
        byte for byte as in :meth:`find`, so only those few comparisons run in
        Python.
        """
        if not variants or self.n_variants == 0:
            return [None] * len(variants)
        q = self._query_keys(variants)
        # Sorted needles let searchsorted walk the keys once instead of jumping about.
        order = np.argsort(q, kind="stable")
        lo = np.empty(len(q), dtype=np.int64)
        hi = np.empty(len(q), dtype=np.int64)
        lo[order] = np.searchsorted(self.keys, q[order], side="left")
        hi[order] = np.searchsorted(self.keys, q[order], side="right")
        hi[q < 0] = lo[q < 0]
        n_cand = hi - lo
        out: list[int | None] = [None] * len(variants)
        if not n_cand.any():
            return out
        which = np.repeat(np.arange(len(q)), n_cand)
        first = np.cumsum(n_cand) - n_cand
        rows = lo[which] + (np.arange(len(which)) - first[which])
        off = self.allele_offsets
        a = off[rows].astype(np.int64)
        b = off[rows + 1].astype(np.int64)
        want_len = np.fromiter(
            (len(variants[i].ref) + len(variants[i].alt) + 1 for i in which.tolist()),
            dtype=np.int64,
            count=len(which),
        )
        same = np.flatnonzero(b - a == want_len)
        alleles = self._alleles_mv
        for i, row, x, y in zip(
            which[same].tolist(), rows[same].tolist(), a[same].tolist(), b[same].tolist(), strict=True
        ):
            v = variants[i]
            if out[i] is None and alleles[x:y] == f"{v.ref}>{v.alt}".encode():
                out[i] = row
        return out

    def lookup(self, variant: Variant) -> int | None:
        """Return the row of a normalized :class:`~variantdb.variant.Variant`, or None if unseen."""
        return self.find(variant.chrom, variant.pos, variant.ref, variant.alt)

    def counts(self, row: int) -> dict[str, int]:
        """Return the stored count fields of a row as ``{field: int}`` (no ``af``; see :meth:`record`)."""
        return dict(zip(self.fields, self.count_tuple(row), strict=True))

    def count_tuple(self, row: int) -> tuple[int, ...]:
        """Return the stored count fields of a row in :attr:`fields` order (fastest form)."""
        st = self._values_struct
        if not 0 <= row < self.n_variants:
            raise IndexError(f"row {row} out of range (0-{self.n_variants - 1})")
        t: tuple[int, ...] = st.unpack(os.pread(self._values_fd, st.size, self._values_start + row * st.size))
        return t

    def variant_at(self, row: int) -> Variant:
        """Return the variant stored at a row."""
        key = self._keys_mv[row]
        a, b = self._off_mv[row], self._off_mv[row + 1]
        ref, _, alt = bytes(self._alleles_mv[a:b]).decode().partition(">")
        return Variant(CONTIGS[key >> 32], key & 0xFFFFFFFF, ref, alt)

    def record(self, row: int) -> dict[str, Any]:
        """Return a row as the release table holds it: chrom, pos, ref, alt, every count and ``af``.

        Notes
        -----
        ``af`` fields are ``ac / an`` and ``faf95`` / ``faf99`` are
        ``lambda(ac) / an``, None where ``an`` is 0, the release table's
        definitions, so the record equals the Parquet row.
        ``faf95_max_region`` and its code are taken over the ``region_*`` strata
        as :func:`variantdb.frequency.faf_max_columns` takes them.
        """
        v = self.variant_at(row)
        out: dict[str, Any] = {"chrom": v.chrom, "pos": v.pos, "ref": v.ref, "alt": v.alt}
        out.update(self.counts(row))
        for f in self.fields:
            if f == "ac" or f.startswith("ac_"):
                suffix = f[2:]
                an = out["an" + suffix]
                out["af" + suffix] = af(out[f], an)
                for name, lam in self.faf_lambda.items():
                    out[name + suffix] = faf(lam, out[f], an)
        regions = [f for f in self.fields if f.startswith("ac_region_")]
        out.update(faf_max((out["faf95" + f[2:]], f.removeprefix("ac_region_")) for f in regions))
        return out

    def an_at(self, chrom: str, pos: int) -> dict[str, int] | None:
        """Return the AN columns at a 1-based position, or None where the track has no segment.

        A segment with AN 0 means "no data here"; None means the release did not
        load this position at all (e.g. a contig that was not loaded).
        """
        t = self.an_tuple(chrom, pos)
        return None if t is None else dict(zip(self.an_fields, t, strict=True))

    def an_tuple(self, chrom: str, pos: int) -> tuple[int, ...] | None:
        """Return the AN columns at a position in :attr:`an_fields` order, or None (see :meth:`an_at`)."""
        cidx = CONTIG_INDEX.get(chrom)
        if cidx is None or not 0 < pos < (1 << 32):
            return None
        key = (cidx << 32) | pos
        i = bisect_right(self._an_starts_mv, key) - 1
        if i < 0 or self._an_ends_mv[i] < key:
            return None
        st = self._an_struct
        t: tuple[int, ...] = st.unpack_from(self._an_values_mv, i * st.size)
        return t

    def count_tuples(self, rows: list[int]) -> list[tuple[int, ...]]:
        """Return :meth:`count_tuple` of many rows, read with one ``pread`` each and decoded at once."""
        st = self._values_struct
        size, fd, base = st.size, self._values_fd, self._values_start
        for row in rows:
            if not 0 <= row < self.n_variants:
                raise IndexError(f"row {row} out of range (0-{self.n_variants - 1})")
        buf = b"".join([os.pread(fd, size, base + row * size) for row in rows])
        return list(st.iter_unpack(buf))

    def an_tuples(self, variants: list[Variant]) -> list[tuple[int, ...] | None]:
        """Return :meth:`an_tuple` at the position of each variant, searching all at once."""
        out: list[tuple[int, ...] | None] = [None] * len(variants)
        if not variants or len(self.an_starts) == 0:
            return out
        q = self._query_keys(variants)
        order = np.argsort(q, kind="stable")
        i = np.empty(len(q), dtype=np.int64)
        i[order] = np.searchsorted(self.an_starts, q[order], side="right") - 1
        inside = np.flatnonzero((q >= 0) & (i >= 0) & (self.an_ends[np.maximum(i, 0)] >= q))
        st = self._an_struct
        rows = np.asarray(self.an_values).view(np.uint8).reshape(-1, st.size)[i[inside]]
        for k, t in zip(inside.tolist(), st.iter_unpack(rows.tobytes()), strict=True):
            out[k] = t
        return out

    def region_rows(self, chrom: str, start: int, end: int) -> tuple[int, int]:
        """Return the row range ``[lo, hi)`` of variants whose 1-based ``pos`` lies in ``[start, end]``.

        Parameters
        ----------
        chrom
            Canonical contig.
        start, end
            1-based, inclusive.
        """
        cidx = CONTIG_INDEX[chrom]
        lo = bisect_left(self._keys_mv, (cidx << 32) | max(start, 0))
        hi = bisect_right(self._keys_mv, (cidx << 32) | min(max(end, 0), 0xFFFFFFFF))
        return lo, max(lo, hi)

    def iter_records(self, lo: int, hi: int) -> Iterator[dict[str, Any]]:
        """Yield :meth:`record` for rows ``lo`` to ``hi - 1``."""
        for row in range(lo, hi):
            yield self.record(row)

    def close(self) -> None:
        """Close the count file and drop the memory maps (they close when the last view is released)."""
        self._closer()
        for name in (
            "_keys_mv",
            "_off_mv",
            "_alleles_mv",
            "_an_starts_mv",
            "_an_ends_mv",
            "_an_values_mv",
        ):
            mv = getattr(self, name, None)
            if mv is not None:
                mv.release()
