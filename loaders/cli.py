"""The ``variantdb`` command: load, export, annotate, info, serve, keys, audit.

The service is started by import string (``variantdb.api.main:create_app_from_env``) so
that ``loaders`` never imports ``api``; both import only the core.
"""

from __future__ import annotations

import json
import os
import tempfile
from contextlib import ExitStack
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

import variantdb
from variantdb.annotate import DEFAULT_FIELDS, annotate_vcf, parse_list
from variantdb.errors import VariantdbError
from variantdb.export import FORMATS, export_release
from variantdb.export_coverage import export_coverage
from variantdb.export_subcohort import export_subcohort
from variantdb.loaders.access_cli import audit, keys_app
from variantdb.loaders.lifecycle_cli import register as register_lifecycle
from variantdb.loaders.options import DbOpt
from variantdb.release.files import read_current, read_release_meta
from variantdb.store.layout import registry_file
from variantdb.store.registry import Registry
from variantdb.subcohort import parse_filter_args
from variantdb.timestamps import format_utc
from variantdb.verdict import (
    DiseaseArchitecture,
    VerdictParameterError,
    architecture_for,
    read_disease_architectures,
)

__all__ = ["app", "main"]

app = typer.Typer(
    name="variantdb",
    help="A national variant and allele-frequency database: load batches, publish releases, serve look-ups.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
err = Console(stderr=True, soft_wrap=True)
out = Console(soft_wrap=True)

_LOG_LEVELS = ("debug", "info", "warning", "error", "critical")
# The access log's logger (variantdb.api.accesslog.ACCESS_LOGGER): named, not imported (loaders never import api).
_ACCESS_LOGGER = "variantdb.access"

QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or summary.")]


def _print_version(value: bool) -> None:
    if value:
        out.print(f"variantdb {variantdb.__version__}", highlight=False)
        raise typer.Exit()


@app.callback(
    help="A national variant and allele-frequency database: load batches, publish releases, serve look-ups."
)
def _main(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version and exit."),
    ] = False,
) -> None:
    """Print the version with ``--version``; the commands do the work."""


def _fail(message: str, code: int = 1) -> None:
    err.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


@app.command()
def load(
    db: DbOpt,
    manifest: Annotated[Path, typer.Option("--manifest", help="Batch manifest (TSV).")],
    reference: Annotated[
        Path | None,
        typer.Option("--reference", help="GRCh38 FASTA (.fai beside it): check REF, left-align indels."),
    ] = None,
    batch: Annotated[
        str | None, typer.Option("--batch", help="Batch name. Default: the manifest's file name.")
    ] = None,
    skip_existing: Annotated[
        bool,
        typer.Option(
            "--skip-existing", help="A batch already loaded under this name is a no-op, not an error."
        ),
    ] = False,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            help="Processes reading in parallel (with --scheduler local: Dask workers). "
            "Default: the CPU count (at most 8).",
        ),
    ] = None,
    scheduler: Annotated[
        str | None,
        typer.Option(
            "--scheduler",
            help="Run on Dask: 'local' starts a local cluster of --workers processes; "
            "tcp://HOST:8786 uses a running one. Inputs and --db must be on storage every worker sees.",
        ),
    ] = None,
    quiet: QuietOpt = False,
    report_json: Annotated[
        Path | None, typer.Option("--report", help="Also write the load report as JSON to this file.")
    ] = None,
    operator: Annotated[
        str | None,
        typer.Option(
            "--operator", help="Who loads, for the changelog. Default: $VARIANTDB_OPERATOR, else the OS user."
        ),
    ] = None,
    full_rebuild: Annotated[
        bool,
        typer.Option(
            "--full-rebuild",
            help="Re-aggregate every stored batch instead of adding this one to the previous release "
            "(same release tables, slower).",
        ),
    ] = False,
) -> None:
    """Validate and ingest one batch, then publish a new release that includes it."""
    import duckdb

    from variantdb.load import is_out_of_space, load_batch

    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        disable=quiet,
        transient=False,
    )
    tasks: dict[str, Any] = {}

    def on_progress(stage: str, advance: int, total: int | None) -> None:
        label = {"read": "files read", "records": "records", "aggregate": "contigs aggregated"}[stage]
        if stage not in tasks:
            tasks[stage] = progress.add_task(label, total=total)
        progress.update(tasks[stage], advance=advance, total=total if total is not None else None)

    try:
        with ExitStack() as stack:
            cluster = None
            if scheduler is not None:
                from variantdb.distributed import open_cluster

                cluster = stack.enter_context(open_cluster(scheduler, workers))
            with progress:
                report = load_batch(
                    db,
                    manifest,
                    reference,
                    batch,
                    progress=on_progress,
                    skip_existing=skip_existing,
                    workers=workers,
                    cluster=cluster,
                    operator=operator,
                    incremental=not full_rebuild,
                )
    except (VariantdbError, FileNotFoundError) as e:
        _fail(str(e))
        return
    except (OSError, duckdb.Error) as e:
        # load_batch explains a full disk once it has started writing; this is before that.
        if not is_out_of_space(e):
            raise
        _fail(f"out of disk space ({e}); the batch was not loaded: free space on the file system of {db}")
        return
    data = report.as_dict()
    if report_json is not None:
        report_json.write_text(json.dumps(data, indent=1, default=str))
    if report.skipped_existing:
        if not quiet:
            out.print(
                f"batch [bold]{report.batch}[/] is already loaded; nothing to do (release {report.release})"
            )
        return
    if not quiet:
        t = data["totals"]
        out.print(
            f"loaded batch [bold]{report.batch}[/]: {report.samples} samples, {t['records']:,} records, "
            f"{t['calls']:,} calls in {report.seconds:.1f} s; published release [bold]{report.release}[/] "
            f"with {report.n_variants:,} variants",
            highlight=False,
        )
        out.print(f"release built: {report.publish}", highlight=False)
        for warning in report.warnings:
            err.print(f"[bold yellow]warning:[/] {warning}", highlight=False)
        if t["skipped"]:
            out.print("skipped: " + ", ".join(f"{k} {v:,}" for k, v in sorted(t["skipped"].items())))
        if t["other_contigs"]:
            shown = ", ".join(f"{k} {v:,}" for k, v in sorted(t["other_contigs"].items())[:20])
            out.print(f"records on other contigs (not loaded): {shown}")


