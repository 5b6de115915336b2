"""Conventions every ``variantdb`` command keeps.

``--version``, ``-h``, ``VARIANTDB_DB`` as ``--db``; ``serve``'s listen line and JSON access log;
``--dry-run`` and a confirmation prompt on ``withdraw`` and ``prune``; one timestamp format; a
header row on every TSV; VCFs that htslib reads without a warning.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pysam
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

import variantdb
from variantdb.api.main import create_app
from variantdb.keys import KeyStore
from variantdb.loaders.cli import app

runner = CliRunner()


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout.strip() == f"variantdb {variantdb.__version__}"


@pytest.mark.parametrize("args", [["-h"], ["info", "-h"], ["keys", "list", "-h"], ["withdraw", "-h"]])
def test_short_help(args: list[str]) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.stdout


def test_variantdb_db_is_the_default_of_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _, rec = KeyStore(tmp_path).create("registered", "env")
    monkeypatch.setenv("VARIANTDB_DB", str(tmp_path))
    result = runner.invoke(app, ["keys", "list"])
    assert result.exit_code == 0, result.output
    assert rec.id in result.stdout
    # --db still wins over the variable.
    other = tmp_path / "other"
    other.mkdir()
    result = runner.invoke(app, ["keys", "list", "--db", str(other)])
    assert rec.id not in result.stdout


def test_without_db_or_variable_the_error_names_both(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VARIANTDB_DB", raising=False)
    for args in (["info"], ["keys", "list"], ["releases"]):
        result = runner.invoke(app, args)
        assert result.exit_code == 2, args
        assert "--db" in result.stderr and "VARIANTDB_DB" in result.stderr
        assert "Traceback" not in result.output


# ---------------------------------------------------------------------------
# serve: where it listens, the access log, --log-level
# ---------------------------------------------------------------------------

_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_says_where_it_listens_and_logs_one_json_line_per_request(api_db: Path, tmp_path: Path) -> None:
    db = tmp_path / "db"
    shutil.copytree(api_db, db)
    port = _free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "variantdb.loaders.cli", "serve", "--db", str(db), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2):
                    break
            except OSError:
                assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
                assert time.monotonic() < deadline, "serve did not answer within 60 s"
                time.sleep(0.3)
        url = f"http://127.0.0.1:{port}/v1/variants/1-1-A-C?api_key=vdb_abc_topsecret&format=json"
        with contextlib.suppress(urllib.error.HTTPError):
            urllib.request.urlopen(url, timeout=5)
    finally:
        proc.terminate()
        stdout, stderr = proc.communicate(timeout=30)
    assert f"on http://127.0.0.1:{port}/" in stderr, stderr
    lines = [json.loads(line) for line in stdout.splitlines() if line.strip()]
    assert [line["path"].split("?")[0] for line in lines][-1] == "/v1/variants/1-1-A-C"
    last = lines[-1]
    assert set(last) == {"time", "method", "path", "status", "duration_ms", "role"}
    assert _UTC.match(last["time"]), last
    assert last["method"] == "GET" and isinstance(last["duration_ms"], float)
    assert last["role"] in ("public", "controlled") and last["status"] in (200, 400, 401, 404)
    assert "topsecret" not in stdout
    assert last["path"] == "/v1/variants/1-1-A-C?api_key=[redacted]&format=json"


def test_log_level_warning_silences_the_access_log(monkeypatch: pytest.MonkeyPatch, api_db: Path) -> None:
    seen: dict[str, Any] = {}
    import uvicorn

    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: seen.update(k))
    result = runner.invoke(app, ["serve", "--db", str(api_db), "--log-level", "warning"])
    assert result.exit_code == 0, result.output
    assert seen["log_level"] == "warning"
    assert seen["log_config"]["loggers"]["variantdb.access"]["level"] == "WARNING"
    assert "access log off" in result.stderr
    result = runner.invoke(app, ["serve", "--db", str(api_db), "--log-level", "loud"])
    assert result.exit_code == 2 and "--log-level 'loud'" in result.stderr


def test_access_log_line_in_process(api_client: Any, caplog: pytest.LogCaptureFixture) -> None:
    from variantdb.api.accesslog import ACCESS_LOGGER, redact_query

    with caplog.at_level(logging.INFO, logger=ACCESS_LOGGER):
        api_client.get("/health?token=s3cret&x=1")
    line = json.loads([r.getMessage() for r in caplog.records if r.name == ACCESS_LOGGER][-1])
    assert line["path"] == "/health?token=[redacted]&x=1"
    assert line["status"] == 200 and _UTC.match(line["time"])
    assert redact_query("chrom=1&start=5") == "chrom=1&start=5"


# ---------------------------------------------------------------------------
# withdraw and prune: --dry-run, a confirmation prompt, --yes
# ---------------------------------------------------------------------------


def _snapshot(db: Path) -> dict[str, bytes]:
    return {str(p.relative_to(db)): p.read_bytes() for p in sorted(db.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def two_releases(api_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the API fixture database with a second release (publish)."""
    db = tmp_path_factory.mktemp("conventions") / "db"
    shutil.copytree(api_db, db)
    result = runner.invoke(app, ["publish", "--db", str(db), "--reason", "second release"])
    assert result.exit_code == 0, result.output
    return db


