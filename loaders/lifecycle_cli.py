"""The lifecycle subcommands of ``variantdb``: withdraw, consent, publish, releases, diff, prune, check, log.

They are registered on the main app by :func:`register`, so ``loaders/cli.py``
stays small.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from variantdb.errors import VariantdbError
from variantdb.loaders.options import DbOpt
from variantdb.release.files import read_current
from variantdb.store.layout import registry_file, staging_root
from variantdb.store.registry import Registry, write_lock
from variantdb.timestamps import format_utc

__all__ = ["register"]

err = Console(stderr=True, soft_wrap=True)
out = Console(soft_wrap=True)

OperatorOpt = Annotated[
    str | None,
    typer.Option(
        "--operator", help="Who acts, for the changelog. Default: $VARIANTDB_OPERATOR, else the OS user."
    ),
]
ReasonOpt = Annotated[str | None, typer.Option("--reason", help="Why, for the changelog.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]
DryRunOpt = Annotated[
    bool, typer.Option("--dry-run", help="Say what would change, change nothing (no prompt, no lock).")
]
YesOpt = Annotated[
    bool,
    typer.Option(
        "--yes", "-y", help="Do not ask for confirmation (needed when standard input is not a terminal)."
    ),
]


def _fail(message: str, code: int = 1) -> None:
    err.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def _stdin_is_terminal() -> bool:
    return sys.stdin.isatty()


def _confirm(command: str, question: str, yes: bool) -> None:
    """Ask ``question`` on the terminal unless ``--yes``; refuse (exit 1) without a terminal or a yes."""
    if yes:
        return
    if not _stdin_is_terminal():
        _fail(
            f"{command} changes the database and asks for confirmation, but standard input is not a "
            "terminal: pass --yes to go ahead, or --dry-run to see what would change; nothing changed"
        )
    if not typer.confirm(question, default=False, err=True):
        _fail(f"{command} cancelled; nothing changed")


def _need_db(db: Path) -> None:
    if not registry_file(db).exists():
        _fail(f"{db} is not a variantdb database (no registry.duckdb); create one with `variantdb load`")


def withdraw(
    db: DbOpt,
    sample: Annotated[
        list[str], typer.Option("--sample", help="Sample id as the manifest gave it; repeat for several.")
    ],
    reason: ReasonOpt = None,
    operator: OperatorOpt = None,
    dry_run: DryRunOpt = False,
    yes: YesOpt = False,
) -> None:
    """Remove a person from every count (a new release) and delete their calls and no-call intervals.

    Asks for confirmation first unless --yes; --dry-run says what would change and changes nothing.
    """
    from variantdb.lifecycle import plan_withdraw
    from variantdb.lifecycle import withdraw as run

    _need_db(db)
    try:
        plan = plan_withdraw(db, sample)
    except VariantdbError as e:
        _fail(str(e))
        return
    if dry_run:
        if plan.already_withdrawn:
            out.print(f"already withdrawn: {', '.join(plan.already_withdrawn)}", highlight=False)
        if plan.withdraw:
            out.print(
                f"dry run: would withdraw {len(plan.withdraw)} sample(s) ({', '.join(plan.withdraw)}), "
                f"rewrite batch(es) {', '.join(plan.batches)} without them and publish a new release with "
                f"{plan.n_samples_after:,} samples; nothing changed",
                highlight=False,
            )
        else:
            out.print("dry run: nothing to withdraw; nothing changed", highlight=False)
        return
    if plan.withdraw:
        _confirm(
            "withdraw",
            f"Withdraw {len(plan.withdraw)} sample(s) ({', '.join(plan.withdraw)}) from every count, delete "
            f"their calls and publish a new release with {plan.n_samples_after:,} samples?",
            yes,
        )
    try:
        report = run(db, sample, reason=reason, operator=operator)
    except VariantdbError as e:
        _fail(str(e))
        return
    if report.already_withdrawn:
        out.print(f"already withdrawn: {', '.join(report.already_withdrawn)}", highlight=False)
    if report.release is None:
        out.print("nothing to do", highlight=False)
        return
    out.print(
        f"withdrew {len(report.withdrawn)} sample(s) ({', '.join(report.withdrawn)}); rewrote batch(es) "
        f"{', '.join(report.rewritten_batches)}; published release [bold]{report.release}[/] with "
        f"{report.n_samples:,} samples and {report.n_variants:,} variants in {report.seconds:.1f} s",
        highlight=False,
    )
    if report.pruned:
        out.print(f"pruned release(s) {', '.join(report.pruned)}", highlight=False)


def consent(
    db: DbOpt,
    sample: Annotated[
        list[str], typer.Option("--sample", help="Sample id as the manifest gave it; repeat for several.")
    ],
    research_opt_out: Annotated[
        bool,
        typer.Option(
            "--research-opt-out/--research-opt-in",
            help="Opt out of research use (left out of `export --purpose research`), or undo it.",
        ),
    ],
    reason: ReasonOpt = None,
    operator: OperatorOpt = None,
) -> None:
    """Set or clear a sample's research opt-out, kept in the registry."""
    from variantdb.lifecycle import set_research_opt_out

    try:
        changes = set_research_opt_out(db, sample, research_opt_out, reason=reason, operator=operator)
    except VariantdbError as e:
        _fail(str(e))
        return
    for sid, (old, new) in changes.items():
        out.print(f"{sid}: {old} -> {new}" if old != new else f"{sid}: already {new}", highlight=False)


