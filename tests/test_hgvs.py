"""HGVS genomic ids (variantdb/hgvs.py): parsed, normalized with the loader's code, checked against bcftools norm."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient

from tests.api_helpers import assert_error
from tests.conftest_api import build_release
from tests.vcfdata import write_fasta
from variantdb.api.main import create_app
from variantdb.hgvs import is_hgvs, parse_hgvs
from variantdb.variant import InvalidVariantError, Reference, Variant, parse_variant_id

# chr1: NNNNN ACGT CAAAAAT GG...   (1-based: 6=A 7=C 8=G 9=T 10=C 11-15=AAAAA 16=T 17..=G)
SEQ = "NNNNN" + "ACGT" + "CAAAAAT" + "G" * 50

# HGVS (3'-shifted, as HGVS writes it) and the same event as a VCF record written by hand from it,
# before any normalization: bcftools norm -f gives the expected variant.
CASES = [
    ("chr1:g.8G>T", ("chr1", 8, "G", "T")),
    ("NC_000001.11:g.8G>T", ("chr1", 8, "G", "T")),
    ("chr1:g.15del", ("chr1", 14, "AA", "A")),
    ("chr1:g.14_15del", ("chr1", 13, "AAA", "A")),
    ("chr1:g.14_15delAA", ("chr1", 13, "AAA", "A")),
    ("chr1:g.15dup", ("chr1", 15, "A", "AA")),
    ("chr1:g.14_15dup", ("chr1", 15, "A", "AAA")),
    ("chr1:g.8_9insTT", ("chr1", 8, "G", "GTT")),
    ("chr1:g.15_16insA", ("chr1", 15, "A", "AA")),
    ("chr1:g.8_10delinsTT", ("chr1", 8, "GTC", "TT")),
    ("chr1:g.9delinsG", ("chr1", 9, "T", "G")),
    ("chr1:g.30_32del", ("chr1", 29, "GGGG", "G")),
]


@pytest.fixture(scope="module")
def fasta(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_fasta(tmp_path_factory.mktemp("hgvs") / "ref.fa", {"chr1": SEQ})


@pytest.fixture(scope="module")
def ref(fasta: Path) -> Reference:
    return Reference(fasta)


def test_against_bcftools_norm(fasta: Path, ref: Reference, tmp_path: Path) -> None:
    if shutil.which("bcftools") is None:
        pytest.skip("bcftools is not on the PATH")
    vcf = tmp_path / "in.vcf"
    lines = [
        "##fileformat=VCFv4.2",
        f"##contig=<ID=chr1,length={len(SEQ)}>",
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO",
    ]
    lines += [f"{c}\t{p}\t{h}\t{r}\t{a}\t.\t.\t." for h, (c, p, r, a) in CASES]
    vcf.write_text("\n".join(lines) + "\n")
    out = subprocess.run(
        ["bcftools", "norm", "-f", str(fasta), "-c", "e", str(vcf)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    records = [ln.split("\t") for ln in out.splitlines() if not ln.startswith("#")]
    normed = {f[2]: Variant(f[0], int(f[1]), f[3], f[4]) for f in records}
    assert len(normed) == len(CASES)
    for hgvs, _ in CASES:
        assert parse_hgvs(hgvs, ref) == normed[hgvs], hgvs
        assert parse_variant_id(hgvs, ref) == normed[hgvs], hgvs  # every id path accepts HGVS


def test_left_aligned_as_the_loader(ref: Reference) -> None:
    # the A-run deletion, whichever A HGVS names, is the loader's leftmost form
    assert {parse_hgvs(f"chr1:g.{p}del", ref) for p in range(11, 16)} == {Variant("chr1", 10, "CA", "C")}


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("NM_007294.4:c.5266dupC", "c. (coding DNA) needs a transcript model"),
        ("NP_009225.1:p.Gln1756fs", "p. (protein) needs a transcript model"),
        ("ENST00000357654:n.100A>G", "n. (non-coding RNA)"),
        ("NC_000001.10:g.8G>T", "not a GRCh38 chromosome"),
        ("chr1:g.8_10insTT", "between two adjacent positions"),
        ("chr1:g.(8_10)del", "not supported"),
        ("chr1:g.8_10del(3)", "not supported"),
        ("chr1:g.6_7delAG", "reference has AC"),
        ("chr1:g.8A>T", "does not match the reference"),
        ("chr1:g.8=", "not supported"),
        ("chr1:m.8A>T", "mitochondrial"),
        ("NC_012920.1:g.3243A>G", "m."),
        ("chr1:g.10_8del", "ends before it starts"),
    ],
)
def test_what_is_not_supported_is_named(ref: Reference, text: str, words: str) -> None:
    assert is_hgvs(text)
    with pytest.raises(InvalidVariantError, match=None) as e:
        parse_variant_id(text, ref)
    assert words in str(e.value), str(e.value)


def test_without_a_reference() -> None:
    assert parse_variant_id("NC_000017.11:g.43045712A>G") == Variant("chr17", 43045712, "A", "G")
    assert parse_variant_id("17:g.43045712A>G") == Variant("chr17", 43045712, "A", "G")
    assert parse_variant_id("NC_012920.1:m.3243A>G") == Variant("chrM", 3243, "A", "G")
    for text in ("chr1:g.15del", "chr1:g.15dup", "chr1:g.8_9insTT", "chr1:g.8delinsTT"):
        with pytest.raises(InvalidVariantError, match="no reference FASTA"):
            parse_variant_id(text)


def test_through_the_api(tmp_path: Path) -> None:
    build_release(tmp_path, "r0001", [("chr17", 43045712, "A", "G", 7, 400)])
    with TestClient(create_app(tmp_path)) as c:
        for text in ("NC_000017.11:g.43045712A>G", "chr17:g.43045712A>G"):
            rec = c.get("/v1/variants/" + quote(text, safe=":")).json()
            assert (rec["variant_id"], rec["ac"], rec["query"]) == ("17-43045712-A-G", 7, text)
        body = c.post(
            "/v1/variants", json={"variants": ["chr17:g.43045712A>G", "NM_007294.4:c.5266dupC"]}
        ).json()
        assert body["data"][0]["ac"] == 7
        assert "needs a transcript model" in body["data"][1]["error"]["message"]
        err = assert_error(
            c.get("/v1/variants/" + quote("NM_007294.4:c.5266dupC", safe=":")), 400, "invalid_variant"
        )
        assert "c." in err["message"] and "genomic form" in err["message"]
        # no reference FASTA in this release: a deletion says what it needs
        err = assert_error(c.get("/v1/variants/chr17:g.43045712del"), 400, "invalid_variant")
        assert "no reference FASTA" in err["message"]


def test_search_box(tmp_path: Path) -> None:
    build_release(tmp_path, "r0001", [("chr17", 43045712, "A", "G", 7, 400)])
    with TestClient(create_app(tmp_path)) as c:
        r = c.get("/search", params={"q": "NC_000017.11:g.43045712A>G"}, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/variant/17-43045712-A-G"
        r = c.get("/search", params={"q": "NM_007294.4:c.-15A>G"})
        assert r.status_code == 400 and "needs a transcript model" in r.text
