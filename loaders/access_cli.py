"""``variantdb keys create|list|revoke`` and ``variantdb audit``: API keys and the audit log, CLI only.

Key management is the ``admin`` role: whoever can run these commands on the
database directory. Nothing here is reachable over HTTP.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from variantdb.audit import AuditRead, audit_path, parse_since, read_audit
from variantdb.errors import VariantdbError
from variantdb.keys import KEY_ROLES, KeyStore
from variantdb.loaders.options import DbOpt

__all__ = ["audit", "keys_app"]

keys_app = typer.Typer(
    help="API keys of the HTTP service: create (printed once), list, revoke.", no_args_is_help=True
)
_err = Console(stderr=True, soft_wrap=True)
_out = Console(soft_wrap=True)

_Db = DbOpt
#: The columns of `variantdb audit` as TSV (its header row), in order.
_AUDIT_COLUMNS = ("time", "key", "role", "status", "granularity", "method", "endpoint", "query")


def _fail(message: str) -> None:
    _err.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(1)


def _check_db(db: Path) -> None:
    if not db.is_dir():
        _fail(f"{db} is not a directory; give the database directory (--db)")


@keys_app.command("create")
def keys_create(
    db: _Db,
    role: Annotated[str, typer.Option("--role", help=f"One of {', '.join(KEY_ROLES)}.")],
    name: Annotated[str, typer.Option("--name", help="Who the key is for (a lab, a person).")],
) -> None:
    """Create a key and print it once: only its salted hash is stored."""
    _check_db(db)
    try:
        key, rec = KeyStore(db).create(role, name)
    except VariantdbError as e:
        _fail(str(e))
        return
    _err.print(
        f"created key [bold]{rec.id}[/] ({rec.role}) for {rec.name}; it is shown once, keep it secret. "
        "Send it as 'Authorization: Bearer KEY'.",
        highlight=False,
    )
    typer.echo(key)


@keys_app.command("list")
def keys_list(db: _Db, as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """List the keys: id, name, role, created, revoked (never key material)."""
    try:
        keys = [k.public() for k in KeyStore(db).load().values()]
    except VariantdbError as e:
        _fail(str(e))
        return
    if as_json:
        typer.echo(json.dumps(keys, indent=1))
        return
    table = Table("id", "name", "role", "created", "revoked")
    for k in keys:
        table.add_row(k["id"], k["name"], k["role"], k["created"], k["revoked"] or "")
    _out.print(table)


@keys_app.command("revoke")
def keys_revoke(
    db: _Db,
    key_id: Annotated[str, typer.Argument(metavar="ID", help="The key's id, as `keys list` shows it.")],
) -> None:
    """Revoke a key by id; the service refuses it (401) within reload_interval, without a restart."""
    try:
        rec = KeyStore(db).revoke(key_id)
    except VariantdbError as e:
        _fail(str(e))
        return
    _err.print(f"revoked key [bold]{rec.id}[/] ({rec.role}, {rec.name}) at {rec.revoked}", highlight=False)


def audit(
    db: _Db,
    key: Annotated[
        str | None, typer.Option("--key", help="Only this key id ('public' for callers without a key).")
    ] = None,
    since: Annotated[
        str | None,
        typer.Option("--since", help="Only from this date or time (2026-11-22, 2026-11-22T10:00; UTC)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the entries as JSON lines.")] = False,
) -> None:
    """Print the service's audit log: one line per HTTP request, oldest first."""
    _check_db(db)
    try:
        when = parse_since(since) if since else None
    except VariantdbError as e:
        _fail(str(e))
        return
    if not audit_path(db).exists():
        _err.print(f"no audit log yet ({audit_path(db)}): the service has not answered a request")
        return
    stats = AuditRead()
    if not as_json:
        typer.echo("\t".join(_AUDIT_COLUMNS))
    for entry in read_audit(db, key, when, stats):
        if as_json:
            typer.echo(json.dumps(entry, ensure_ascii=False))
        else:
            typer.echo(
                "\t".join(str(entry.get(f) if entry.get(f) is not None else "-") for f in _AUDIT_COLUMNS)
            )
    _err.print(
        f"{stats.matched:,} entries"
        + (f"; {stats.unreadable:,} unreadable lines skipped" if stats.unreadable else ""),
        highlight=False,
    )