def publish(db: DbOpt, reason: ReasonOpt = None, operator: OperatorOpt = None) -> None:
    """Publish a new release from everything stored (a full rebuild)."""
    from variantdb.lifecycle import publish as run

    try:
        report = run(db, reason=reason, operator=operator)
    except VariantdbError as e:
        _fail(str(e))
        return
    out.print(
        f"published release [bold]{report.release}[/] with {report.n_samples:,} samples and "
        f"{report.n_variants:,} variants in {report.seconds:.1f} s",
        highlight=False,
    )


def releases(db: DbOpt, as_json: JsonOpt = False) -> None:
    """List releases: id, created, samples, variants, batches, and which one is current."""
    _need_db(db)
    with Registry(db, read_only=True) as reg:
        rows = reg.releases()
    current = read_current(db)
    data = [
        {
            "id": r["id"],
            "created": format_utc(r["created"]),
            "samples": r["n_samples"],
            "variants": r["n_variants"],
            "batches": r["batches"],
            "current": r["id"] == current,
        }
        for r in rows
    ]
    if as_json:
        out.print_json(json.dumps(data))
        return
    table = Table("release", "created", "samples", "variants", "batches", "current")
    for r in data:
        table.add_row(
            r["id"],
            r["created"],
            f"{r['samples']:,}",
            f"{r['variants']:,}",
            ", ".join(r["batches"]),
            "*" if r["current"] else "",
        )
    out.print(table)


def diff(
    db: DbOpt,
    old: Annotated[str | None, typer.Argument(help="The old release id.")] = None,
    new: Annotated[
        str | None, typer.Argument(help="The new release id (default with --variants: the current).")
    ] = None,
    af_threshold: Annotated[
        float,
        typer.Option("--af-threshold", help="Report an AF change only when |AF_new - AF_old| exceeds it."),
    ] = 0.0,
    variants: Annotated[
        Path | None,
        typer.Option(
            "--variants",
            help="Compare only these variant ids (a file, one id a line; '#' lines skipped): which changed "
            "state, verdict or AF, one TSV row per id.",
        ),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option("--since", help="With --variants: the old release, compared with the current one."),
    ] = None,
    af_factor: Annotated[
        float,
        typer.Option("--af-factor", help="With --variants: an AF change counts beyond this factor (> 1)."),
    ] = 2.0,
    patient_group: Annotated[
        str | None,
        typer.Option(
            "--patient-group",
            help="With --variants: count outside this patient group and compare its disease's verdicts.",
        ),
    ] = None,
    disease: Annotated[
        str | None, typer.Option("--disease", help="With --variants: compare the verdicts for this disease.")
    ] = None,
) -> None:
    """List variants added, removed, and with AF changed beyond the threshold (TSV on standard output).

    With --variants FILE: for each id of the file, whether its seen state, frequency verdict
    (with --patient-group or --disease) or AF (beyond --af-factor) changed from OLD (or --since) to NEW
    (default the current release).
    """
    from variantdb.export import write_tsv
    from variantdb.release.diff import diff_releases

    if variants is not None:
        _diff_variants(db, variants, old, new, since, af_factor, patient_group, disease)
        return
    if since is not None or patient_group is not None or disease is not None:
        _fail("--since, --patient-group and --disease go with --variants FILE")
    if old is None or new is None:
        _fail("give OLD NEW release ids, or --variants FILE [--since RELEASE]")
        return
    try:
        table = diff_releases(db, old, new, af_threshold)
    except (VariantdbError, ValueError) as e:
        _fail(str(e))
        return
    write_tsv([table], table.schema, None)
    counts = {k: 0 for k in ("added", "removed", "af_changed")}
    for change in table.column("change").to_pylist():
        counts[change] += 1
    err.print(
        f"{old} -> {new}: {counts['added']:,} added, {counts['removed']:,} removed, "
        f"{counts['af_changed']:,} with AF changed by more than {af_threshold:g}",
        highlight=False,
    )


