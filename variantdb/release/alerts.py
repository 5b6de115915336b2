"""Reclassification alerts: which of a lab's variants changed between two releases.

A lab classified thousands of variants against an earlier release. For each of
them this module compares two releases and says what moved:

- ``state``: the :mod:`variantdb.seen` state (seen, not seen, ...) differs;
- ``verdict``: the ACMG/AMP frequency criteria met (BA1, BS1, PM2) for the
  lab's disease architecture differ (:mod:`variantdb.verdict`);
- ``af``: the allele frequency moved by more than a factor (default 2) either
  way, or appeared or vanished (0 or undefined on one side only).

The counts are those of the adj founders, outside a patient group when one is
given (``ac`` and ``an`` less the group's stratum, the region maximum faf95 a
lower bound with each region's AC less the group's, as the HTTP API computes
them). The seen state is always the stored record's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np

from variantdb.errors import VariantdbError
from variantdb.frequency import FAF_CONFIDENCE, af, faf_lambda
from variantdb.release.files import read_release_meta
from variantdb.release.index import ReleaseIndex
from variantdb.seen import seen_state
from variantdb.store.layout import release_path
from variantdb.variant import InvalidVariantError, Reference, Variant, format_variant_id, parse_variant_id
from variantdb.verdict import DiseaseArchitecture, compute_verdicts

__all__ = [
    "AF_FACTOR",
    "ALERT_COLUMNS",
    "AlertError",
    "ReleaseCounts",
    "compare_counts",
    "diff_variants",
    "read_counts",
    "tsv_cells",
]

#: Default factor by which an AF must move to raise an alert.
AF_FACTOR: Final = 2.0

#: Columns of an alert row (TSV header and JSON keys), in order.
ALERT_COLUMNS: Final = (
    "query",
    "variant_id",
    "changed",
    "reasons",
    "state_from",
    "state_to",
    "ac_from",
    "an_from",
    "af_from",
    "ac_to",
    "an_to",
    "af_to",
    "criteria_from",
    "criteria_to",
    "verdict_from",
    "verdict_to",
)


class AlertError(VariantdbError, ValueError):
    """Options that cannot be compared (a patient group a release does not have)."""


@dataclass(frozen=True)
class ReleaseCounts:
    """The counts of some variants in one release (one element per variant; see the module docstring).

    Attributes
    ----------
    found
        The variant has a row in the release.
    state
        Its :mod:`variantdb.seen` state (stored, whatever group is left out).
    ac, an
        Adj founders, outside the patient group when one was given.
    faf95_max_region
        Highest region faf95 (NaN where no region has called alleles); a lower
        bound outside a patient group.
    group_ac, region_ac
        The group's AC and the AC of the region reaching the maximum (the small
        counts a verdict rests on).
    """

    found: np.ndarray
    state: list[str]
    ac: np.ndarray
    an: np.ndarray
    faf95_max_region: np.ndarray
    group_ac: np.ndarray
    region_ac: np.ndarray


def read_counts(
    index: ReleaseIndex,
    variants: Sequence[Variant],
    group: str | None = None,
    rows: Sequence[int | None] | None = None,
) -> ReleaseCounts:
    """Return the counts of ``variants`` in one release (vectorized over the found ones).

    Parameters
    ----------
    index
        The release's open index.
    variants
        Normalized variants.
    group
        A patient group code (``hereditary_heart``) to leave out; default None.
    rows
        Their rows in ``index`` if the caller already searched (None: absent);
        default None: searched here.

    Raises
    ------
    KeyError
        ``group`` is not a patient group stratum of the release.
    """
    names = set(index.fields)
    if group is not None and f"ac_group_{group}" not in names:
        raise KeyError(group)
    regions = [f[3:] for f in index.fields if f.startswith("ac_region_")]
    n = len(variants)
    if rows is None:
        rows = index.find_many(list(variants))
    row_a = np.array([-1 if r is None else r for r in rows], dtype=np.int64)
    found = row_a >= 0
    ac = np.zeros(n, dtype=np.int64)
    an = np.zeros(n, dtype=np.int64)
    ac_all = np.zeros(n, dtype=np.int64)
    g_ac = np.zeros(n, dtype=np.int64)
    g_an = np.zeros(n, dtype=np.int64)
    r_ac = np.zeros((n, len(regions)), dtype=np.int64)
    r_an = np.zeros((n, len(regions)), dtype=np.int64)
    if found.any():
        vals = np.asarray(index.values[row_a[found]])
        ac[found] = vals["ac"]
        an[found] = vals["an"]
        if "ac_all" in names:
            ac_all[found] = vals["ac_all"]
        if group is not None:
            g_ac[found] = vals[f"ac_group_{group}"]
            g_an[found] = vals[f"an_group_{group}"]
        for j, r in enumerate(regions):
            r_ac[found, j] = vals[f"ac_{r}"]
            r_an[found, j] = vals[f"an_{r}"]
    an_pos = {f: i for i, f in enumerate(index.an_fields)}
    for i in np.flatnonzero(~found).tolist():
        an_t = index.an_tuple(variants[i].chrom, variants[i].pos)
        if an_t is None:
            continue
        an[i] = an_t[an_pos["an"]] if "an" in an_pos else 0
        if group is not None and f"an_group_{group}" in an_pos:
            g_an[i] = an_t[an_pos[f"an_group_{group}"]]
        for j, r in enumerate(regions):
            if f"an_{r}" in an_pos:
                r_an[i, j] = an_t[an_pos[f"an_{r}"]]
    states: list[str] = [
        seen_state(bool(f), int(a), int(b), int(c)) for f, a, b, c in zip(found, ac, an, ac_all, strict=True)
    ]
    left = np.maximum(r_ac - g_ac[:, None], 0)
    lam = faf_lambda(np.arange(int(left.max(initial=0)) + 1), FAF_CONFIDENCE["faf95"])
    with np.errstate(divide="ignore", invalid="ignore"):
        r_faf = np.where(r_an > 0, lam[left] / np.where(r_an > 0, r_an, 1), np.nan)
    if regions:
        none = np.isnan(r_faf).all(axis=1)
        pick = np.where(np.isnan(r_faf), -1.0, r_faf).argmax(axis=1)
        best = np.where(none, np.nan, r_faf[np.arange(n), pick])
        best_ac = np.where(none, 0, left[np.arange(n), pick])
    else:
        best = np.full(n, np.nan)
        best_ac = np.zeros(n, dtype=np.int64)
    out_ac = np.maximum(ac - g_ac, 0)
    out_an = np.maximum(np.maximum(an - g_an, 0), out_ac)
    return ReleaseCounts(found, states, out_ac, out_an, best, g_ac, best_ac.astype(np.int64))


def tsv_cells(row: dict[str, Any], columns: Sequence[str]) -> list[Any]:
    """Return an alert row's cells for a TSV (lists joined by commas, None empty, booleans lower case)."""
    cells: list[Any] = []
    for c in columns:
        v = row.get(c)
        if isinstance(v, list):
            cells.append(",".join(v))
        elif v is None:
            cells.append("")
        elif isinstance(v, bool):
            cells.append(str(v).lower())
        else:
            cells.append(v)
    return cells


