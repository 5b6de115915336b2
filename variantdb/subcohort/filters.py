"""Sub-cohort filters: which samples a question counts (sex, region, patient group, technology, role, dates).

Also the fields of a sub-cohort record and their table schema, shared by the HTTP route and the export.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from typing import Any, Final

import pyarrow as pa

from variantdb.errors import VariantdbError
from variantdb.schema import COUNT_FIELDS, SEXES, TECHNOLOGIES, load_vocabulary

__all__ = [
    "FILTER_KEYS",
    "ROLES",
    "SUBCOHORT_FIELDS",
    "SubcohortFilter",
    "SubcohortFilterError",
    "make_filter",
    "parse_filter_args",
    "subcohort_schema",
]

#: Family roles a filter can ask for (founders follow PLINK: no parent among the counted samples).
ROLES: Final[dict[str, str]] = {
    "founder": "no parent among the counted samples (PLINK); the default, as the headline figures",
    "non_founder": "at least one parent among the counted samples (a child of a trio or duo)",
    "parent": "the father or mother of at least one counted sample",
    "all": "every counted sample, founders and relatives",
}
#: Fields of a sub-cohort record, gnomAD's names where the meaning is the same.
SUBCOHORT_FIELDS: Final[dict[str, str]] = {
    **{
        name: f"{COUNT_FIELDS[name][1]}; among the matching samples"
        for name in ("ac", "an", "af", "faf95", "faf99", "homozygote_count", "hemizygote_count", "n_carriers")
    },
    "n_carrier_families": "distinct families among those carriers (a sample without family_id is its own)",
}

#: The fields of a filter, as ``--filter KEY=VALUE`` and query parameters name them.
FILTER_KEYS: Final = (
    "sex",
    "region",
    "patient_group",
    "exclude_patient_group",
    "technology",
    "role",
    "received_from",
    "received_to",
    "raw",
)


class SubcohortFilterError(VariantdbError, ValueError):
    """A filter naming a value the release does not know (an unknown region, a bad date ...).

    Attributes
    ----------
    field
        The filter field, e.g. ``region``.
    value
        The value given.
    """

    def __init__(self, field: str, value: object, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.value = value


@dataclass(frozen=True)
class SubcohortFilter:
    """Which samples a sub-cohort counts: every field given narrows it (AND); values of one field are OR-ed.

    Parameters
    ----------
    sex
        ``XX``, ``XY``, ``unknown``. Default None: any.
    region
        Region names or codes (``variantdb/data/regions.tsv``). Default None: any
        (including samples without a region).
    patient_group
        Patient group names or codes. Default None: any.
    exclude_patient_group
        Patient groups to leave out. Default None.
    technology
        ``WGS``, ``WES``, ``panel``. Default None: any.
    role
        :data:`ROLES`. Default None: founders only, as the headline figures.
    received_from, received_to
        Inclusive bounds on the date received (``YYYY-MM-DD``); a sample without
        a date is left out when either is given. Default None.
    raw
        Count every called genotype instead of adj genotypes only. Default False.
    """

    sex: tuple[str, ...] | None = None
    region: tuple[str, ...] | None = None
    patient_group: tuple[str, ...] | None = None
    exclude_patient_group: tuple[str, ...] | None = None
    technology: tuple[str, ...] | None = None
    role: tuple[str, ...] | None = None
    received_from: dt.date | None = None
    received_to: dt.date | None = None
    raw: bool = False

    def as_dict(self) -> dict[str, Any]:
        """Return the filter as JSON-ready values (None fields left out)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            v = getattr(self, f.name)
            if v is None or (f.name == "raw" and not v):
                continue
            out[f.name] = (
                v.isoformat() if isinstance(v, dt.date) else (list(v) if isinstance(v, tuple) else v)
            )
        return out


def _vocab_lookup(kind: str) -> dict[str, str]:
    """Return ``{lower-case name or code: name}`` of regions or patient groups."""
    out: dict[str, str] = {}
    for name, code in load_vocabulary(kind).items():
        out[name.lower()] = name
        out[code.lower()] = name
    return out


def _resolve(field: str, values: Iterable[str], allowed: dict[str, str]) -> tuple[str, ...]:
    """Map user values (any case) to canonical ones, refusing unknown values with the allowed list."""
    out = []
    for v in values:
        canon = allowed.get(str(v).strip().lower())
        if canon is None:
            shown = ", ".join(sorted(set(allowed.values())))
            raise SubcohortFilterError(field, v, f"{field} {str(v)[:100]!r} is not known; one of: {shown}")
        if canon not in out:
            out.append(canon)
    return tuple(out)


