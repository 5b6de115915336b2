"""Write a release's variant table as TSV, Parquet or a sites-only VCF.

Columns and INFO fields carry the release's own names (``ac``, ``an``, ``af``,
``homozygote_count`` ... for adj; ``ac_raw`` ... for raw); the VCF uses gnomAD's
INFO names (``AC``, ``AN``, ``AF``, ``nhomalt``, ``AC_raw`` ...).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from variantdb.errors import VariantdbError
from variantdb.genome import CONTIG_LENGTHS, CONTIGS, UnknownContigError, canonical_contig
from variantdb.release.files import read_current, read_release_meta
from variantdb.release.meta import ReleaseMeta
from variantdb.schema import vcf_info_name, vcf_info_number
from variantdb.store.layout import ReleaseNotFoundError, release_path, variants_file

__all__ = ["FORMATS", "RegionError", "export_release", "parse_region"]

FORMATS = ("tsv", "vcf", "parquet")
_REGION = re.compile(r"^(?P<chrom>[\w.]+)(?::(?P<start>[\d,]+)(?:-(?P<end>[\d,]+))?)?$")


class RegionError(VariantdbError, ValueError):
    """A region that is not ``CHROM[:START[-END]]`` on a GRCh38 contig."""


def parse_region(text: str) -> tuple[str, int, int]:
    """Parse ``chr1:1-1000`` (1-based, inclusive), ``chr1:1000`` or ``chr1``.

    Returns
    -------
    (chrom, start, end)
        Canonical contig, 1-based inclusive bounds clipped to the contig.
    """
    m = _REGION.match(text.strip())
    if not m:
        raise RegionError(f"region {text!r} is not CHROM, CHROM:POS or CHROM:START-END (e.g. chr1:1-1000)")
    try:
        chrom = canonical_contig(m["chrom"])
    except UnknownContigError as e:
        raise RegionError(str(e)) from None
    length = CONTIG_LENGTHS[chrom]
    start = int(m["start"].replace(",", "")) if m["start"] else 1
    end = int(m["end"].replace(",", "")) if m["end"] else (start if m["start"] else length)
    if start < 1 or end < start:
        raise RegionError(f"region {text!r}: start must be >= 1 and end >= start")
    return chrom, start, min(end, length)


def _tables(db: Path, release: str, region: tuple[str, int, int] | None) -> Iterator[pa.Table]:
    root = release_path(db, release) / "variants"
    for chrom in CONTIGS:
        if region is not None and chrom != region[0]:
            continue
        part = variants_file(root.parent, chrom)
        if not part.exists():
            continue
        if region is None:
            pf = pq.ParquetFile(part)
            for i in range(pf.num_row_groups):
                yield pf.read_row_group(i)
        else:
            dataset = ds.dataset(part, format="parquet")
            expr = (ds.field("pos") >= region[1]) & (ds.field("pos") <= region[2])
            yield dataset.to_table(filter=expr)


def export_release_id(
    db: Path, release: str | None, fmt: str, formats: tuple[str, ...], what: str = ""
) -> str:
    """Check an export's format and return the release it reads (default: the current one)."""
    if fmt not in formats:
        raise ValueError(f"format {fmt!r} is not one of {', '.join(formats)}{what}")
    release = release or read_current(db)
    if release is None:
        raise ReleaseNotFoundError(f"{db} has no release yet; load a batch first")
    return release


def export_release(
    db: Path,
    fmt: str,
    out: Path | None,
    region: str | None = None,
    release: str | None = None,
) -> int:
    """Write the variant table of a release; return the number of variants written.

    Parameters
    ----------
    db
        Database directory.
    fmt
        ``tsv``, ``vcf`` or ``parquet``.
    out
        Output file; None writes TSV or VCF to standard output. A ``.gz`` VCF is
        bgzipped and tabix-indexed.
    region
        ``chr1:1-1000`` (1-based, inclusive). Default: the whole release.
    release
        Release id. Default: the current release.
    """
    release = export_release_id(db, release, fmt, FORMATS)
    meta = read_release_meta(db, release)
    reg = parse_region(region) if region else None
    if fmt == "parquet":
        if out is None:
            raise ValueError("parquet export needs -o FILE")
        return _export_parquet(db, release, reg, out)
    if fmt == "tsv":
        return _export_tsv(db, release, reg, out)
    return _export_vcf(db, release, reg, out, meta)


