"""Read one VCF/BCF/gVCF into sparse calls and no-call intervals.

cyvcf2 parses the file (bgzipped, plain-gzipped, uncompressed VCF and BCF); this
module validates each record, splits multi-allelic records into biallelic
variants with genotypes recoded as ``bcftools norm -m -any`` does, normalizes
each variant with :func:`variantdb.variant.normalize`, applies real ploidy,
judges ``adj``, and streams the results to Parquet through :class:`PartWriter`.

Coverage rules (what AN counts, see docs/semantics.md):

- plain VCF: a sample is called everywhere except where its genotype is a
  no-call; a site absent from its VCF is taken as reference.
- gVCF: a sample is called only where a reference block ``[POS, END]`` or a
  called variant record covers the site (a variant record covers its POS and
  the positions its alleles normalize to), as ``bcftools merge --gvcf`` does.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cyvcf2
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pysam

from variantdb.bgzf import TruncatedFileError, check_bgzf_eof
from variantdb.errors import VariantdbError
from variantdb.genome import CONTIG_LENGTHS, CONTIGS, UnknownContigError, canonical_contig, is_par, ploidy
from variantdb.ingest.genotypes import judge
from variantdb.manifest import SampleRecord, looks_like_cpr
from variantdb.settings import Settings
from variantdb.variant import InvalidVariantError, Reference, Variant, normalize

__all__ = ["FileReport", "LoadError", "PartWriter", "indexed_contigs", "read_vcf"]

_SEX_CODE = {"XX": 0, "XY": 1, "unknown": 2}
_SEXES = ("XX", "XY", "unknown")
_SYMBOLIC_REF = {"<NON_REF>", "<*>"}
_ACGTN = frozenset("ACGTN")


class _BadAltError(ValueError):
    """An ALT allele that is neither bases, ``*`` nor symbolic; ``args[0]`` is the allele as written."""


def split_alts(
    alts: list[str], gvcf: bool | None, skipped: Counter[str]
) -> tuple[list[tuple[int, str]], bool]:
    """Return a record's countable ALTs as ``(allele number, upper-case bases)`` and whether it is a block.

    ``<NON_REF>``/``<*>`` are left out; ``*`` and other symbolic alleles are left
    out and counted in ``skipped`` (``star_alleles``, ``symbolic_alleles``). A
    gVCF record whose only ALTs are ``<NON_REF>``/``<*>`` is a reference block.

    Raises
    ------
    _BadAltError
        For an ALT made of anything but A, C, G, T, N.
    """
    real: list[tuple[int, str]] = []
    for k, alt in enumerate(alts, start=1):
        if alt in _SYMBOLIC_REF:
            continue
        if alt == "*":
            skipped["star_alleles"] += 1
            continue
        if alt.startswith("<") or "[" in alt or "]" in alt:
            skipped["symbolic_alleles"] += 1
            continue
        up = alt.upper()
        if not set(up) <= _ACGTN or up == ".":
            raise _BadAltError(alt)
        real.append((k, up))
    is_block = not real and bool(gvcf and alts and all(a in _SYMBOLIC_REF for a in alts))
    return real, is_block


class LoadError(VariantdbError, ValueError):
    """Bad input: the message names the file, the record, the field and the value."""


@dataclass
class FileReport:
    """What was read from one file, and what was skipped and why."""

    path: str
    samples: int = 0
    gvcf: bool = False
    records: int = 0
    reference_blocks: int = 0
    reference_records: int = 0
    variants: int = 0
    calls: int = 0
    genotypes: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    other_contigs: Counter[str] = field(default_factory=Counter)
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (counters as plain dicts)."""
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        return {k: dict(v) if isinstance(v, Counter) else v for k, v in values.items()}