def _diff_variants(
    db: Path,
    path: Path,
    old: str | None,
    new: str | None,
    since: str | None,
    af_factor: float,
    patient_group: str | None,
    disease: str | None,
) -> None:
    """``variantdb diff --variants FILE``: one TSV row per id (see :func:`variantdb.release.alerts.diff_variants`)."""
    import csv
    import sys

    from variantdb.release.alerts import ALERT_COLUMNS, diff_variants, tsv_cells
    from variantdb.verdict import VerdictParameterError, architecture_for, read_disease_architectures

    if since is not None and (old is not None or new is not None):
        _fail("give either --since RELEASE or OLD [NEW], not both")
    old = since or old
    if old is None:
        _fail("give the old release: --since RELEASE, or OLD [NEW]")
        return
    new = new or read_current(db)
    if new is None:
        _fail(f"{db} has no current release")
        return
    try:
        ids = [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines()]
    except (OSError, UnicodeDecodeError) as e:
        _fail(f"--variants {path}: cannot be read ({e})")
        return
    lines = [(n, t) for n, t in enumerate(ids, 1) if t and not t.startswith("#")]
    architecture = None
    group = None
    try:
        if patient_group is not None:
            architecture = architecture_for(patient_group, disease)
            group = architecture.patient_group
        elif disease is not None:
            rows = [a for a in read_disease_architectures() if a.disease.lower() == disease.strip().lower()]
            if not rows:
                raise VerdictParameterError(
                    "disease", disease, "not in the disease table (variantdb/data/disease_architectures.tsv)"
                )
            architecture = rows[0]
        alerts, errors = diff_variants(
            db, [t for _, t in lines], old, new, af_factor=af_factor, architecture=architecture, group=group
        )
    except VerdictParameterError as e:
        _fail(f"--{e.parameter.replace('_', '-')} {e.value!r}: {e.reason}")
        return
    except (VariantdbError, ValueError) as e:
        _fail(str(e))
        return
    for k, _text, message in errors:
        err.print(f"{path} line {lines[k - 1][0]}: {message}; skipped", highlight=False)
    w = csv.writer(sys.stdout, delimiter="\t", lineterminator="\n")
    w.writerow(["from", "to", *ALERT_COLUMNS])
    for r in alerts:
        w.writerow([old, new, *tsv_cells(r, ALERT_COLUMNS)])
    n_changed = sum(1 for r in alerts if r["changed"])
    err.print(
        f"{old} -> {new}: {n_changed:,} of {len(alerts):,} variants changed ({len(errors):,} ids skipped)",
        highlight=False,
    )