def _export_parquet(db: Path, release: str, reg: tuple[str, int, int] | None, out: Path) -> int:
    from variantdb.schema import variants_schema

    return write_parquet(_tables(db, release, reg), variants_schema(), out)


def _export_tsv(db: Path, release: str, reg: tuple[str, int, int] | None, out: Path | None) -> int:
    from variantdb.schema import variants_schema

    return write_tsv(_tables(db, release, reg), variants_schema(), out)


def write_parquet(tables: Iterable[pa.Table], schema: pa.Schema, out: Path) -> int:
    """Write tables of ``schema`` to one Parquet file (zstd); return the rows written."""
    n = 0
    with pq.ParquetWriter(out, schema, compression="zstd") as writer:
        for table in tables:
            writer.write_table(table.replace_schema_metadata(schema.metadata))
            n += table.num_rows
    return n


def write_tsv(tables: Iterable[pa.Table], schema: pa.Schema, out: Path | None) -> int:
    """Write tables of ``schema`` as TSV with a header line to ``out`` (None: stdout); return the rows written."""
    import sys

    sink: Any = pa.OSFile(str(out), "wb") if out is not None else pa.PythonFile(sys.stdout.buffer, mode="w")
    n = 0
    # Arrow quotes header names whatever the quoting style; write the header ourselves.
    sink.write(("\t".join(schema.names) + "\n").encode())
    writer = pacsv.CSVWriter(
        sink,
        schema.remove_metadata(),
        write_options=pacsv.WriteOptions(delimiter="\t", quoting_style="none", include_header=False),
    )
    try:
        for table in tables:
            writer.write_table(table.replace_schema_metadata(None))
            n += table.num_rows
    finally:
        writer.close()
        if out is not None:
            sink.close()
        else:
            sys.stdout.flush()
    return n


def _export_vcf(
    db: Path, release: str, reg: tuple[str, int, int] | None, out: Path | None, meta: ReleaseMeta
) -> int:
    from variantdb.schema import variants_schema

    return write_sites_vcf(
        _tables(db, release, reg), variants_schema(), [f"##variantdb_release={release}"], out
    )


def write_sites_vcf(
    tables: Iterable[pa.Table],
    schema: pa.Schema,
    header_lines: list[str],
    out: Path | None,
    describe_suffix: str = "",
) -> int:
    """Write a sites-only VCF of variant tables (bgzipped and tabix-indexed when ``out`` ends in .gz).

    Parameters
    ----------
    tables
        Tables with ``chrom``, ``pos``, ``ref``, ``alt`` and the columns of ``schema``, sorted.
    schema
        Their schema: every other column becomes an INFO field with its gnomAD-style
        name (:func:`variantdb.schema.vcf_info_name`), described by the field's metadata.
    header_lines
        Extra ``##`` lines (release, filter, ...), after ``##fileformat``.
    out
        The file to write; None writes plain VCF to stdout.
    describe_suffix
        Appended to every INFO description. Default "".

    Returns
    -------
    int
        The records written.
    """
    import pysam

    header = pysam.VariantHeader()
    header.add_line("##fileformat=VCFv4.2")
    for line in header_lines:
        header.add_line(line)
    header.add_line("##reference=GRCh38")
    for chrom in CONTIGS:
        header.contigs.add(chrom, length=CONTIG_LENGTHS[chrom])
    cols = [f for f in schema if f.name not in ("chrom", "pos", "ref", "alt")]
    for f in cols:
        kind = (
            "Float" if pa.types.is_floating(f.type) else "String" if pa.types.is_string(f.type) else "Integer"
        )
        desc = f.metadata[b"description"].decode().replace('"', "'") + describe_suffix
        header.info.add(vcf_info_name(f.name), vcf_info_number(f.name), kind, desc)
    compressed = out is not None and str(out).endswith(".gz")
    mode = "wz" if compressed else "w"
    n = 0
    with pysam.VariantFile(str(out) if out is not None else "-", mode, header=header) as vf:
        for table in tables:
            data = table.to_pydict()
            for i in range(table.num_rows):
                rec = vf.new_record(
                    contig=data["chrom"][i],
                    start=data["pos"][i] - 1,
                    alleles=(data["ref"][i], data["alt"][i]),
                )
                for f in cols:
                    value = data[f.name][i]
                    if value is not None:
                        rec.info[vcf_info_name(f.name)] = value
                vf.write(rec)
                n += 1
    if compressed:
        pysam.tabix_index(str(out), preset="vcf", force=True)
    return n
