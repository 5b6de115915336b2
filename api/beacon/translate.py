"""Beacon v2 genomic-variant queries translated to look-ups in a release's index.

Beacon counts positions from 0 (``start`` is a 0-based, inclusive base index;
``end`` is 0-based exclusive, so ``[start, end)`` is a half-open interval), as
SPDI and BED do. Our variants carry the 1-based VCF ``POS``. The conversion is
made in exactly two functions, :func:`vcf_pos` (Beacon to VCF) and
:func:`beacon_start` (VCF to Beacon); every other line of this package works in
one system or the other, never in both.

Queries (the ``g_variant`` request parameters of the Beacon v2 default model):

sequence query
    ``referenceName``, one ``start``, ``alternateBases`` and, usually,
    ``referenceBases``. Alleles are normalized with the loader's code (left-aligned
    against the release's reference when it has one), so any spelling of an indel
    finds the stored variant. An empty allele (a maximally trimmed insertion or
    deletion, as Beacon allows) is anchored on the reference base before ``start``.
    ``N`` in either allele is a wildcard for one base; such a query, and one without
    ``referenceBases``, is matched against the stored alleles at ``POS = start + 1``.
range query
    ``referenceName``, one ``start`` and one ``end``: every variant whose reference
    span (``POS`` to ``POS + len(REF) - 1``) overlaps ``[start + 1, end]`` in 1-based
    terms, a partial overlap included, as the specification says.
    ``referenceBases``, ``alternateBases`` and ``variantType`` narrow it.
bracket query
    two ``start`` and two ``end`` values: variants whose 0-based start lies in
    ``[start[0], start[1])`` and whose 0-based exclusive end lies in
    ``[end[0], end[1])`` (half-open, so ``start[1] = start[0] + 1`` is an exact
    match, as the specification suggests).

``assemblyId`` must name GRCh38 (``GRCh38``, ``GRCh38.p14``, ``hg38``, its RefSeq or
GenBank assembly accession) when given. Anything this beacon cannot answer exactly
is refused with a :class:`BeaconQueryError` naming the parameter and value.
"""

from __future__ import annotations

import re
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

import numpy as np

from variantdb.api.deps import OpenRelease
from variantdb.genome import CONTIG_LENGTHS, UnknownContigError, canonical_contig
from variantdb.release.index import ReleaseIndex
from variantdb.variant import InvalidVariantError, Variant, normalize

__all__ = [
    "SUPPORTED_PARAMETERS",
    "VARIANT_TYPES",
    "BeaconQueryError",
    "GVariantQuery",
    "beacon_start",
    "classify_variant",
    "find_variants",
    "parse_parameters",
    "vcf_pos",
]

QueryKind = Literal["sequence", "range", "bracket"]

#: Request parameters of the ``g_variant`` entry that this beacon answers.
SUPPORTED_PARAMETERS: Final = (
    "referenceName",
    "start",
    "end",
    "referenceBases",
    "alternateBases",
    "assemblyId",
    "variantType",
)
# In the Beacon v2 default model but not answered here: refused by name rather than ignored.
_UNSUPPORTED: Final = (
    "geneId",
    "aminoacidChange",
    "genomicAlleleShortForm",
    "mateName",
    "variantMinLength",
    "variantMaxLength",
)
#: ``variantType`` values this beacon classifies its variants into (see :func:`classify_variant`).
VARIANT_TYPES: Final = ("SNP", "MNP", "INS", "DEL", "INDEL")

_GRCH38 = re.compile(
    r"^(GRCh38(\.p\d{1,2})?|hg38|GCF_000001405\.(2[6-9]|3\d|4\d)|GCA_000001405\.(1[5-9]|2\d))$", re.IGNORECASE
)
_BASES = re.compile(r"^[ACGTN]*$")
_MAX_POSITION: Final = max(CONTIG_LENGTHS.values())
_IUPAC = re.compile(r"^[ACGTUNRYSWKMBDHV.\-]*$")


class BeaconQueryError(Exception):
    """A Beacon request that cannot be answered: answered with a Beacon error response.

    Parameters
    ----------
    status
        HTTP status (4xx), also the Beacon ``errorCode``.
    message
        What was wrong (parameter and value) and what to send instead.
    """

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def vcf_pos(start: int) -> int:
    """Return the 1-based VCF ``POS`` of a Beacon 0-based ``start`` (the base at index ``start``)."""
    return start + 1


def beacon_start(pos: int) -> int:
    """Return the Beacon 0-based ``start`` of a 1-based VCF ``POS``."""
    return pos - 1


