"""Response and request models of the API, derived from :mod:`variantdb.schema`.

Field descriptions come from the schema's own (``COUNT_FIELDS``), and a test
checks the count fields against ``COUNT_FIELDS`` and ``STRATUM_FIELDS`` so the
models and the release tables cannot drift. The routes build responses as plain
dicts (see :mod:`variantdb.api.records`) for speed; these models document them in OpenAPI
and validate real responses in the tests.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from variantdb.schema import COUNT_FIELDS, QUALITY_FIELDS, REGION_MAX_FIELDS
from variantdb.seen import SeenState

__all__ = [
    "ACCESS_ERRORS",
    "ArchitecturePublic",
    "BatchRequest",
    "BatchResult",
    "CoverageBlock",
    "CoveragePublic",
    "CoverageSegment",
    "CoverageTechnology",
    "ErrorBody",
    "ErrorPublic",
    "GenePublic",
    "GroupCounts",
    "Health",
    "RegionPage",
    "RegionPublic",
    "ReleasePublic",
    "ReleasesPublic",
    "StatsPublic",
    "StratumCounts",
    "VariantError",
    "VariantPublic",
    "VerdictPublic",
]


def _doc(name: str) -> str:
    return COUNT_FIELDS[name][1]


#: A count at ``count`` granularity: exact, or ``"<5"`` when from 1 to the threshold minus 1.
Imprecise = Annotated[
    str,
    Field(
        pattern=r"^<[0-9]+$", description="an imprecise count (registered keys): from 1 to N-1, given as <N"
    ),
]
Count = int | Imprecise
Granularity = Literal["boolean", "count", "record"]


class GroupCounts(BaseModel):
    """Counts of one group (adj founders, raw founders, or all samples)."""

    model_config = ConfigDict(extra="forbid")
    ac: Count = Field(description=_doc("ac"))
    an: int = Field(description=_doc("an"))
    af: float | None = Field(description=_doc("af"))
    homozygote_count: Count = Field(description=_doc("homozygote_count"))
    hemizygote_count: Count = Field(description=_doc("hemizygote_count"))
    n_carriers: Count = Field(description=_doc("n_carriers"))
    faf95: float | None = Field(description=_doc("faf95"))
    faf99: float | None = Field(description=_doc("faf99"))


class StratumCounts(BaseModel):
    """Adj founder counts within one stratum (sex, region or patient group)."""

    model_config = ConfigDict(extra="forbid")
    id: str = Field(description="stratum key, the suffix of the release table's columns, e.g. sex_xx")
    kind: str = Field(description="sex, region or patient_group")
    value: str = Field(description="the manifest value, e.g. XX, Hovedstaden, Hereditary heart disease")
    ac: int = Field(description=_doc("ac"))
    an: int = Field(description=_doc("an"))
    af: float | None = Field(description=_doc("af"))
    homozygote_count: int = Field(description=_doc("homozygote_count"))
    hemizygote_count: int = Field(description=_doc("hemizygote_count"))
    faf95: float | None = Field(description=_doc("faf95"))
    faf99: float | None = Field(description=_doc("faf99"))


class ArchitecturePublic(BaseModel):
    """A disease architecture a verdict used (``variantdb.verdict.DiseaseArchitecture.to_dict``)."""

    model_config = ConfigDict(extra="forbid")
    patient_group: str = Field(description="patient group code of the row")
    disease: str
    inheritance: Literal["dominant", "recessive"]
    prevalence: float
    allelic_contribution: float
    genetic_contribution: float
    penetrance: float
    ci: float = Field(description="confidence of max_tolerated_ac and PM2: 0.95 or 0.99")
    source: str
    overridden: list[str] = Field(description="parameters the request overrode")
    max_credible_af: float = Field(description="Whiffin et al. 2017 maximum credible population AF")


class VerdictPublic(BaseModel):
    """The frequency verdict on a variant for one disease (docs/verdicts.md)."""

    model_config = ConfigDict(extra="forbid")
    state: str = Field(
        description="no_data, ba1, bs1, pm2, insufficient_data, indeterminate; withheld (registered keys) "
        "when a count it rests on is small"
    )
    criteria: list[Literal["BA1", "BS1", "PM2"]] | None = Field(
        description="ACMG/AMP criteria met; null when withheld"
    )
    max_credible_af: float
    max_tolerated_ac: int = Field(description="Poisson ci quantile of an x max_credible_af")
    min_informative_an: int = Field(description="smallest AN at which PM2 can be met")
    af_upper: float | None = Field(
        default=None, description="one-sided upper ci bound on the AF (controlled keys)"
    )
    ac: int | None = Field(default=None, description="AC used (controlled keys)")
    an: int | None = Field(default=None, description="AN used (controlled keys)")
    faf95_max_region: float | None = Field(
        default=None,
        description="highest region faf95 used; a lower bound with a patient group (controlled keys)",
    )
    ba1_faf: float
    architecture: ArchitecturePublic


class VariantPublic(BaseModel):
    """The frequency record of one variant in one release.

    The top-level counts are the adj founder group (gnomAD's headline figures).
    For a variant not in the release ``seen`` is false, ``ac`` is 0 and ``an`` is
    the number of alleles called at the position (0: no data here).

    What a record holds depends on the caller's role (``granularity``): a caller
    without a key gets the variant, ``seen``, ``coverage`` and ``message`` only
    (``boolean``); a registered key gets the counts with those from 1 to
    ``imprecise_below`` - 1 given as ``"<5"`` and no strata (``count``); a
    controlled key gets everything (``record``).
    """

    model_config = ConfigDict(extra="forbid")
    query: str = Field(description="the id as given")
    variant_id: str = Field(description="the normalized id, CHROM-POS-REF-ALT (1-based POS)")
    chrom: str = Field(description="canonical contig")
    pos: int = Field(description="1-based position of the normalized variant (VCF POS)")
    ref: str = Field(description="normalized reference allele")
    alt: str = Field(description="normalized alternate allele")
    spdi: str = Field(description="SPDI form (0-based position)")
    normalization: str = Field(
        description="how the query was normalized (left-aligned with a reference or only trimmed)"
    )
    release: str = Field(description="the release id to cite")
    seen: bool = Field(
        description="true when the variant is in the release with the exact REF and ALT, whatever the quality "
        "of its calls; read state for what was observed"
    )
    state: SeenState = Field(
        description="seen (adj founders carry it), seen_relatives_only (only relatives, in adj calls), "
        "seen_low_quality (only in calls failing the adj thresholds GQ, DP, allele balance), not_seen (absent "
        "among an > 0 called alleles) or no_data (no allele called here); see variantdb.seen"
    )
    coverage: Literal["called", "no_data"] = Field(
        description="called: alleles were called at the position (an > 0); no_data: none were"
    )
    message: str = Field(description="the answer in words, e.g. 'absent among 23,456 called alleles'")
    ac: Count | None = Field(default=None, description=_doc("ac"))
    an: int | None = Field(default=None, description=_doc("an"))
    af: float | None = Field(default=None, description=_doc("af") + "; null where ac is imprecise")
    homozygote_count: Count | None = Field(default=None, description=_doc("homozygote_count"))
    hemizygote_count: Count | None = Field(default=None, description=_doc("hemizygote_count"))
    n_carriers: Count | None = Field(default=None, description=_doc("n_carriers"))
    faf95: float | None = Field(default=None, description=_doc("faf95") + "; null where ac is imprecise")
    faf99: float | None = Field(default=None, description=_doc("faf99") + "; null where ac is imprecise")
    faf95_max_region: float | None = Field(default=None, description=REGION_MAX_FIELDS["faf95_max_region"][1])
    faf95_max_region_code: str | None = Field(
        default=None, description=REGION_MAX_FIELDS["faf95_max_region_code"][1]
    )
    n_fail: Count | None = Field(default=None, description=QUALITY_FIELDS["n_fail"][1])
    n_carrier_families: Count | None = Field(
        default=None, description=QUALITY_FIELDS["n_carrier_families"][1]
    )
    excluded_group: str | None = Field(
        default=None,
        description="with ?exclude_group: the patient group stratum (e.g. group_hereditary_heart) the headline counts "
        "leave out; absent otherwise",
    )
    verdicts: list[VerdictPublic] | None = Field(
        default=None,
        description="with ?verdicts=true or ?patient_group= etc.: frequency verdicts per disease (docs/verdicts.md); "
        "absent for public callers",
    )
    verdict_population: str | None = Field(
        default=None, description="the population the verdicts were counted over"
    )
    raw: GroupCounts | None = Field(
        default=None, description="every called genotype of founders (gnomAD raw)"
    )
    all: GroupCounts | None = Field(
        default=None, description="adj genotypes of all samples, founders and relatives"
    )
    strata: list[StratumCounts] | None = Field(
        default=None,
        description="adj founder counts by sex, region and patient group (absent with strata=false, "
        "and below granularity record)",
    )
    granularity: Granularity = Field(
        description="what the caller's role was answered: boolean (seen / not seen), count (counts, small ones "
        "imprecise, no strata) or record (exact counts and strata)"
    )
    imprecise_below: int | None = Field(
        default=None,
        description="granularity count: counts from 1 to this minus 1 are given as '<N' (setting small_count_threshold)",
    )


class ErrorBody(BaseModel):
    """The one error shape of the service."""

    status: int = Field(description="HTTP status")
    code: str = Field(description="stable machine-readable code, e.g. invalid_variant")
    message: str = Field(description="what was wrong and what to do about it")
    details: list[dict[str, JsonValue]] | None = Field(default=None, description="structured details, if any")


class ErrorPublic(BaseModel):
    """Every error response: ``{"error": {...}}``."""

    error: ErrorBody


#: The errors of access control every data route may answer (see :mod:`variantdb.api.access`).
ACCESS_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorPublic, "description": "the API key is malformed, unknown or revoked"},
    403: {
        "model": ErrorPublic,
        "description": "the caller's role may not use this (or an admin key was sent)",
    },
    429: {
        "model": ErrorPublic,
        "description": "over the rate or the daily query budget; Retry-After says when to retry",
    },
}


class VariantError(BaseModel):
    """An id of a batch request that could not be parsed: the batch answers the others."""

    query: str
    error: ErrorBody


class BatchRequest(BaseModel):
    """Up to ``max_batch_ids`` (10,000) variant ids, in any accepted form."""

    model_config = ConfigDict(extra="forbid")
    variants: list[str] = Field(description="variant ids; the response keeps their order")


class BatchResult(BaseModel):
    """The records of a batch request, in request order."""

    release: str
    count: int
    data: list[VariantPublic | VariantError]


class RegionPublic(BaseModel):
    """A region, 1-based inclusive."""

    chrom: str
    start: int
    end: int


class GenePublic(BaseModel):
    """A gene locus from the shipped GRCh38 gene table (1-based inclusive)."""

    symbol: str
    gene_id: str
    chrom: str
    start: int
    end: int
    strand: str
    gene_type: str
    other_loci: list[str] = Field(
        description="gene ids of other loci with the same symbol (query them by id)"
    )


class CoverageTechnology(BaseModel):
    """Coverage of a region by the samples of one technology (or all samples).

    Below granularity ``record`` the counts of people are floored ("<5") and a
    technology whose covered samples would give a small count away by difference
    has its figures withheld (null).
    """

    model_config = ConfigDict(extra="forbid")
    technology: str = Field(description="all, or a manifest technology: WGS, WES, panel")
    n_samples: Count | None = Field(description="samples of the technology in the release")
    mean: float | None = Field(
        description="covered samples (confident adj call, ploidy > 0) averaged over the positions"
    )
    min: Count | None = Field(description="fewest covered samples at any position of the region")
    max: Count | None = Field(description="most covered samples at any position of the region")
    fraction_at_least: float | None = Field(
        description="share of positions with at least min_samples covered samples"
    )
    fraction_all: float | None = Field(
        description="share of positions where every sample of the technology is covered (0 without samples)"
    )


class CoverageBlock(BaseModel):
    """Coverage of a region, per technology (``all`` first)."""

    model_config = ConfigDict(extra="forbid")
    min_samples: int = Field(description="the threshold of fraction_at_least")
    technologies: list[CoverageTechnology]


class CoverageSegment(BaseModel):
    """Positions with the same covered samples, 1-based inclusive, clipped to the query."""

    model_config = ConfigDict(extra="forbid")
    start: int
    end: int
    covered: dict[str, Count | None] = Field(
        description="covered samples by technology: all, WGS, WES, panel (floored or withheld below record)"
    )


class CoveragePublic(BaseModel):
    """How many samples have a confident call in a region or at a position, by technology."""

    model_config = ConfigDict(extra="forbid")
    release: str
    region: RegionPublic
    covered: dict[str, Count | None] | None = Field(
        description="for a single position (CHROM:POS): covered samples by technology; null for a region"
    )
    min_samples: int = Field(description="the threshold of fraction_at_least")
    technologies: list[CoverageTechnology]
    total_segments: int = Field(description="segments of constant coverage overlapping the region")
    count: int = Field(description="segments in this page")
    segments: list[CoverageSegment]
    next_offset: int | None = Field(
        description="pass as ?offset= for the next page of segments; null on the last"
    )


class RegionPage(BaseModel):
    """One page of the variants whose position lies in a region, in release order."""

    release: str
    region: RegionPublic
    gene: GenePublic | None = None
    total: int = Field(description="variants in the whole region")
    count: int = Field(description="variants in this page")
    data: list[VariantPublic]
    next_cursor: str | None = Field(description="pass as ?cursor= for the next page; null on the last page")
    coverage: CoverageBlock | None = Field(
        default=None,
        description="samples with a confident call over the region by technology (min_samples 1); "
        "null when the release has no coverage track or the caller may not see counts",
    )


class ReleasePublic(BaseModel):
    """A release's metadata (release.json without checksums)."""

    model_config = ConfigDict(extra="allow")
    id: str
    current: bool
    created: str | None = None
    n_variants: int
    contigs: dict[str, int]


class ReleasesPublic(BaseModel):
    """Published releases, oldest first."""

    current: str | None
    count: int
    data: list[ReleasePublic]


class StatsPublic(BaseModel):
    """Genomes in a release by region, patient group, sex and month received (as the release recorded them)."""

    release: str
    samples: JsonValue = Field(description="samples in the release, as release.json records them")
    batches: JsonValue = Field(description="load batches in the release, as release.json records them")
    stats: dict[str, JsonValue]


class Health(BaseModel):
    """Liveness and the release being served."""

    status: Literal["ok", "no_release"]
    release: str | None
    n_variants: int | None
    normalization: str | None
