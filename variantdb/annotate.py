"""Annotate a patient's VCF or BCF with a release's frequencies, as gnomAD-named INFO fields.

Interpreting labs classify every variant of a genome (~5 million records) against
the national counts. This module streams the file with pysam in chunks, splits
each record's ALT alleles and normalizes each with the loader's own code
(:func:`variantdb.variant.normalize`, left-aligned with the release's reference
when ``release.json`` names one), joins the chunk against the release's
memory-mapped index (:class:`variantdb.release.index.ReleaseIndex`) with vectorized
searches, and writes the same records with ``AC``, ``AN``, ``AF``, ``nhomalt``
... added (names from :func:`variantdb.schema.vcf_info_name`, optionally prefixed).

The INFO fields are declared as gnomAD declares them (:func:`variantdb.schema.vcf_info_number`):
every value is per ALT allele (``Number=A``) but the called alleles, ``AN`` (``Number=1``).
Each ALT normalizes to its own variant, and two alleles of one record can have
different called alleles (a gVCF sample covers an SNV's position but not a
deletion's): ``AF`` uses each ALT's own AN, and a multi-allelic record's ``AN`` is
the smallest of its ALTs' (so "absent among AN alleles" holds for every one). A variant the
release does not hold gets ``AC=0`` and the AN the release's AN track gives at its
normalized position (``AN=0``, ``AF=.``: no data there). An ALT that cannot be a
GRCh38 variant (symbolic, ``*``, other contigs, a REF that disagrees with the
reference) gets ``.`` and is counted in the report.

Memory stays flat: one chunk of records is held at a time, and the pages of the
index a chunk touched are released after it (they stay in the page cache).
"""

from __future__ import annotations

import contextlib
import mmap
import re
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import numpy as np

from variantdb.bgzf import TruncatedFileError, check_bgzf_eof
from variantdb.errors import VariantdbError
from variantdb.frequency import af_array
from variantdb.genome import CONTIG_INDEX, CONTIG_LENGTHS, CONTIGS, UnknownContigError, canonical_contig
from variantdb.release.files import read_current, read_release_meta
from variantdb.release.index import ReleaseIndex
from variantdb.release.meta import ReleaseMeta
from variantdb.schema import COUNT_FIELDS, vcf_info_name, vcf_info_number
from variantdb.schema import strata as all_strata
from variantdb.seen import SEEN_STATES, seen_states
from variantdb.store.layout import ReleaseNotFoundError, release_path
from variantdb.variant import InvalidVariantError, Reference, normalize
from variantdb.verdict import DiseaseArchitecture, compute_verdicts

__all__ = [
    "DEFAULT_FIELDS",
    "AnnotateError",
    "AnnotateReport",
    "Annotator",
    "IndexJoin",
    "annotate_vcf",
    "parse_list",
]

DEFAULT_FIELDS: Final = ("ac", "an", "af", "homozygote_count")
_STRATUM_FIELDS: Final = ("ac", "an", "af", "faf95", "faf99", "homozygote_count", "hemizygote_count")
_CHUNK: Final = 20_000
_WIDTH: Final = 32  # alleles up to this many bytes ("REF>ALT") are compared in numpy; longer ones in Python
_WINDOW: Final = 1 << 20  # the reference is read once per megabase a chunk's SNVs touch
#: ``(REF, ALT)`` of a one-ALT SNV as pysam gives it -> ``b"REF>ALT"`` (upper case), the index's encoding.
_SNV: Final[dict[tuple[str, ...], bytes]] = {
    (r, a): f"{r.upper()}>{a.upper()}".encode()
    for r in "ACGTNacgtn"
    for a in "ACGTNacgtn"
    if r.upper() != a.upper()
}
_INFO_ID = re.compile(r"^[A-Za-z_][0-9A-Za-z_.]*$")
#: What each count means, from the one declaration of the release's columns (variantdb.schema).
_DESCRIBE: Final = {name: desc for name, (_, desc) in COUNT_FIELDS.items()}
_GROUP_DOC: Final = {
    "": "adj genotypes of founders",
    "_raw": "all genotypes of founders",
    "_all": "adj genotypes of all samples",
}


class AnnotateError(VariantdbError, ValueError):
    """Input that cannot be annotated; the message names the file, record or option and what to do."""


@dataclass
class AnnotateReport:
    """What one annotation run read and wrote."""

    input: str
    output: str
    release: str
    records: int = 0
    alleles: int = 0
    found: int = 0
    absent: int = 0
    states: Counter[str] = field(default_factory=Counter)
    not_annotated: Counter[str] = field(default_factory=Counter)
    replaced_info: list[str] = field(default_factory=list)
    indexed: bool = False
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        """Return the report as plain JSON-ready data."""
        return {
            "input": self.input,
            "output": self.output,
            "release": self.release,
            "records": self.records,
            "alleles": self.alleles,
            "found": self.found,
            "absent": self.absent,
            "states": {state: self.states.get(state, 0) for state in SEEN_STATES},
            "not_annotated": dict(self.not_annotated),
            "replaced_info": self.replaced_info,
            "indexed": self.indexed,
            "seconds": round(self.seconds, 3),
        }


def parse_list(text: str | None) -> list[str]:
    """Split a comma-separated option (``ac,an,af``) into stripped, lower-case, non-empty names."""
    if not text:
        return []
    return [p.strip().lower() for p in text.split(",") if p.strip()]