@dataclass(frozen=True)
class GVariantQuery:
    """A parsed ``g_variant`` query; ``start`` and ``end`` as Beacon gives them (0-based)."""

    kind: QueryKind
    chrom: str
    start: tuple[int, ...]
    end: tuple[int, ...]
    reference_bases: str | None
    alternate_bases: str | None
    variant_type: str | None
    assembly_id: str | None

    def echo(self) -> dict[str, Any]:
        """Return the query as this beacon understood it, for ``receivedRequestSummary``."""
        out: dict[str, Any] = {"referenceName": self.chrom, "start": list(self.start)}
        if self.end:
            out["end"] = list(self.end)
        for key, value in (
            ("referenceBases", self.reference_bases),
            ("alternateBases", self.alternate_bases),
            ("variantType", self.variant_type),
            ("assemblyId", self.assembly_id),
        ):
            if value is not None:
                out[key] = value
        return out


def _ints(name: str, value: Any) -> tuple[int, ...]:
    """Read ``start`` / ``end``: an int, a list of ints, or text ``"12"`` / ``"12,40"``."""
    items: list[Any]
    if isinstance(value, str):
        items = [x.strip() for x in value.split(",")]
    elif isinstance(value, list | tuple):
        items = list(value)
    else:
        items = [value]
    if not 1 <= len(items) <= 2:
        raise BeaconQueryError(400, f"{name} takes one or two positions (0-based), got {len(items)}")
    out = []
    for x in items:
        if isinstance(x, bool):
            raise BeaconQueryError(400, f"{name} must be a 0-based position, got {x!r}")
        if isinstance(x, int):
            n = x
        elif isinstance(x, str) and x.isascii() and x.isdigit() and len(x) <= 12:
            n = int(x)
        else:
            raise BeaconQueryError(
                400, f"{name} must be a non-negative integer (0-based position), got {str(x)[:50]!r}"
            )
        if n < 0:
            raise BeaconQueryError(400, f"{name} must be a non-negative integer (0-based position), got {n}")
        if n > _MAX_POSITION:
            raise BeaconQueryError(400, f"{name} {n} is past the end of every GRCh38 contig")
        out.append(n)
    return tuple(out)


