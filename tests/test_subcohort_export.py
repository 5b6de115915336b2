"""``variantdb export --filter``: a sub-cohort's counts as TSV, Parquet and VCF, through the CLI."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pysam
import pytest
from typer.testing import CliRunner

from tests.api_helpers import _release_rows
from variantdb.loaders.cli import app
from variantdb.subcohort import SubcohortFilterError, parse_filter_args

runner = CliRunner()


def test_tsv_with_a_stratum_filter_equals_the_stored_stratum(api_db: Path, tmp_path: Path) -> None:
    out = tmp_path / "xx.tsv"
    result = runner.invoke(
        app, ["export", "--db", str(api_db), "--format", "tsv", "-o", str(out), "--filter", "sex=XX"]
    )
    assert result.exit_code == 0, result.output
    rows = _release_rows(api_db)
    with open(out) as fh:
        got = list(csv.DictReader(fh, delimiter="\t"))
    assert len(got) == len(rows)
    for g, r in zip(got, rows, strict=True):
        assert (g["chrom"], int(g["pos"]), g["ref"], g["alt"]) == (r["chrom"], r["pos"], r["ref"], r["alt"])
        assert int(g["ac"]) == r["ac_sex_xx"] and int(g["an"]) == r["an_sex_xx"]
        assert int(g["homozygote_count"]) == r["homozygote_count_sex_xx"]


def test_parquet_and_vcf_carry_the_filter_and_the_same_counts(api_db: Path, tmp_path: Path) -> None:
    args = ["--filter", "role=all", "--filter", "region=Midtjylland", "--filter", "region=nordjylland"]
    pq_out = tmp_path / "sub.parquet"
    vcf_out = tmp_path / "sub.vcf.gz"
    region = ["--region", "chr1"]
    for fmt, out in (("parquet", pq_out), ("vcf", vcf_out)):
        result = runner.invoke(
            app, ["export", "--db", str(api_db), "--format", fmt, "-o", str(out), *args, *region]
        )
        assert result.exit_code == 0, result.output
    meta = json.loads(pq.read_schema(pq_out).metadata[b"variantdb_subcohort"])
    assert meta["filter"] == {"region": ["Midtjylland", "Nordjylland"], "role": ["all"]}
    table = duckdb.sql(
        "SELECT * FROM read_parquet(?) ORDER BY pos, ref, alt", params=[str(pq_out)]
    ).fetchall()
    assert table and all(r[0] == "chr1" for r in table)
    with pysam.VariantFile(str(vcf_out)) as vf:
        assert any(r.key == "variantdb_subcohort" for r in vf.header.records)
        recs = [(r.pos, r.ref, r.alts[0], r.info["AC"][0], r.info["AN"]) for r in vf]
    assert recs == [(r[1], r[2], r[3], r[4], r[5]) for r in table]
    assert sum(r[3] for r in recs) > 0
    assert Path(str(vcf_out) + ".tbi").exists()


def test_a_bad_filter_fails_with_a_message_naming_it(api_db: Path) -> None:
    result = runner.invoke(app, ["export", "--db", str(api_db), "--filter", "colour=blue"])
    assert result.exit_code == 1
    assert "filter key 'colour' is not known" in result.output
    result = runner.invoke(app, ["export", "--db", str(api_db), "--filter", "patient_group=Atlantis"])
    assert result.exit_code == 1 and "patient_group 'Atlantis' is not known" in result.output


def test_filter_arguments_parse_and_refuse() -> None:
    f = parse_filter_args(
        ["sex=XX", "region=Midtjylland", "region=Nordjylland", "raw=true", "received-from=2025-01-01"]
    )
    assert f.sex == ("XX",) and f.region == ("Midtjylland", "Nordjylland") and f.raw
    assert f.received_from is not None and f.received_from.isoformat() == "2025-01-01"
    for bad in (["sex"], ["raw=maybe"], ["received_to=soon"]):
        with pytest.raises(SubcohortFilterError):
            parse_filter_args(bad)
