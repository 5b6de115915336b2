"""Who is calling, and what they may see: the one place every route asks.

Every route (JSON, pages, annotate, Beacon) learns the caller's role from
:func:`caller_role` and decides what to return with :func:`may_see_counts` and
:func:`may_see_strata`. Roles, from least to most:

``public``
    no key; seen / not seen only.
``registered``
    counts, small counts reported imprecisely.
``controlled``
    exact counts, strata, sub-cohorts and exports.
``admin``
    key management, loads and withdrawals, through the CLI only.

Notes
-----
API keys (issue 6) are not built yet: until they are, every HTTP caller is
``controlled``, which is what the service has shown since issue 3.
"""

from __future__ import annotations

from typing import Literal

from starlette.requests import Request

__all__ = ["ROLES", "Role", "caller_role", "may_see_counts", "may_see_strata"]

Role = Literal["public", "registered", "controlled", "admin"]

#: The roles in increasing order of what they may see.
ROLES: tuple[Role, ...] = ("public", "registered", "controlled", "admin")


def caller_role(request: Request) -> Role:
    """Return the role of the caller of ``request``."""
    return "controlled"


def may_see_counts(role: Role) -> bool:
    """Return True when a role may see counts and frequencies; ``public`` sees seen / not seen only."""
    return role != "public"


def may_see_strata(role: Role) -> bool:
    """Return True when a role may see exact counts by stratum and sub-cohort."""
    return role in ("controlled", "admin")