def _a_sample(api_cohort: Path) -> str:
    return (api_cohort / "manifest.tsv").read_text().splitlines()[1].split("\t")[0]


def test_dry_run_says_what_would_change_and_changes_no_byte(two_releases: Path, api_cohort: Path) -> None:
    person = _a_sample(api_cohort)
    before = _snapshot(two_releases)
    result = runner.invoke(app, ["withdraw", "--db", str(two_releases), "--sample", person, "--dry-run"])
    assert result.exit_code == 0, result.output
    assert f"would withdraw 1 sample(s) ({person})" in result.stdout and "nothing changed" in result.stdout
    result = runner.invoke(app, ["prune", "--db", str(two_releases), "--keep", "1", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "would prune r0001" in result.stdout
    assert _snapshot(two_releases) == before


def test_without_a_terminal_or_yes_withdraw_and_prune_refuse(two_releases: Path, api_cohort: Path) -> None:
    before = _snapshot(two_releases)
    for args in (
        ["withdraw", "--db", str(two_releases), "--sample", _a_sample(api_cohort)],
        ["prune", "--db", str(two_releases), "--keep", "1"],
    ):
        result = runner.invoke(app, args, input="y\n")
        assert result.exit_code == 1, result.output
        assert "standard input is not a terminal" in result.stderr and "--yes" in result.stderr
    assert _snapshot(two_releases) == before


def test_prompt_no_cancels_and_yes_goes_ahead(
    two_releases: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from variantdb.loaders import lifecycle_cli

    db = tmp_path / "db"
    shutil.copytree(two_releases, db)
    monkeypatch.setattr(lifecycle_cli, "_stdin_is_terminal", lambda: True)
    before = _snapshot(db)
    result = runner.invoke(app, ["prune", "--db", str(db), "--keep", "1"], input="n\n")
    assert result.exit_code == 1 and "cancelled; nothing changed" in result.stderr
    assert "Delete release(s) r0001 for good?" in result.stderr
    assert _snapshot(db) == before
    result = runner.invoke(app, ["prune", "--db", str(db), "--keep", "1"], input="y\n")
    assert result.exit_code == 0, result.output
    assert "pruned r0001" in result.stdout
    assert not (db / "releases" / "r0001").exists()


# ---------------------------------------------------------------------------
# One timestamp format; a header row on every TSV
# ---------------------------------------------------------------------------

_STAMP = re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d[^\s\"',|]*")


def _stamps(text: str) -> list[str]:
    return _STAMP.findall(text)


def test_every_cli_output_writes_times_as_iso_utc_with_z(two_releases: Path, api_client: Any) -> None:
    from variantdb.keys import KeyStore

    db = two_releases
    KeyStore(db).create("registered", "clock")
    outputs = {}
    for args in (
        ["info"],
        ["info", "--json"],
        ["releases"],
        ["releases", "--json"],
        ["log"],
        ["log", "--json"],
        ["keys", "list"],
        ["keys", "list", "--json"],
    ):
        result = runner.invoke(app, [*args, "--db", str(db)])
        assert result.exit_code == 0, (args, result.output)
        outputs[" ".join(args)] = result.stdout
    meta = json.loads((db / "releases" / "r0002" / "release.json").read_text())
    outputs["release.json"] = json.dumps({"created": meta["created"]})
    for name, text in outputs.items():
        found = _stamps(text)
        assert found, name
        bad = [s for s in found if not _UTC.match(s)]
        assert not bad, (name, bad)


def test_release_json_of_an_older_format_reads_in_the_one_format(tmp_path: Path, api_db: Path) -> None:
    from variantdb.release.files import read_current, read_release_meta

    db = tmp_path / "db"
    shutil.copytree(api_db, db)
    rid = read_current(db)
    assert rid is not None
    path = db / "releases" / rid / "release.json"
    meta = json.loads(path.read_text())
    meta["created"] = "2026-11-02T10:04:05.123456+00:00"
    path.write_text(json.dumps(meta))
    assert read_release_meta(db, rid).created == "2026-11-02T10:04:05Z"


def test_tsv_outputs_have_a_header_row(two_releases: Path, api_client: Any) -> None:
    db = two_releases
    with TestClient(create_app(db)) as client:
        client.get("/health")
    for args, first in (
        (["audit"], "time\tkey\trole\tstatus"),
        (["log"], "seq\ttime_utc\taction"),
        (["export", "--format", "tsv"], "chrom\tpos\tref\talt"),
        (["export", "--table", "coverage", "--format", "tsv"], "chrom\tstart\tend"),
        (["diff", "r0001", "r0002"], "change\t"),
    ):
        result = runner.invoke(app, [*args, "--db", str(db)])
        assert result.exit_code == 0, (args, result.output)
        head = result.stdout.splitlines()[0]
        assert head.startswith(first) or first in head, (args, head)
        assert _UTC.match(result.stdout.splitlines()[1].split("\t")[0]) if args == ["audit"] else True


def test_readme_states_the_python_version() -> None:
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    assert "Python 3.11 or later" in readme


# ---------------------------------------------------------------------------
# VCFs written by export and annotate: Number= as gnomAD declares it, no htslib warning
# ---------------------------------------------------------------------------


def _htslib_warnings(path: Path) -> str:
    """Return what bcftools and pysam's own htslib print on standard error reading ``path``."""
    done = subprocess.run(["bcftools", "view", str(path)], capture_output=True, text=True, check=True)
    # pysam bundles a newer htslib, which checks AN and AF besides AC.
    own = subprocess.run(
        [sys.executable, "-c", "import pysam, sys; list(pysam.VariantFile(sys.argv[1]))", str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stderr + own.stderr


@pytest.mark.skipif(shutil.which("bcftools") is None, reason="bcftools is not on the PATH")
def test_export_and_annotate_vcfs_read_without_htslib_warnings(
    api_db: Path, api_cohort: Path, tmp_path: Path
) -> None:
    exported = tmp_path / "national.vcf.gz"
    result = runner.invoke(app, ["export", "--db", str(api_db), "--format", "vcf", "-o", str(exported)])
    assert result.exit_code == 0, result.output
    patient = api_cohort / "vcf" / "cohort.vcf.gz"
    annotated = tmp_path / "annotated.vcf.gz"
    result = runner.invoke(
        app, ["annotate", "--db", str(api_db), str(patient), "-o", str(annotated), "--strata", "all", "-q"]
    )
    assert result.exit_code == 0, result.output
    for path in (exported, annotated):
        assert _htslib_warnings(path) == "", path
        with pysam.VariantFile(str(path)) as vf:
            info = vf.header.info
            assert (info["AC"].number, info["AN"].number, info["AF"].number, info["nhomalt"].number) == (
                "A",
                1,
                "A",
                "A",
            ), path