@app.command()
def export(
    db: DbOpt,
    fmt: Annotated[str, typer.Option("--format", help=f"One of {', '.join(FORMATS)}.")] = "tsv",
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Output file. Default: standard output.")
    ] = None,
    region: Annotated[str | None, typer.Option("--region", help="chr1:1-1000 (1-based, inclusive).")] = None,
    release: Annotated[
        str | None, typer.Option("--release", help="Release id. Default: the current one.")
    ] = None,
    table: Annotated[
        str,
        typer.Option(
            "--table", help="variants, or coverage: samples with a confident call per segment (tsv, parquet)."
        ),
    ] = "variants",
    purpose: Annotated[
        str,
        typer.Option(
            "--purpose",
            help="clinical: the release as published; research: variants recounted without research opt-outs.",
        ),
    ] = "clinical",
    filters: Annotated[
        list[str] | None,
        typer.Option(
            "--filter",
            help="Sub-cohort counts instead of the release table: KEY=VALUE, repeatable, e.g. sex=XX, "
            "region=Midtjylland,Nordjylland, patient_group=..., exclude_patient_group=..., technology=WES, "
            "role=founder|non_founder|parent|all, received_from=2025-01-01, received_to=..., raw=true.",
        ),
    ] = None,
) -> None:
    """Write the current release's variant table, one row per normalized variant (or its coverage track)."""
    from variantdb.lifecycle import export_research

    if purpose not in ("clinical", "research"):
        _fail(f"--purpose {purpose!r} is not clinical or research")
    try:
        if table == "coverage":
            if purpose == "research":
                raise ValueError(
                    "--purpose research recounts the variant table; it cannot export --table coverage"
                )
            n = export_coverage(db, fmt, output, region, release)
            if output is not None:
                err.print(f"wrote {n:,} coverage segments to {output}", highlight=False)
            return
        if table != "variants":
            raise ValueError(f"--table {table!r} is not variants or coverage")
        if filters and purpose == "research":
            raise ValueError("--filter and --purpose research cannot be combined: export one or the other")
        if purpose == "research":
            done = export_research(db, fmt, output, region, release)
            n = done.n_variants
            err.print(
                f"research export of release {done.release}: {done.n_samples:,} samples counted, "
                f"{done.n_opted_out:,} research opt-out(s) left out",
                highlight=False,
            )
        elif filters:
            n = export_subcohort(db, fmt, output, parse_filter_args(filters), region, release)
        else:
            n = export_release(db, fmt, output, region, release)
    except (VariantdbError, ValueError) as e:
        _fail(str(e))
        return
    if output is not None:
        err.print(f"wrote {n:,} variants to {output}", highlight=False)


