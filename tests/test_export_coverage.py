"""``variantdb export --table coverage``: the coverage track as TSV or Parquet, through the CLI runner."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from tests.batch_data import make_batch
from variantdb.loaders.cli import app
from variantdb.release.coverage import COVERAGE_FILE
from variantdb.release.files import read_current
from variantdb.store.layout import release_path

runner = CliRunner()


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cov_cli")
    manifest = make_batch(root / "in")
    result = runner.invoke(
        app, ["load", "--db", str(root / "db"), "--manifest", str(manifest), "--batch", "b"]
    )
    assert result.exit_code == 0, result.output
    return root / "db"


def _track(db: Path) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = pq.read_table(
        release_path(db, read_current(db) or "") / COVERAGE_FILE
    ).to_pylist()
    return rows


def test_parquet_equals_the_release_track(db: Path, tmp_path: Path) -> None:
    out = tmp_path / "cov.parquet"
    result = runner.invoke(
        app, ["export", "--db", str(db), "--table", "coverage", "--format", "parquet", "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert pq.read_table(out).to_pylist() == _track(db)
    assert f"wrote {len(_track(db)):,} coverage segments" in result.output


def test_tsv_region_is_clipped_one_based_inclusive(db: Path) -> None:
    rows = [r for r in _track(db) if r["chrom"] == "chr1"]
    assert len(rows) > 1
    cut = int(rows[1]["start"])  # type: ignore[call-overload]
    result = runner.invoke(
        app, ["export", "--db", str(db), "--table", "coverage", "--region", f"chr1:{cut - 1}-{cut}"]
    )
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split("\t") == [
        "chrom",
        "start",
        "end",
        "n_covered",
        "n_covered_wgs",
        "n_covered_wes",
        "n_covered_panel",
    ]
    got = [line.split("\t") for line in lines[1:]]
    assert [(g[0], int(g[1]), int(g[2]), int(g[3])) for g in got] == [
        ("chr1", cut - 1, cut - 1, rows[0]["n_covered"]),
        ("chr1", cut, cut, rows[1]["n_covered"]),
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--table", "coverage", "--format", "vcf"],
            "format 'vcf' is not one of tsv, parquet for the coverage table",
        ),
        (["--table", "nope"], "--table 'nope' is not variants or coverage"),
        (["--table", "coverage", "--format", "parquet"], "parquet export needs -o FILE"),
    ],
)
def test_errors_are_clear(db: Path, args: list[str], message: str) -> None:
    result = runner.invoke(app, ["export", "--db", str(db), *args])
    assert result.exit_code == 1
    assert message in result.output and "Traceback" not in result.output
