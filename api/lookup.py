"""Answering one variant id against one open release: parse, normalize, search, build the record.

Shared by the single, batch, region and gene routes so every path answers the
same record for the same variant.
"""

from __future__ import annotations

from typing import Any, Literal

from variantdb.api.deps import OpenRelease
from variantdb.api.errors import APIError
from variantdb.api.records import ExcludedGroup
from variantdb.seen import describe_state, seen_state
from variantdb.variant import (
    InvalidVariantError,
    Variant,
    format_variant_id,
    parse_variant_id,
    parse_variant_ids,
    to_spdi,
)

__all__ = [
    "excluded_group",
    "find_ids",
    "invalid_variant_error",
    "parse_query",
    "record_for_query",
    "record_for_row",
    "record_for_variant",
    "records_for_ids",
    "state_of",
]


def invalid_variant_error(text: str, exc: InvalidVariantError) -> APIError:
    """Return the 400 error of an id that cannot be parsed or normalized."""
    return APIError(400, "invalid_variant", f"variant id {text[:200]!r}: {exc}")


def excluded_group(rel: OpenRelease, text: str | None) -> ExcludedGroup | None:
    """Resolve ``?exclude_group=`` (a patient group's code or name, any case) against a release.

    Raises
    ------
    APIError
        400 ``unknown_group`` naming the release's patient groups.
    """
    if text is None:
        return None
    group = rel.layout.find_group(text)
    if group is None:
        known = ", ".join(f"{code} ({name})" for code, name in rel.layout.patient_groups())
        raise APIError(
            400,
            "unknown_group",
            f"exclude_group {text[:100]!r} is not a patient group of release {rel.id}; "
            f"give a code or a name: {known or 'the release has none'}",
            [
                {
                    "location": "query.exclude_group",
                    "message": "unknown patient group",
                    "type": "unknown_group",
                }
            ],
        )
    return group


def state_of(in_release: bool, counts: dict[str, Any]) -> str:
    """Return the :mod:`variantdb.seen` state of a record's stored counts (adj founders, adj all samples)."""
    g_all = counts.get("all")
    ac_all = g_all["ac"] if isinstance(g_all, dict) else 0
    return seen_state(in_release, counts["ac"], counts["an"], ac_all)


def _head(query: str, v: Variant, rel: OpenRelease, seen: bool) -> dict[str, Any]:
    return {
        "query": query,
        "variant_id": format_variant_id(v),
        "chrom": v.chrom,
        "pos": v.pos,
        "ref": v.ref,
        "alt": v.alt,
        "spdi": to_spdi(v),
        "normalization": rel.reference_note,
        "release": rel.id,
        "seen": seen,
    }


def record_for_variant(
    rel: OpenRelease,
    v: Variant,
    query: str,
    *,
    strata: bool = True,
    row: int | Literal[False] | None = False,
    exclude: ExcludedGroup | None = None,
) -> dict[str, Any]:
    """Return the record of a normalized variant (seen or not).

    Parameters
    ----------
    strata
        Include the strata. Default True.
    row
        The variant's row if the caller already searched (None: not in the
        release); default False: search here.
    exclude
        A patient group (:func:`excluded_group`) whose carriers and alleles the
        headline counts leave out; ``seen`` still says whether the variant is in
        the release. Default None.
    """
    if row is False:
        row = rel.index.find(v.chrom, v.pos, v.ref, v.alt)
    if row is not None:
        return _record(rel, v, query, strata, rel.index.count_tuple(row), None, exclude)
    return _record(rel, v, query, strata, None, rel.index.an_tuple(v.chrom, v.pos), exclude)


