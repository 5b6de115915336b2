"""Variant ids: parse every accepted form, format, and normalize alleles.

The loader and the lookup service normalize with this one module, so a query
finds exactly what the loader stored. Normalization follows ``bcftools norm``
(and vt): trim common trailing bases, left-align indels against the reference,
then trim common leading bases, keeping one anchor base.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import NamedTuple

from variantdb.errors import VariantdbError
from variantdb.genome import CONTIG_LENGTHS, REFSEQ, UnknownContigError, canonical_contig

# An SNV id as a batch sends it; SPDI ids (0-based) are left to parse_variant_id.
_SIMPLE_SNV = re.compile(
    r"(?!N[CTW]_\d+\.\d+:)([\w.]+?)[-:]([1-9]\d{0,9})[-:]([ACGTacgt])[-:]([ACGTacgt])", re.ASCII
)

__all__ = [
    "InvalidVariantError",
    "Reference",
    "Variant",
    "format_variant_id",
    "normalize",
    "parse_variant_id",
    "parse_variant_ids",
    "to_spdi",
]

_BASES = re.compile(r"^[ACGTN]+$")
_SEP = r"[-:_/\s]"
_FORMS = [
    # 1-55516888-G-GA, chr1-55516888-G-GA, chr1:55516888:G:GA, chr1_55516888_G_GA
    re.compile(
        rf"^(?P<chrom>[\w.]+?){_SEP}+(?P<pos>\d+){_SEP}+(?P<ref>[A-Za-z]+){_SEP}+(?P<alt>[A-Za-z]+)$",
        re.ASCII,
    ),
    # chr1:55516888 G>GA, chr1:55516888G>GA, chr1-55516888-G>GA
    re.compile(
        rf"^(?P<chrom>[\w.]+?){_SEP}+(?P<pos>\d+){_SEP}*(?P<ref>[A-Za-z]+)\s*>\s*(?P<alt>[A-Za-z]+)$",
        re.ASCII,
    ),
]
_SPDI = re.compile(
    r"^(?P<seq>N[CTW]_\d+\.\d+):(?P<pos>\d+):(?P<ref>[A-Za-z]*|\d+):(?P<alt>[A-Za-z]*)$", re.ASCII
)
_SPDI_LIKE = re.compile(r"^N[CTW]_\d+\.\d+:", re.ASCII)
_HGVS_LIKE = re.compile(r"^[A-Za-z0-9_.]+:[a-z]\.", re.ASCII)


class InvalidVariantError(VariantdbError, ValueError):
    """A variant id or allele pair that cannot be a GRCh38 variant."""


class Variant(NamedTuple):
    """A biallelic variant: canonical contig, 1-based VCF ``pos``, ``ref`` and ``alt`` bases."""

    chrom: str
    pos: int
    ref: str
    alt: str

    @property
    def id(self) -> str:
        """The gnomAD-style id, e.g. ``1-55516888-G-GA``."""
        return format_variant_id(self)


class Reference:
    """A GRCh38 FASTA (bgzipped or plain, with a ``.fai``), read through pysam.

    Contig names in the FASTA may be ``chr1`` or ``1``; callers use the canonical name.
    """

    _WINDOW = 1 << 16

    def __init__(self, path: str | Path) -> None:
        import pysam

        self.path = str(path)
        self._fasta = pysam.FastaFile(self.path)
        self._names: dict[str, str] = {}
        for name in self._fasta.references:
            try:
                self._names[canonical_contig(name)] = name
            except UnknownContigError:
                continue
        self._cache: tuple[str, int, str] = ("", -1, "")

    def length(self, chrom: str) -> int | None:
        """Return the length of a canonical contig in the FASTA, or None if absent."""
        name = self._names.get(chrom)
        return None if name is None else int(self._fasta.get_reference_length(name))

    def fetch(self, chrom: str, start: int, end: int) -> str:
        """Return upper-case bases of 1-based inclusive ``[start, end]`` (clipped to the contig)."""
        name = self._names.get(chrom)
        if name is None:
            raise InvalidVariantError(f"contig {chrom} is not in the reference {self.path}")
        cname, cstart, cseq = self._cache
        if cname == chrom and cstart <= start and end < cstart + len(cseq):
            return cseq[start - cstart : end - cstart + 1]
        if end - start + 1 > self._WINDOW // 2:
            return str(self._fasta.fetch(name, start - 1, end)).upper()
        wstart = max(1, start - self._WINDOW // 2)
        seq = str(self._fasta.fetch(name, wstart - 1, wstart - 1 + self._WINDOW)).upper()
        self._cache = (chrom, wstart, seq)
        return seq[start - wstart : end - wstart + 1]

    def preload(self, chrom: str, start: int, end: int) -> str:
        """Read 1-based ``[start, end]`` once and keep it, so later fetches inside it read no file; return it."""
        name = self._names.get(chrom)
        if name is None:
            raise InvalidVariantError(f"contig {chrom} is not in the reference {self.path}")
        start = max(1, start)
        seq = str(self._fasta.fetch(name, start - 1, end)).upper()
        self._cache = (chrom, start, seq)
        return seq

    def close(self) -> None:
        """Close the FASTA."""
        self._fasta.close()


def normalize(chrom: str, pos: int, ref: str, alt: str, reference: Reference | None = None) -> Variant:
    """Return the normalized form of one biallelic variant.

    Parameters
    ----------
    chrom
        Any accepted contig alias; the result carries the canonical name.
    pos
        1-based position of the first base of ``ref`` (VCF ``POS``).
    ref, alt
        Allele bases, ``ACGTN`` (case-insensitive).
    reference
        When given, ``ref`` is checked against it and indels are left-aligned.
        Default None: alleles are only trimmed.

    Returns
    -------
    Variant
        Trimmed (common suffix, then common prefix, one anchor base kept for indels)
        and, with a reference, left-aligned: the result ``bcftools norm -f`` gives.

    Raises
    ------
    InvalidVariantError
        Non-ACGTN alleles, ref equal to alt, a position outside the contig, or a
        ``ref`` that disagrees with the reference (the message names both).
    """
    try:
        chrom = canonical_contig(chrom)
    except UnknownContigError as e:
        raise InvalidVariantError(str(e)) from None
    ref = ref.upper()
    alt = alt.upper()
    if len(ref) == 1 and len(alt) == 1 and ref in "ACGTN" and alt in "ACGTN" and ref != alt:
        # An SNV: nothing to trim or align (the common case, kept cheap for the loader).
        if not 1 <= pos <= CONTIG_LENGTHS[chrom]:
            raise InvalidVariantError(f"position {pos} is outside {chrom} (1-{CONTIG_LENGTHS[chrom]})")
        if reference is not None:
            actual = reference.fetch(chrom, pos, pos)
            if actual != ref and "N" not in (actual, ref):
                raise InvalidVariantError(
                    f"REF {ref} at {chrom}:{pos} does not match the reference ({actual})"
                )
        return Variant(chrom, pos, ref, alt)
    for label, allele in (("REF", ref), ("ALT", alt)):
        if not _BASES.match(allele):
            raise InvalidVariantError(f"{label} allele {allele!r} is not made of A, C, G, T, N")
    if ref == alt:
        raise InvalidVariantError(f"REF and ALT are the same allele ({ref})")
    length = CONTIG_LENGTHS[chrom]
    if pos < 1 or pos + len(ref) - 1 > length:
        raise InvalidVariantError(f"position {pos} is outside {chrom} (1-{length})")
    if reference is not None:
        actual = reference.fetch(chrom, pos, pos + len(ref) - 1)
        if actual != ref and not _n_compatible(ref, actual):
            raise InvalidVariantError(f"REF {ref} at {chrom}:{pos} does not match the reference ({actual})")
    if reference is None:
        while len(ref) > 1 and len(alt) > 1 and ref[-1] == alt[-1]:
            ref, alt = ref[:-1], alt[:-1]
    else:
        # vt / bcftools: drop a shared last base; when an allele empties, extend
        # both one reference base to the left; repeat until nothing changes.
        while True:
            if ref and alt and ref[-1] == alt[-1]:
                ref, alt = ref[:-1], alt[:-1]
            elif (not ref or not alt) and pos > 1:
                base = reference.fetch(chrom, pos - 1, pos - 1)
                ref, alt, pos = base + ref, base + alt, pos - 1
            elif not ref or not alt:
                # At the first base of a contig the anchor is the base after the
                # event (VCF 4.2, section 1.6.1 on REF).
                base = reference.fetch(chrom, pos + len(ref), pos + len(ref))
                ref, alt = ref + base, alt + base
                break
            else:
                break
    # Trim the common prefix, keeping one anchor base.
    while len(ref) > 1 and len(alt) > 1 and ref[0] == alt[0]:
        ref, alt, pos = ref[1:], alt[1:], pos + 1
    return Variant(chrom, pos, ref, alt)


def _n_compatible(ref: str, actual: str) -> bool:
    """Tell whether two equal-length sequences differ only where one has N."""
    return len(ref) == len(actual) and all(a == b or "N" in (a, b) for a, b in zip(ref, actual, strict=True))


def parse_variant_id(text: str, reference: Reference | None = None) -> Variant:
    """Parse a variant id in any accepted form and normalize it.

    Parameters
    ----------
    text
        ``1-55516888-G-GA``, ``chr1-55516888-G-GA``, ``chr1:55516888:G:GA``,
        ``chr1:55516888 G>GA`` (positions 1-based), SPDI
        ``NC_000001.11:55516887:G:GA`` (position 0-based, per the SPDI standard),
        or HGVS genomic ``NC_000017.11:g.43045712A>G`` / ``chr17:g.100_102del``
        (1-based; see :mod:`variantdb.hgvs`).
    reference
        Used to left-align and to check REF; needed for SPDI ids with an empty
        allele or a deleted-length instead of bases. Default None.

    Raises
    ------
    InvalidVariantError
        With a message saying what could not be parsed.
    """
    text = text.strip()
    if not text:
        raise InvalidVariantError("empty variant id")
    if len(text) > 10_000:
        raise InvalidVariantError("variant id longer than 10,000 characters")
    if _HGVS_LIKE.match(text):
        # Imported here: variantdb.hgvs builds on this module's normalize.
        from variantdb.hgvs import parse_hgvs

        return parse_hgvs(text, reference)
    spdi = _SPDI.match(text)
    if spdi:
        return _parse_spdi(spdi, reference)
    if _SPDI_LIKE.match(text):
        raise InvalidVariantError(
            f"malformed SPDI id {text!r}: use SEQUENCE:POSITION:DELETED:INSERTED with a 0-based position, "
            "e.g. NC_000001.11:55516887:G:GA"
        )
    for form in _FORMS:
        m = form.match(text)
        if m:
            return normalize(m["chrom"], int(m["pos"]), m["ref"], m["alt"], reference)
    raise InvalidVariantError(
        f"cannot parse variant id {text!r}; use CHROM-POS-REF-ALT (e.g. 1-55516888-G-GA), "
        "chr1:55516888:G:GA, chr1:55516888 G>GA, SPDI (NC_000001.11:55516887:G:GA) or HGVS g. "
        "(NC_000017.11:g.43045712A>G)"
    )


def parse_variant_ids(
    texts: list[str], reference: Reference | None = None
) -> list[Variant | InvalidVariantError]:
    """Parse and normalize many ids at once: :func:`parse_variant_id` of each, errors returned in place.

    Parameters
    ----------
    texts
        Ids in any form :func:`parse_variant_id` accepts.
    reference
        As for :func:`parse_variant_id`. Default None.

    Returns
    -------
    list
        One :class:`Variant` or :class:`InvalidVariantError` per id, in order.

    Notes
    -----
    The common id of a batch, an SNV written ``1-55516888-G-A`` (or with ``chr``
    or ``:``), is recognized by one regular expression and, without a reference,
    needs no normalization: it skips the loop over the accepted forms. Every
    other id goes through :func:`parse_variant_id`, so the answer is the same.
    """
    out: list[Variant | InvalidVariantError] = []
    contigs: dict[str, str | None] = {}
    simple = _SIMPLE_SNV.fullmatch
    for text in texts:
        m = simple(text)
        if m is not None:
            alias, pos_s, ref, alt = m.groups()
            chrom = contigs.get(alias, "")
            if chrom == "":
                try:
                    chrom = canonical_contig(alias)
                except UnknownContigError:
                    chrom = None
                contigs[alias] = chrom
            ref, alt = ref.upper(), alt.upper()
            pos = int(pos_s)
            if chrom is not None and ref != alt and pos <= CONTIG_LENGTHS[chrom]:
                if reference is None:
                    out.append(Variant(chrom, pos, ref, alt))
                    continue
                try:
                    out.append(normalize(chrom, pos, ref, alt, reference))
                except InvalidVariantError as e:
                    out.append(e)
                continue
        try:
            out.append(parse_variant_id(text, reference))
        except InvalidVariantError as e:
            out.append(e)
    return out


def _parse_spdi(m: re.Match[str], reference: Reference | None) -> Variant:
    try:
        chrom = canonical_contig(m["seq"])
    except UnknownContigError as e:
        raise InvalidVariantError(str(e)) from None
    pos0 = int(m["pos"])  # SPDI: 0-based count of bases before the deleted sequence
    ref, alt = m["ref"].upper(), m["alt"].upper()
    if ref.isdigit():
        if reference is None:
            raise InvalidVariantError("an SPDI id with a deletion length needs the database's reference")
        ref = reference.fetch(chrom, pos0 + 1, pos0 + int(ref)) if int(ref) else ""
    if ref and alt:
        return normalize(chrom, pos0 + 1, ref, alt, reference)
    # An empty allele: VCF needs the preceding base as anchor.
    if reference is None:
        raise InvalidVariantError(
            "an SPDI id with an empty allele needs the reference base before it; "
            "give the VCF form (with the anchor base) instead"
        )
    if pos0 < 1:
        raise InvalidVariantError("an SPDI insertion at the first base of a contig cannot be anchored")
    anchor = reference.fetch(chrom, pos0, pos0)
    return normalize(chrom, pos0, anchor + ref, anchor + alt, reference)


def format_variant_id(v: Variant) -> str:
    """Return the gnomAD-style id ``1-55516888-G-GA`` of a variant."""
    return f"{v.chrom.removeprefix('chr')}-{v.pos}-{v.ref}-{v.alt}"


def to_spdi(v: Variant) -> str:
    """Return the SPDI form (0-based position, RefSeq accession) of a normalized variant.

    Notes
    -----
    The shared anchor base of a VCF-style indel is dropped, as SPDI allows.
    """
    pos0, ref, alt = v.pos - 1, v.ref, v.alt
    if ref and alt and ref[0] == alt[0] and len(ref) != len(alt):
        pos0, ref, alt = pos0 + 1, ref[1:], alt[1:]
    return f"{REFSEQ[v.chrom]}:{pos0}:{ref}:{alt}"