@dataclass(frozen=True)
class _Column:
    """One INFO field written: the release column it comes from and how."""

    column: str  # release column, e.g. "ac_sex_xx"
    info_id: str  # INFO ID, e.g. "NGC_AC_sex_xx"
    is_af: bool  # computed as ac / an, or lambda(ac) / an for a faf
    source: int  # position in the count tuple (the ac position for af)
    an_source: int  # position of the matching an in the count tuple (af only), else -1
    an_track: int  # position in the AN-track tuple for absent variants (an and af), else -1
    vcf_type: str  # "Integer" or "Float"
    description: str
    number: str  # VCF Number: "A", or "1" for AN
    faf: str | None = None  # "faf95" / "faf99": numerator lambda(ac) from the index's table


def _ratio_base(col: str, index: ReleaseIndex) -> str | None:
    """Return ``af`` / ``faf95`` / ``faf99`` when ``col`` is such a ratio of the release, else None."""
    for base in ("faf95", "faf99", "af"):
        if col == base or col.startswith(base + "_"):
            if base != "af" and base not in getattr(index, "faf_lambda", {}):
                return None
            return base
    return None


def _describe(column: str, release: str) -> str:
    base = next(
        (b for b in sorted(_DESCRIBE, key=len, reverse=True) if column == b or column.startswith(b + "_")), ""
    )
    rest = column[len(base) :]
    if rest in _GROUP_DOC:
        who = _GROUP_DOC[rest]
    else:
        key = rest[1:]
        s = next((s for s in all_strata() if s.key == key), None)
        who = f"adj founders with {s.kind} {s.value}" if s is not None else f"stratum {key}"
    what = _DESCRIBE.get(base, column)
    per = (
        "per record: the smallest over its ALT alleles after splitting and normalizing"
        if vcf_info_number(column) == "1"
        else "per ALT allele after splitting and normalizing"
    )
    return f"variantdb release {release}: {what}; {who}; {per}"


def _resolve_columns(
    index: ReleaseIndex, fields: Sequence[str], strata: Sequence[str], prefix: str, release: str
) -> list[_Column]:
    """Turn ``--fields`` and ``--strata`` into the INFO columns to write, refusing unknown names."""
    pos = {f: i for i, f in enumerate(index.fields)}
    an_pos = {f: i for i, f in enumerate(index.an_fields)}
    if prefix and not _INFO_ID.match(prefix):
        raise AnnotateError(
            f"--prefix {prefix!r}: an INFO prefix is letters, digits, '_' and '.', not starting with a digit"
        )

    def known(col: str) -> bool:
        base = _ratio_base(col, index)
        if col in pos or base is None:
            return col in pos
        rest = col[len(base) :]
        return "ac" + rest in pos and "an" + rest in pos

    bad = [f for f in fields if not known(f)]
    if bad:
        stratum_keys = {s.key for s in all_strata()}
        choices = sorted(
            {f for f in index.fields if not any(f.endswith("_" + k) for k in stratum_keys)}
            | {
                b + g
                for g in _GROUP_DOC
                for b in ("af", *getattr(index, "faf_lambda", {}))
                if "ac" + g in pos
            }
        )
        raise AnnotateError(f"--fields: unknown field(s) {', '.join(bad)}; choose from {', '.join(choices)}")
    keys = [f[3:] for f in index.fields if f.startswith("ac_") and f not in ("ac_raw", "ac_all")]
    kinds = {s.key: s.kind for s in all_strata()}
    chosen: list[str] = []
    for item in strata:
        if item == "all":
            matched = keys
        else:
            matched = [
                k
                for k in keys
                if k == item or kinds.get(k, k.split("_", 1)[0]) == item or k.split("_", 1)[0] == item
            ]
        if not matched:
            raise AnnotateError(
                f"--strata: {item!r} is not a stratum of release {release}; use all, a kind (sex, region, "
                f"patient_group) or a key: {', '.join(keys)}"
            )
        chosen += [k for k in matched if k not in chosen]
    names = list(dict.fromkeys(fields))
    for key in chosen:
        for f in _STRATUM_FIELDS:
            if f in names and known(f"{f}_{key}"):
                names.append(f"{f}_{key}")
    if not names:
        raise AnnotateError("--fields: no field to write; e.g. --fields ac,an,af,homozygote_count")
    dtypes = index.values.dtype
    out = []
    for col in names:
        info_id = prefix + vcf_info_name(col)
        if not _INFO_ID.match(info_id):
            raise AnnotateError(f"INFO name {info_id!r} of field {col} is not a valid VCF INFO ID")
        if col in pos:
            is_af, source, an_source = False, pos[col], -1
            vtype = "Float" if dtypes[col].kind == "f" else "Integer"
            track = an_pos.get(col, -1) if col.startswith("an") else -1
        else:
            base = _ratio_base(col, index) or "af"
            rest = col[len(base) :]
            is_af, source, an_source = True, pos["ac" + rest], pos["an" + rest]
            vtype, track = "Float", an_pos.get("an" + rest, -1)
        faf = None if col in pos or base == "af" else base
        out.append(
            _Column(
                col,
                info_id,
                is_af,
                source,
                an_source,
                track,
                vtype,
                _describe(col, release),
                vcf_info_number(col),
                faf,
            )
        )
    return out


