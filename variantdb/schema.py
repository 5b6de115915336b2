"""Arrow schemas of every table, each field described in its metadata.

Calls, gaps and the release's variant and AN tables are declared here once; the
loader writes them, the aggregator and the service read them, and the API models
are checked against them by a test so the two cannot drift.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache
from importlib import resources

import pyarrow as pa

__all__ = [
    "CALLS_SCHEMA",
    "CONSENT_VALUES",
    "COUNT_FIELDS",
    "DERIVED_FIELDS",
    "GAPS_SCHEMA",
    "GROUPS",
    "QUALITY_FIELDS",
    "REGION_MAX_FIELDS",
    "SEXES",
    "STRATUM_FIELDS",
    "TECHNOLOGIES",
    "Stratum",
    "an_columns",
    "an_schema",
    "load_vocabulary",
    "strata",
    "variants_schema",
    "vcf_info_name",
    "vcf_info_number",
]


def _f(name: str, type_: pa.DataType, doc: str, nullable: bool = True) -> pa.Field:
    return pa.field(name, type_, nullable=nullable, metadata={"description": doc})


#: One row per (sample, normalized variant) where the sample carries the alt allele.
CALLS_SCHEMA = pa.schema(
    [
        _f("sample_idx", pa.int32(), "registry number of the sample", False),
        _f("chrom", pa.string(), "canonical contig (chr1..chr22, chrX, chrY, chrM)", False),
        _f("pos", pa.int32(), "1-based position of the normalized variant (VCF POS)", False),
        _f("ref", pa.string(), "normalized reference allele", False),
        _f("alt", pa.string(), "normalized alternate allele", False),
        _f("dosage", pa.int8(), "copies of alt in the genotype (1..ploidy)", False),
        _f("ploidy", pa.int8(), "alleles the sample carries here (from sex, contig, PAR)", False),
        _f("adj", pa.bool_(), "genotype passes the adj thresholds (GQ, DP, allele balance)", False),
        _f("filter_pass", pa.bool_(), "the record's FILTER was PASS or missing", False),
        _f("gq", pa.int16(), "FORMAT/GQ of the call"),
        _f("dp", pa.int32(), "FORMAT/DP of the call"),
        _f("ad_alt", pa.int32(), "FORMAT/AD of this alt allele"),
    ],
    metadata={"description": "sparse non-reference genotypes of one load batch"},
)

#: Per-sample intervals with no confident call (1-based inclusive).
GAPS_SCHEMA = pa.schema(
    [
        _f("sample_idx", pa.int32(), "registry number of the sample", False),
        _f("chrom", pa.string(), "canonical contig", False),
        _f("start", pa.int32(), "first position without a confident call (1-based)", False),
        _f("end", pa.int32(), "last position without a confident call (1-based, inclusive)", False),
        _f(
            "raw",
            pa.bool_(),
            "True: no call at all (uncovered or no-call GT), missing from raw and adj; "
            "False: called but below the adj thresholds, missing from adj only",
            False,
        ),
    ],
    metadata={"description": "per-sample regions with no (confident) call, from gVCF blocks and no-calls"},
)

#: The count groups of a release: suffix of the field names and meaning.
GROUPS: dict[str, str] = {
    "": "adj genotypes (GQ, DP, allele balance thresholds) of founders: the headline figures",
    "_raw": "every called genotype of founders",
    "_all": "adj genotypes of all samples, founders and relatives",
}

#: Count fields of each group, gnomAD's names, with their meaning.
COUNT_FIELDS: dict[str, tuple[pa.DataType, str]] = {
    "ac": (pa.int32(), "alternate allele count (gnomAD AC)"),
    "an": (pa.int32(), "called alleles at the position (gnomAD AN)"),
    "af": (pa.float64(), "allele frequency ac/an, null when an is 0 (gnomAD AF)"),
    "homozygote_count": (pa.int32(), "diploid homozygous alternate genotypes (gnomAD homozygote_count)"),
    "hemizygote_count": (
        pa.int32(),
        "haploid alternate genotypes: chrX/chrY outside the PARs in XY samples, chrM (gnomAD hemizygote_count)",
    ),
    "n_carriers": (pa.int32(), "individuals carrying the alternate allele"),
    "faf95": (
        pa.float64(),
        "filtering allele frequency, 95% confidence: the highest true AF at which ac or more alt alleles "
        "among an are seen with Poisson probability <= 5%; 0 when ac <= 1 (as Hail), null when an is 0 (gnomAD faf95)",
    ),
    "faf99": (
        pa.float64(),
        "filtering allele frequency, 99% confidence: as faf95 with probability <= 1%; 0 when ac <= 1, "
        "null when an is 0 (gnomAD faf99)",
    ),
}

#: Fields kept per stratum (adj founders).
STRATUM_FIELDS: tuple[str, ...] = ("ac", "an", "af", "homozygote_count", "hemizygote_count", "faf95", "faf99")

#: Fields derived from ``ac`` and ``an`` (null when ``an`` is 0), never stored in the index; every
#: column whose name starts with one of them and ``_`` is derived too (``faf95_max_region``).
DERIVED_FIELDS: tuple[str, ...] = ("af", "faf95", "faf99")

#: Per variant, not per group: carriers in poor calls, and carrier families.
QUALITY_FIELDS: dict[str, tuple[pa.DataType, str]] = {
    "n_fail": (
        pa.int32(),
        "founders carrying the alternate allele in a call that failed FILTER or the adj thresholds "
        "(GQ, DP, allele balance): a variant seen mostly in poor calls has n_fail near n_carriers_raw",
    ),
    "n_carrier_families": (
        pa.int32(),
        "distinct families (family_id) among the carriers n_carriers counts (adj founders), so never more "
        "than n_carriers; "
        "a sample without a family_id is a family of its own",
    ),
}

#: The highest faf95 over the regions and the region's code (gnomAD's faf95_max over ancestry groups).
REGION_MAX_FIELDS: dict[str, tuple[pa.DataType, str]] = {
    "faf95_max_region": (
        pa.float64(),
        "the highest faf95 over the regions (adj founders); null when no region has called alleles "
        "(as gnomAD's faf95_max over genetic ancestry groups)",
    ),
    "faf95_max_region_code": (
        pa.string(),
        "code (regions.tsv) of the region with faf95_max_region, the first in table order on a tie; "
        "null when faf95_max_region is 0 or null",
    ),
}


@dataclass(frozen=True)
class Stratum:
    """A subset of samples counted separately: by sex, region or patient group."""

    key: str  # field-name suffix, e.g. "sex_xx", "region_hovedstaden"
    kind: str  # "sex", "region" or "patient_group"
    value: str  # the manifest value, e.g. "XX", "Hovedstaden"
    label: str  # for people


#: The fixed vocabularies of a sample's metadata (the manifest's columns). Regions and patient groups
#: are data, read by :func:`load_vocabulary` from ``variantdb/data``.
SEXES: tuple[str, ...] = ("XX", "XY", "unknown")
TECHNOLOGIES: tuple[str, ...] = ("WGS", "WES", "panel")
CONSENT_VALUES: tuple[str, ...] = ("given", "research_opt_out")


@cache
def load_vocabulary(name: str) -> dict[str, str]:
    """Return ``{name: code}`` of the allowed regions or patient groups.

    Parameters
    ----------
    name
        ``"regions"`` or ``"patient_groups"``: a TSV file in ``variantdb/data``.
    """
    text = resources.files("variantdb").joinpath(f"data/{name}.tsv").read_text(encoding="utf-8")
    rows = csv.DictReader(text.splitlines(), delimiter="\t")
    return {row["name"]: row["code"] for row in rows}


@cache
def strata() -> tuple[Stratum, ...]:
    """Return every stratum, in the column order of the release tables."""
    out = [Stratum(f"sex_{s.lower()}", "sex", s, s) for s in SEXES if s != "unknown"]
    out += [
        Stratum(f"region_{code}", "region", name, name) for name, code in load_vocabulary("regions").items()
    ]
    out += [
        Stratum(f"group_{code}", "patient_group", name, name)
        for name, code in load_vocabulary("patient_groups").items()
    ]
    return tuple(out)


def an_columns() -> list[str]:
    """Return the AN columns that the AN track and the variant table share."""
    return [f"an{g}" for g in GROUPS] + [f"an_{s.key}" for s in strata()]


def variants_schema() -> pa.Schema:
    """Return the schema of a release's variant table, one row per normalized variant.

    Sorted by (contig order, pos, ref, alt); partitioned by ``chrom`` on disk.
    """
    fields = [
        _f("chrom", pa.string(), "canonical contig (chr1..chr22, chrX, chrY, chrM)", False),
        _f("pos", pa.int32(), "1-based position (VCF POS)", False),
        _f("ref", pa.string(), "normalized reference allele", False),
        _f("alt", pa.string(), "normalized alternate allele", False),
    ]
    for suffix, group_doc in GROUPS.items():
        for name, (type_, doc) in COUNT_FIELDS.items():
            fields.append(_f(f"{name}{suffix}", type_, f"{doc}; {group_doc}", name in DERIVED_FIELDS))
    for s in strata():
        for name in STRATUM_FIELDS:
            type_, doc = COUNT_FIELDS[name]
            fields.append(
                _f(
                    f"{name}_{s.key}",
                    type_,
                    f"{doc}; adj founders with {s.kind} {s.value}",
                    name in DERIVED_FIELDS,
                )
            )
    fields += [_f(name, type_, doc) for name, (type_, doc) in REGION_MAX_FIELDS.items()]
    fields += [_f(name, type_, doc, False) for name, (type_, doc) in QUALITY_FIELDS.items()]
    return pa.schema(fields, metadata={"description": "allele counts of a release, one row per variant"})


def an_schema() -> pa.Schema:
    """Return the schema of the AN track: called alleles over piecewise-constant segments.

    Answers "how many alleles were called here" for any position, including
    positions where no variant was seen. Segments tile each loaded contig.
    """
    fields = [
        _f("chrom", pa.string(), "canonical contig", False),
        _f("start", pa.int32(), "first position of the segment (1-based)", False),
        _f("end", pa.int32(), "last position of the segment (1-based, inclusive)", False),
    ]
    fields += [
        _f(c, pa.int32(), "called alleles over the segment, group as in the variant table", False)
        for c in an_columns()
    ]
    return pa.schema(fields, metadata={"description": "AN at every position of a release"})


def vcf_info_name(column: str) -> str:
    """Return the gnomAD-style INFO name of a variant-table column."""
    for ours, theirs in (
        ("homozygote_count", "nhomalt"),
        ("hemizygote_count", "nhemi"),
        ("n_carriers", "ncarriers"),
        ("ac", "AC"),
        ("an", "AN"),
        ("af", "AF"),
    ):
        if column == ours or column.startswith(ours + "_"):
            return theirs + column[len(ours) :]
    return column


def vcf_info_number(column: str) -> str:
    """Return the VCF ``Number`` of a variant-table column's INFO field, as gnomAD declares it.

    ``1`` for the called alleles (``AN``, ``AN_raw``, ``AN_sex_xx`` ...: one per site),
    ``A`` (one per ALT allele) for everything else: counts (``AC``, ``nhomalt``, ``nhemi``,
    ``ncarriers``), frequencies (``AF``, ``faf95``) and per-allele labels. htslib checks
    ``AC``, ``AF`` (``A``) and ``AN`` (``1``) and warns on reading a header that says otherwise.
    """
    return "1" if column == "an" or column.startswith("an_") else "A"
