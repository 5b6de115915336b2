from __future__ import annotations

import pytest

from variantdb.genes import Gene, GeneNotFoundError, find_gene, load_genes
from variantdb.genome import CONTIG_INDEX


def test_gene_coordinates_are_one_based_inclusive() -> None:
    # The shipped table is BED-like (0-based start): MYH7 is chr14:23412739-23435660 there.
    assert find_gene("MYH7") == [
        Gene("MYH7", "ENSG00000092054.13", "chr14", 23412740, 23435660, "-", "protein_coding")
    ]


def test_lookup_by_symbol_or_ensembl_id_any_case() -> None:
    brca1 = find_gene("BRCA1")
    assert find_gene("brca1") == brca1
    assert find_gene(brca1[0].gene_id) == brca1
    assert find_gene(brca1[0].gene_id.split(".")[0].lower()) == brca1


def test_symbol_with_several_loci() -> None:
    shox = find_gene("SHOX")
    assert [g.chrom for g in shox] == ["chrX", "chrY"]


def test_unknown_gene() -> None:
    with pytest.raises(GeneNotFoundError, match="not in the GRCh38 gene table"):
        find_gene("NOTAGENE1")


def test_table_is_sorted_and_on_primary_contigs() -> None:
    genes = load_genes()
    assert len(genes) > 60_000
    keys = [(CONTIG_INDEX[g.chrom], g.start) for g in genes]
    assert keys == sorted(keys)
    assert all(1 <= g.start <= g.end for g in genes)
