"""HGVS genomic variant descriptions (``NC_000017.11:g.43045712A>G``) as normalized variants.

Labs paste HGVS from reports and from VEP or Mutalyzer. The genomic (``g.``, and
``m.`` for chrM) forms name a position on a GRCh38 chromosome, so they become a
VCF-style variant that the loader's :func:`variantdb.variant.normalize` then
left-aligns exactly as it did the stored variants (HGVS itself shifts 3'; the
normalized id is the same variant). Transcript (``c.``, ``n.``, ``r.``) and
protein (``p.``) forms need a transcript model this service does not hold and
are refused with a message saying so.

Accepted, positions 1-based (HGVS numbering):

=====================  ==========================================================
``g.100A>G``           substitution
``g.100del``           deletion of one base; ``g.100_102del`` of a range
                       (``g.100_102delACT`` too: the bases are checked)
``g.100dup``           duplication; ``g.100_102dup`` (``dupACT`` checked)
``g.100_101insTT``     insertion between two adjacent bases
``g.100delinsAG``      deletion-insertion; ``g.100_102delinsAG``
=====================  ==========================================================

The sequence may be a RefSeq accession of GRCh38 (``NC_000017.11``; another
version, such as GRCh37's ``NC_000017.10``, is refused) or any contig name
(``chr17``, ``17``).
"""

from __future__ import annotations

import re
from typing import Final

from variantdb.genome import UnknownContigError, canonical_contig
from variantdb.variant import InvalidVariantError, Reference, Variant, normalize

__all__ = ["is_hgvs", "parse_hgvs"]

_HGVS: Final = re.compile(r"^(?P<seq>[A-Za-z0-9_.]+):(?P<kind>[a-z])\.(?P<body>.+)$", re.ASCII)
_POS: Final = r"(?P<start>\d+)(?:_(?P<end>\d+))?"
_SUB: Final = re.compile(r"^(?P<start>\d+)(?P<ref>[ACGTN])>(?P<alt>[ACGTN])$", re.ASCII)
_DELINS: Final = re.compile(rf"^{_POS}delins(?P<alt>[ACGTN]+)$", re.ASCII)
_DEL: Final = re.compile(rf"^{_POS}del(?P<ref>[ACGTN]*)$", re.ASCII)
_DUP: Final = re.compile(rf"^{_POS}dup(?P<ref>[ACGTN]*)$", re.ASCII)
_INS: Final = re.compile(r"^(?P<start>\d+)_(?P<end>\d+)ins(?P<alt>[ACGTN]+)$", re.ASCII)
_TRANSCRIPT: Final = {"c": "coding DNA", "n": "non-coding RNA", "r": "RNA", "p": "protein"}


def is_hgvs(text: str) -> bool:
    """Return True when ``text`` looks like an HGVS description (``SEQUENCE:x.``), supported or not."""
    return _HGVS.match(text.strip()) is not None


def _contig(seq: str, kind: str) -> str:
    try:
        chrom = canonical_contig(seq)
    except UnknownContigError:
        if re.match(r"^N[CTGW]_\d+\.\d+$", seq):
            raise InvalidVariantError(
                f"HGVS sequence {seq} is not a GRCh38 chromosome (another RefSeq accession or version, "
                "GRCh37's for one); give the GRCh38 accession (e.g. NC_000017.11) or chr17"
            ) from None
        raise InvalidVariantError(f"HGVS sequence {seq!r} is not a GRCh38 contig") from None
    if kind == "m" and chrom != "chrM":
        raise InvalidVariantError(f"HGVS m. describes the mitochondrial genome, not {chrom}; use g.")
    if kind == "g" and chrom == "chrM":
        raise InvalidVariantError("HGVS on the mitochondrial genome is m. (e.g. NC_012920.1:m.3243A>G)")
    return chrom


def _need(reference: Reference | None, what: str) -> Reference:
    if reference is None:
        raise InvalidVariantError(
            f"an HGVS {what} needs the reference bases around it, and this database has no reference "
            "FASTA; give the VCF form (CHROM-POS-REF-ALT with the anchor base) instead"
        )
    return reference


def _span(m: re.Match[str]) -> tuple[int, int]:
    start = int(m["start"])
    end = int(m["end"]) if m["end"] else start
    if end < start:
        raise InvalidVariantError(f"HGVS range {start}_{end} ends before it starts")
    if start < 1:
        raise InvalidVariantError("HGVS positions start at 1")
    return start, end