def _record(
    rel: OpenRelease,
    v: Variant,
    query: str,
    strata: bool,
    t: tuple[int, ...] | None,
    an_t: tuple[int, ...] | None,
    exclude: ExcludedGroup | None,
) -> dict[str, Any]:
    """Build a record from the variant's count tuple ``t`` (None: not in the release, AN from ``an_t``)."""
    out = _head(query, v, rel, t is not None)
    layout = rel.layout
    if t is not None:
        counts = layout.seen(t) if strata else layout.seen_compact(t)
    else:
        counts = layout.unseen(an_t, strata)
    # The state is the stored record's: leaving a group out changes the counts, not what was observed.
    out["state"] = state_of(t is not None, counts)
    if exclude is not None:
        layout.without_group(counts, exclude, t, an_t)
    an = counts["an"]
    out["coverage"] = "called" if an else "no_data"
    if exclude is None:
        out["message"] = describe_state(out["state"], counts["ac"], an)
    else:
        ac = counts["ac"]
        words = (
            describe_state("seen", ac, an)
            if ac > 0
            else describe_state("not_seen" if an else "no_data", 0, an)
        )
        out["message"] = words + f", outside patient group {exclude.value}"
        out["excluded_group"] = exclude.id
    out.update(counts)
    return out


def find_ids(
    rel: OpenRelease, ids: list[str]
) -> tuple[list[Variant | InvalidVariantError], list[int | None]]:
    """Parse a batch's ids in bulk and find the rows of those that parse, in one vectorized search.

    Returns
    -------
    (parsed, rows)
        Per id its normalized variant or the reason it cannot be parsed; per parsed
        variant, in order, its row in the release index (None: absent).
    """
    parsed = parse_variant_ids(ids, rel.reference)
    return parsed, rel.index.find_many([v for v in parsed if isinstance(v, Variant)])


def records_for_ids(
    rel: OpenRelease,
    ids: list[str],
    *,
    strata: bool = True,
    exclude: ExcludedGroup | None = None,
    found: tuple[list[Variant | InvalidVariantError], list[int | None]] | None = None,
) -> list[dict[str, Any] | APIError]:
    """Return the record of each id of a batch, in order, or the 400 error of an id that cannot be parsed.

    The same records as :func:`record_for_query` one id at a time, found in bulk:
    the ids parsed and searched by :func:`find_ids`, the count rows of the
    variants present and the AN of the absent ones each read in one call.

    Parameters
    ----------
    strata
        Include the strata. Default True.
    exclude
        As for :func:`record_for_variant`. Default None.
    found
        What :func:`find_ids` gave for these ids, when the caller needs it too. Default None.
    """
    parsed, rows = found if found is not None else find_ids(rel, ids)
    variants = [v for v in parsed if isinstance(v, Variant)]
    index = rel.index
    present = [r for r in rows if r is not None]
    counts = iter(index.count_tuples(present))
    absent = iter(index.an_tuples([v for v, r in zip(variants, rows, strict=True) if r is None]))
    row_of = iter(rows)
    out: list[dict[str, Any] | APIError] = []
    for text, v in zip(ids, parsed, strict=True):
        if isinstance(v, InvalidVariantError):
            out.append(invalid_variant_error(text, v))
        elif next(row_of) is not None:
            out.append(_record(rel, v, text, strata, next(counts), None, exclude))
        else:
            out.append(_record(rel, v, text, strata, None, next(absent), exclude))
    return out


def parse_query(rel: OpenRelease, text: str) -> Variant:
    """Parse and normalize an id with the loader's code (:func:`variantdb.variant.parse_variant_id`).

    Raises
    ------
    APIError
        400 ``invalid_variant`` when the id cannot be parsed or normalized.
    """
    try:
        return parse_variant_id(text, rel.reference)
    except InvalidVariantError as e:
        raise invalid_variant_error(text, e) from None


def record_for_query(
    rel: OpenRelease, text: str, *, strata: bool = True, exclude: ExcludedGroup | None = None
) -> dict[str, Any]:
    """Parse and normalize an id with the loader's code, then return its record.

    Raises
    ------
    APIError
        400 ``invalid_variant`` when the id cannot be parsed or normalized.
    """
    return record_for_variant(rel, parse_query(rel, text), text, strata=strata, exclude=exclude)


def record_for_row(rel: OpenRelease, row: int) -> dict[str, Any]:
    """Return the record of the variant stored at a row (region and gene pages)."""
    v = rel.index.variant_at(row)
    out = _head(format_variant_id(v), v, rel, True)
    counts = rel.layout.seen(rel.index.count_tuple(row))
    out["coverage"] = "called" if counts["an"] else "no_data"
    out["state"] = state_of(True, counts)
    out["message"] = describe_state(out["state"], counts["ac"], counts["an"])
    out.update(counts)
    return out
