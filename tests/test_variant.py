from __future__ import annotations

import pytest

from tests.vcfdata import write_fasta
from variantdb.variant import (
    InvalidVariantError,
    Reference,
    Variant,
    normalize,
    parse_variant_id,
    parse_variant_ids,
    to_spdi,
)

# chr1: NNNNN ACGT CAAAAAT GG...   (1-based: 6=A 7=C 8=G 9=T 10=C 11-15=AAAAA 16=T)
SEQ = "NNNNN" + "ACGT" + "CAAAAAT" + "G" * 50


@pytest.fixture(scope="module")
def ref(tmp_path_factory: pytest.TempPathFactory) -> Reference:
    return Reference(write_fasta(tmp_path_factory.mktemp("ref") / "ref.fa", {"chr1": SEQ}))


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("1", 100, "A", "G"), Variant("chr1", 100, "A", "G")),
        (("chr1", 100, "ACGT", "ACCT"), Variant("chr1", 102, "G", "C")),  # MNP trimmed to the SNV
        (("chr1", 100, "AT", "GT"), Variant("chr1", 100, "A", "G")),  # split from a multi-allelic
        (("chr1", 100, "CAAA", "CA"), Variant("chr1", 100, "CAA", "C")),  # suffix trimmed, anchor kept
        (("chr1", 100, "tC", "tCC"), Variant("chr1", 100, "T", "TC")),
    ],
)
def test_trim_without_reference(args: tuple[str, int, str, str], expected: Variant) -> None:
    assert normalize(*args) == expected


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("chr1", 15, "AT", "T"), Variant("chr1", 10, "CA", "C")),  # deletion shifted to the left end
        (("chr1", 13, "A", "AA"), Variant("chr1", 10, "C", "CA")),  # insertion likewise
        (("chr1", 7, "C", "T"), Variant("chr1", 7, "C", "T")),
        (("chr1", 3, "NN", "N"), Variant("chr1", 1, "NN", "N")),  # at the contig start: anchor after
    ],
)
def test_left_align_with_reference(
    ref: Reference, args: tuple[str, int, str, str], expected: Variant
) -> None:
    assert normalize(*args, reference=ref) == expected


def test_ref_mismatch_names_both_bases(ref: Reference) -> None:
    with pytest.raises(InvalidVariantError, match=r"REF T at chr1:7 does not match the reference \(C\)"):
        normalize("chr1", 7, "T", "A", reference=ref)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("chr1", 5, "A", "A"), "same allele"),
        (("chr1", 5, "A", "Z"), "ALT allele 'Z' is not made of"),
        (("chrM", 16570, "A", "C"), r"outside chrM \(1-16569\)"),
        (("chr1", 0, "A", "C"), "outside chr1"),
        (("chrUn_x", 5, "A", "C"), "not a GRCh38 primary contig"),
    ],
)
def test_invalid_variants(args: tuple[str, int, str, str], message: str) -> None:
    with pytest.raises(InvalidVariantError, match=message):
        normalize(*args)


@pytest.mark.parametrize(
    "text",
    [
        "1-55516888-G-GA",
        "chr1-55516888-G-GA",
        "chr1:55516888:G:GA",
        "chr1:55516888 G>GA",
        "CHR1_55516888_G_GA",
        " 1-55516888-G-GA ",
        "NC_000001.11:55516888:G:GA".replace("55516888", "55516887"),
    ],
)
def test_every_id_form_parses_to_one_variant(text: str) -> None:
    assert parse_variant_id(text) == Variant("chr1", 55516888, "G", "GA")


def test_spdi_round_trip_and_empty_alleles(ref: Reference) -> None:
    assert to_spdi(Variant("chr1", 55516888, "G", "GA")) == "NC_000001.11:55516888::A"
    assert parse_variant_id("NC_000001.11:10:A:", ref) == Variant("chr1", 10, "CA", "C")
    with pytest.raises(InvalidVariantError, match="needs the reference base"):
        parse_variant_id("NC_000001.11:10:A:")


@pytest.mark.parametrize(
    "text",
    [
        "",
        "rs123",
        "1-abc-G-A",
        "1-100-G",
        "chr1:100:G:A:T",
        "NC_000001.11:-1:A:G",
        "1-\u0661\u0660\u0660-A-G",
    ],
)
def test_unparseable_ids_say_what_forms_are_accepted(text: str) -> None:
    with pytest.raises(InvalidVariantError):
        parse_variant_id(text)


_BATCH_IDS = [
    "1-100-A-G",
    "chr1-100-a-g",
    "chr1:100:A:G",
    "X-5-C-T",
    "MT-16000-T-C",
    "NC_000001.11:99:A:G",  # SPDI: 0-based, so position 100, not 99
    "nc_000001.11:99:A:G",  # not SPDI (case): the contig alias, 1-based
    " 1-100-A-G ",
    "1-100-A-A",
    "1-0-A-G",
    "1-999999999-A-G",
    "chrZ-100-A-G",
    "1-100-A-N",
    "1-7-C-T",  # REF matches the reference
    "1-7-G-T",  # it does not
    "1-11-CA-C",  # left-aligned with a reference
    "not an id",
]


@pytest.mark.parametrize("with_ref", [False, True])
def test_parse_variant_ids_answers_as_parse_variant_id(ref: Reference, with_ref: bool) -> None:
    reference = ref if with_ref else None

    def one(text: str) -> object:
        try:
            return parse_variant_id(text, reference)
        except InvalidVariantError as e:
            return ("error", str(e))

    got = [
        ("error", str(v)) if isinstance(v, InvalidVariantError) else v
        for v in parse_variant_ids(_BATCH_IDS, reference)
    ]
    assert got == [one(t) for t in _BATCH_IDS]
    if not with_ref:  # the test reference's chr1 is 66 bases long
        assert got[5] == Variant("chr1", 100, "A", "G") and got[6] == Variant("chr1", 99, "A", "G")
