"""Build the FastAPI app; nothing else lives here.

``create_app(db)`` for tests and embedding; ``create_app_from_env()`` for
``uvicorn.run("variantdb.api.main:create_app_from_env", factory=True)``, reading the
database directory from ``VARIANTDB_DB``.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

import variantdb
from variantdb.api import beacon
from variantdb.api.access import Access, AccessMiddleware, document_security
from variantdb.api.auth import Role
from variantdb.api.deps import ReleaseStore
from variantdb.api.errors import install_error_handlers
from variantdb.api.metrics import Metrics, MetricsMiddleware
from variantdb.api.params import document_bodies
from variantdb.api.responses import ORJSONResponse
from variantdb.api.routes import (
    annotate,
    apidocs,
    coverage,
    diff,
    health,
    pages,
    regions,
    releases,
    signin,
    subcohort,
    variants,
)
from variantdb.settings import Settings, get_settings

__all__ = ["create_app", "create_app_from_env"]

_DESCRIPTION = """\
Has this variant been seen before in our population, and how common is it?

Positions are 1-based (VCF POS) everywhere except SPDI ids, which are 0-based
as the standard says. Counts follow gnomAD's names: `ac`, `an`, `af`,
`homozygote_count`, `hemizygote_count`, plus `n_carriers`; the top-level figures
are adj genotypes of founders, `raw` and `all` the other groups, `strata` by sex,
region and patient group. Every error has the shape
`{"error": {"status", "code", "message", "details"}}`.

Send an API key as `Authorization: Bearer KEY` (or `X-API-Key: KEY`). Without
one a caller is `public` and learns only whether a variant was seen
(`granularity: boolean`); a `registered` key gets counts, those from 1 to 4
given as `"<5"` (`granularity: count`); a `controlled` key gets exact counts,
strata and annotation (`granularity: record`). A bad key is a 401; over the
rate or the daily query budget, a 429 with `Retry-After`.
"""


def create_app(db: Path, settings: Settings | None = None, *, anonymous_role: Role | None = None) -> FastAPI:
    """Return the service app for a database directory.

    Parameters
    ----------
    db
        The database directory (holding ``CURRENT`` and ``releases/``).
    settings
        Limits; default :func:`variantdb.settings.get_settings`.
    anonymous_role
        The role of a caller without an API key; default ``VARIANTDB_ANONYMOUS_ROLE``
        or ``public`` (see :mod:`variantdb.api.access`).
    """
    settings = settings or get_settings()
    app = FastAPI(
        title="variantdb",
        version=variantdb.__version__,
        description=_DESCRIPTION,
        default_response_class=ORJSONResponse,
        # Served by api/routes/apidocs.py with local assets (FastAPI's load them from a CDN).
        docs_url=None,
        redoc_url=None,
    )
    app.state.store = ReleaseStore(Path(db), settings)
    app.state.metrics = Metrics()
    install_error_handlers(app)
    # The hot routes go first and flat: FastAPI matches the routes of an included router twice (the
    # router, then its route), which costs ~10 us a request for every router passed on the way.
    app.router.routes[0:0] = [*variants.router.routes, *subcohort.hot_router.routes]
    for module in (regions, releases, health, coverage, subcohort):
        app.include_router(module.router)
    app.include_router(pages.router)
    app.include_router(signin.router)
    app.include_router(apidocs.router)
    app.include_router(annotate.router)
    app.include_router(diff.router)
    app.include_router(beacon.router)
    app.state.access = Access(Path(db), settings, anonymous_role)
    app.add_middleware(AccessMiddleware, access=app.state.access)
    document_security(app)
    document_bodies(app)
    app.add_middleware(MetricsMiddleware, metrics=app.state.metrics)
    return app


def create_app_from_env() -> FastAPI:
    """Return the app for the database named by the environment variable ``VARIANTDB_DB``."""
    db = get_settings().db
    if not db:
        raise RuntimeError("set VARIANTDB_DB to the database directory (variantdb serve --db DB does this)")
    return create_app(db)
