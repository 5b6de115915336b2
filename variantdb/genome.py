"""GRCh38 contigs, their lengths and aliases, the pseudoautosomal regions and ploidy by sex.

Every other module asks this one what a contig is called, how long it is and how
many alleles a sample carries at a position, so the answer is given once.
"""

from __future__ import annotations

import itertools
from typing import Final

from variantdb.errors import VariantdbError
from variantdb.schema import SEXES

__all__ = [
    "CONTIGS",
    "CONTIG_INDEX",
    "CONTIG_LENGTHS",
    "PARS",
    "UnknownContigError",
    "canonical_contig",
    "contig_key",
    "is_par",
    "ploidy",
    "ploidy_segments",
]


#: Canonical names of the loaded contigs, in karyotypic order (the release sort order).
CONTIGS: Final[tuple[str, ...]] = (
    *(f"chr{i}" for i in range(1, 23)),
    "chrX",
    "chrY",
    "chrM",
)

#: GRCh38 primary assembly lengths (GRC / UCSC hg38).
CONTIG_LENGTHS: Final[dict[str, int]] = {
    "chr1": 248956422,
    "chr2": 242193529,
    "chr3": 198295559,
    "chr4": 190214555,
    "chr5": 181538259,
    "chr6": 170805979,
    "chr7": 159345973,
    "chr8": 145138636,
    "chr9": 138394717,
    "chr10": 133797422,
    "chr11": 135086622,
    "chr12": 133275309,
    "chr13": 114364328,
    "chr14": 107043718,
    "chr15": 101991189,
    "chr16": 90338345,
    "chr17": 83257441,
    "chr18": 80373285,
    "chr19": 58617616,
    "chr20": 64444167,
    "chr21": 46709983,
    "chr22": 50818468,
    "chrX": 156040895,
    "chrY": 57227415,
    "chrM": 16569,
}

CONTIG_INDEX: Final[dict[str, int]] = {name: i for i, name in enumerate(CONTIGS)}

#: RefSeq accessions, used by SPDI ids (``NC_000001.11:55516887:G:GA``).
REFSEQ: Final[dict[str, str]] = {
    "chr1": "NC_000001.11",
    "chr2": "NC_000002.12",
    "chr3": "NC_000003.12",
    "chr4": "NC_000004.12",
    "chr5": "NC_000005.10",
    "chr6": "NC_000006.12",
    "chr7": "NC_000007.14",
    "chr8": "NC_000008.11",
    "chr9": "NC_000009.12",
    "chr10": "NC_000010.11",
    "chr11": "NC_000011.10",
    "chr12": "NC_000012.12",
    "chr13": "NC_000013.11",
    "chr14": "NC_000014.9",
    "chr15": "NC_000015.10",
    "chr16": "NC_000016.10",
    "chr17": "NC_000017.11",
    "chr18": "NC_000018.10",
    "chr19": "NC_000019.10",
    "chr20": "NC_000020.11",
    "chr21": "NC_000021.9",
    "chr22": "NC_000022.11",
    "chrX": "NC_000023.11",
    "chrY": "NC_000024.10",
    "chrM": "NC_012920.1",
}

_GENBANK: Final[dict[str, str]] = {
    **{f"chr{i}": f"CM{663 + i - 1:06d}.2" for i in range(1, 23)},
    "chrX": "CM000685.2",
    "chrY": "CM000686.2",
    "chrM": "J01415.2",
}

_ALIASES: dict[str, str] = {}
for _name in CONTIGS:
    _short = _name[3:]
    for _alias in (_name, _short, REFSEQ[_name], _GENBANK[_name]):
        _ALIASES[_alias.upper()] = _name
_ALIASES["MT"] = "chrM"
_ALIASES["CHRMT"] = "chrM"

#: GRCh38 pseudoautosomal regions, 1-based inclusive, on chrX and chrY.
PARS: Final[dict[str, tuple[tuple[int, int], ...]]] = {
    "chrX": ((10001, 2781479), (155701383, 156030895)),
    "chrY": ((10001, 2781479), (56887903, 57217415)),
}


class UnknownContigError(VariantdbError, ValueError):
    """A contig name that is not one of GRCh38's 1-22, X, Y, M."""


def canonical_contig(name: str) -> str:
    """Return the canonical name (``chr1`` ... ``chrM``) of a contig alias.

    Parameters
    ----------
    name
        ``chr1``, ``1``, ``NC_000001.11``, ``CM000663.2``, ``MT`` ... (case-insensitive).

    Raises
    ------
    UnknownContigError
        For alt, decoy, unplaced and any other contig.
    """
    try:
        return _ALIASES[name.upper()]
    except KeyError:
        raise UnknownContigError(f"contig {name!r} is not a GRCh38 primary contig (1-22, X, Y, M)") from None


def contig_key(contig: str, pos: int) -> int:
    """Return a sortable 64-bit key: contig index in the high 32 bits, 1-based pos below."""
    return (CONTIG_INDEX[contig] << 32) | pos


def is_par(contig: str, pos: int) -> bool:
    """Tell whether a 1-based position lies in a pseudoautosomal region."""
    return any(start <= pos <= end for start, end in PARS.get(contig, ()))


def ploidy(sex: str, contig: str, pos: int) -> int:
    """Return how many alleles a sample of ``sex`` carries at a 1-based position.

    Notes
    -----
    Autosomes: 2. chrX: 2 in the PARs; outside them 2 for XX, 1 for XY.
    chrY: 1 for XY outside the PARs (the PARs are counted on chrX), 0 otherwise.
    chrM: 1. A sample of unknown sex is not counted outside the PARs of chrX
    and chrY (ploidy 0), since its allele count there cannot be known.
    """
    if contig == "chrM":
        return 1
    if contig == "chrX":
        if is_par(contig, pos):
            return 2
        return {"XX": 2, "XY": 1}.get(sex, 0)
    if contig == "chrY":
        if is_par(contig, pos):
            return 0
        return 1 if sex == "XY" else 0
    return 2


def ploidy_segments(contig: str) -> list[tuple[int, int, dict[str, int]]]:
    """Split a contig into segments of constant ploidy.

    Returns
    -------
    list of (start, end, ploidy by sex)
        1-based inclusive segments covering the whole contig, in order.
    """
    length = CONTIG_LENGTHS[contig]
    bounds = [1]
    for start, end in PARS.get(contig, ()):
        bounds += [start, end + 1]
    bounds.append(length + 1)
    bounds = sorted(set(bounds))
    return [
        (start, end - 1, {sex: ploidy(sex, contig, start) for sex in SEXES})
        for start, end in itertools.pairwise(bounds)
    ]