def prune(
    db: DbOpt,
    keep: Annotated[
        int | None,
        typer.Option(
            "--keep",
            help="Releases to keep (the newest; never the current). Default: $VARIANTDB_KEEP_RELEASES.",
        ),
    ] = None,
    reason: ReasonOpt = None,
    operator: OperatorOpt = None,
    dry_run: DryRunOpt = False,
    yes: YesOpt = False,
) -> None:
    """Delete old releases, keeping the newest ones and always the current one.

    Asks for confirmation first unless --yes; --dry-run says what would be deleted and deletes nothing.
    """
    from variantdb.load import recover
    from variantdb.release.retention import plan_prune, prune_releases
    from variantdb.settings import get_settings

    _need_db(db)
    keep = keep if keep is not None else get_settings().keep_releases
    if keep <= 0:
        _fail("give --keep N (N >= 1) or set VARIANTDB_KEEP_RELEASES")
    doomed = plan_prune(db, keep)
    if dry_run:
        out.print(
            f"dry run: would prune {', '.join(doomed)} (keeping the newest {keep} and the current release); "
            "nothing changed"
            if doomed
            else "dry run: nothing to prune; nothing changed",
            highlight=False,
        )
        return
    if doomed:
        _confirm("prune", f"Delete release(s) {', '.join(doomed)} for good?", yes)
    try:
        with write_lock(db):
            recover(db)
            gone = prune_releases(db, keep, operator, reason)
    except VariantdbError as e:
        _fail(str(e))
        return
    out.print(f"pruned {', '.join(gone)}" if gone else "nothing to prune", highlight=False)


def check(
    db: DbOpt,
    release: Annotated[
        str | None,
        typer.Option("--release", help="Release to verify against its checksums. Default: current."),
    ] = None,
) -> None:
    """Verify a release against its publish-time checksums and the registry against the stored calls.

    An interrupted write is finished (or undone) first, as the next write would do.
    """
    from variantdb.load import recover
    from variantdb.release.check import check_database
    from variantdb.store.batches import finish_pending

    _need_db(db)
    try:
        with write_lock(db):
            before = read_current(db)
            staged = sorted(p.name for p in staging_root(db).glob("*") if not p.name.startswith("."))
            with Registry(db, read_only=True) as reg:
                known = [r["id"] for r in reg.releases()]
                loaded = set(reg.batch_names())
            done = finish_pending(db, known)
            recover(db)
            done += [
                f"moved the staged files of the committed load of batch {b} into place"
                if b in loaded
                else f"removed the staged files of the uncommitted load of batch {b}"
                for b in staged
            ]
            if read_current(db) != before:
                done.append(
                    f"switched CURRENT from {before} to {read_current(db)}, the newest committed release"
                )
            for line in done:
                err.print(f"interrupted write: {line}", highlight=False)
    except VariantdbError as e:
        _fail(str(e))
        return
    report = check_database(db, release)
    for line in report.checked:
        out.print(f"checked {line}", highlight=False)
    if not report.ok:
        for p in report.problems:
            err.print(f"[bold red]problem:[/] {p}", highlight=False)
        _fail(f"{db}: {len(report.problems)} problem(s) found")
    out.print(f"ok: {db} (release {report.release})", highlight=False)


def log(
    db: DbOpt,
    since: Annotated[
        str | None, typer.Option("--since", help="Only entries from this UTC date or time on (2026-01-31).")
    ] = None,
    action: Annotated[
        str | None, typer.Option("--action", help="Only one kind: load, withdraw, consent, release, prune.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Print the append-only changelog: loads, withdrawals, consent changes, releases, prunes."""
    from variantdb.store.changelog import ACTIONS, read_log

    _need_db(db)
    when = None
    if since is not None:
        try:
            when = dt.datetime.fromisoformat(since)
        except ValueError:
            _fail(f"--since {since!r} is not a date or time (YYYY-MM-DD or YYYY-MM-DDTHH:MM)")
    if action is not None and action not in ACTIONS:
        _fail(f"--action {action!r} is not one of {', '.join(ACTIONS)}")
    with Registry(db, read_only=True) as reg:
        entries = read_log(reg.con, when, action)
    if as_json:
        out.print_json(json.dumps(entries, ensure_ascii=False))
        return
    typer.echo("\t".join(["seq", "time_utc", "action", "operator", "subject", "reason", "details"]))
    for e in entries:
        fields = [str(e["seq"]), e["at"], e["action"], e["operator"], e["subject"] or "", e["reason"] or ""]
        fields.append(json.dumps(e["details"], ensure_ascii=False, sort_keys=True))
        typer.echo("\t".join(f.replace("\t", " ").replace("\n", " ") for f in fields))


def register(app: typer.Typer) -> None:
    """Add the lifecycle subcommands to the ``variantdb`` app."""
    for fn in (withdraw, consent, publish, releases, diff, prune, check, log):
        app.command(fn.__name__)(fn)