class IndexJoin:
    """Vectorized joins of normalized variants against a :class:`~variantdb.release.index.ReleaseIndex`.

    :meth:`rows` gives the same answer as ``ReleaseIndex.find_many`` (the row, or
    -1 where absent) with numpy doing the search and the byte comparison of
    ``REF>ALT`` for a whole chunk at once.
    """

    def __init__(self, index: ReleaseIndex) -> None:
        self.index = index
        self.n = len(index)
        self.keys = index.keys
        self.off = index.allele_offsets
        self.alleles = index.alleles

    def rows(self, keys: np.ndarray, wants: Sequence[bytes]) -> np.ndarray:
        """Return the row of each query (``-1`` where absent).

        Parameters
        ----------
        keys
            int64 ``contig index << 32 | 1-based pos`` of each normalized variant (-1: skip).
        wants
            ``b"REF>ALT"`` of each variant, the index's allele encoding.
        """
        m = len(keys)
        out = np.full(m, -1, dtype=np.int64)
        if m == 0 or self.n == 0:
            return out
        cur = np.searchsorted(self.keys, keys, side="left").astype(np.int64)
        want_len = np.fromiter((len(w) for w in wants), dtype=np.int64, count=m)
        width = int(min(_WIDTH, max(1, int(want_len.max()))))
        wmat = np.frombuffer(np.array(wants, dtype=f"S{width}").tobytes(), dtype=np.uint8).reshape(m, width)
        cols = np.arange(width, dtype=np.int64)
        last = len(self.alleles) - 1
        pending = np.flatnonzero(keys >= 0)
        while pending.size:
            i = cur[pending]
            ok = i < self.n
            pending, i = pending[ok], i[ok]
            hit = np.asarray(self.keys[i]) == keys[pending]
            pending, i = pending[hit], i[hit]
            if not pending.size:
                break
            a = np.asarray(self.off[i]).astype(np.int64)
            length = np.asarray(self.off[i + 1]).astype(np.int64) - a
            wl = want_len[pending]
            same_len = length == wl
            idx = np.minimum(a[:, None] + cols[None, :], last)
            got = np.where(cols[None, :] < length[:, None], np.asarray(self.alleles[idx]), 0)
            eq = same_len & (wl <= width) & np.all(got == wmat[pending], axis=1)
            for j in np.flatnonzero(same_len & (wl > width)).tolist():
                eq[j] = bytes(self.alleles[a[j] : a[j] + length[j]]) == wants[pending[j]]
            out[pending[eq]] = i[eq]
            pending, cur_next = pending[~eq], i[~eq] + 1
            cur[pending] = cur_next
        return out

    def an_segments(self, keys: np.ndarray) -> np.ndarray:
        """Return the AN-track segment of each key (``-1`` where the track has none)."""
        idx = self.index
        if len(idx.an_starts) == 0 or len(keys) == 0:
            return np.full(len(keys), -1, dtype=np.int64)
        j = np.searchsorted(idx.an_starts, keys, side="right").astype(np.int64) - 1
        ok = (j >= 0) & (keys >= 0)
        ends = np.asarray(idx.an_ends[np.maximum(j, 0)])
        ok &= ends >= keys
        return np.where(ok, j, -1)

    def release_pages(self) -> None:
        """Drop the index pages this process mapped (they stay in the shared page cache)."""
        idx = self.index
        for arr in (
            idx.keys,
            idx.allele_offsets,
            idx.alleles,
            idx.values,
            idx.an_starts,
            idx.an_ends,
            idx.an_values,
        ):
            mm = getattr(arr, "_mmap", None)
            if mm is not None and hasattr(mmap, "MADV_DONTNEED"):
                with contextlib.suppress(OSError, ValueError):
                    mm.madvise(mmap.MADV_DONTNEED)


def _check_declared(src: Path, header: Any, declared: str, upto: int) -> None:
    """Refuse input whose records use a contig, INFO or FORMAT its header does not declare.

    htslib adds a line to the input header when it meets one, which would no
    longer match the output header already written.
    """
    now = str(header)
    if now != declared:
        added = [ln for ln in now.splitlines() if ln not in set(declared.splitlines())]
        raise AnnotateError(
            f"{src}: a record before record {upto + 1} uses something its header does not declare "
            f"({'; '.join(added[:3])}); add the header lines (bcftools reheader, or index the file "
            "with tabix for contigs) and annotate again"
        )


def _open_input(path: Path) -> Any:
    import pysam

    try:
        check_bgzf_eof(path)
    except TruncatedFileError as e:
        raise AnnotateError(str(e)) from None
    try:
        return pysam.VariantFile(str(path), "r")
    except (OSError, ValueError) as e:
        raise AnnotateError(
            f"{path}: not a readable VCF or BCF ({e}); give a VCF (plain or bgzipped) or BCF with a header"
        ) from None


def _check_contigs(path: Path, header: Any) -> None:
    """Refuse a file whose header gives a GRCh38 contig another length: it is another build."""
    for name, contig in header.contigs.items():
        try:
            chrom = canonical_contig(name)
        except UnknownContigError:
            continue
        length = contig.length
        if length is not None and int(length) != CONTIG_LENGTHS[chrom]:
            raise AnnotateError(
                f"{path}: header contig {name} has length {length}, GRCh38 {chrom} has {CONTIG_LENGTHS[chrom]}: "
                "the file is not on GRCh38; lift it over first"
            )


