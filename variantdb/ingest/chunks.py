"""Read a one-sample VCF or gVCF in column chunks: oxbow decodes, numpy judges.

oxbow (Rust, noodles) decodes a chunk of records into Arrow columns; the chunk is
checked and judged as arrays with the one set of genotype rules
(:func:`variantdb.ingest.genotypes.judge`). SNVs and reference blocks take no
per-record Python: their REF is checked against one fetch of the chunk's span.
Only the records that need Python (an indel to trim and left-align, a
multi-allelic to split, star or symbolic alleles, ALT-less records) go through
:func:`variantdb.variant.normalize` one by one.

A chunk with anything this reader does not judge the way the record reader does
(a bad field, an error to report, a FORMAT value that is ``.`` where the record
reader would tell ``.`` from absent) is left, with the rest of the file, to
:func:`variantdb.ingest.vcf._read_records`, which resumes at the chunk's first
record: a chunk is written only once all of it is judged, so nothing is written
twice and every error names the record as before.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from variantdb.genome import CONTIG_LENGTHS, UnknownContigError, canonical_contig, ploidy
from variantdb.ingest.genotypes import judge
from variantdb.ingest.vcf import (
    _SYMBOLIC_REF,
    FileReport,
    PartWriter,
    _BadAltError,
    _Coverage,
    _State,
    split_alts,
)
from variantdb.manifest import SampleRecord
from variantdb.settings import Settings
from variantdb.variant import InvalidVariantError, Reference, Variant, normalize

__all__ = ["read_chunks"]

CHUNK_RECORDS = 16_384
_WINDOW = 1 << 20


class _NeedsRecordReader(Exception):
    """The chunk holds something only the record reader judges (or reports) right."""


def read_chunks(
    path: Path,
    region: str | None,
    sample: SampleRecord,
    sidx: int,
    calls: PartWriter,
    gaps: PartWriter,
    settings: Settings,
    reference: Reference | None,
    report: FileReport,
    progress: Any,
    state: _State,
) -> bool:
    """Read a one-sample file chunk by chunk; return True when every record is read.

    On False, ``state.done`` records were read and judged, and the record reader
    takes the rest.
    """
    try:
        import oxbow
    except ImportError:
        return False
    ctx = _Context(sample, sidx, calls, gaps, settings, reference, state)
    try:
        index = next((f"{path}{e}" for e in (".tbi", ".csi") if Path(f"{path}{e}").exists()), None)
        source = oxbow.from_vcf(
            str(path),
            fields=["chrom", "pos", "ref", "alt", "filter"],
            info_fields=["END"],
            genotype_fields=["GT", "GQ", "DP", "AD", "MIN_DP"],
            samples="*",
            genotype_by="field",
            regions=region,
            index=index if region is not None else None,
            batch_size=CHUNK_RECORDS,
        )
        batches = iter(source.batches())
    except Exception:
        return False
    while True:
        try:
            batch = next(batches)
        except StopIteration:
            return True
        except Exception:
            return False
        try:
            rb = pa.record_batch(batch)
            chunk = FileReport(path=report.path)
            ctx.judge_chunk(rb, chunk)
        except (_NeedsRecordReader, InvalidVariantError, ValueError, TypeError, KeyError, IndexError):
            return False
        ctx.write()
        _merge(report, chunk)
        if chunk.gvcf:
            report.gvcf = True
        state.done += rb.num_rows
        if progress is not None:
            progress(rb.num_rows)


def _merge(report: FileReport, chunk: FileReport) -> None:
    for name in ("records", "reference_blocks", "reference_records", "variants", "calls", "genotypes"):
        setattr(report, name, getattr(report, name) + getattr(chunk, name))
    report.skipped.update(chunk.skipped)
    report.other_contigs.update(chunk.other_contigs)


def _ints(arr: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Return an integer column as float64 (NaN for null) and its null mask."""
    values = arr.to_numpy(zero_copy_only=False)
    values = np.asarray(values, dtype=np.float64)
    return values, np.isnan(values)


