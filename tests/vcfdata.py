"""Write tiny VCF, manifest and FASTA fixtures for loader tests.

Records are given as text columns so each test reads like the VCF it loads.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pysam

from variantdb.genome import CONTIG_LENGTHS

HEADER = """##fileformat=VCFv4.2
##FILTER=<ID=PASS,Description="All filters passed">
##FILTER=<ID=LowQual,Description="Low quality">
##INFO=<ID=END,Number=1,Type=Integer,Description="End of the reference block">
##ALT=<ID=NON_REF,Description="Any other allele">
##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">
##FORMAT=<ID=GQ,Number=1,Type=Integer,Description="Genotype quality">
##FORMAT=<ID=DP,Number=1,Type=Integer,Description="Depth">
##FORMAT=<ID=MIN_DP,Number=1,Type=Integer,Description="Minimum depth in the block">
##FORMAT=<ID=AD,Number=R,Type=Integer,Description="Allelic depths">
"""


def vcf_text(samples: Sequence[str], records: Sequence[str], contigs: dict[str, int] | None = None) -> str:
    """Return VCF text: header with GRCh38 contig lines, then one line per record.

    ``records`` are whitespace-separated columns (CHROM POS ID REF ALT QUAL FILTER INFO FORMAT S1 ...).
    """
    lengths = contigs if contigs is not None else CONTIG_LENGTHS
    lines = [HEADER.rstrip("\n")]
    lines += [f"##contig=<ID={c},length={n}>" for c, n in lengths.items()]
    lines.append(
        "\t".join(["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO", "FORMAT", *samples])
    )
    lines += ["\t".join(r.split()) for r in records]
    return "\n".join(lines) + "\n"


def write_vcf(
    path: Path,
    samples: Sequence[str],
    records: Sequence[str],
    contigs: dict[str, int] | None = None,
    compress: str = "bgzip",
) -> Path:
    """Write a VCF; ``compress`` is ``bgzip`` (with a tabix index), ``gzip`` (not seekable) or ``none``."""
    text = vcf_text(samples, records, contigs)
    if compress == "none":
        path.write_text(text)
        return path
    if compress == "gzip":
        import gzip

        with gzip.open(path, "wt") as fh:
            fh.write(text)
        return path
    plain = path.with_suffix("")
    plain.write_text(text)
    pysam.tabix_compress(str(plain), str(path), force=True)
    plain.unlink()
    pysam.tabix_index(str(path), preset="vcf", force=True)
    return path


def write_manifest(path: Path, rows: Sequence[dict[str, str]]) -> Path:
    """Write a manifest TSV with the union of the rows' keys as header."""
    header: list[str] = []
    for row in rows:
        header += [k for k in row if k not in header]
    lines = ["\t".join(header)] + ["\t".join(row.get(k, "") for k in header) for row in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def write_fasta(path: Path, seqs: dict[str, str]) -> Path:
    """Write and index a FASTA of the given contigs."""
    with open(path, "w") as fh:
        for name, seq in seqs.items():
            fh.write(f">{name}\n")
            for i in range(0, len(seq), 60):
                fh.write(seq[i : i + 60] + "\n")
    pysam.faidx(str(path))
    return path