class _TextOut:
    """A VCF written as text: the header, then each record as htslib formats it; bgzf when ``gz``.

    ``write(rec)`` writes a pysam record as ``VariantFile.write`` would (``str(rec)``
    is htslib's ``vcf_format``); ``write_lines`` writes records already formatted.
    """

    def __init__(self, dst: Path, gz: bool, header: Any) -> None:
        import pysam

        self.header = header
        self._fh: Any = pysam.BGZFile(str(dst), "wb", index=None) if gz else open(dst, "wb")
        self._fh.write(str(header).encode())

    def write(self, rec: Any) -> None:
        self._fh.write(str(rec).encode())

    def write_lines(self, lines: list[str]) -> None:
        self._fh.write("".join(lines).encode())

    def __enter__(self) -> _TextOut:
        return self

    def __exit__(self, *exc: object) -> None:
        self._fh.close()


class Annotator:
    """Annotate VCF files against one open release.

    Parameters
    ----------
    index
        The release's open index.
    release
        The release id, written in the header.
    reference
        The release's reference (indels are left-aligned as the loader did); None: trim only.
    fields
        Release columns to write (``ac``, ``an``, ``af``, ``homozygote_count``,
        ``hemizygote_count``, ``n_carriers``, and ``_raw`` / ``_all`` forms). Default
        :data:`DEFAULT_FIELDS`.
    strata
        Strata to add for the stratum fields among ``fields``: ``all``, a kind
        (``sex``, ``region``, ``patient_group``) or stratum keys (``sex_xx``). Default none.
    prefix
        Put before every INFO name (``NGC_`` gives ``NGC_AC``). Default none.
    verdict
        A disease architecture (:func:`variantdb.verdict.architecture_for`): add
        ``maxCredibleAF`` (Number=1), ``maxTolAC``, ``ACMG_freq`` (criteria met,
        ``&``-joined, ``none`` when none) and ``freqVerdict`` (the state), all
        Number=A but the first, prefixed. Default None: no verdict fields.
    verdict_group
        The patient group (code) whose founders the verdict's counts leave out
        (``ac``, ``an`` and each region's AC less the group's; the region
        maximum faf95 is then a lower bound). Default None: everyone.
    """

    def __init__(
        self,
        index: ReleaseIndex,
        release: str,
        reference: Reference | None = None,
        fields: Sequence[str] = DEFAULT_FIELDS,
        strata: Sequence[str] = (),
        prefix: str = "",
        verdict: DiseaseArchitecture | None = None,
        verdict_group: str | None = None,
    ) -> None:
        self.index = index
        self.release = release
        self.reference = reference
        self.columns = _resolve_columns(index, list(fields) or list(DEFAULT_FIELDS), strata, prefix, release)
        self.verdict = verdict
        self.verdict_group = verdict_group
        self.verdict_ids = {k: prefix + k for k in ("maxCredibleAF", "maxTolAC", "ACMG_freq", "freqVerdict")}
        if verdict_group is not None and f"ac_group_{verdict_group}" not in index.fields:
            raise AnnotateError(
                f"--patient-group {verdict_group!r}: not a patient group of release {release}"
            )
        self.join = IndexJoin(index)
        self._contigs: dict[str, int] = {}
        self._contig_span: dict[str, tuple[int, int]] = {}
        self._lambdas: dict[str, np.ndarray] = {}

    def annotate(
        self,
        src: Path,
        dst: Path,
        *,
        release_pages: bool = True,
        progress: Callable[[int], None] | None = None,
        compress: bool | None = None,
    ) -> AnnotateReport:
        """Annotate ``src`` into ``dst``; return what was done.

        Parameters
        ----------
        src, dst
            Input VCF/BCF (plain, gzipped or bgzipped); output VCF, bgzipped and
            tabix-indexed when ``dst`` ends in ``.gz`` (BCF when it ends in ``.bcf``).
        release_pages
            Drop the index pages mapped by each chunk (flat RSS). Default True.
        progress
            Called with the number of records written since the last call.
        compress
            Force bgzip on or off; default None: from ``dst``'s name.

        Raises
        ------
        AnnotateError
            Input that is not a VCF, is truncated, is on another build, or a record that cannot be read.
        """
        import pysam

        t0 = time.perf_counter()
        src, dst = Path(src), Path(dst)
        report = AnnotateReport(str(src), str(dst), self.release)
        vin = _open_input(src)
        try:
            header = vin.header
            _check_contigs(src, header)
            ids = [c.info_id for c in self.columns]
            if self.verdict is not None:
                ids += list(self.verdict_ids.values())
            replaced = {i for i in ids if i in header.info}
            for info_id in sorted(replaced):
                header.info.remove_header(info_id)
                report.replaced_info.append(info_id)
            norm = "left-aligned to the release's reference" if self.reference is not None else "trimmed only"
            header.add_line(f"##variantdb_release={self.release}")
            header.add_line(
                f"##variantdb_annotate=fields {','.join(c.info_id for c in self.columns)} from release "
                f"{self.release}; ALT alleles split and normalized ({norm}) as the loader does"
            )
            for col in self.columns:
                # htslib keeps a removed ID's slot: a raw line re-declares it, .add() refuses.
                desc = col.description.replace('"', "'")
                header.add_line(
                    f'##INFO=<ID={col.info_id},Number={col.number},Type={col.vcf_type},Description="{desc}">'
                )
            if self.verdict is not None:
                self._declare_verdict(header)
            gz = str(dst).endswith(".gz") if compress is None else compress
            mode = "wb" if str(dst).endswith(".bcf") else ("wz" if gz else "w")
            if mode == "wb":
                with pysam.VariantFile(str(dst), mode, header=header) as vout:
                    self._stream(vin, vout, report, release_pages, progress, src, replaced)
            else:
                # VCF: htslib formats each record (str(rec), what VariantFile.write writes) and
                # the INFO additions are joined to that text; bgzf through htslib.
                with _TextOut(dst, gz, header) as out:
                    self._stream(vin, out, report, release_pages, progress, src, replaced)
        finally:
            vin.close()
        if mode == "wz" and compress is None:
            try:
                pysam.tabix_index(str(dst), preset="vcf", force=True)
                report.indexed = True
            except (OSError, ValueError):
                report.indexed = False  # unsorted input: the output is written, only not indexed
        report.seconds = time.perf_counter() - t0
        return report

    def _stream(
        self,
        vin: Any,
        vout: Any,
        report: AnnotateReport,
        release_pages: bool,
        progress: Callable[[int], None] | None,
        src: Path,
        replaced: set[str],
    ) -> None:
        declared = str(vin.header)
        it = iter(vin)
        chunk: list[Any] = []
        while True:
            try:
                rec = next(it)
            except StopIteration:
                break
            except (OSError, ValueError) as e:
                raise AnnotateError(
                    f"{src}: record {report.records + len(chunk) + 1}: corrupt or truncated input ({e})"
                ) from None
            chunk.append(rec)
            if len(chunk) >= _CHUNK:
                _check_declared(src, vin.header, declared, report.records + len(chunk))
                self._write_chunk(chunk, vout, report, replaced)
                if progress is not None:
                    progress(len(chunk))
                if release_pages:
                    self.join.release_pages()
                chunk = []
        if chunk:
            _check_declared(src, vin.header, declared, report.records + len(chunk))
            self._write_chunk(chunk, vout, report, replaced)
            if progress is not None:
                progress(len(chunk))

    def _declare_verdict(self, header: Any) -> None:
        arch = self.verdict
        assert arch is not None
        who = (
            f"adj founders outside patient group {self.verdict_group}"
            if self.verdict_group
            else "adj founders"
        )
        about = (
            f"{arch.disease} ({arch.inheritance}, prevalence {arch.prevalence:g}, allelic {arch.allelic_contribution:g}, "
            f"genetic {arch.genetic_contribution:g}, penetrance {arch.penetrance:g}, ci {arch.ci:g}); counts of {who}"
        ).replace('"', "'")
        ids = self.verdict_ids
        header.add_line(
            f'##INFO=<ID={ids["maxCredibleAF"]},Number=1,Type=Float,Description="Maximum credible population '
            f'allele frequency (Whiffin et al. 2017) for {about}">'
        )
        header.add_line(
            f'##INFO=<ID={ids["maxTolAC"]},Number=A,Type=Integer,Description="Maximum tolerated allele count at '
            f"this allele's AN (Poisson ci quantile of AN x maxCredibleAF) for {about}\">"
        )
        header.add_line(
            f'##INFO=<ID={ids["ACMG_freq"]},Number=A,Type=String,Description="ACMG/AMP frequency criteria met '
            f'(BA1, BS1, PM2 joined by &; none) for {about}">'
        )
        header.add_line(
            f'##INFO=<ID={ids["freqVerdict"]},Number=A,Type=String,Description="Frequency verdict state '
            f'(no_data, ba1, bs1, pm2, insufficient_data, indeterminate; docs/verdicts.md) for {about}">'
        )

    def _verdict_values(self, keys: np.ndarray, rows: np.ndarray) -> list[tuple[str, list[Any]]]:
        """Return the verdict INFO values per query (None where the ALT was not looked up)."""
        arch = self.verdict
        assert arch is not None
        m = len(keys)
        found = rows >= 0
        asked = keys >= 0
        absent = asked & ~found
        names = self.index.fields
        regions = [f[3:] for f in names if f.startswith("ac_region_")]
        g = self.verdict_group
        ac = np.zeros(m, dtype=np.int64)
        an = np.zeros(m, dtype=np.int64)
        g_ac = np.zeros(m, dtype=np.int64)
        r_ac = np.zeros((m, len(regions)), dtype=np.int64)
        r_an = np.zeros((m, len(regions)), dtype=np.int64)
        if found.any():
            vals = np.asarray(self.index.values[rows[found]])
            ac[found] = vals["ac"]
            an[found] = vals["an"]
            if g is not None:
                g_ac[found] = vals[f"ac_group_{g}"]
                an[found] -= vals[f"an_group_{g}"]
            for j, r in enumerate(regions):
                r_ac[found, j] = vals[f"ac_{r}"]
                r_an[found, j] = vals[f"an_{r}"]
        seg = self.join.an_segments(np.where(absent, keys, -1))
        has = seg >= 0
        if has.any():
            anv = np.asarray(self.index.an_values[seg[has]])
            an_names = anv.dtype.names or ()
            an[has] = anv["an"]
            if g is not None and f"an_group_{g}" in an_names:
                an[has] -= anv[f"an_group_{g}"]
            for j, r in enumerate(regions):
                if f"an_{r}" in an_names:
                    r_an[has, j] = anv[f"an_{r}"]
        ac = np.maximum(ac - g_ac, 0)
        an = np.maximum(an, ac)
        lam = self._lambda("faf95")
        r_left = np.maximum(r_ac - g_ac[:, None], 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            r_faf = np.where(r_an > 0, lam[r_left] / np.where(r_an > 0, r_an, 1), np.nan)
        none = np.isnan(r_faf).all(axis=1) if regions else np.ones(m, dtype=bool)
        faf = np.where(
            none, np.nan, np.nanmax(np.where(np.isnan(r_faf), -1.0, r_faf), axis=1) if regions else np.nan
        )
        v = compute_verdicts(ac, an, faf, arch)
        tol: list[Any] = v.max_tolerated_ac.tolist()
        crit: list[Any] = ["&".join(v.criteria(i)) or "none" for i in range(m)]
        state: list[Any] = v.state.tolist()
        keep = asked.tolist()
        ids = self.verdict_ids
        return [
            (ids["maxTolAC"], [x if k else None for x, k in zip(tol, keep, strict=True)]),
            (ids["ACMG_freq"], [x if k else None for x, k in zip(crit, keep, strict=True)]),
            (ids["freqVerdict"], [x if k else None for x, k in zip(state, keep, strict=True)]),
        ]

    def _lambda(self, name: str) -> np.ndarray:
        arr = self._lambdas.get(name)
        if arr is None:
            arr = self._lambdas[name] = np.asarray(self.index.faf_lambda[name], dtype=np.float64)
        return arr

    def _contig(self, name: str) -> int:
        cidx = self._contigs.get(name)
        if cidx is None:
            try:
                cidx = CONTIG_INDEX[canonical_contig(name)]
            except UnknownContigError:
                cidx = -1
            self._contigs[name] = cidx
        return cidx

    def _query(self, chrom: str, pos: int, ref: str, alt: str | None) -> tuple[int, bytes, str | None]:
        """Normalize one ALT; return its key, ``REF>ALT`` bytes, or -1 and why it cannot be looked up."""
        if alt is None or alt == "*" or alt.startswith("<") or "[" in alt or "]" in alt or alt == ".":
            return -1, b"", "symbolic_or_star_alleles"
        cidx = self._contig(chrom)
        if cidx < 0:
            return -1, b"", "other_contigs"
        try:
            v = normalize(chrom, pos, ref, alt, self.reference)
        except InvalidVariantError:
            return -1, b"", "invalid_alleles_or_ref_mismatch"
        if not v.ref or not v.alt:
            return -1, b"", "invalid_alleles_or_ref_mismatch"
        return (CONTIG_INDEX[v.chrom] << 32) | v.pos, f"{v.ref}>{v.alt}".encode(), None

    def _columns(self, keys: np.ndarray, rows: np.ndarray) -> list[list[Any]]:
        """Return per column the values of each query: counts of found rows, AC 0 and track AN of absent ones."""
        m = len(keys)
        found = rows >= 0
        absent = ~found & (keys >= 0)
        vals = np.asarray(self.index.values[rows[found]]) if found.any() else None
        seg = self.join.an_segments(np.where(absent, keys, -1))
        has_seg = seg >= 0
        anv = np.asarray(self.index.an_values[seg[has_seg]]) if has_seg.any() else None
        names = self.index.fields
        an_names = self.index.an_fields
        out: list[list[Any]] = []
        for col in self.columns:
            if col.is_af:
                ac = np.zeros(m, dtype=np.float64)
                an = np.zeros(m, dtype=np.float64)
                if vals is not None:
                    ac[found] = vals[names[col.source]]
                    an[found] = vals[names[col.an_source]]
                if anv is not None and col.an_track >= 0:
                    an[has_seg] = anv[an_names[col.an_track]]
                if col.faf is not None:
                    lam = self._lambda(col.faf)
                    ac = np.where(found, lam[ac.astype(np.int64)], 0.0)
                values: list[Any] = af_array(ac, an).tolist()
                present = (found | absent) & (an > 0)
            else:
                arr = np.zeros(m, dtype=np.float64 if col.vcf_type == "Float" else np.int64)
                if vals is not None:
                    arr[found] = vals[col.column]
                if anv is not None and col.an_track >= 0:
                    arr[has_seg] = anv[an_names[col.an_track]]
                values = arr.tolist()
                present = found | absent
                if col.vcf_type == "Float":
                    present = found  # e.g. faf95: not defined for an absent variant
            out.append([v if p else None for v, p in zip(values, present.tolist(), strict=True)])
        return out

    def _count_states(self, keys: np.ndarray, rows: np.ndarray, report: AnnotateReport) -> None:
        """Add the :mod:`variantdb.seen` state of each annotated allele to the report's tally."""
        asked = keys >= 0
        if not asked.any():
            return
        m = len(keys)
        found = rows >= 0
        ac = np.zeros(m, dtype=np.int64)
        an = np.zeros(m, dtype=np.int64)
        ac_all = np.zeros(m, dtype=np.int64)
        if found.any():
            vals = np.asarray(self.index.values[rows[found]])
            names = vals.dtype.names or ()
            ac[found] = vals["ac"]
            an[found] = vals["an"]
            if "ac_all" in names:
                ac_all[found] = vals["ac_all"]
        seg = self.join.an_segments(np.where(asked & ~found, keys, -1))
        has = seg >= 0
        if has.any() and "an" in (self.index.an_values.dtype.names or ()):
            an[has] = np.asarray(self.index.an_values[seg[has]])["an"]
        codes = seen_states(found, ac, an, ac_all)[asked]
        for code, n in zip(*np.unique(codes, return_counts=True), strict=True):
            report.states[SEEN_STATES[int(code)]] += int(n)

    def _text_lines(self, chunk: list[Any], spans: list[int], per_col: list[list[Any]]) -> list[str]:
        """Return each record as htslib formats it with the INFO fields added, as pysam would write them.

        A value is ``ID=v`` (``ID=v1,.,v3`` for several ALTs, ``.`` where missing) appended
        after the record's own INFO; a field with no value for any ALT is left out. Floats
        are written as htslib writes a float32: ``%g``.
        """
        # Per column, each ALT's "ID=v;" ("" where missing); per column also the bare values for multi-ALT records.
        items: list[list[str]] = []
        bare: list[list[str | None]] = []
        for col, values in zip(self.columns, per_col, strict=True):
            if col.vcf_type == "Float":
                f32 = np.array([0.0 if v is None else v for v in values], dtype=np.float32)
                nums = [f"{x:g}" for x in f32.astype(np.float64).tolist()]
            else:
                nums = [str(v) for v in values]
            vals = [None if v is None else x for v, x in zip(values, nums, strict=True)]
            head = col.info_id + "="
            items.append(["" if x is None else f"{head}{x};" for x in vals])
            bare.append(vals)
        one = list(map("".join, zip(*items, strict=True)))
        ids = [c.info_id for c in self.columns]
        per_site = {c.info_id for c in self.columns if c.number == "1"}
        lines: list[str] = []
        at = 0
        for text, k in zip(map(str, chunk), spans, strict=True):
            if k == 1:
                add = one[at][:-1]
            elif k:
                parts = []
                for i, vals, values in zip(ids, bare, per_col, strict=True):
                    part = vals[at : at + k]
                    if not any(x is not None for x in part):
                        continue
                    if i in per_site:
                        # Number=1 (AN): one value per record, the smallest of its ALTs', as the record writer
                        raw = values[at : at + k]
                        smallest = min((v, j) for j, v in enumerate(raw) if v is not None)[1]
                        parts.append(f"{i}={part[smallest]}")
                    else:
                        parts.append(i + "=" + ",".join(["." if x is None else x for x in part]))
                add = ";".join(parts)
            else:
                add = ""
            at += k
            if not add:
                lines.append(text)
                continue
            cols = text.split("\t", 8)
            if len(cols) == 9:
                info = cols[7]
                cols[7] = add if info == "." else f"{info};{add}"
            else:  # sites only: INFO is the last column
                info = cols[7][:-1]
                cols[7] = (add if info == "." else f"{info};{add}") + "\n"
            lines.append("\t".join(cols))
        return lines

    def _queries(
        self, chunk: list[Any]
    ) -> tuple[np.ndarray, list[bytes], list[str | None], list[int], set[int]]:
        """Return each ALT's key, ``REF>ALT`` and why it was not looked up, the ALTs per record, symbolic records.

        The same answer as :meth:`_query` on every ALT: a one-ALT SNV on a known contig takes
        a table lookup (and, with a reference, one vectorized REF check per chunk); every
        other ALT, and an SNV whose REF check is not clean, goes through :meth:`_query`.
        """
        keys: list[int] = []
        wants: list[bytes] = []
        reasons: list[str | None] = []
        spans: list[int] = []
        symbolic: set[int] = set()
        snv_at: list[int] = []
        query = self._query
        contig = self._contig_span
        snv = _SNV
        for i, rec in enumerate(chunk):
            al: tuple[str, ...] = rec.alleles or ()
            n = max(len(al) - 1, 0)
            spans.append(n)
            if not n:
                continue
            chrom, pos = rec.chrom, rec.pos
            if n == 1:
                w = snv.get(al)
                if w is not None:
                    cidx, length = contig.get(chrom) or self._span(chrom)
                    if cidx >= 0 and 1 <= pos <= length:
                        snv_at.append(len(keys))
                        keys.append((cidx << 32) | pos)
                        wants.append(w)
                        reasons.append(None)
                        continue
            ref = al[0]
            for alt in al[1:]:
                k, w, why = query(chrom, pos, ref, alt)
                keys.append(k)
                wants.append(w)
                reasons.append(why)
                if why is not None and alt is not None and alt.startswith("<"):
                    symbolic.add(i)
        karr = np.array(keys, dtype=np.int64)
        if self.reference is not None and snv_at:
            self._check_snv_refs(karr, wants, reasons, np.array(snv_at, dtype=np.int64))
        return karr, wants, reasons, spans, symbolic

    def _span(self, chrom: str) -> tuple[int, int]:
        cidx = self._contig(chrom)
        span = (cidx, CONTIG_LENGTHS[CONTIGS[cidx]] if cidx >= 0 else 0)
        self._contig_span[chrom] = span
        return span

    def _check_snv_refs(
        self, keys: np.ndarray, wants: list[bytes], reasons: list[str | None], at: np.ndarray
    ) -> None:
        """Check the SNVs at ``at`` against the reference (N matches anything), one read per megabase.

        An SNV whose REF is not shown to match is looked up again through :meth:`_query`,
        which left-aligns and reports exactly as for any other ALT.
        """
        assert self.reference is not None
        k = keys[at]
        cidx, pos = k >> 32, k & 0xFFFFFFFF
        mine = np.frombuffer(b"".join(wants[j][:1] for j in at.tolist()), dtype=np.uint8)
        ok = np.zeros(len(at), dtype=bool)
        window = pos // _WINDOW
        for c, w in {(int(a), int(b)) for a, b in zip(cidx.tolist(), window.tolist(), strict=True)}:
            sel = np.flatnonzero((cidx == c) & (window == w))
            base = max(1, w * _WINDOW - 200)
            try:
                seq = self.reference.preload(CONTIGS[c], base, (w + 1) * _WINDOW + 200)
            except InvalidVariantError:
                continue
            p = pos[sel] - base
            inside = p < len(seq)
            sel, p = sel[inside], p[inside]
            actual = np.frombuffer(seq.encode("ascii"), dtype=np.uint8)[p]
            n = ord("N")
            ok[sel] = (actual == mine[sel]) | (actual == n) | (mine[sel] == n)
        for j in at[~ok].tolist():
            ref, _, alt = wants[j].decode().partition(">")
            c = int(keys[j] >> 32)
            keys[j], wants[j], reasons[j] = self._query(CONTIGS[c], int(keys[j] & 0xFFFFFFFF), ref, alt)

    def _write_chunk(self, chunk: list[Any], vout: Any, report: AnnotateReport, replaced: set[str]) -> None:
        keys, wants, reasons, spans, symbolic = self._queries(chunk)
        m = len(keys)
        rows = self.join.rows(keys, wants)
        per_col = self._columns(keys, rows)
        report.records += len(chunk)
        report.alleles += m
        n_found = int(np.count_nonzero(rows >= 0))
        report.found += n_found
        report.absent += int(np.count_nonzero(keys >= 0)) - n_found
        self._count_states(keys, rows, report)
        for why in reasons:
            if why is not None:
                report.not_annotated[why] += 1
        if isinstance(vout, _TextOut) and not replaced and self.verdict is None:
            vout.write_lines(self._text_lines(chunk, spans, per_col))
            return
        fields = list(zip([c.info_id for c in self.columns], per_col, strict=True))
        if self.verdict is not None:
            fields += self._verdict_values(keys, rows)
            max_af = self.verdict.max_credible_af
            max_af_id = self.verdict_ids["maxCredibleAF"]
        per_site = {c.info_id for c in self.columns if c.number == "1"}
        out_header = vout.header
        write = vout.write
        at = 0
        for i, (rec, k) in enumerate(zip(chunk, spans, strict=True)):
            if k == 1:
                # The common case: one ALT, one value per field.
                info = rec.info
                for info_id, values in fields:
                    v = values[at]
                    if v is not None:
                        info[info_id] = v
                    elif replaced and info_id in replaced:
                        info.pop(info_id, None)  # the input's own value of a replaced field
            elif k:
                info = rec.info
                for info_id, values in fields:
                    part = values[at : at + k]
                    if any(v is not None for v in part):
                        info[info_id] = min(v for v in part if v is not None) if info_id in per_site else part
                    elif info_id in replaced:
                        info.pop(info_id, None)
            elif replaced:
                for info_id in replaced:
                    rec.info.pop(info_id, None)
            if k and self.verdict is not None:
                rec.info[max_af_id] = max_af
            at += k
            if i in symbolic:
                # htslib gives a symbolic-allele record's INFO other IDs than the output
                # header has (it declares END there); map them by name.
                rec.translate(out_header)
            try:
                write(rec)
            except OSError as e:
                raise AnnotateError(
                    f"record {report.records - len(chunk) + 1 + i} ({rec.chrom}:{rec.pos}) "
                    f"cannot be written ({e}); check its header declarations"
                ) from None


def _open_reference(meta: ReleaseMeta) -> Reference | None:
    ref_path = meta.reference
    if not ref_path:
        return None
    try:
        return Reference(ref_path)
    except (OSError, ValueError) as e:
        raise AnnotateError(
            f"the release's reference {ref_path} cannot be opened ({e}); indels could not be "
            "left-aligned as the loader did, so annotation would miss them"
        ) from None


def annotate_vcf(
    db: Path,
    src: Path,
    dst: Path,
    *,
    fields: Sequence[str] = DEFAULT_FIELDS,
    strata: Sequence[str] = (),
    prefix: str = "",
    release: str | None = None,
    progress: Callable[[int], None] | None = None,
    verdict: DiseaseArchitecture | None = None,
    verdict_group: str | None = None,
) -> AnnotateReport:
    """Annotate a VCF/BCF with a release's counts (see the module docstring).

    Parameters
    ----------
    db
        Database directory.
    src, dst
        Input VCF or BCF; output VCF (bgzipped and tabix-indexed when it ends in ``.gz``).
    fields, strata, prefix
        As :class:`Annotator` takes them. Defaults: :data:`DEFAULT_FIELDS`, no strata, no prefix.
    release
        Release id. Default: the current release.
    verdict, verdict_group
        As :class:`Annotator` takes them: frequency verdict fields for a disease,
        counted outside a patient group. Default: none.

    Raises
    ------
    ReleaseNotFoundError
        No such release, or none published yet.
    AnnotateError
        Bad input or options.
    """
    release = release or read_current(db)
    if release is None:
        raise ReleaseNotFoundError(f"{db} has no release yet; load a batch first (variantdb load)")
    meta = read_release_meta(db, release)
    if not Path(src).exists():
        raise AnnotateError(f"{src}: no such file")
    index = ReleaseIndex.open(release_path(db, release))
    reference = _open_reference(meta)
    try:
        annotator = Annotator(index, release, reference, fields, strata, prefix, verdict, verdict_group)
        return annotator.annotate(Path(src), Path(dst), progress=progress)
    finally:
        if reference is not None:
            reference.close()
        index.close()