def make_filter(
    *,
    sex: Sequence[str] | str | None = None,
    region: Sequence[str] | str | None = None,
    patient_group: Sequence[str] | str | None = None,
    exclude_patient_group: Sequence[str] | str | None = None,
    technology: Sequence[str] | str | None = None,
    role: Sequence[str] | str | None = None,
    received_from: str | dt.date | None = None,
    received_to: str | dt.date | None = None,
    raw: bool = False,
) -> SubcohortFilter:
    """Validate user values and return a canonical :class:`SubcohortFilter`.

    Values are matched case-insensitively; regions and patient groups by name or
    code. An empty list means "not given".

    Raises
    ------
    SubcohortFilterError
        Naming the field and value, and the values allowed.
    """

    def given(v: Sequence[str] | str | None) -> list[str] | None:
        if v is None:
            return None
        if isinstance(v, str):
            v = [v]
        items = [x for item in v for x in str(item).split(",") if x.strip()]
        return items or None

    def date(field: str, v: str | dt.date | None) -> dt.date | None:
        if v is None or isinstance(v, dt.date):
            return v
        try:
            return dt.date.fromisoformat(v.strip())
        except ValueError:
            raise SubcohortFilterError(field, v, f"{field} {v[:40]!r} is not a date (YYYY-MM-DD)") from None

    def pick(field: str, v: Sequence[str] | str | None, allowed: dict[str, str]) -> tuple[str, ...] | None:
        items = given(v)
        return None if items is None else _resolve(field, items, allowed)

    f = SubcohortFilter(
        sex=pick("sex", sex, {s.lower(): s for s in SEXES}),
        region=pick("region", region, _vocab_lookup("regions")),
        patient_group=pick("patient_group", patient_group, _vocab_lookup("patient_groups")),
        exclude_patient_group=pick(
            "exclude_patient_group", exclude_patient_group, _vocab_lookup("patient_groups")
        ),
        technology=pick("technology", technology, {t.lower(): t for t in TECHNOLOGIES}),
        role=pick("role", role, {r: r for r in ROLES}),
        received_from=date("received_from", received_from),
        received_to=date("received_to", received_to),
        raw=bool(raw),
    )
    if f.received_from and f.received_to and f.received_from > f.received_to:
        raise SubcohortFilterError(
            "received_to",
            f.received_to.isoformat(),
            f"received_to {f.received_to} is before received_from {f.received_from}",
        )
    return f


def parse_filter_args(items: Sequence[str]) -> SubcohortFilter:
    """Parse ``KEY=VALUE`` items (``sex=XX``, ``region=Midtjylland,Nordjylland``, ``raw=true``) into a filter.

    A key given twice adds values (``--filter region=A --filter region=B``).

    Raises
    ------
    SubcohortFilterError
        An item without ``=``, an unknown key or value, a bad date or boolean.
    """
    kw: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip().lower().replace("-", "_")
        if not sep:
            raise SubcohortFilterError(key, item, f"filter {item!r} is not KEY=VALUE (e.g. sex=XX)")
        if key not in FILTER_KEYS:
            raise SubcohortFilterError(
                key, item, f"filter key {key!r} is not known; one of: {', '.join(FILTER_KEYS)}"
            )
        value = value.strip()
        if key == "raw":
            if value.lower() not in ("true", "false", "1", "0", "yes", "no"):
                raise SubcohortFilterError(key, value, f"raw {value!r} is not true or false")
            kw[key] = value.lower() in ("true", "1", "yes")
        elif key.startswith("received_"):
            kw[key] = value
        else:
            kw.setdefault(key, []).append(value)
    return make_filter(**kw)


def subcohort_schema() -> pa.Schema:
    """Return the schema of a sub-cohort table (``variantdb export --filter``): one row per variant."""
    base = [
        pa.field("chrom", pa.string(), False, {"description": "canonical contig"}),
        pa.field("pos", pa.int32(), False, {"description": "1-based position (VCF POS)"}),
        pa.field("ref", pa.string(), False, {"description": "normalized reference allele"}),
        pa.field("alt", pa.string(), False, {"description": "normalized alternate allele"}),
    ]
    types = {"af": pa.float64(), "faf95": pa.float64(), "faf99": pa.float64()}
    return pa.schema(
        base
        + [
            pa.field(name, types.get(name, pa.int32()), name in types, {"description": doc})
            for name, doc in SUBCOHORT_FIELDS.items()
        ],
        metadata={"description": "counts of one sub-cohort of a release, one row per variant"},
    )