def _verdict_architecture(patient_group: str | None, disease: str | None) -> DiseaseArchitecture | None:
    """Return the disease architecture ``annotate --patient-group/--disease`` ask for, or None."""
    if patient_group is not None:
        return architecture_for(patient_group, disease)
    if disease is None:
        return None
    rows = read_disease_architectures()
    for a in rows:
        if a.disease.lower() == disease.strip().lower():
            return a
    raise VerdictParameterError(
        "disease", disease, "not in the disease table; listed: " + "; ".join(a.disease for a in rows)
    )


@app.command()
def annotate(
    db: DbOpt,
    input_vcf: Annotated[
        Path, typer.Argument(metavar="IN.vcf.gz", help="Patient VCF or BCF (plain, gzipped or bgzipped).")
    ],
    output: Annotated[
        Path,
        typer.Option("-o", "--output", help="Annotated VCF; bgzipped and tabix-indexed when it ends in .gz."),
    ],
    fields: Annotated[
        str,
        typer.Option(
            "--fields",
            help="Release fields to add, comma-separated (ac, an, af, homozygote_count, "
            "hemizygote_count, n_carriers, and _raw / _all forms).",
        ),
    ] = ",".join(DEFAULT_FIELDS),
    strata: Annotated[
        str | None,
        typer.Option(
            "--strata", help="Also per stratum: all, a kind (sex, region, patient_group) or keys (sex_xx)."
        ),
    ] = None,
    prefix: Annotated[str, typer.Option("--prefix", help="Put before every INFO name, e.g. NGC_.")] = "",
    release: Annotated[
        str | None, typer.Option("--release", help="Release id. Default: the current one.")
    ] = None,
    patient_group: Annotated[
        str | None,
        typer.Option(
            "--patient-group",
            help="Add frequency verdict fields (maxCredibleAF, maxTolAC, ACMG_freq, freqVerdict) for this "
            "patient group's disease, counted over the founders outside the group.",
        ),
    ] = None,
    disease: Annotated[
        str | None,
        typer.Option(
            "--disease",
            help="Verdict fields for this disease of the disease table (default: the group's first row); "
            "without --patient-group, counted over everyone.",
        ),
    ] = None,
    quiet: QuietOpt = False,
) -> None:
    """Add the release's AC, AN, AF, nhomalt ... to every ALT allele of a VCF (gnomAD INFO names)."""
    try:
        verdict = _verdict_architecture(patient_group, disease)
    except VerdictParameterError as e:
        _fail(f"--{e.parameter.replace('_', '-')} {e.value!r}: {e.reason}")
        return
    progress = Progress(
        TextColumn("records"),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        disable=quiet,
        transient=True,
    )
    try:
        with progress:
            task = progress.add_task("records", total=None)
            report = annotate_vcf(
                db,
                input_vcf,
                output,
                fields=parse_list(fields),
                strata=parse_list(strata),
                prefix=prefix,
                release=release,
                progress=lambda n: progress.update(task, advance=n),
                verdict=verdict,
                verdict_group=verdict.patient_group if verdict is not None and patient_group else None,
            )
    except (VariantdbError, FileNotFoundError) as e:
        _fail(str(e))
        return
    if not quiet:
        skipped = ", ".join(f"{k} {v:,}" for k, v in sorted(report.not_annotated.items()))
        err.print(
            f"annotated {report.records:,} records ({report.alleles:,} ALT alleles: {report.found:,} in release "
            f"{report.release}, {report.absent:,} absent{'; not annotated: ' + skipped if skipped else ''}) "
            f"in {report.seconds:.1f} s -> {output}",
            highlight=False,
        )
        if report.replaced_info:
            err.print(
                f"replaced the input's INFO fields {', '.join(report.replaced_info)} (use --prefix to keep them)"
            )


