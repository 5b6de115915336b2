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

The caller is identified once per request by :class:`api.access.AccessMiddleware`
(API key from ``Authorization: Bearer KEY`` or ``X-API-Key``), which stores a
:class:`Caller` in the ASGI scope; :func:`caller_role` only reads it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from starlette.requests import Request

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
    return f"<{threshold}" if 0 < n < threshold else n


_MASKED = ("ac", "homozygote_count", "hemizygote_count", "n_carriers", "n_fail", "n_carrier_families")
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


def _mask_group(g: dict[str, Any], threshold: int) -> bool:
    """Mask one group's small counts in place; return True when AC was masked."""
    masked = False
    for name in _MASKED:
        v = g.get(name)
        if isinstance(v, int):
            new = imprecise_count(v, threshold)
            if name == "ac" and new != v:
                masked = True
            g[name] = new
    if masked:
        # AF (and the faf derived from it) with AN would give AC back.
        for name in _FREQ:
            if name in g:
                g[name] = None
    return masked


def shape_record(rec: dict[str, Any], role: Role, threshold: int) -> dict[str, Any]:
    """Cut a variant record (built at ``record`` granularity) down to what ``role`` may see.

    Parameters
    ----------
    rec
        A record of :func:`api.lookup.record_for_variant`; changed in place for
        ``registered``, replaced for ``public``.
    role
        The caller's role.
    threshold
        ``small_count_threshold``: counts from 1 to this minus 1 become ``"<threshold"``.

    Returns
    -------
    dict
        ``public``: the variant, ``seen``, ``coverage`` and a message without
        numbers. ``registered``: counts with small ones imprecise, AF and faf null
        where AC is imprecise, no strata or region maximum, ``imprecise_below``
        naming the threshold. ``controlled``: unchanged. Each carries
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
    if "faf95_max_region" in rec:
        rec["faf95_max_region"] = None
        rec["faf95_max_region_code"] = None
    masked = _mask_group(rec, threshold)
    for group in ("raw", "all"):
        g = rec.get(group)
        if isinstance(g, dict):
            _mask_group(g, threshold)
    if masked:
        rec["message"] = describe_state(rec["state"], rec["ac"], rec["an"])
    rec["granularity"] = "count"
    rec["imprecise_below"] = threshold
    return rec


def shape_stats(stats: Any, role: Role, threshold: int) -> Any:
    """Cut a release's genome statistics (``release.json`` ``stats``) down to what ``role`` may see.

    ``public``: None (they are counts of people by region, group and sex);
    ``registered``: every count from 1 to threshold - 1 given as ``"<threshold"``;
    ``controlled``: unchanged.
    """
    level = _GRANULARITY[role]
    if level == "record":
        return stats
    if level == "boolean":
        return None

    def mask(v: Any) -> Any:
        if isinstance(v, bool):
            return v
        if isinstance(v, int):
            return imprecise_count(v, threshold)
        if isinstance(v, dict):
            return {k: mask(x) for k, x in v.items()}
        if isinstance(v, list):
            return [mask(x) for x in v]
        return v

    return mask(stats)