class _Context:
    """One file's reader: settings, the sample, and the chunk waiting to be written."""

    def __init__(
        self,
        sample: SampleRecord,
        sidx: int,
        calls: PartWriter,
        gaps: PartWriter,
        settings: Settings,
        reference: Reference | None,
        state: _State,
    ) -> None:
        self.sex = sample.sex
        self.sidx = sidx
        self.calls = calls
        self.gaps = gaps
        self.settings = settings
        self.reference = reference
        self.state = state
        self.pending_calls: list[tuple[str, np.ndarray, dict[str, Any]]] = []
        self.pending_gaps: list[tuple[str, dict[str, Any]]] = []
        self.pending_cover: list[tuple[str, np.ndarray, np.ndarray, np.ndarray]] = []

    def write(self) -> None:
        for chrom, pos, cols in self.pending_calls:
            self.calls.add_columns(chrom, pos, cols)
        for chrom, cols in self.pending_gaps:
            self.gaps.add_rows(chrom, int(cols["start"][0]), len(cols["start"]), cols)
        for chrom, lo, hi, adj in self.pending_cover:
            raw = self.state.cov_raw.get(chrom)
            if raw is None:
                raw = self.state.cov_raw[chrom] = [_Coverage()]
                self.state.cov_adj[chrom] = [_Coverage()]
            raw[0].add_many(lo, hi)
            self.state.cov_adj[chrom][0].add_many(lo[adj], hi[adj])
        self.pending_calls, self.pending_gaps, self.pending_cover = [], [], []

    def judge_chunk(self, rb: pa.RecordBatch, report: FileReport) -> None:
        self.pending_calls, self.pending_gaps, self.pending_cover = [], [], []
        m = rb.num_rows
        report.records += m
        chrom_col = rb.column("chrom")
        if isinstance(chrom_col, pa.DictionaryArray):
            names = chrom_col.dictionary.to_pylist()
            codes = chrom_col.indices.to_numpy(zero_copy_only=False)
        else:
            names, inverse = np.unique(chrom_col.to_numpy(zero_copy_only=False), return_inverse=True)
            names, codes = list(names), inverse
        canon: list[str | None] = []
        for name in names:
            try:
                canon.append(canonical_contig(name))
            except UnknownContigError:
                canon.append(None)
        known = np.array([c is not None for c in canon], dtype=bool)[codes] if m else np.zeros(0, bool)
        for code, c in enumerate(canon):
            if c is None and (codes == code).any():
                report.other_contigs[names[code]] += int((codes == code).sum())
        pos = rb.column("pos").to_numpy(zero_copy_only=False).astype(np.int64)
        lengths = np.array([CONTIG_LENGTHS[c] if c else 0 for c in canon], dtype=np.int64)[codes]
        if ((pos < 1) | (pos > lengths))[known].any():
            raise _NeedsRecordReader
        ref_col = pc.utf8_upper(rb.column("ref"))
        ref_ok = pc.all(pc.match_substring_regex(pc.filter(ref_col, pa.array(known)), "^[ACGTN]+$")).as_py()
        if ref_ok is False:
            raise _NeedsRecordReader
        alt_col = rb.column("alt")
        nalt = pc.list_value_length(alt_col).fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64)
        flat = pc.utf8_upper(pc.list_flatten(alt_col))
        starts = alt_col.offsets.to_numpy()[:-1].astype(np.int64)
        nflat = len(flat)

        def alt_at(k: int) -> np.ndarray:
            idx = np.clip(starts + k, 0, max(nflat - 1, 0))
            vals = flat.take(pa.array(idx)).to_numpy(zero_copy_only=False) if nflat else np.full(m, "")
            return np.where(nalt > k, vals, "")

        first, second = alt_at(0), alt_at(1)
        refs = ref_col.to_numpy(zero_copy_only=False)
        symbolic = np.isin(first, list(_SYMBOLIC_REF))
        if self.state.gvcf is None and known.any():
            i = int(np.flatnonzero(known)[0])
            alts_i = [str(a).upper() for a in (alt_col[i].as_py() or [])]
            self.state.gvcf = any(a in _SYMBOLIC_REF for a in alts_i)
            report.gvcf = self.state.gvcf
        gvcf = bool(self.state.gvcf)
        block = known & (nalt == 1) & symbolic & gvcf
        ref_len = np.fromiter((len(r) for r in refs), dtype=np.int64, count=m)
        first_len = np.fromiter((len(a) for a in first), dtype=np.int64, count=m)
        snv = (
            known
            & (ref_len == 1)
            & (first_len == 1)
            & np.isin(first, ["A", "C", "G", "T", "N"])
            & (first != refs)
            & ((nalt == 1) | ((nalt == 2) & np.isin(second, list(_SYMBOLIC_REF))))
        )
        slow = known & ~block & ~snv

        # Genotypes: alleles padded with -2, a missing allele -1.
        gt = rb.column("GT").field(0).field("allele")
        gt_len = pc.list_value_length(gt).fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64)
        width = max(2, int(gt_len.max()) if m else 2)
        alleles = np.full((m, width), -2, dtype=np.int64)
        gt_vals = pc.list_flatten(gt).fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
        rows = np.repeat(np.arange(m), gt_len)
        cols = np.arange(len(gt_vals)) - np.repeat(np.cumsum(gt_len) - gt_len, gt_len)
        alleles[rows, cols] = gt_vals
        if (alleles > nalt[:, None]).any(axis=1)[known].any():
            raise _NeedsRecordReader
        gt_missing = (gt_len == 0) | (alleles == -1).any(axis=1)

        gq, gq_null = _ints(rb.column("GQ").field(0))
        dp, dp_null = _ints(rb.column("DP").field(0))
        if "MIN_DP" in rb.schema.names:
            min_dp, min_dp_null = _ints(rb.column("MIN_DP").field(0))
        else:
            min_dp, min_dp_null = np.full(m, np.nan), np.ones(m, dtype=bool)
        ad_col = rb.column("AD").field(0)
        ad_len = pc.list_value_length(ad_col).fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64)
        ad_null = ad_col.is_null().to_numpy(zero_copy_only=False)
        ad_width = max(int(ad_len.max()) if m else 0, 1)
        ad = np.full((m, ad_width), -1, dtype=np.int64)
        ad_vals = pc.list_flatten(ad_col).fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
        rows = np.repeat(np.arange(m), ad_len)
        cols = np.arange(len(ad_vals)) - np.repeat(np.cumsum(ad_len) - ad_len, ad_len)
        ad[rows, cols] = ad_vals
        # A called genotype whose GQ or DP reads as null: '.' (fails adj) or absent (not
        # checked) cannot be told apart here, so the record reader judges it.
        called_like = known & ~gt_missing
        has_min_dp = "MIN_DP" in rb.schema.names
        block_dp = np.where(min_dp_null, dp, min_dp)
        if (
            (called_like & gq_null).any()
            or (called_like & ~block & dp_null).any()
            or (called_like & block & (min_dp_null if has_min_dp else dp_null)).any()
        ):
            raise _NeedsRecordReader
        het_like = called_like & ~block & (alleles[:, 0] != alleles[:, 1]) & (alleles[:, 1] >= 0)
        if (het_like & ad_null).any():
            raise _NeedsRecordReader

        info = rb.column("info")
        if info.type.get_field_index("END") >= 0:
            end, end_null = _ints(info.field("END"))
        else:
            end, end_null = np.full(m, np.nan), np.ones(m, dtype=bool)
        lo = pos.copy()
        hi = np.where(block, np.nan_to_num(end, nan=-1).astype(np.int64), pos)
        if (block & (end_null | (hi < pos) | (hi > lengths))).any():
            raise _NeedsRecordReader

        if self.reference is not None and (snv | slow).any():
            self._check_ref(canon, codes, pos, refs, snv, slow)

        # Records that need Python: indels, multi-allelics, star and symbolic alleles, no ALT.
        skip = ~known.copy()
        slow_variants: dict[int, list[tuple[int, Variant]]] = {}
        for i in np.flatnonzero(slow).tolist():
            chrom = canon[codes[i]]
            assert chrom is not None
            alts = [str(a).upper() for a in (alt_col[i].as_py() or [])]
            try:
                real, is_block = split_alts(alts, gvcf, report.skipped)
            except _BadAltError:
                raise _NeedsRecordReader from None  # the record reader names the record
            if is_block:
                raise _NeedsRecordReader  # a multi-symbolic block: the record reader's case
            if not real and alts:
                skip[i] = True
                continue
            if not alts:
                report.reference_records += 1
            normalized = [
                (k, normalize(chrom, int(pos[i]), str(refs[i]), alt, self.reference)) for k, alt in real
            ]
            slow_variants[i] = normalized
            if normalized:
                lo[i] = min(int(pos[i]), *(v.pos for _, v in normalized))
                hi[i] = max(int(pos[i]), *(v.pos for _, v in normalized))

        exp = np.full(m, 2, dtype=np.int64)
        for code, c in enumerate(canon):
            if c is None:
                continue
            sel = np.flatnonzero(codes == code)
            if c in ("chrX", "chrY", "chrM"):
                exp[sel] = [ploidy(self.sex, c, p) for p in pos[sel].tolist()]
            else:
                exp[sel] = ploidy(self.sex, c, 1)

        s = self.settings
        use = ~skip
        j = judge(
            alleles[use],
            exp[use],
            block[use],
            gq[use],
            np.where(block, block_dp, dp)[use],
            ad[use],
            s.adj_min_gq,
            s.adj_min_dp,
            s.adj_min_ab,
            report.skipped,
        )
        rows_used = np.flatnonzero(use)
        counted = exp[use] > 0
        is_block = block[use]
        report.reference_blocks += int(is_block.sum())
        filt = rb.column("filter")
        filt_len = pc.list_value_length(filt).fill_null(0).to_numpy(zero_copy_only=False)
        filter_pass = filt_len == 0
        if (filt_len == 1).any():
            one = np.flatnonzero(filt_len == 1)
            vals = [filt[int(i)].as_py() for i in one]
            filter_pass[one] = [v == ["PASS"] for v in vals]
        gq_int = np.where(np.isnan(gq), -1, np.minimum(gq, 32767)).astype(np.int64)
        dp_int = np.where(np.isnan(dp), -1, dp).astype(np.int64)

        # Variant records: report, then calls of each allele.
        is_snv = snv[use]
        has_variant = is_snv.copy()
        for n_i, i in enumerate(rows_used.tolist()):
            if slow_variants.get(i):
                has_variant[n_i] = True
        report.variants += int(has_variant.sum())
        report.genotypes += int((has_variant & counted).sum())

        # (row in use, allele k, variant pos, ref, alt) of every allele to count.
        call_row: list[np.ndarray] = []
        call_k: list[np.ndarray] = []
        call_pos: list[np.ndarray] = []
        call_ref: list[np.ndarray] = []
        call_alt: list[np.ndarray] = []
        snv_rows = np.flatnonzero(is_snv)
        call_row.append(snv_rows)
        call_k.append(np.ones(snv_rows.size, dtype=np.int64))
        call_pos.append(pos[rows_used[snv_rows]])
        call_ref.append(refs[rows_used[snv_rows]])
        call_alt.append(first[rows_used[snv_rows]])
        extra = [(n_i, k, v) for n_i, i in enumerate(rows_used.tolist()) for k, v in slow_variants.get(i, [])]
        if extra:
            call_row.append(np.array([e[0] for e in extra], dtype=np.int64))
            call_k.append(np.array([e[1] for e in extra], dtype=np.int64))
            call_pos.append(np.array([e[2].pos for e in extra], dtype=np.int64))
            call_ref.append(np.array([e[2].ref for e in extra], dtype=object))
            call_alt.append(np.array([e[2].alt for e in extra], dtype=object))
        crow = np.concatenate(call_row)
        ck = np.concatenate(call_k)
        cpos = np.concatenate(call_pos)
        cref = np.concatenate(call_ref).astype(object)
        calt = np.concatenate(call_alt).astype(object)
        order = np.lexsort((ck, crow))
        crow, ck, cpos, cref, calt = crow[order], ck[order], cpos[order], cref[order], calt[order]
        dosage = (j.a0[crow] == ck).astype(np.int64) + (j.a1[crow] == ck)
        dropped = ~counted[crow] & (dosage > 0)
        if dropped.any():
            report.skipped["calls_where_sex_gives_no_allele"] += int(dropped.sum())
        carrier = j.called[crow] & (dosage > 0)
        report.calls += int(carrier.sum())
        sel = np.flatnonzero(carrier)
        src = rows_used[crow[sel]]
        ad_alt = np.where(ck[sel] < ad_width, ad[src, np.minimum(ck[sel], ad_width - 1)], -1)
        chroms = np.array(canon, dtype=object)[codes[src]] if sel.size else np.zeros(0, dtype=object)
        for c in dict.fromkeys(chroms.tolist()):
            here = chroms == c if len(set(chroms.tolist())) > 1 else slice(None)
            rs = src[here]
            self.pending_calls.append(
                (
                    c,
                    cpos[sel][here],
                    {
                        "sample_idx": self.sidx,
                        "chrom": c,
                        "pos": cpos[sel][here],
                        "ref": cref[sel][here],
                        "alt": calt[sel][here],
                        "dosage": dosage[sel][here],
                        "ploidy": exp[rs],
                        "adj": j.adj[crow[sel]][here],
                        "filter_pass": filter_pass[rs],
                        "gq": gq_int[rs],
                        "dp": dp_int[rs],
                        "ad_alt": ad_alt[here],
                    },
                )
            )

        # Coverage (gVCF) or gaps (VCF): one interval per record judged.
        ulo, uhi = lo[use], hi[use]
        ucodes = codes[use]
        for code, c in enumerate(canon):
            if c is None:
                continue
            here = ucodes == code
            if not here.any():
                continue
            if gvcf:
                cov = here & j.called
                self.pending_cover.append((c, ulo[cov], uhi[cov], j.adj[cov]))
            else:
                g = np.flatnonzero(here & counted & ~j.adj)
                if g.size:
                    self.pending_gaps.append(
                        (
                            c,
                            {
                                "sample_idx": self.sidx,
                                "chrom": c,
                                "start": ulo[g],
                                "end": uhi[g],
                                "raw": j.nocall[g],
                            },
                        )
                    )

    def _check_ref(
        self,
        canon: list[str | None],
        codes: np.ndarray,
        pos: np.ndarray,
        refs: np.ndarray,
        snv: np.ndarray,
        slow: np.ndarray,
    ) -> None:
        """Read the chunk's span of the reference once; check every SNV's REF against it (N matches anything).

        The span stays in the reference's cache for the indels that :func:`normalize` left-aligns.
        """
        assert self.reference is not None
        for code, c in enumerate(canon):
            if c is None:
                continue
            here = codes == code
            # One read per megabase window the chunk touches (a sparse file's chunk may span a contig).
            window = np.where(here & (snv | slow), pos // _WINDOW, -1)
            for w in np.unique(window[window >= 0]).tolist():
                base = max(1, w * _WINDOW - 200)
                seq = self.reference.preload(c, base, (w + 1) * _WINDOW + 200)
                sel = np.flatnonzero((window == w) & snv)
                if not sel.size:
                    continue
                p = pos[sel]
                if int(p.max()) - base >= len(seq):
                    raise _NeedsRecordReader
                actual = np.frombuffer(seq.encode("ascii"), dtype=np.uint8)[p - base]
                mine = np.frombuffer("".join(refs[sel].tolist()).encode("ascii"), dtype=np.uint8)
                n = ord("N")
                if ((actual != mine) & (actual != n) & (mine != n)).any():
                    raise _NeedsRecordReader
