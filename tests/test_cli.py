"""The ``variantdb`` command through typer's runner: load, export, info, and errors without tracebacks."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pysam
import pytest
from typer.testing import CliRunner

from tests.batch_data import EXPECTED, make_batch
from variantdb.loaders.cli import app

runner = CliRunner()


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cli")
    manifest = make_batch(root / "in")
    result = runner.invoke(
        app, ["load", "--db", str(root / "db"), "--manifest", str(manifest), "--batch", "jan"]
    )
    assert result.exit_code == 0, result.output
    assert "published release r0001 with 6 variants" in result.output
    return root / "db"


def test_load_again_is_refused_or_skipped(db: Path, tmp_path: Path) -> None:
    manifest = make_batch(tmp_path / "again")
    result = runner.invoke(app, ["load", "--db", str(db), "--manifest", str(manifest), "--batch", "jan"])
    assert result.exit_code == 1
    assert "batch 'jan' is already loaded" in result.output
    assert "Traceback" not in result.output
    result = runner.invoke(
        app, ["load", "--db", str(db), "--manifest", str(manifest), "--batch", "jan", "--skip-existing"]
    )
    assert result.exit_code == 0
    assert "already loaded; nothing to do (release r0001)" in result.output


def test_export_tsv_has_one_row_per_variant(db: Path) -> None:
    result = runner.invoke(app, ["export", "--db", str(db), "--format", "tsv"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    header = lines[0].split("\t")
    assert header[:10] == [
        "chrom",
        "pos",
        "ref",
        "alt",
        "ac",
        "an",
        "af",
        "homozygote_count",
        "hemizygote_count",
        "n_carriers",
    ]
    assert "ac_raw" in header and "an_raw" in header
    rows = [dict(zip(header, line.split("\t"), strict=True)) for line in lines[1:]]
    got = [(r["chrom"], int(r["pos"]), r["ref"], r["alt"], int(r["ac"]), int(r["an"])) for r in rows]
    assert got == [e[:6] for e in EXPECTED]


def test_export_region_is_one_based_inclusive(db: Path) -> None:
    result = runner.invoke(app, ["export", "--db", str(db), "--format", "tsv", "--region", "chr1:100-100"])
    assert [line.split("\t")[:4] for line in result.stdout.splitlines()[1:]] == [
        ["chr1", "100", "A", "C"],
        ["chr1", "100", "A", "T"],
    ]
    result = runner.invoke(app, ["export", "--db", str(db), "--format", "tsv", "--region", "1:101-200"])
    assert [line.split("\t")[1] for line in result.stdout.splitlines()[1:]] == ["200"]


def test_export_parquet_equals_release(db: Path, tmp_path: Path) -> None:
    out = tmp_path / "v.parquet"
    result = runner.invoke(app, ["export", "--db", str(db), "--format", "parquet", "-o", str(out)])
    assert result.exit_code == 0, result.output
    table = pq.read_table(out)
    assert table.num_rows == len(EXPECTED)
    assert table.column("ac_all").to_pylist() == [e[12] for e in EXPECTED]


def test_export_vcf_is_indexed_and_readable(db: Path, tmp_path: Path) -> None:
    out = tmp_path / "sites.vcf.gz"
    result = runner.invoke(app, ["export", "--db", str(db), "--format", "vcf", "-o", str(out)])
    assert result.exit_code == 0, result.output
    with pysam.VariantFile(str(out)) as vf:
        assert "variantdb_release" in str(vf.header)
        recs = list(vf.fetch("chrX"))
        assert [(r.pos, r.ref, r.alts[0], r.info["AC"], r.info["AN"], r.info["nhemi"]) for r in recs] == [
            (5000000, "G", "A", (3,), 4, (2,))  # per ALT (Number=A) but AN (Number=1), as gnomAD
        ]


def test_export_bad_region_is_a_clear_error(db: Path) -> None:
    result = runner.invoke(app, ["export", "--db", str(db), "--region", "chrZ:1-5"])
    assert result.exit_code == 1
    assert "contig 'chrZ' is not a GRCh38 primary contig" in result.output


def test_info_summarizes(db: Path) -> None:
    result = runner.invoke(app, ["info", "--db", str(db), "--json"])
    assert result.exit_code == 0, result.output
    info = json.loads(result.stdout)
    assert info["current_release"] == "r0001"
    assert info["samples"] == 4
    assert info["variants"] == 6
    assert [b["name"] for b in info["batches"]] == ["jan"]
    assert info["stats"]["by_region"] == {"Hovedstaden": 3, "Sjælland": 1}


def test_info_on_a_missing_database(tmp_path: Path) -> None:
    result = runner.invoke(app, ["info", "--db", str(tmp_path / "nope")])
    assert result.exit_code == 1
    assert "is not a variantdb database" in result.output


def test_load_reports_manifest_problems_all_at_once(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "m.tsv").write_text("sample_id\tvcf\tsex\tregion\nA1\tmissing.vcf\tmale\tMars\n")
    result = runner.invoke(app, ["load", "--db", str(tmp_path / "db"), "--manifest", str(folder / "m.tsv")])
    assert result.exit_code == 1
    for part in (
        "line 2: vcf 'missing.vcf': no such file",
        "sex 'male' is not one of",
        "region 'Mars' is not one of",
    ):
        assert part in result.output


def test_export_carries_faf_and_quality_fields(db: Path, tmp_path: Path) -> None:
    from variantdb.frequency import faf_lambda

    out = tmp_path / "sites.vcf.gz"
    assert runner.invoke(app, ["export", "--db", str(db), "--format", "vcf", "-o", str(out)]).exit_code == 0
    with pysam.VariantFile(str(out)) as vf:
        assert vf.header.info["faf95_max_region_code"].type == "String"
        (rec,) = list(vf.fetch("chrX"))
    # chrX:5000000 G>A: AC 3 of AN 4; Hovedstaden founders F and M carry 2 of its alleles.
    # Every field but AN is per ALT (Number=A); VCF floats are 32-bit.
    assert rec.info["faf95"][0] == pytest.approx(float(faf_lambda(3, 0.95)) / 4, rel=1e-6)
    assert rec.info["faf95_max_region_code"] == ("hovedstaden",)
    assert (rec.info["n_fail"], rec.info["n_carrier_families"]) == ((0,), (2,))
    header = (
        runner.invoke(app, ["export", "--db", str(db), "--format", "tsv"]).stdout.splitlines()[0].split("\t")
    )
    assert {"faf95", "faf99", "faf95_sex_xx", "faf95_max_region", "n_fail", "n_carrier_families"} <= set(
        header
    )


@pytest.mark.parametrize("name", ["b?", "b*", "b[1]", "a b", "x=y", "-b", "b/c", "é"])
def test_batch_name_outside_the_allowed_characters_is_refused(db: Path, tmp_path: Path, name: str) -> None:
    from tests.batch_data import tree_digest

    before = tree_digest(db)
    manifest = make_batch(tmp_path / "in")
    result = runner.invoke(app, ["load", "--db", str(db), "--manifest", str(manifest), "--batch", name])
    assert result.exit_code == 1, result.output
    assert f"batch name {name!r} is not usable" in result.output
    assert "letters A-Z a-z, digits 0-9, '_', '-' and '.'" in " ".join(result.output.split())
    assert "Traceback" not in result.output
    assert tree_digest(db) == before


def test_manifest_name_unusable_as_batch_name_says_so(tmp_path: Path) -> None:
    manifest = make_batch(tmp_path / "in")
    renamed = manifest.rename(manifest.with_name("lot 7.tsv"))
    result = runner.invoke(app, ["load", "--db", str(tmp_path / "db"), "--manifest", str(renamed)])
    assert result.exit_code == 1
    assert "batch name 'lot 7' (from the manifest's file name 'lot 7.tsv') is not usable" in " ".join(
        result.output.split()
    )


def test_database_path_with_glob_characters_reads_only_its_own_files(tmp_path: Path) -> None:
    """DuckDB is given every path literally: ``db[x]`` is not a pattern matching ``dbx``."""
    manifest = make_batch(tmp_path / "in")
    for folder in ("dbx", "db[x]"):
        result = runner.invoke(
            app, ["load", "--db", str(tmp_path / folder), "--manifest", str(manifest), "--batch", "jan"]
        )
        assert result.exit_code == 0, result.output
        assert "published release r0001 with 6 variants" in result.output
    db = tmp_path / "db[x]"
    result = runner.invoke(app, ["withdraw", "--db", str(db), "--sample", "F", "--yes"])
    assert result.exit_code == 0, result.output
    # dbx still holds F's rows; db[x] must not be blamed for them.
    result = runner.invoke(app, ["check", "--db", str(db)])
    assert result.exit_code == 0, result.output
