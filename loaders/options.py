"""Options every ``variantdb`` command shares: ``--db``, defaulting to ``VARIANTDB_DB``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, NoReturn

import click
import typer

from variantdb.errors import VariantdbError
from variantdb.settings import env_name, get_settings

__all__ = ["DbOpt", "default_db"]


def default_db() -> Path:
    """Return the database of ``VARIANTDB_DB`` (setting ``db``) when ``--db`` is not given.

    Raises
    ------
    typer.Exit
        Code 2 (a usage error) when neither is set, or the variable is not a valid setting; the
        message goes to standard error.
    """
    try:
        db = get_settings().db
    except VariantdbError as e:
        _usage(str(e))
    if db is None:
        _usage(f"missing option '--db' (the database directory), or set {env_name('db')}")
    return db


def _usage(message: str) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    raise typer.Exit(2)


#: ``--db DB``: the database directory; default ``$VARIANTDB_DB``.
DbOpt = Annotated[
    Path,
    typer.Option(
        "--db",
        default_factory=default_db,
        show_default=False,
        help=f"Database directory. Default: ${env_name('db')}.",
    ),
]