class PartWriter:
    """Buffer rows of one Arrow schema and write them as Parquet files under a folder.

    Rows are partitioned ``contig=C/`` (and ``bin=B/`` when ``bin_size`` is given),
    one file per partition and writer, named ``part-<tag>.parquet``. Rows arrive
    as column chunks (numpy arrays or one scalar for the whole chunk), so a
    record's carriers are added in one call; negative values of nullable integer
    columns are written as nulls.
    """

    def __init__(
        self, root: Path, schema: pa.Schema, tag: str, bin_size: int | None, flush_rows: int
    ) -> None:
        self.root = root
        self.schema = schema
        self.tag = tag
        self.bin_size = bin_size
        self.flush_rows = flush_rows
        self._chunks: dict[tuple[str, int], list[tuple[int, dict[str, Any]]]] = {}
        self._rows: dict[tuple[str, int], list[Sequence[Any]]] = {}
        self._counts: dict[tuple[str, int], int] = {}
        self._writers: dict[tuple[str, int], pq.ParquetWriter] = {}
        self.rows = 0

    def _key(self, chrom: str, pos: int) -> tuple[str, int]:
        return (chrom, pos // self.bin_size if self.bin_size else 0)

    def _count(self, key: tuple[str, int], n: int) -> None:
        count = self._counts.get(key, 0) + n
        self._counts[key] = count
        self.rows += n
        if count >= self.flush_rows:
            self._flush(key)

    def add(self, chrom: str, pos: int, row: Sequence[Any]) -> None:
        """Add one row (values in schema order, ``chrom`` included)."""
        key = self._key(chrom, pos)
        self._rows.setdefault(key, []).append(row)
        self._count(key, 1)

    def add_rows(self, chrom: str, pos: int, n: int, columns: dict[str, Any]) -> None:
        """Add ``n`` rows at one position: each column an array of ``n`` values or one scalar."""
        if n == 0:
            return
        key = self._key(chrom, pos)
        self._chunks.setdefault(key, []).append((n, columns))
        self._count(key, n)

    def add_columns(self, chrom: str, pos: np.ndarray, columns: dict[str, Any]) -> None:
        """Add rows at many positions of one contig: each column an array of ``len(pos)`` values or one scalar."""
        n = len(pos)
        if n == 0:
            return
        if not self.bin_size:
            self.add_rows(chrom, int(pos[0]), n, columns)
            return
        bins = pos // self.bin_size
        if bins[0] == bins[-1] and (bins == bins[0]).all():
            self.add_rows(chrom, int(pos[0]), n, columns)
            return
        order = np.argsort(bins, kind="stable")
        bounds = np.flatnonzero(np.diff(bins[order])) + 1
        for sel in np.split(order, bounds):
            part = {k: v[sel] if isinstance(v, np.ndarray) else v for k, v in columns.items()}
            self.add_rows(chrom, int(pos[sel[0]]), int(sel.size), part)

    def _column(self, field: pa.Field, chunks: list[tuple[int, dict[str, Any]]]) -> pa.Array:
        counts = [n for n, _ in chunks]
        values = [c[field.name] for _, c in chunks]
        text = pa.types.is_string(field.type)
        if not any(isinstance(v, np.ndarray) for v in values):
            arr = np.repeat(np.array(values, dtype=object if text else None), counts)
        else:
            parts = [
                v if isinstance(v, np.ndarray) else np.full(n, v, dtype=object if text else None)
                for n, v in zip(counts, values, strict=True)
            ]
            arr = np.concatenate(parts)
        if field.nullable and pa.types.is_integer(field.type):
            return pa.array(arr, field.type, mask=arr < 0)
        return pa.array(arr, field.type)

    def _flush(self, key: tuple[str, int]) -> None:
        chunks = self._chunks.pop(key, [])
        rows = self._rows.pop(key, None)
        self._counts.pop(key, None)
        if rows:
            # Single rows become one chunk of columns, built once per flush.
            columns = {
                f.name: np.array(col, dtype=object if pa.types.is_string(f.type) else None)
                for f, col in zip(self.schema, zip(*rows, strict=True), strict=True)
            }
            chunks.append((len(rows), columns))
        if not chunks:
            return
        table = pa.Table.from_arrays([self._column(f, chunks) for f in self.schema], schema=self.schema)
        writer = self._writers.get(key)
        if writer is None:
            folder = self.root / f"contig={key[0]}"
            if self.bin_size:
                folder = folder / f"bin={key[1]}"
            folder.mkdir(parents=True, exist_ok=True)
            writer = pq.ParquetWriter(folder / f"part-{self.tag}.parquet", self.schema, compression="zstd")
            self._writers[key] = writer
        writer.write_table(table)

    def close(self) -> None:
        """Write what is buffered and close every file."""
        for key in list(self._chunks.keys() | self._rows.keys()):
            self._flush(key)
        for writer in self._writers.values():
            writer.close()
        self._writers.clear()


class _Coverage:
    """Covered intervals of one gVCF sample on one contig, merged as they arrive."""

    __slots__ = ("end", "runs", "start")

    def __init__(self) -> None:
        self.runs: list[tuple[int, int]] = []
        self.start = -1
        self.end = -2

    def add_many(self, starts: np.ndarray, ends: np.ndarray) -> None:
        """Add many intervals at once (merged with the rest by :meth:`merged`)."""
        if starts.size:
            self.runs.extend(zip(starts.tolist(), ends.tolist(), strict=True))

    def add(self, start: int, end: int) -> None:
        if self.start <= start <= self.end + 1:
            self.end = max(self.end, end)
            return
        if self.start >= 0:
            self.runs.append((self.start, self.end))
        self.start, self.end = start, end

    def merged(self) -> list[tuple[int, int]]:
        runs = [*self.runs, (self.start, self.end)] if self.start >= 0 else list(self.runs)
        if not runs:
            return []
        arr = np.array(runs, dtype=np.int64)
        arr = arr[np.argsort(arr[:, 0], kind="stable")]
        starts, ends = arr[:, 0], np.maximum.accumulate(arr[:, 1])
        # A run starts where an interval neither overlaps nor touches everything before it.
        first = np.ones(len(arr), dtype=bool)
        first[1:] = starts[1:] > ends[:-1] + 1
        heads = np.flatnonzero(first)
        tails = np.append(heads[1:] - 1, len(arr) - 1)
        return list(zip(starts[heads].tolist(), ends[tails].tolist(), strict=True))


def _complement(runs: list[tuple[int, int]], lo: int, hi: int) -> list[tuple[int, int]]:
    """Return the parts of ``[lo, hi]`` not in the sorted, merged ``runs``."""
    out = []
    cur = lo
    for s, e in runs:
        if s > cur:
            out.append((cur, min(s - 1, hi)))
        cur = max(cur, e + 1)
        if cur > hi:
            break
    if cur <= hi:
        out.append((cur, hi))
    return out


def _subtract(a: list[tuple[int, int]], b: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Return ``a`` minus ``b`` (both sorted and merged)."""
    out = []
    j = 0
    for s, e in a:
        cur = s
        while j < len(b) and b[j][1] < cur:
            j += 1
        k = j
        while k < len(b) and b[k][0] <= e:
            if b[k][0] > cur:
                out.append((cur, b[k][0] - 1))
            cur = max(cur, b[k][1] + 1)
            k += 1
        if cur <= e:
            out.append((cur, e))
    return out


def _fmt_int(rec: cyvcf2.Variant, name: str, formats: set[str]) -> np.ndarray | None:
    """Return a FORMAT integer field as an int64 array (missing as -1), or None if absent."""
    if name not in formats:
        return None
    arr = rec.format(name)
    if arr is None:
        return None
    arr = np.asarray(arr, dtype=np.int64)
    arr[arr < -(1 << 30)] = -1  # htslib's missing / vector-end sentinels
    return arr


def _raw_column(rec: cyvcf2.Variant, k: int) -> str:
    """Return column ``k`` (0-based) of a record as written in the file."""
    return str(rec).split("\t", k + 1)[k].rstrip("\n")


def _raw_info(rec: cyvcf2.Variant, key: str) -> str | None:
    """Return the text of INFO ``key`` as written, or None when the record has none."""
    for item in _raw_column(rec, 7).split(";"):
        name, _, value = item.partition("=")
        if name == key:
            return value
    return None


def _written_info(path: Path, recno: int, one_region: bool, key: str) -> str | None:
    """Return INFO ``key`` of data line ``recno`` as written in a text VCF (None for BCF or a region read).

    Read again from the file's start: only for an error message.
    """
    if one_region or str(path).endswith(".bcf"):
        return None
    try:
        with pysam.BGZFile(str(path), "rb") as fh:  # type: ignore[call-arg]  # reads plain, gzip and BGZF text alike
            n = 0
            for raw in fh:
                if raw.startswith(b"#"):
                    continue
                n += 1
                if n == recno:
                    fields = raw.decode(errors="replace").rstrip("\r\n").split("\t")
                    if len(fields) < 8:
                        return None
                    for item in fields[7].split(";"):
                        name, _, value = item.partition("=")
                        if name == key:
                            return value
                    return None
    except (OSError, UnicodeError):
        return None
    return None


def _bad_allele(path: Path, recno: int, rec: cyvcf2.Variant, sample: str, i: int, n_alts: int) -> LoadError:
    """Return the error for sample ``i``'s genotype naming an allele the record lacks (``2/2``, one ALT)."""
    fields = str(rec).rstrip("\n").split("\t")
    value = fields[9 + i].split(":")[0] if len(fields) > 9 + i else "?"
    return LoadError(
        f"{_record_id(path, recno, rec)}: sample {sample!r}: field GT: value {value!r} names an allele "
        f"beyond the record's {n_alts} ALT allele(s) {','.join(rec.ALT) or '.'}"
    )


def _record_id(path: Path, n: int, rec: cyvcf2.Variant | None) -> str:
    where = f"{path}: record {n}"
    if rec is not None:
        where += f" ({rec.CHROM}:{rec.start + 1})"  # POS is 32-bit in cyvcf2, start is not
    return where


def read_vcf(
    path: Path,
    samples: Sequence[SampleRecord],
    sample_idx: dict[str, int],
    calls: PartWriter,
    gaps: PartWriter,
    settings: Settings,
    reference: Reference | None = None,
    progress: Any = None,
    region: str | None = None,
) -> FileReport:
    """Stream one VCF/BCF/gVCF (or one contig of an indexed one) into ``calls`` and ``gaps``.

    Parameters
    ----------
    path
        The file. Its samples must be exactly the manifest rows that name it.
    samples
        Manifest rows whose ``vcf`` is this file.
    sample_idx
        Registry number of each sample id.
    calls, gaps
        Writers of :data:`~variantdb.schema.CALLS_SCHEMA` and :data:`~variantdb.schema.GAPS_SCHEMA` rows.
    settings
        adj thresholds.
    reference
        Check REF and left-align indels against it. Default None (trim only).
    progress
        Called with the number of records read since the last call, if given.
    region
        Read only this contig (as named in the file; needs a tabix/CSI index).
        Default None: the whole file.

    Raises
    ------
    LoadError
        Naming file, record, field and value.
    """
    report = FileReport(path=str(path))
    if not Path(path).is_file():
        raise LoadError(f"{path}: no such file")
    try:
        check_bgzf_eof(path)
    except TruncatedFileError as e:
        raise LoadError(str(e)) from None
    try:
        vcf = cyvcf2.VCF(str(path), gts012=False, strict_gt=False, lazy=True, threads=1)
    except OSError as e:
        raise LoadError(f"{path}: cannot read as VCF/BCF: missing or broken header ({e})") from None
    except Exception as e:
        raise LoadError(f"{path}: cannot open: {e}") from None
    try:
        _check_header(path, vcf, samples)
        order = [next(s for s in samples if s.sample_id == name) for name in vcf.samples]
        report.samples = len(order)
        records = vcf(region) if region is not None else vcf
        try:
            only = None if region is None else [canonical_contig(region)]
        except UnknownContigError:
            only = []
        # Without a record on a loaded contig, only the header can tell a gVCF
        # (every position then has no data) from a VCF with no variants.
        header_gvcf = "ID=NON_REF" in vcf.raw_header or "##GVCFBlock" in vcf.raw_header
        state = _State()
        if len(order) == 1 and _columns_ok(path, vcf):
            from variantdb.ingest.chunks import read_chunks

            sidx = sample_idx[order[0].sample_id]
            chunked = read_chunks(path, region, order[0], sidx, calls, gaps, settings, reference, report,
                                  progress, state)  # fmt: skip
        else:
            chunked = False
        if not chunked:  # the record reader, from the first record the column reader left (if any)
            _read_records(path, records, order, sample_idx, calls, gaps, settings, reference, report,
                          progress, only, state)  # fmt: skip
        idx = np.array([sample_idx[s.sample_id] for s in order], dtype=np.int64)
        _finish(state, report, header_gvcf, idx, gaps, only)
    finally:
        with contextlib.suppress(Exception):
            vcf.close()
    return report


def indexed_contigs(path: Path) -> list[str] | None:
    """Return the contigs of an indexed (tabix/CSI) VCF or BCF, in file order, or None if not indexed.

    An index older than its file is not trusted.
    """
    index = next((Path(f"{path}{ext}") for ext in (".tbi", ".csi") if Path(f"{path}{ext}").exists()), None)
    if index is None or index.stat().st_mtime < Path(path).stat().st_mtime:
        return None
    import pysam

    try:
        with pysam.VariantFile(str(path)) as vf:
            # The index lists only contigs that have records, in file order.
            return None if vf.index is None else [str(c) for c in vf.index.keys()]
    except (OSError, ValueError):
        return None


def _check_header(path: Path, vcf: cyvcf2.VCF, samples: Sequence[SampleRecord]) -> None:
    names = list(vcf.samples)
    if not names:
        raise LoadError(f"{path}: the header names no samples (a sites-only VCF has no genotypes to load)")
    for name in names:
        if looks_like_cpr(name):
            raise LoadError(
                f"{path}: header sample {name!r} looks like a Danish CPR number; only pseudonyms may be loaded"
            )
    if len(set(names)) != len(names):
        dup = [n for n, c in Counter(names).items() if c > 1]
        raise LoadError(f"{path}: the header names sample(s) {dup} twice")
    expected = {s.sample_id for s in samples}
    extra = [n for n in names if n not in expected]
    missing = sorted(expected - set(names))
    if extra:
        raise LoadError(
            f"{path}: sample(s) {extra[:10]} are in the VCF header but not in the manifest for this file; "
            "add them to the manifest or remove them from the VCF"
        )
    if missing:
        raise LoadError(
            f"{path}: manifest sample(s) {missing[:10]} are not in the VCF header (it has {names[:10]})"
        )
    try:
        seqnames, seqlens = list(vcf.seqnames), list(vcf.seqlens)
    except Exception:
        seqnames, seqlens = [], []
    for name, length in zip(seqnames, seqlens, strict=False):
        try:
            chrom = canonical_contig(name)
        except UnknownContigError:
            continue
        if length and length > 0 and length != CONTIG_LENGTHS[chrom]:
            raise LoadError(
                f"{path}: header contig {name} has length {length}, GRCh38 {chrom} has "
                f"{CONTIG_LENGTHS[chrom]}: the file looks aligned to another build"
            )


@dataclass
class _State:
    """What a file's read carries from one reader to the next: gVCF or not, coverage, records done."""

    gvcf: bool | None = None
    cov_raw: dict[str, list[_Coverage]] = field(default_factory=dict)
    cov_adj: dict[str, list[_Coverage]] = field(default_factory=dict)
    done: int = 0


def _read_records(
    path: Path,
    vcf: Any,
    order: list[SampleRecord],
    sample_idx: dict[str, int],
    calls: PartWriter,
    gaps: PartWriter,
    settings: Settings,
    reference: Reference | None,
    report: FileReport,
    progress: Any,
    only_contigs: list[str] | None,
    state: _State,
) -> None:
    """Judge records one at a time (any number of samples); skip the ``state.done`` records read already."""
    n = len(order)
    idx = np.array([sample_idx[s.sample_id] for s in order], dtype=np.int64)
    sex = np.array([_SEX_CODE[s.sex] for s in order], dtype=np.int64)
    # A gVCF is told by its records, not its header: every record of a gVCF
    # carries <NON_REF> (GATK) or <*> (bcftools), a plain VCF none.
    gvcf: bool | None = state.gvcf
    cov_raw, cov_adj = state.cov_raw, state.cov_adj
    skip = state.done
    ploidy_cache: dict[tuple[str, bool], np.ndarray] = {}
    min_gq, min_dp, min_ab = settings.adj_min_gq, settings.adj_min_dp, settings.adj_min_ab
    recno = 0
    rec: cyvcf2.Variant | None = None
    it = iter(vcf)
    pending = 0
    while True:
        try:
            rec = next(it)
        except StopIteration:
            break
        except Exception as e:
            raise LoadError(
                f"{path}: record {recno + 1} (after {recno} good records): corrupt or truncated input ({e})"
            ) from None
        recno += 1
        if recno <= skip:
            continue
        pending += 1
        if progress is not None and pending >= 10_000:
            progress(pending)
            pending = 0
        report.records += 1
        raw_chrom = rec.CHROM
        try:
            chrom = canonical_contig(raw_chrom)
        except UnknownContigError:
            report.other_contigs[raw_chrom] += 1
            continue
        # cyvcf2's POS is 32-bit and wraps (4295067422 reads as 100126); start is 64-bit.
        pos = int(rec.start) + 1
        ref = rec.REF
        length = CONTIG_LENGTHS[chrom]
        if pos < 1 or pos > length:
            raise LoadError(
                f"{path}: record {recno} ({raw_chrom}:{_raw_column(rec, 1)}): field POS: value "
                f"{_raw_column(rec, 1)} is outside GRCh38 {chrom} (1-{length})"
            )
        if not ref or not set(ref.upper()) <= _ACGTN:
            raise LoadError(
                f"{_record_id(path, recno, rec)}: field REF: value {ref!r} is not made of A, C, G, T, N"
            )
        ref = ref.upper()
        alts = list(rec.ALT)
        if gvcf is None:
            gvcf = report.gvcf = any(a in _SYMBOLIC_REF for a in alts)
        end_info = rec.INFO.get("END") if gvcf else None
        try:
            real_alts, is_block = split_alts(alts, gvcf, report.skipped)
        except _BadAltError as e:
            raise LoadError(
                f"{_record_id(path, recno, rec)}: field ALT: value {e.args[0]!r} is not made of A, C, G, T, N"
            ) from None
        if not real_alts and not is_block and alts:
            continue  # only star or symbolic alleles: nothing to count here
        # A record without an ALT (``ALT .``) lists no allele but still says whether
        # the sample was (confidently) called at POS: judged like a variant record.
        if not alts:
            report.reference_records += 1

        # The span a record's call covers: a block's [POS, END], or a variant's POS
        # and every position its alleles normalize to.
        normalized: list[tuple[int, Variant]] = []
        if real_alts:
            lo = hi = pos
            for k, alt in real_alts:
                try:
                    v = normalize(chrom, pos, ref, alt, reference)
                except InvalidVariantError as e:
                    raise LoadError(f"{_record_id(path, recno, rec)}: {e}") from None
                normalized.append((k, v))
                lo, hi = min(lo, v.pos), max(hi, v.pos)
        elif is_block:
            # htslib sets an END it cannot read (not an integer, past 2^31) to missing.
            unreadable = end_info is None and _raw_info(rec, "END") is not None
            lo, hi = pos, int(end_info) if end_info is not None else pos
            if unreadable or hi < pos or hi > length:
                written = _written_info(path, recno, only_contigs is not None, "END") or _raw_info(rec, "END")
                raise LoadError(
                    f"{_record_id(path, recno, rec)}: field INFO/END: value {written} is not a position "
                    f"in {pos}-{length} (a reference block ends at or after its POS)"
                )
        else:
            lo = hi = pos

        pkey = (chrom, is_par(chrom, pos))
        exp = ploidy_cache.get(pkey)
        if exp is None:
            exp = np.array([ploidy(s, chrom, pos) for s in _SEXES], dtype=np.int64)[sex]
            ploidy_cache[pkey] = exp

        gt = rec.genotype.array() if n else np.zeros((0, 3), dtype=np.int16)
        alleles = np.asarray(gt[:, :-1], dtype=np.int64)
        if alleles.size and int(alleles.max()) > len(alts):
            i = int(np.flatnonzero((alleles > len(alts)).any(axis=1))[0])
            raise _bad_allele(path, recno, rec, order[i].sample_id, i, len(alts))
        formats = set(rec.FORMAT)
        gq = np.asarray(rec.gt_quals, dtype=np.float64) if "GQ" in formats else np.full(n, np.nan)
        gq_int = np.where(np.isnan(gq), -1, np.minimum(gq, 32767)).astype(np.int64)
        dp = None
        if is_block and "MIN_DP" in formats:
            dp = _fmt_int(rec, "MIN_DP", formats)
        if dp is None:
            dp = _fmt_int(rec, "DP", formats)
        dp1 = np.full(n, -1, dtype=np.int64) if dp is None else dp[:, 0]
        ad = None if is_block else _fmt_int(rec, "AD", formats)
        j = judge(
            alleles,
            exp,
            is_block,
            gq,
            np.full(n, np.nan) if dp is None else dp1.astype(np.float64),
            ad,
            min_gq,
            min_dp,
            min_ab,
            report.skipped,
        )
        a0, a1, nocall, called, adj = j.a0, j.a1, j.nocall, j.called, j.adj
        counted = exp > 0

        if is_block:
            report.reference_blocks += 1
            _cover(cov_raw, cov_adj, chrom, n, called, adj, lo, hi)
            continue

        if normalized:
            report.variants += 1
            report.genotypes += int(counted.sum())
        filter_pass = rec.FILTER is None or rec.FILTER in ("PASS", ".")
        for k, v in normalized:
            dosage = (a0 == k).astype(np.int64) + (a1 == k)
            carriers = np.flatnonzero(called & (dosage > 0))
            dropped = (~counted) & (dosage > 0)
            if dropped.any():
                report.skipped["calls_where_sex_gives_no_allele"] += int(dropped.sum())
            if carriers.size == 0:
                continue
            report.calls += int(carriers.size)
            calls.add_rows(
                v.chrom,
                v.pos,
                int(carriers.size),
                {
                    "sample_idx": idx[carriers],
                    "chrom": v.chrom,
                    "pos": v.pos,
                    "ref": v.ref,
                    "alt": v.alt,
                    "dosage": dosage[carriers],
                    "ploidy": exp[carriers],
                    "adj": adj[carriers],
                    "filter_pass": filter_pass,
                    "gq": gq_int[carriers],
                    "dp": dp1[carriers],
                    "ad_alt": ad[carriers, k] if ad is not None and k < ad.shape[1] else -1,
                },
            )
        if gvcf:
            _cover(cov_raw, cov_adj, chrom, n, called, adj, lo, hi)
        else:
            sel = np.flatnonzero(counted & ~adj)
            gaps.add_rows(
                chrom,
                lo,
                int(sel.size),
                {"sample_idx": idx[sel], "chrom": chrom, "start": lo, "end": hi, "raw": nocall[sel]},
            )
    if progress is not None and pending:
        progress(pending)
    state.gvcf = gvcf


def _finish(
    state: _State,
    report: FileReport,
    header_gvcf: bool,
    idx: np.ndarray,
    gaps: PartWriter,
    only_contigs: list[str] | None,
) -> None:
    """Write a gVCF's gaps once every record is read."""
    if state.gvcf is None:
        state.gvcf = report.gvcf = header_gvcf
    if state.gvcf:
        _write_gvcf_gaps(idx, state.cov_raw, state.cov_adj, gaps, only_contigs)


_COLUMN_FORMATS = {
    "GT": ("1", "String"),
    "GQ": ("1", "Integer"),
    "DP": ("1", "Integer"),
    "AD": ("R", "Integer"),
}


def _columns_ok(path: Path, vcf: cyvcf2.VCF) -> bool:
    """Tell whether a one-sample file can be read in column chunks: a text VCF declaring the fields as usual."""
    if str(path).endswith(".bcf"):
        return False
    declared: dict[tuple[str, str], tuple[str, str]] = {}
    for h in vcf.header_iter():
        info = h.info()
        if info.get("HeaderType") in ("FORMAT", "INFO") and "ID" in info:
            declared[(str(info["HeaderType"]), str(info["ID"]))] = (
                str(info.get("Number")),
                str(info.get("Type")),
            )
    if any(declared.get(("FORMAT", k)) != v for k, v in _COLUMN_FORMATS.items()):
        return False
    if declared.get(("FORMAT", "MIN_DP"), ("1", "Integer")) != ("1", "Integer"):
        return False
    return declared.get(("INFO", "END"), ("1", "Integer")) == ("1", "Integer")


def _cover(
    cov_raw: dict[str, list[_Coverage]],
    cov_adj: dict[str, list[_Coverage]],
    chrom: str,
    n: int,
    called: np.ndarray,
    adj: np.ndarray,
    start: int,
    end: int,
) -> None:
    raw = cov_raw.get(chrom)
    if raw is None:
        raw = cov_raw[chrom] = [_Coverage() for _ in range(n)]
        cov_adj[chrom] = [_Coverage() for _ in range(n)]
    adjc = cov_adj[chrom]
    for i in np.flatnonzero(called).tolist():
        raw[i].add(start, end)
        if adj[i]:
            adjc[i].add(start, end)


def _write_gvcf_gaps(
    idx: np.ndarray,
    cov_raw: dict[str, list[_Coverage]],
    cov_adj: dict[str, list[_Coverage]],
    gaps: PartWriter,
    only_contigs: list[str] | None = None,
) -> None:
    """Write, per sample and contig, where a gVCF gives no call (raw) or no confident call (adj only)."""
    for chrom in CONTIGS if only_contigs is None else only_contigs:
        length = CONTIG_LENGTHS[chrom]
        for i, sidx in enumerate(idx.tolist()):
            if chrom not in cov_raw:
                gaps.add(chrom, 1, (sidx, chrom, 1, length, True))
                continue
            raw = cov_raw[chrom][i].merged()
            adj = cov_adj[chrom][i].merged()
            for s, e in _complement(raw, 1, length):
                gaps.add(chrom, s, (sidx, chrom, s, e, True))
            for s, e in _subtract(raw, adj):
                gaps.add(chrom, s, (sidx, chrom, s, e, False))