def _check_bases(given: str, reference: Reference, chrom: str, start: int, end: int, what: str) -> str:
    actual = reference.fetch(chrom, start, end)
    if len(actual) != end - start + 1:
        raise InvalidVariantError(f"{chrom}:{start}-{end} is outside the reference")
    if given and given != actual:
        raise InvalidVariantError(
            f"HGVS {what} names {given} at {chrom}:{start}-{end} but the reference has {actual}"
        )
    return actual


def parse_hgvs(text: str, reference: Reference | None = None) -> Variant:
    """Parse an HGVS genomic description and normalize it with the loader's code.

    Parameters
    ----------
    text
        E.g. ``NC_000017.11:g.43045712A>G``, ``chr17:g.43045712A>G``,
        ``chr13:g.32340301_32340302del``, ``chr1:g.100_101insTT``,
        ``chr1:g.100dup``, ``chr1:g.100_102delinsAG``; ``m.`` on chrM.
    reference
        The database's reference: needed for ``del``, ``dup`` and ``ins`` (the
        VCF anchor base and the deleted or duplicated bases) and ``delins`` (the
        deleted bases), and to left-align; a substitution parses without one.
        Default None.

    Returns
    -------
    Variant
        Normalized as :func:`variantdb.variant.normalize` does (left-aligned with
        a reference), whatever 3' shift the HGVS used.

    Raises
    ------
    InvalidVariantError
        The message says what is not supported (``c.``/``p.`` need transcripts;
        uncertain positions, repeats and conversions are not accepted) or what
        is wrong (a sequence that is not GRCh38, bases that disagree with the
        reference).
    """
    text = text.strip()
    m = _HGVS.match(text)
    if m is None:
        raise InvalidVariantError(f"{text[:200]!r} is not an HGVS description (SEQUENCE:g.CHANGE)")
    kind, body = m["kind"], m["body"]
    if kind in _TRANSCRIPT:
        raise InvalidVariantError(
            f"HGVS {kind}. ({_TRANSCRIPT[kind]}) needs a transcript model, which this service does not "
            f"hold; give the genomic form (g., e.g. NC_000017.11:g.43045712A>G) from VEP or Mutalyzer"
        )
    if kind not in ("g", "m"):
        raise InvalidVariantError(f"HGVS {kind}. is not supported; give the genomic form (g.)")
    chrom = _contig(m["seq"], kind)
    if (sub := _SUB.match(body)) is not None:
        return normalize(chrom, int(sub["start"]), sub["ref"], sub["alt"], reference)
    if (d := _DELINS.match(body)) is not None:
        start, end = _span(d)
        ref = _check_bases("", _need(reference, "deletion-insertion"), chrom, start, end, "delins")
        return normalize(chrom, start, ref, d["alt"], reference)
    if (d := _DEL.match(body)) is not None:
        start, end = _span(d)
        ref_obj = _need(reference, "deletion")
        deleted = _check_bases(d["ref"], ref_obj, chrom, start, end, "deletion")
        if start > 1:
            anchor = ref_obj.fetch(chrom, start - 1, start - 1)
            return normalize(chrom, start - 1, anchor + deleted, anchor, reference)
        after = ref_obj.fetch(chrom, end + 1, end + 1)
        return normalize(chrom, start, deleted + after, after, reference)
    if (d := _DUP.match(body)) is not None:
        start, end = _span(d)
        ref_obj = _need(reference, "duplication")
        copied = _check_bases(d["ref"], ref_obj, chrom, start, end, "duplication")
        last = copied[-1]
        return normalize(chrom, end, last, last + copied, reference)
    if (d := _INS.match(body)) is not None:
        start, end = _span(d)
        if end != start + 1:
            raise InvalidVariantError(
                f"an HGVS insertion is between two adjacent positions (e.g. {start}_{start + 1}ins...), "
                f"not {start}_{end}"
            )
        ref_obj = _need(reference, "insertion")
        anchor = _check_bases("", ref_obj, chrom, start, start, "insertion")
        return normalize(chrom, start, anchor, anchor + d["alt"], reference)
    raise InvalidVariantError(
        f"HGVS change {body[:100]!r} is not supported: use a substitution (100A>G), del, dup, "
        "ins (100_101insTT) or delins with explicit bases and exact positions"
    )