@app.command()
def info(db: DbOpt, as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Summarize the database: releases, batches, samples, variants."""
    if not registry_file(db).exists():
        _fail(f"{db} is not a variantdb database (no registry.duckdb); create one with `variantdb load`")
    with Registry(db, read_only=True) as reg:
        summary = reg.summary()
    current = read_current(db)
    for r in summary["releases"]:
        r["created"] = format_utc(r["created"])
    for b in summary["batches"]:
        b["loaded_at"] = format_utc(b["loaded_at"])
    summary["current_release"] = current
    if current is not None:
        meta = read_release_meta(db, current)
        summary["variants"] = meta.n_variants
        summary["stats"] = meta.stats
    if as_json:
        out.print_json(json.dumps(summary, default=str))
        return
    out.print(f"database [bold]{db}[/]", highlight=False)
    out.print(
        f"current release: {current or '(none)'}; samples: {summary['samples']:,} "
        f"(withdrawn {summary['withdrawn']:,}); variants: {summary.get('variants', 0):,}",
        highlight=False,
    )
    table = Table("release", "created", "samples", "variants", "batches")
    for r in summary["releases"]:
        table.add_row(
            r["id"], r["created"], f"{r['n_samples']:,}", f"{r['n_variants']:,}", ", ".join(r["batches"])
        )
    out.print(table)
    table = Table("batch", "loaded", "samples")
    for b in summary["batches"]:
        table.add_row(b["name"], b["loaded_at"], f"{b['n_samples']:,}")
    out.print(table)


@app.command()
def serve(
    db: DbOpt,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port.")] = 8000,
    workers: Annotated[int, typer.Option("--workers", help="Worker processes.")] = 1,
    log_level: Annotated[
        str,
        typer.Option(
            "--log-level",
            help="debug, info (the access log: one JSON line per request on standard output), "
            "warning, error or critical.",
        ),
    ] = "info",
) -> None:
    """Serve the HTTP API and web page for the database's current release."""
    import uvicorn

    level = log_level.lower()
    if level not in _LOG_LEVELS:
        _fail(f"--log-level {log_level!r} is not one of {', '.join(_LOG_LEVELS)}", 2)
    current = read_current(db)
    if current is None:
        _fail(f"{db} has no release to serve; load a batch first (variantdb load)")
    os.environ["VARIANTDB_DB"] = str(db.resolve())
    shown = f"[{host}]" if ":" in host else host
    err.print(
        f"serving {db} (release {current}) on http://{shown}:{port}/ (API docs at /docs) with "
        f"{workers} worker(s); "
        + (
            "access log: one JSON line per request on standard output"
            if level in ("debug", "info")
            else f"access log off (--log-level {level})"
        ),
        highlight=False,
    )
    with ExitStack() as stack:
        if workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            # /metrics sums the counts of every worker (prometheus_client's multiprocess mode).
            os.environ["PROMETHEUS_MULTIPROC_DIR"] = stack.enter_context(
                tempfile.TemporaryDirectory(prefix="variantdb-metrics-")
            )
        uvicorn.run(
            "variantdb.api.main:create_app_from_env",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level=level,
            log_config=_log_config(level),
            access_log=False,  # the service writes its own (variantdb.api.accesslog)
            # The service applies X-Forwarded-* itself, from VARIANTDB_TRUSTED_PROXIES only.
            proxy_headers=False,
        )


def _log_config(level: str) -> dict[str, Any]:
    """Return uvicorn's logging configuration plus the access log (JSON lines on standard output)."""
    import copy

    from uvicorn.config import LOGGING_CONFIG

    config: dict[str, Any] = copy.deepcopy(LOGGING_CONFIG)
    config["formatters"]["line"] = {"format": "%(message)s"}
    config["handlers"]["variantdb_access"] = {
        "class": "logging.StreamHandler",
        "formatter": "line",
        "stream": "ext://sys.stdout",
    }
    config["loggers"][_ACCESS_LOGGER] = {
        "handlers": ["variantdb_access"],
        "level": level.upper(),
        "propagate": False,
    }
    config["loggers"]["variantdb"] = {"handlers": ["default"], "level": level.upper(), "propagate": False}
    return config


register_lifecycle(app)
app.add_typer(keys_app, name="keys")
app.command("audit")(audit)


def main() -> None:
    """Run the CLI."""
    app(prog_name="variantdb")


if __name__ == "__main__":
    main()
