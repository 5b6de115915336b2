from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from variantdb.manifest import ManifestError, looks_like_cpr, read_manifest


def write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "a.vcf.gz").write_bytes(b"")
    path = tmp_path / "m.tsv"
    path.write_text(text)
    return path


def test_reads_every_column(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "sample_id\tvcf\tsex\tregion\tpatient_group\tfamily_id\tfather_id\tmother_id\ttechnology\tconsent\treceived\n"
        "P1\ta.vcf.gz\tXY\tSjælland\tHereditary cancer\tF1\tP2\tP3\tWGS\tresearch_opt_out\t2026-01-31\n",
    )
    [rec] = read_manifest(path)
    assert (
        rec.sample_id,
        rec.sex,
        rec.region,
        rec.patient_group,
        rec.father_id,
        rec.consent,
        rec.received,
    ) == ("P1", "XY", "Sjælland", "Hereditary cancer", "P2", "research_opt_out", dt.date(2026, 1, 31))
    assert rec.vcf == tmp_path / "a.vcf.gz"
    assert rec.line == 2


def test_every_problem_is_reported_with_line_field_and_value(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "sample_id\tvcf\tsex\tregion\tpatient_group\treceived\n"
        "P1\ta.vcf.gz\tfemale\tFyn\tFlu\t2026-13-01\n"
        "P1\tb.vcf.gz\tXX\t\t\t\n"
        "010190-1234\ta.vcf.gz\tXX\t\t\t\n",
    )
    with pytest.raises(ManifestError) as info:
        read_manifest(path)
    problems = info.value.problems
    assert problems == [
        "line 2: sex 'female' is not one of XX, XY, unknown",
        "line 2: region 'Fyn' is not one of Hovedstaden, Sjælland, Syddanmark, Midtjylland, Nordjylland",
        f"line 2: patient_group 'Flu' is not one of {problems[2].split('one of ')[1]}",
        "line 2: received '2026-13-01' is not a date (YYYY-MM-DD)",
        f"line 3: vcf 'b.vcf.gz': no such file ({tmp_path / 'b.vcf.gz'})",
        "line 4: sample_id '010190-1234' looks like a Danish CPR number; only pseudonyms may be loaded",
    ]
    assert str(path) in str(info.value)


def test_duplicate_sample_and_header_problems(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="already on line 2"):
        read_manifest(write(tmp_path, "sample_id\tvcf\tsex\nP1\ta.vcf.gz\tXX\nP1\ta.vcf.gz\tXX\n"))
    with pytest.raises(ManifestError, match=r"missing required column\(s\) sex"):
        read_manifest(write(tmp_path, "sample_id\tvcf\nP1\ta.vcf.gz\n"))
    with pytest.raises(ManifestError, match=r"unknown column\(s\) colour"):
        read_manifest(write(tmp_path, "sample_id\tvcf\tsex\tcolour\nP1\ta.vcf.gz\tXX\tred\n"))
    with pytest.raises(ManifestError, match="no samples"):
        read_manifest(write(tmp_path, "sample_id\tvcf\tsex\n"))


@pytest.mark.parametrize(
    ("value", "cpr"),
    [
        ("010190-1234", True),
        ("0101901234", True),
        ("P-0101901", False),
        ("S000001", False),
        ("01019012345", False),
    ],
)
def test_looks_like_cpr(value: str, cpr: bool) -> None:
    assert looks_like_cpr(value) is cpr
