"""A manifest row validated by its pydantic model (variantdb.manifest.ManifestRow): one message per bad value.

tests/test_manifest.py is the contract of read_manifest; this file pins the
message of every field's every check, as the hand-written checks worded them.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from variantdb.manifest import ManifestError, ManifestRow, read_manifest

HEADER = (
    "sample_id",
    "vcf",
    "sex",
    "region",
    "patient_group",
    "family_id",
    "father_id",
    "mother_id",
    "technology",
    "capture_bed",
    "consent",
    "received",
)
GOOD = {"sample_id": "P1", "vcf": "a.vcf.gz", "sex": "XX"}
CPR = "looks like a Danish CPR number; only pseudonyms may be loaded"


def _problems(tmp_path: Path, **values: str) -> list[str]:
    (tmp_path / "a.vcf.gz").write_bytes(b"")
    row = {**GOOD, **values}
    path = tmp_path / "m.tsv"
    path.write_text("\t".join(HEADER) + "\n" + "\t".join(row.get(h, "") for h in HEADER) + "\n")
    with pytest.raises(ManifestError) as info:
        read_manifest(path)
    assert str(path) in str(info.value)
    return info.value.problems


@pytest.mark.parametrize(
    ("field", "value", "problem"),
    [
        ("sample_id", "", "sample_id is empty"),
        ("sample_id", "0101901234", f"sample_id '0101901234' {CPR}"),
        (
            "sample_id",
            "-P1",
            "sample_id '-P1' must be 1-64 letters, digits or ._:- (starting with a letter or digit)",
        ),
        ("father_id", "010190-1234", f"father_id '010190-1234' {CPR}"),
        ("mother_id", "M/1", "mother_id 'M/1' must be 1-64 letters, digits or ._:-"),
        ("family_id", "F 1", "family_id 'F 1' must be 1-64 letters, digits or ._:-"),
        ("vcf", "", "vcf is empty"),
        ("sex", "female", "sex 'female' is not one of XX, XY, unknown"),
        ("sex", "", "sex is empty; use one of XX, XY, unknown"),
        (
            "region",
            "Fyn",
            "region 'Fyn' is not one of Hovedstaden, Sjælland, Syddanmark, Midtjylland, Nordjylland",
        ),
        ("technology", "WXS", "technology 'WXS' is not one of WGS, WES, panel"),
        ("consent", "maybe", "consent 'maybe' is not one of given, research_opt_out"),
        ("received", "31/01/2026", "received '31/01/2026' is not a date (YYYY-MM-DD)"),
        ("received", "1700000000", "received '1700000000' is not a date (YYYY-MM-DD)"),
    ],
)
def test_each_bad_value_is_named_with_its_field(tmp_path: Path, field: str, value: str, problem: str) -> None:
    assert _problems(tmp_path, **{field: value}) == [f"line 2: {problem}"]


def test_a_missing_file_names_the_value_as_written_and_where_it_was_looked_for(tmp_path: Path) -> None:
    assert _problems(tmp_path, vcf="x.vcf.gz", capture_bed="sub/c.bed") == [
        f"line 2: vcf 'x.vcf.gz': no such file ({tmp_path / 'x.vcf.gz'})",
        f"line 2: capture_bed 'sub/c.bed': no such file ({tmp_path / 'sub' / 'c.bed'})",
    ]


def test_every_problem_of_a_row_in_column_order(tmp_path: Path) -> None:
    problems = _problems(tmp_path, sex="female", technology="WXS", family_id="F 1", received="x")
    assert [p.split()[2] for p in problems] == ["family_id", "sex", "technology", "received"]


def test_the_model_checks_a_row_against_its_folder(tmp_path: Path) -> None:
    (tmp_path / "a.vcf.gz").write_bytes(b"")
    row = ManifestRow.model_validate(
        {**GOOD, "technology": "panel", "received": "2026-01-31"}, context={"folder": tmp_path}
    )
    rec = row.to_record(7)
    assert (rec.vcf, rec.technology, rec.consent, rec.received, rec.line) == (
        tmp_path / "a.vcf.gz",
        "panel",
        "given",
        dt.date(2026, 1, 31),
        7,
    )
    with pytest.raises(ValueError, match="unknown_column"):
        ManifestRow.model_validate({**GOOD, "unknown_column": "x"}, context={"folder": tmp_path})