def _af_moved(old: float | None, new: float | None, factor: float) -> bool:
    if old is None or new is None:
        return False  # no data on one side: the state says so
    if old == 0 or new == 0:
        return old != new
    return max(old, new) / min(old, new) > factor


def compare_counts(
    queries: Sequence[str],
    variants: Sequence[Variant],
    old: ReleaseCounts,
    new: ReleaseCounts,
    *,
    af_factor: float = AF_FACTOR,
    architecture: DiseaseArchitecture | None = None,
) -> list[dict[str, Any]]:
    """Return one alert row per variant (:data:`ALERT_COLUMNS`), changed or not.

    Parameters
    ----------
    queries
        The ids as the caller gave them.
    variants
        Their normalized forms.
    old, new
        :func:`read_counts` of the two releases, same order.
    af_factor
        An AF change counts when ``max(af) / min(af) > af_factor``, or when it
        goes from 0 to above 0 or back; default 2. Must be > 1.
    architecture
        Compare the frequency verdicts for this disease too; default None.

    Returns
    -------
    list of dict
        ``changed`` is true when ``reasons`` (of ``state``, ``verdict``, ``af``)
        is not empty. ``criteria_*`` are the criteria met joined by ``&``
        (``""`` when none; None without an architecture).
    """
    if not af_factor > 1:
        raise ValueError(f"af_factor must be > 1, not {af_factor}")
    verdicts = None
    if architecture is not None:
        verdicts = tuple(compute_verdicts(c.ac, c.an, c.faf95_max_region, architecture) for c in (old, new))
    out = []
    for i, (q, v) in enumerate(zip(queries, variants, strict=True)):
        af_o = af(int(old.ac[i]), int(old.an[i]))
        af_n = af(int(new.ac[i]), int(new.an[i]))
        reasons = []
        if old.state[i] != new.state[i]:
            reasons.append("state")
        crit: list[str | None] = [None, None]
        vstate: list[str | None] = [None, None]
        if verdicts is not None:
            crit = ["&".join(x.criteria(i)) for x in verdicts]
            vstate = [str(x.state[i]) for x in verdicts]
            if crit[0] != crit[1]:
                reasons.append("verdict")
        if _af_moved(af_o, af_n, af_factor):
            reasons.append("af")
        out.append(
            {
                "query": q,
                "variant_id": format_variant_id(v),
                "changed": bool(reasons),
                "reasons": reasons,
                "state_from": old.state[i],
                "state_to": new.state[i],
                "ac_from": int(old.ac[i]),
                "an_from": int(old.an[i]),
                "af_from": af_o,
                "ac_to": int(new.ac[i]),
                "an_to": int(new.an[i]),
                "af_to": af_n,
                "criteria_from": crit[0],
                "criteria_to": crit[1],
                "verdict_from": vstate[0],
                "verdict_to": vstate[1],
            }
        )
    return out


