"""The bundled example (``tests/data/gvcf-1kg-chr22``) carries the 1000 Genomes samples' recorded sexes."""

from __future__ import annotations

import csv
from pathlib import Path

import pysam

DATA = Path(__file__).parent / "data" / "gvcf-1kg-chr22"


def _rows(name: str) -> list[dict[str, str]]:
    with (DATA / name).open(newline="") as fh:
        return list(csv.DictReader(fh, delimiter="\t"))


def test_manifest_sexes_are_the_1000_genomes_panels() -> None:
    panel = {r["sample"]: r["gender"] for r in _rows("1kg-panel.tsv")}
    manifest = _rows("manifest.tsv")
    assert sorted(panel) == sorted(r["sample_id"] for r in manifest)
    want = {"male": "XY", "female": "XX"}
    assert {r["sample_id"]: r["sex"] for r in manifest} == {s: want[g] for s, g in panel.items()}
    assert (DATA / "NOTICE-1kg-panel.md").exists()


def test_each_gvcf_is_the_sample_the_manifest_names() -> None:
    for row in _rows("manifest.tsv"):
        with pysam.VariantFile(str(DATA / row["vcf"])) as vf:
            assert list(vf.header.samples) == [row["sample_id"]], row["vcf"]
