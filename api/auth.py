"""Who is calling, and what they may see: the one place every route asks.

Every route (JSON, pages, annotate, Beacon) learns the caller's role from
:func:`caller_role` and decides what to return with :func:`may_see_counts`,
:func:`may_see_strata` and :func:`granularity`. Roles, from least to most:

``public``
    no key; seen / not seen only (granularity ``boolean``).
``registered``
    counts, with counts from 1 to ``small_count_threshold - 1`` reported
    imprecisely as ``"<5"`` (granularity ``count``); no strata.
``controlled``
    exact counts, strata, sub-cohorts and exports (granularity ``record``).
``admin``
    key management, loads and withdrawals, through the CLI only: an admin key
    sent over HTTP is refused with 403 (it should never travel on the network).

The caller is identified once per request by :class:`variantdb.api.access.AccessMiddleware`
(API key from ``Authorization: Bearer KEY`` or ``X-API-Key``), which stores a
:class:`Caller` in the ASGI scope; :func:`caller_role` only reads it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from starlette.requests import Request

from variantdb.disclosure import floor_count, is_small, protect_genotypes, protect_parts
from variantdb.seen import describe_state

__all__ = [
    "CALLER_SCOPE_KEY",
    "GRANULARITIES",
    "ROLES",
    "Caller",
    "Granularity",
    "Role",
    "caller_of",
    "caller_role",
    "granularity",
    "imprecise_count",
    "may_see_counts",
    "may_see_strata",
    "note_granularity",
    "protect_stats",
    "shape_record",
    "shape_stats",
]

Role = Literal["public", "registered", "controlled", "admin"]
Granularity = Literal["boolean", "count", "record"]

#: The roles in increasing order of what they may see.
ROLES: tuple[Role, ...] = ("public", "registered", "controlled", "admin")
#: What a response holds, least to most (Beacon v2's names): seen / not seen; counts, small ones
#: imprecise; exact counts with strata.
GRANULARITIES: tuple[Granularity, ...] = ("boolean", "count", "record")

#: Where the middleware puts the :class:`Caller` of a request in the ASGI scope.
CALLER_SCOPE_KEY = "variantdb.caller"

_GRANULARITY: dict[str, Granularity] = {
    "public": "boolean",
    "registered": "count",
    "controlled": "record",
    "admin": "record",
}


@dataclass(slots=True)
class Caller:
    """The identified caller of one request, and what the request returned (for the audit log).

    Parameters
    ----------
    role
        The caller's role.
    key_id
        The public id of the API key, or None for a caller without one.
    client
        The client address (the rate-limit identity of a caller without a key).
    small_count_threshold
        Counts from 1 to this minus 1 are imprecise for ``registered``. Default 5.
    """

    role: Role
    key_id: str | None = None
    client: str | None = None
    small_count_threshold: int = 5
    granularity: Granularity | None = None
    n_queries: int = 1
    extra: dict[str, Any] | None = None


_PUBLIC = Caller("public")


def caller_of(request: Request) -> Caller:
    """Return the :class:`Caller` of a request (``public`` when no middleware identified one)."""
    caller = request.scope.get(CALLER_SCOPE_KEY)
    return caller if isinstance(caller, Caller) else _PUBLIC


def caller_role(request: Request) -> Role:
    """Return the role of the caller of ``request``."""
    caller = request.scope.get(CALLER_SCOPE_KEY)
    return caller.role if isinstance(caller, Caller) else "public"


def may_see_counts(role: Role) -> bool:
    """Return True when a role may see counts and frequencies; ``public`` sees seen / not seen only."""
    return role != "public"


def may_see_strata(role: Role) -> bool:
    """Return True when a role may see exact counts by stratum and sub-cohort."""
    return role in ("controlled", "admin")


def granularity(role: Role) -> Granularity:
    """Return the most a role may be answered: ``boolean``, ``count`` or ``record``.

    ``boolean`` is seen / not seen; ``count`` is counts with small ones imprecise
    (:func:`imprecise_count`) and no strata; ``record`` is exact counts with strata.
    Beacon's ``requestedGranularity`` is downgraded to this.
    """
    return _GRANULARITY[role]


def note_granularity(request: Request, value: Granularity) -> None:
    """Record what granularity a request was answered with (the audit log writes it)."""
    caller = request.scope.get(CALLER_SCOPE_KEY)
    if isinstance(caller, Caller):
        caller.granularity = value


def imprecise_count(n: int, threshold: int) -> int | str:
    """Return a count as the ``count`` granularity reports it: ``"<5"`` for 1 to threshold - 1, else exact.

    Zero stays 0 (absence identifies nobody); ``threshold`` <= 1 reports every count exactly.
    """
    return floor_count(n, threshold)


_FREQ = ("af", "faf95", "faf99")
_PUBLIC_KEEP = (
    "query",
    "variant_id",
    "chrom",
    "pos",
    "ref",
    "alt",
    "spdi",
    "normalization",
    "release",
    "seen",
    "state",
    "coverage",
)


def _protect_headline(rec: dict[str, Any], threshold: int) -> None:
    """Floor the headline genotype counts and withhold what would give a small one away (in place)."""
    if not all(
        isinstance(rec.get(k), int) for k in ("ac", "n_carriers", "homozygote_count", "hemizygote_count")
    ):
        return
    rec.update(protect_genotypes(rec, threshold))
    for name in ("n_fail", "n_carrier_families"):
        v = rec.get(name)
        if isinstance(v, int):
            rec[name] = floor_count(v, threshold)
    # n_carriers - n_carrier_families counts carriers who share a family with another carrier.
    car, fam = rec.get("n_carriers"), rec.get("n_carrier_families")
    if isinstance(car, int) and isinstance(fam, int) and is_small(car - fam, threshold):
        rec["n_carrier_families"] = None
    if not isinstance(rec["ac"], int):
        # AF (and the faf derived from it) with AN would give AC back.
        for name in _FREQ:
            if name in rec:
                rec[name] = None


def shape_record(rec: dict[str, Any], role: Role, threshold: int) -> dict[str, Any]:
    """Cut a variant record (built at ``record`` granularity) down to what ``role`` may see.

    Parameters
    ----------
    rec
        A record of :func:`variantdb.api.lookup.record_for_variant`; changed in place for
        ``registered``, replaced for ``public``.
    role
        The caller's role.
    threshold
        ``small_count_threshold``: counts from 1 to this minus 1 become ``"<threshold"``.

    Returns
    -------
    dict
        ``public``: the variant, ``seen``, ``coverage`` and a message without
        numbers. ``registered``: the headline (adj founder) group only, its
        counts protected by :func:`variantdb.disclosure.protect_genotypes` (small
        ones ``"<5"``, any that would give a small one away by difference
        withheld as null), AF and faf null where AC is not exact, no raw / all
        groups (their difference from the headline counts relatives and failing
        calls), no strata or region maximum, ``imprecise_below`` naming the threshold. ``controlled``: unchanged. Each carries
        ``granularity``.
    """
    level = _GRANULARITY[role]
    if level == "record":
        rec["granularity"] = "record"
        return rec
    if level == "boolean":
        out = {k: rec[k] for k in _PUBLIC_KEEP if k in rec}
        out["message"] = describe_state(rec["state"])
        out["granularity"] = "boolean"
        return out
    rec.pop("strata", None)
    rec.pop("excluded_group", None)
    # raw and all differ from the headline by counts of people (failing calls, relatives): shown
    # beside it, the differences would give small ones away.
    rec.pop("raw", None)
    rec.pop("all", None)
    if "faf95_max_region" in rec:
        rec["faf95_max_region"] = None
        rec["faf95_max_region_code"] = None
    _protect_headline(rec, threshold)
    if "state" in rec and "an" in rec:
        rec["message"] = describe_state(rec["state"], rec["ac"], rec["an"])
    rec["granularity"] = "count"
    rec["imprecise_below"] = threshold
    return rec


def shape_stats(stats: Any, role: Role, threshold: int) -> Any:
    """Cut a release's genome statistics (``release.json`` ``stats``) down to what ``role`` may see.

    ``public``: None (they are counts of people by region, group and sex);
    ``registered``: every count from 1 to threshold - 1 given as ``"<threshold"``,
    and the parts that would give one away by difference withheld (None; see
    :func:`protect_stats`); ``controlled``: unchanged.
    """
    level = _GRANULARITY[role]
    if level == "record":
        return stats
    if level == "boolean":
        return None

    if not isinstance(stats, dict):
        return stats
    return protect_stats(stats, threshold)


#: Keys of a release's statistics that hold the number of genomes (the total every breakdown sums to).
_TOTALS = ("n_samples", "genomes")


def protect_stats(stats: dict[str, Any], threshold: int) -> dict[str, Any]:
    """Floor a release's genome statistics and withhold what would give a small one away.

    Every breakdown (``by_sex``, ``by_region`` ...) is a partition of the number
    of genomes, shown too: :func:`variantdb.disclosure.protect_parts` floors its
    small parts and withholds others so that no part, and no part left unlisted
    (genomes of unknown sex), can be computed by difference. ``n_founders`` is
    protected against the relatives it leaves (``n_samples - n_founders``).
    """
    total = next((stats[k] for k in _TOTALS if isinstance(stats.get(k), int)), None)
    out: dict[str, Any] = {}
    for key, v in stats.items():
        if (
            isinstance(v, dict)
            and v
            and all(isinstance(x, int) and not isinstance(x, bool) for x in v.values())
        ):
            out[key] = protect_parts(v, total, threshold)
        elif key == "n_founders" and isinstance(v, int) and total is not None:
            out[key] = protect_parts({key: v}, total, threshold)[key]
        elif key in _TOTALS and isinstance(v, int):
            out[key] = v
        elif isinstance(v, int) and not isinstance(v, bool):
            out[key] = floor_count(v, threshold)
        elif isinstance(v, dict):
            out[key] = (
                protect_stats(v, threshold)
                if total is None
                else {
                    k: floor_count(x, threshold) if isinstance(x, int) and not isinstance(x, bool) else x
                    for k, x in v.items()
                }
            )
        else:
            out[key] = v
    return out