def diff_variants(
    db: Path,
    ids: Sequence[str],
    old: str,
    new: str,
    *,
    af_factor: float = AF_FACTOR,
    architecture: DiseaseArchitecture | None = None,
    group: str | None = None,
) -> tuple[list[dict[str, Any]], list[tuple[int, str, str]]]:
    """Compare some variants between two releases of a database (the ``variantdb diff --variants`` command).

    Parameters
    ----------
    db
        Database directory.
    ids
        Variant ids in any form :func:`variantdb.variant.parse_variant_id` accepts,
        normalized with the newer release's reference.
    old, new
        Release ids.
    af_factor, architecture
        As :func:`compare_counts`.
    group
        A patient group code to leave out of the counts; default None.

    Returns
    -------
    (rows, errors)
        The alert rows of the ids that parse, in order, and ``(line number
        (1-based), id, message)`` of those that do not.

    Raises
    ------
    ReleaseNotFoundError
        An unknown or pruned release.
    AlertError
        A patient group that is not a stratum of one of the releases.
    """
    read_release_meta(db, old)
    meta = read_release_meta(db, new)
    reference = None
    if meta.reference:
        try:
            reference = Reference(meta.reference)
        except (OSError, ValueError):
            reference = None  # trimmed only, as the service does
    parsed: list[tuple[str, Variant]] = []
    errors: list[tuple[int, str, str]] = []
    try:
        for n, text in enumerate(ids, 1):
            try:
                parsed.append((text, parse_variant_id(text, reference)))
            except InvalidVariantError as e:
                errors.append((n, text, str(e)))
    finally:
        if reference is not None:
            reference.close()
    variants = [v for _, v in parsed]
    counts = []
    for rid in (old, new):
        index = ReleaseIndex.open(release_path(db, rid))
        try:
            counts.append(read_counts(index, variants, group))
        except KeyError:
            raise AlertError(f"--patient-group {group!r}: not a patient group of release {rid}") from None
        finally:
            index.close()
    rows = compare_counts(
        [t for t, _ in parsed], variants, counts[0], counts[1], af_factor=af_factor, architecture=architecture
    )
    return rows, errors