def _bases(name: str, value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > 10_000:
        raise BeaconQueryError(
            400, f"{name} must be a string of bases (A, C, G, T, N), got {str(value)[:50]!r}"
        )
    text = value.strip().upper()
    if _BASES.match(text):
        return text
    if _IUPAC.match(text):
        raise BeaconQueryError(
            400,
            f"{name} {value[:50]!r}: this beacon matches A, C, G, T and N (any one base) only; "
            "other IUPAC codes, '-' and '.' are not supported (send an empty string for an empty allele)",
        )
    raise BeaconQueryError(400, f"{name} {value[:50]!r} is not made of bases (A, C, G, T, N)")


def _text(name: str, value: Any) -> str:
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    if not isinstance(value, str) or not value.strip() or len(value) > 200:
        raise BeaconQueryError(400, f"{name} must be a non-empty string, got {str(value)[:50]!r}")
    return value.strip()


def _contig(value: Any) -> str:
    name = _text("referenceName", value)
    try:
        return canonical_contig(name.removeprefix("refseq:").removeprefix("REFSEQ:"))
    except UnknownContigError:
        raise BeaconQueryError(
            400,
            f"referenceName {name[:50]!r} is not a GRCh38 primary contig: use 1-22, X, Y, MT (chr1, "
            "NC_000001.11 or refseq:NC_000001.11 alike)",
        ) from None


def parse_parameters(params: Mapping[str, Any], max_span: int) -> GVariantQuery:
    """Parse the ``g_variant`` request parameters of a GET query string or POST body.

    Parameters
    ----------
    params
        ``referenceName``, ``start`` (one or two 0-based positions), ``end`` (0 to 2,
        0-based exclusive), ``referenceBases``, ``alternateBases``, ``assemblyId``,
        ``variantType``; positions as ints, lists of ints or comma-separated text.
    max_span
        Widest range (bp) a range or bracket query may cover
        (:attr:`variantdb.settings.Settings.max_region_span`).

    Raises
    ------
    BeaconQueryError
        400 for a missing, malformed or unsupported parameter, an assembly other
        than GRCh38, or a range wider than ``max_span``.
    """
    for key in params:
        if key in _UNSUPPORTED:
            raise BeaconQueryError(
                400,
                f"request parameter {key} is not supported by this beacon; it answers sequence, range "
                f"and bracket queries ({', '.join(SUPPORTED_PARAMETERS)})",
            )
        if key not in SUPPORTED_PARAMETERS:
            raise BeaconQueryError(
                400,
                f"unknown request parameter {str(key)[:50]!r}; supported: {', '.join(SUPPORTED_PARAMETERS)}",
            )
    assembly = None
    if params.get("assemblyId") is not None:
        assembly = _text("assemblyId", params["assemblyId"])
        if not _GRCH38.match(assembly):
            raise BeaconQueryError(
                400,
                f"assemblyId {assembly[:50]!r} is not served: this beacon holds GRCh38 only "
                "(GRCh38, GRCh38.p14, hg38, GCF_000001405.40 are accepted)",
            )
    if params.get("referenceName") is None:
        raise BeaconQueryError(400, "referenceName is required (e.g. 1, chr1 or NC_000001.11)")
    chrom = _contig(params["referenceName"])
    if params.get("start") is None:
        raise BeaconQueryError(400, "start is required: one 0-based position, or two for a bracket query")
    start = _ints("start", params["start"])
    end = _ints("end", params["end"]) if params.get("end") not in (None, "", []) else ()
    ref = _bases("referenceBases", params.get("referenceBases"))
    alt = _bases("alternateBases", params.get("alternateBases"))
    vtype = None
    if params.get("variantType") is not None:
        vtype = _text("variantType", params["variantType"]).upper()
        if vtype not in VARIANT_TYPES:
            raise BeaconQueryError(
                400, f"variantType {vtype[:50]!r} is not supported; use one of {', '.join(VARIANT_TYPES)}"
            )
    length = CONTIG_LENGTHS[chrom]
    kind: QueryKind
    if len(start) == 1 and not end:
        kind = "sequence"
        if alt is None:
            raise BeaconQueryError(
                400,
                "a query with one start and no end is a sequence query and needs alternateBases; "
                "give end as well for a range query",
            )
        if ref == "" and alt == "":
            raise BeaconQueryError(400, "referenceBases and alternateBases cannot both be empty")
        if ref is not None and ref == alt:
            raise BeaconQueryError(400, f"referenceBases and alternateBases are the same allele ({ref[:50]})")
        if vcf_pos(start[0]) > length:
            raise BeaconQueryError(400, f"start {start[0]} is past the end of {chrom} (length {length:,})")
    elif len(start) == 1 and len(end) == 1:
        kind = "range"
        if end[0] <= start[0]:
            raise BeaconQueryError(
                400, f"end ({end[0]}) must be greater than start ({start[0]}): [start, end) is 0-based"
            )
        _check_span(end[0] - start[0], max_span)
    elif len(start) == 2 and len(end) == 2:
        kind = "bracket"
        if not (start[0] < start[1] and end[0] < end[1]):
            raise BeaconQueryError(
                400,
                f"a bracket query needs start[0] < start[1] and end[0] < end[1] (half-open brackets), "
                f"got start={list(start)}, end={list(end)}",
            )
        _check_span(start[1] - start[0], max_span)
    else:
        raise BeaconQueryError(
            400,
            f"start={list(start)} with end={list(end)} is not a query this beacon answers: give one start "
            "(sequence query), one start and one end (range query) or two of each (bracket query)",
        )
    if vcf_pos(start[0]) > length:
        raise BeaconQueryError(400, f"start {start[0]} is past the end of {chrom} (length {length:,})")
    return GVariantQuery(kind, chrom, start, end, ref, alt, vtype, assembly)


def _check_span(span: int, max_span: int) -> None:
    if span > max_span:
        raise BeaconQueryError(
            400, f"the query spans {span:,} bp; the limit is {max_span:,} bp: split it into smaller ranges"
        )


def classify_variant(ref: str, alt: str) -> str:
    """Return the Beacon ``variantType`` of a normalized variant: SNP, MNP, INS, DEL or INDEL."""
    if len(ref) == len(alt):
        return "SNP" if len(ref) == 1 else "MNP"
    if len(ref) == 1 and (alt.startswith(ref) or alt.endswith(ref)):
        return "INS"
    if len(alt) == 1 and (ref.startswith(alt) or ref.endswith(alt)):
        return "DEL"
    return "INDEL"


def _like(query: str | None, stored: str) -> bool:
    """Tell whether stored bases match query bases, ``N`` in the query standing for any one base."""
    if query is None:
        return True
    if "N" not in query:
        return query == stored
    return len(query) == len(stored) and all(q in ("N", s) for q, s in zip(query, stored, strict=True))


# The longest "REF>ALT" of each open index: how far a range query looks back for deletions.
_WIDEST: weakref.WeakKeyDictionary[ReleaseIndex, int] = weakref.WeakKeyDictionary()


def _widest(index: ReleaseIndex) -> int:
    width = _WIDEST.get(index)
    if width is None:
        off = index.allele_offsets
        width = 1
        step = 1 << 22
        for i in range(0, len(off) - 1, step):
            chunk = np.asarray(off[i : i + step + 1], dtype=np.int64)
            if len(chunk) > 1:
                width = max(width, int(np.diff(chunk).max()))
        _WIDEST[index] = width
    return width


def _anchored(q: GVariantQuery, rel: OpenRelease) -> Variant:
    """Return the VCF form of a sequence query whose alleles are both bases (no wildcard)."""
    assert q.reference_bases is not None and q.alternate_bases is not None
    ref, alt = q.reference_bases, q.alternate_bases
    if ref and alt:
        return normalize(q.chrom, vcf_pos(q.start[0]), ref, alt, rel.reference)
    # A maximally trimmed allele: Beacon's start is the interbase position before the
    # event, so the anchor (VCF's padding base) is the base at 1-based POS = start.
    if rel.reference is None:
        raise BeaconQueryError(
            400,
            "an empty referenceBases or alternateBases needs the reference base before the event, and "
            f"release {rel.id} has no reference FASTA; send VCF-style alleles with the padding base instead",
        )
    anchor_pos = vcf_pos(q.start[0]) - 1
    if anchor_pos >= 1:
        base = rel.reference.fetch(q.chrom, anchor_pos, anchor_pos)
        return normalize(q.chrom, anchor_pos, base + ref, base + alt, rel.reference)
    # At the first base of a contig the padding base follows the event (VCF 4.2, 1.6.1).
    after = vcf_pos(q.start[0]) + len(ref)
    base = rel.reference.fetch(q.chrom, after, after)
    return normalize(q.chrom, vcf_pos(q.start[0]), ref + base, alt + base, rel.reference)


def find_variants(rel: OpenRelease, q: GVariantQuery) -> list[int]:
    """Return the index rows of a release that match a query, in release order.

    Raises
    ------
    BeaconQueryError
        400 when the alleles of a sequence query cannot be normalized (REF not
        matching the reference, a position outside the contig).
    """
    index = rel.index
    if q.kind == "sequence":
        ref, alt = q.reference_bases, q.alternate_bases
        if ref is not None and alt is not None and "N" not in ref + alt:
            try:
                v = _anchored(q, rel)
            except InvalidVariantError as e:
                raise BeaconQueryError(400, f"the queried variant cannot be normalized: {e}") from None
            row = index.find(v.chrom, v.pos, v.ref, v.alt)
            return [] if row is None or not _type_ok(q, v) else [row]
        # Wildcards, or no referenceBases: compare with the stored alleles at that POS.
        pos = vcf_pos(q.start[0])
        if ref and alt:
            try:
                trimmed = normalize(q.chrom, pos, ref, alt, None)
            except InvalidVariantError as e:
                raise BeaconQueryError(400, f"the queried variant cannot be read: {e}") from None
            pos, ref, alt = trimmed.pos, trimmed.ref, trimmed.alt
        lo, hi = index.region_rows(q.chrom, pos, pos)
        out = []
        for row in range(lo, hi):
            v = index.variant_at(row)
            if _like(ref or None, v.ref) and _like(alt, v.alt) and _type_ok(q, v):
                out.append(row)
        return out
    if q.kind == "range":
        first, last = vcf_pos(q.start[0]), q.end[0]  # 1-based inclusive [start + 1, end]
        back = max(1, first - _widest(index))
        lo, hi = index.region_rows(q.chrom, back, last)
        main = index.region_rows(q.chrom, first, last)[0]
        out = []
        for row in range(lo, main):  # variants starting before the range: keep those reaching into it
            v = index.variant_at(row)
            if v.pos + len(v.ref) - 1 >= first and _filters_ok(q, v):
                out.append(row)
        if q.reference_bases is None and q.alternate_bases is None and q.variant_type is None:
            out.extend(range(main, hi))
        else:
            out.extend(row for row in range(main, hi) if _filters_ok(q, index.variant_at(row)))
        return out
    # bracket: 0-based start in [start[0], start[1]), 0-based exclusive end in [end[0], end[1])
    lo, hi = index.region_rows(q.chrom, vcf_pos(q.start[0]), vcf_pos(q.start[1] - 1))
    out = []
    for row in range(lo, hi):
        v = index.variant_at(row)
        end = beacon_start(v.pos) + len(v.ref)
        if q.end[0] <= end < q.end[1] and _filters_ok(q, v):
            out.append(row)
    return out


def _type_ok(q: GVariantQuery, v: Variant) -> bool:
    return q.variant_type is None or classify_variant(v.ref, v.alt) == q.variant_type


def _filters_ok(q: GVariantQuery, v: Variant) -> bool:
    return _like(q.reference_bases, v.ref) and _like(q.alternate_bases, v.alt) and _type_ok(q, v)
