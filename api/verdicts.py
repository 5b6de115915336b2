"""Frequency verdicts per disease on the records of the service (see ``docs/verdicts.md``).

The rules live in :mod:`variantdb.verdict`; this module reads the request's
verdict parameters, finds the counts a verdict uses in a release (the
population outside the patient's own group), and cuts the verdicts down to
what the caller's role may see.

Which counts
    With ``?patient_group=``: the adj founders outside that group, ``ac`` and
    ``an`` derived from the stored strata as ``?exclude_group=`` derives them.
    Regions are not stored by patient group, so the region maximum faf95 is a
    *lower bound*: each region's faf95 with all of the group's alternate
    alleles taken from the region's AC and the region's AN kept (exact when
    the group has no carrier). BA1 and BS1 can then only be missed, never met
    wrongly. Without a patient group: all adj founders (the headline counts
    and ``faf95_max_region`` of the record), one verdict per patient group's
    default disease.

Who sees what
    ``public``: no verdicts. ``registered``: the state and criteria only, no
    counts (``ac``, ``an``, ``af_upper``, ``faf95_max_region`` are left out),
    and ``state: "withheld"`` when a count the verdict rests on is from 1 to
    ``small_count_threshold - 1`` (the AC used, the group's AC, the AC of the
    region with the highest faf95) or the record's headline AC is not shown
    exactly. ``controlled``: everything.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from variantdb.api.auth import Role, granularity
from variantdb.api.deps import OpenRelease
from variantdb.api.errors import APIError
from variantdb.api.records import ExcludedGroup
from variantdb.disclosure import is_small
from variantdb.release.alerts import read_counts
from variantdb.variant import Variant
from variantdb.verdict import (
    DiseaseArchitecture,
    VerdictArrays,
    VerdictParameterError,
    apply_overrides,
    architecture_for,
    compute_verdicts,
    read_disease_architectures,
)

__all__ = [
    "VERDICT_PARAMETERS",
    "VerdictInputs",
    "VerdictParams",
    "VerdictQuery",
    "attach_verdicts",
    "page_verdicts",
    "parse_verdict_query",
    "verdict_inputs",
    "verdict_inputs_many",
]

#: Query parameters that ask for verdicts (any of them, or ``verdicts=true``).
VERDICT_PARAMETERS: Final = (
    "verdicts",
    "patient_group",
    "disease",
    "inheritance",
    "prevalence",
    "allelic",
    "genetic",
    "penetrance",
    "ci",
)
_OVERRIDES: Final = ("inheritance", "prevalence", "allelic", "genetic", "penetrance", "ci")
_COUNT_KEYS: Final = ("ac", "an", "af_upper", "faf95_max_region")


class VerdictParams(BaseModel):
    """The query parameters of verdicts, for OpenAPI (the routes read them from the query string)."""

    model_config = ConfigDict(extra="allow")
    verdicts: bool | None = Field(
        default=None,
        description="true: add frequency verdicts per disease (any parameter below turns them on too); "
        "registered and controlled keys only",
    )
    patient_group: str | None = Field(
        default=None,
        description="the patient's group (code or name): its default disease from the disease table, counted "
        "over the adj founders outside the group. Default: every group's default disease, counted over everyone",
    )
    disease: str | None = Field(
        default=None, description="a disease of the table by name (default: the group's first row)"
    )
    inheritance: str | None = Field(default=None, description="override: dominant or recessive")
    prevalence: str | None = Field(
        default=None, description="override: proportion affected, e.g. 0.002 or 1/500"
    )
    allelic: str | None = Field(default=None, description="override: allelic contribution, in (0, 1]")
    genetic: str | None = Field(default=None, description="override: genetic contribution, in (0, 1]")
    penetrance: str | None = Field(default=None, description="override: penetrance, in (0, 1]")
    ci: str | None = Field(default=None, description="override: confidence, 0.95 or 0.99")


@dataclass(frozen=True)
class VerdictQuery:
    """What a request asked: the diseases and the patient group to leave out (None: nobody)."""

    architectures: tuple[DiseaseArchitecture, ...]
    group: ExcludedGroup | None

    @property
    def population(self) -> str:
        """The population the counts come from, in words (the records' ``verdict_population``)."""
        if self.group is None:
            return "adj founders (all patient groups)"
        return f"adj founders outside patient group {self.group.value}"


@dataclass(frozen=True)
class VerdictInputs:
    """The counts of one variant a verdict uses, and the small counts it rests on."""

    ac: int
    an: int
    faf95_max_region: float | None
    group_ac: int
    region_ac: int


def _bad(parameter: str, value: object, reason: str, status: int = 422) -> APIError:
    return APIError(
        status,
        "invalid_request" if status == 422 else "unknown_group",
        f"query parameter {parameter}={str(value)[:100]!r}: {reason}",
        [{"location": f"query.{parameter}", "message": reason, "type": "invalid_verdict_parameter"}],
    )


def _flag(raw: str) -> bool:
    low = raw.lower()
    if low in ("true", "1", "yes", "on"):
        return True
    if low in ("false", "0", "no", "off"):
        return False
    raise _bad("verdicts", raw, "must be true or false")


def parse_verdict_query(rel: OpenRelease, params: Mapping[str, str]) -> VerdictQuery | None:
    """Return the verdicts a request asks for, or None when it asks for none.

    Parameters
    ----------
    rel
        The release answering (its patient groups).
    params
        The query parameters: ``verdicts=true`` or any of ``patient_group``,
        ``disease``, ``inheritance``, ``prevalence``, ``allelic``, ``genetic``,
        ``penetrance``, ``ci`` turn verdicts on; ``verdicts=false`` turns them off.

    Returns
    -------
    VerdictQuery or None
        With ``patient_group``: that group's default row of the disease table, or
        its row named by ``disease``, with the overrides; counted outside the
        group. Without: every patient group's default row (or the rows named
        ``disease`` in any group), with the overrides, counted over everyone.

    Raises
    ------
    APIError
        422 naming the parameter and value (``penetrance=1.5``, ``ci=0.9``, an
        unknown disease); 400 ``unknown_group`` for a patient group the
        release or the disease table does not have.
    """
    given = {k: params[k] for k in VERDICT_PARAMETERS if k in params}
    if not given:
        return None
    if "verdicts" in given and not _flag(given["verdicts"]) and len(given) == 1:
        return None
    overrides = {k: given[k] for k in _OVERRIDES if k in given}
    disease = given.get("disease")
    group: ExcludedGroup | None = None
    try:
        if "patient_group" in given:
            text = given["patient_group"]
            group = rel.layout.find_group(text)
            if group is None:
                known = ", ".join(code for code, _ in rel.layout.patient_groups())
                raise _bad(
                    "patient_group",
                    text,
                    f"not a patient group of release {rel.id}; give a code or a name: {known or 'none'}",
                    400,
                )
            bases: list[DiseaseArchitecture] = [architecture_for(group.id.removeprefix("group_"), disease)]
        else:
            rows = read_disease_architectures()
            if disease is not None:
                bases = [a for a in rows if a.disease.lower() == disease.strip().lower()]
                if not bases:
                    listed = "; ".join(a.disease for a in rows)
                    raise _bad("disease", disease, f"not in the disease table; listed: {listed}")
            else:
                firsts: dict[str, DiseaseArchitecture] = {}
                for a in rows:
                    firsts.setdefault(a.patient_group, a)
                bases = list(firsts.values())
        archs = tuple(apply_overrides(a, **overrides) for a in bases)
    except VerdictParameterError as e:
        status = 400 if e.parameter == "patient_group" else 422
        raise _bad(e.parameter, e.value, e.reason, status) from None
    return VerdictQuery(archs, group)


def verdict_inputs_many(
    rel: OpenRelease, variants: Sequence[Variant], rows: Sequence[int | None], group: ExcludedGroup | None
) -> list[VerdictInputs]:
    """Return the counts verdicts on many variants use (see the module docstring).

    Parameters
    ----------
    rel
        The release.
    variants, rows
        The normalized variants and their rows in the release index (None: absent).
    group
        The patient group left out, or None.
    """
    code = group.id.removeprefix("group_") if group is not None else None
    c = read_counts(rel.index, variants, code, rows)
    return [
        VerdictInputs(
            int(c.ac[i]),
            int(c.an[i]),
            None if np.isnan(c.faf95_max_region[i]) else float(c.faf95_max_region[i]),
            int(c.group_ac[i]),
            int(c.region_ac[i]),
        )
        for i in range(len(variants))
    ]


def verdict_inputs(
    rel: OpenRelease, v: Variant, row: int | None, group: ExcludedGroup | None
) -> VerdictInputs:
    """Return the counts a verdict on one variant uses (:func:`verdict_inputs_many` of one)."""
    return verdict_inputs_many(rel, [v], [row], group)[0]


def _verdict_dicts(arrays: VerdictArrays, inputs: Sequence[VerdictInputs]) -> list[dict[str, Any]]:
    """Return :meth:`variantdb.verdict.Verdict.to_dict` of every variant of ``arrays``."""
    arch = arrays.architecture.to_dict()
    out = []
    for i, x in enumerate(inputs):
        upper = float(arrays.af_upper[i])
        out.append(
            {
                "state": str(arrays.state[i]),
                "criteria": list(arrays.criteria(i)),
                "max_credible_af": arrays.max_credible_af,
                "max_tolerated_ac": int(arrays.max_tolerated_ac[i]),
                "min_informative_an": arrays.min_informative_an,
                "af_upper": None if np.isnan(upper) else upper,
                "ac": x.ac,
                "an": x.an,
                "faf95_max_region": x.faf95_max_region,
                "ba1_faf": arrays.ba1_faf,
                "architecture": arch,
            }
        )
    return out


def _shape(verdict: dict[str, Any], x: VerdictInputs, headline_exact: bool, threshold: int) -> dict[str, Any]:
    """Cut one verdict down to what a ``registered`` caller may see."""
    out = {k: v for k, v in verdict.items() if k not in _COUNT_KEYS}
    small = any(is_small(n, threshold) for n in (x.ac, x.group_ac, x.region_ac))
    if small or not headline_exact:
        out["state"] = "withheld"
        out["criteria"] = None
    return out


def attach_verdicts(
    records: Sequence[dict[str, Any]],
    inputs: Sequence[VerdictInputs | None],
    query: VerdictQuery,
    role: Role,
    threshold: int,
) -> None:
    """Add ``verdicts`` and ``verdict_population`` to records already shaped for ``role`` (in place).

    Parameters
    ----------
    records
        The records, shaped by :func:`variantdb.api.auth.shape_record`.
    inputs
        Per record, from :func:`verdict_inputs`; None for an error item (left alone).
    query
        From :func:`parse_verdict_query`.
    role, threshold
        The caller's role and ``small_count_threshold``; ``public`` gets nothing.
    """
    level = granularity(role)
    if level == "boolean":
        return
    have = [(r, x) for r, x in zip(records, inputs, strict=True) if x is not None]
    if not have:
        return
    ac = np.array([max(0, x.ac) for _, x in have], dtype=np.int64)
    # A release whose strata do not sum within the headline (hand-built ones) must not make AN < AC.
    an = np.maximum(np.array([x.an for _, x in have], dtype=np.int64), ac)
    faf = np.array([np.nan if x.faf95_max_region is None else x.faf95_max_region for _, x in have])
    per_arch = [
        _verdict_dicts(compute_verdicts(ac, an, faf, arch), [x for _, x in have])
        for arch in query.architectures
    ]
    for i, (rec, x) in enumerate(have):
        verdicts = [dicts[i] for dicts in per_arch]
        if level == "count":
            exact = isinstance(rec.get("ac"), int)
            verdicts = [_shape(v, x, exact, threshold) for v in verdicts]
        rec["verdicts"] = verdicts
        rec["verdict_population"] = query.population


def page_verdicts(
    rel: OpenRelease, rec: dict[str, Any], params: Mapping[str, str], role: Role, threshold: int
) -> VerdictQuery | None:
    """Add the verdicts of the variant page to a shaped record (in place); return what was asked.

    The page always shows verdicts to roles that may see counts: the query's
    parameters when given, else every patient group's default disease.

    Raises
    ------
    APIError
        As :func:`parse_verdict_query`.
    """
    if granularity(role) == "boolean":
        return None
    asked = parse_verdict_query(rel, {**params, "verdicts": params.get("verdicts", "true")})
    if asked is None:
        return None
    row = rel.index.find(rec["chrom"], rec["pos"], rec["ref"], rec["alt"])
    v = Variant(rec["chrom"], rec["pos"], rec["ref"], rec["alt"])
    inputs = verdict_inputs(rel, v, row, asked.group)
    attach_verdicts([rec], [inputs], asked, role, threshold)
    return asked
