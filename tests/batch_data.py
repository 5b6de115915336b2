"""Helpers shared by several test files (moved from test_batch.py); no tests here."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from tests.vcfdata import write_manifest, write_vcf
from variantdb.genome import CONTIGS as CONTIG_ORDER
from variantdb.release.files import read_current

SAMPLES = ["F", "M", "C", "U"]


MANIFEST = [
    {"sample_id": "F", "vcf": "cohort.vcf.gz", "sex": "XY", "region": "Hovedstaden", "family_id": "fam1"},
    {"sample_id": "M", "vcf": "cohort.vcf.gz", "sex": "XX", "region": "Hovedstaden", "family_id": "fam1"},
    {
        "sample_id": "C",
        "vcf": "cohort.vcf.gz",
        "sex": "XX",
        "region": "Hovedstaden",
        "family_id": "fam1",
        "father_id": "F",
        "mother_id": "M",
        "patient_group": "Rare disease in children",
    },
    {"sample_id": "U", "vcf": "cohort.vcf.gz", "sex": "XY", "region": "Sjælland", "received": "2026-03-02"},
]


G = "GT:GQ:DP:AD"


RECORDS = [
    # multi-allelic: M is 1/2, U a no-call
    f"chr1 100 . A C,T 50 PASS . {G} 0/1:30:20:10,10,0 1/2:30:20:0,10,10 0/0:30:20:20,0,0 ./.:.:.:.",
    # deletion: F hom but GQ 10 (not adj), M het with allele balance 5/30 (not adj)
    f"chr1 200 . AT A 50 PASS . {G} 1/1:10:20:0,20 0/1:50:30:25,5 0/1:50:30:15,15 0/0:99:30:30,0",
    # not loaded: a star allele, a symbolic allele
    f"chr1 300 . A *,<DEL> 50 PASS . {G} 0/1:40:20:10,10,0 0/0:40:20:20,0,0 0/0:40:20:20,0,0 0/0:40:20:20,0,0",
    # chrX outside the PARs: F haploid, U diploid hom (recoded haploid), C hom
    f"chrX 5000000 . G A 50 PASS . {G} 1:40:20:0,20 0/1:40:20:10,10 1/1:40:20:0,20 1/1:40:20:0,20",
    # chrY: only XY samples count
    f"chrY 3000000 . C T 50 PASS . {G} 1:40:20:0,20 .:.:.:. .:.:.:. 0:40:20:20,0",
    # chrM: haploid, U a no-call
    f"chrM 100 . A G 50 PASS . {G} 1:40:20:0,20 0:40:20:20,0 1:40:20:0,20 .:.:.:.",
    # not loaded: an unplaced contig
    f"chr1_KI270706v1_random 10 . A C 50 PASS . {G} 0/1:40:20:10,10 0/0:40:20:20,0 0/0:40:20:20,0 0/0:40:20:20,0",
]


CONTIGS = {
    "chr1": 248956422,
    "chr1_KI270706v1_random": 175055,
    "chrX": 156040895,
    "chrY": 57227415,
    "chrM": 16569,
}


COLUMNS = [
    "chrom",
    "pos",
    "ref",
    "alt",
    "ac",
    "an",
    "homozygote_count",
    "hemizygote_count",
    "n_carriers",
    "ac_raw",
    "an_raw",
    "homozygote_count_raw",
    "ac_all",
    "an_all",
    "homozygote_count_all",
]


# Worked by hand: founders are F, M, U; C is their child.
EXPECTED = [
    ("chr1", 100, "A", "C", 2, 4, 0, 0, 2, 2, 4, 0, 2, 6, 0),
    ("chr1", 100, "A", "T", 1, 4, 0, 0, 1, 1, 4, 0, 1, 6, 0),
    ("chr1", 200, "AT", "A", 0, 2, 0, 0, 0, 3, 6, 1, 1, 4, 0),
    ("chrX", 5000000, "G", "A", 3, 4, 0, 2, 3, 3, 4, 0, 5, 6, 1),
    ("chrY", 3000000, "C", "T", 1, 2, 0, 1, 1, 1, 2, 0, 1, 2, 0),
    ("chrM", 100, "A", "G", 1, 2, 0, 1, 1, 1, 2, 0, 2, 3, 0),
]


def release_rows(db: Path, columns: list[str] = COLUMNS) -> list[tuple[object, ...]]:
    release = read_current(db)
    assert release is not None
    files = sorted((db / "releases" / release / "variants").rglob("*.parquet"))
    wanted = list(dict.fromkeys(["chrom", *columns]))
    table = pa.concat_tables([pq.read_table(f, columns=wanted) for f in files])
    order = {c: i for i, c in enumerate(CONTIG_ORDER)}
    chroms = table.column("chrom").to_pylist()
    table = table.take(sorted(range(table.num_rows), key=lambda i: order[chroms[i]]))
    return list(zip(*(table.column(c).to_pylist() for c in columns), strict=True))


def make_batch(
    folder: Path, records: list[str] = RECORDS, manifest: list[dict[str, str]] = MANIFEST, **kw: object
) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    write_vcf(folder / "cohort.vcf.gz", SAMPLES, records, CONTIGS, **kw)  # type: ignore[arg-type]
    return write_manifest(folder / "manifest.tsv", manifest)


def tree_digest(db: Path) -> dict[str, str]:
    return {
        str(p.relative_to(db)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(db.rglob("*"))
        if p.is_file() and p.name != ".lock"
    }
