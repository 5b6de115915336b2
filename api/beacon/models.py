"""Beacon v2 documents: the request body, and every response this beacon builds.

The shapes follow the GA4GH Beacon v2 (v2.1.1) framework and default model
schemas; the tests validate each response type against those schemas. Beacon
has its own error document (``{"meta": ..., "error": {"errorCode",
"errorMessage"}}``), which Beacon clients expect, so errors under
``/beacon/v2`` use it rather than the ``/v1`` error shape.
"""

from __future__ import annotations

from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field

import variantdb
from variantdb.api.beacon.translate import beacon_start, classify_variant
from variantdb.api.deps import OpenRelease
from variantdb.api.lookup import record_for_row
from variantdb.frequency import af
from variantdb.genome import REFSEQ

__all__ = [
    "API_VERSION",
    "BEACON_ID",
    "ENTRY_TYPE",
    "GRANULARITIES",
    "BeaconRequestBody",
    "Granularity",
    "IncludeResultsets",
    "Summary",
    "boolean_response",
    "configuration",
    "count_response",
    "entry_types",
    "error_response_body",
    "filtering_terms",
    "genomic_variation",
    "info",
    "informational_meta",
    "map_",
    "resultsets_response",
    "service_info",
]

Granularity = Literal["boolean", "count", "record"]
IncludeResultsets = Literal["ALL", "HIT", "MISS", "NONE"]

#: Granularities from least to most detailed.
GRANULARITIES: Final[tuple[Granularity, ...]] = ("boolean", "count", "record")
API_VERSION: Final = "v2.1.1"
BEACON_ID: Final = "org.variantdb.beacon"
ENTRY_TYPE: Final = "genomicVariant"
_RAW = "https://raw.githubusercontent.com/ga4gh-beacon/beacon-v2/main/"
_GV_SCHEMA_URL = _RAW + "models/json/beacon-v2-default-model/genomicVariations/defaultSchema.json"
_GV_SCHEMA: Final = {"entityType": ENTRY_TYPE, "schema": "ga4gh-beacon-variant-v2.0.0"}
_ORGANIZATION: Final = {
    "id": "variantdb",
    "name": "variantdb national variant and allele-frequency database",
    "description": "Allele frequencies of the genomes sequenced by the national clinical genome centre",
}
_KIND_LABELS: Final = {"sex": "Sex", "region": "Region", "patient_group": "Patient group"}


# --- the request body (POST /g_variants) -----------------------------------------------------


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class SchemaPerEntity(BaseModel):
    """A schema a client asks for, for one entity type (``SchemasPerEntity``)."""

    entityType: str | None = Field(default=None, max_length=100)
    schema_: str | None = Field(default=None, alias="schema", max_length=500)

    def as_dict(self) -> dict[str, str]:
        """Return it as Beacon spells it, leaving out what was not given."""
        out = {"entityType": self.entityType, "schema": self.schema_}
        return {k: v for k, v in out.items() if v is not None}


class RequestMeta(_Open):
    """``meta`` of a Beacon request."""

    apiVersion: str | None = Field(default=None, max_length=50, description="API version the client expects")
    requestedSchemas: list[SchemaPerEntity] = Field(default_factory=list, max_length=20)


class Pagination(_Open):
    """Beacon pagination: ``skip`` pages of ``limit`` records (``limit`` 0: as many as allowed)."""

    skip: int = Field(default=0, ge=0, le=1_000_000_000, description="pages to skip")
    limit: int = Field(
        default=10, ge=0, le=1_000_000_000, description="records per page; 0 for the most allowed"
    )


class BeaconQuery(_Open):
    """``query`` of a Beacon request."""

    requestParameters: dict[str, Any] = Field(
        default_factory=dict,
        description="the g_variant parameters (referenceName, start, end, referenceBases, alternateBases, "
        "assemblyId, variantType), flat or under a 'g_variant' key",
    )
    filters: list[Any] = Field(default_factory=list, max_length=100)
    includeResultsetResponses: IncludeResultsets = "HIT"
    pagination: Pagination = Field(default_factory=Pagination)
    requestedGranularity: Granularity = "boolean"
    testMode: bool = False


class BeaconRequestBody(_Open):
    """The body of a Beacon v2 POST request (``meta`` and ``query``)."""

    meta: RequestMeta = Field(default_factory=RequestMeta)
    query: BeaconQuery = Field(default_factory=BeaconQuery)


class Summary(BaseModel):
    """What a g_variants request asked for, as this beacon understood it (``receivedRequestSummary``)."""

    api_version: str = API_VERSION
    requested_schemas: list[dict[str, Any]] = Field(default_factory=list)
    skip: int = 0
    limit: int = 10
    requested_granularity: Granularity = "boolean"
    include_resultsets: IncludeResultsets = "HIT"
    parameters: dict[str, Any] | None = None
    test_mode: bool = False

    def as_dict(self) -> dict[str, Any]:
        """Return the ``receivedRequestSummary`` document."""
        out: dict[str, Any] = {
            "apiVersion": self.api_version,
            "requestedSchemas": self.requested_schemas,
            "pagination": {"skip": self.skip, "limit": self.limit},
            "requestedGranularity": self.requested_granularity,
            "includeResultsetResponses": self.include_resultsets,
            "testMode": self.test_mode,
        }
        if self.parameters is not None:
            out["requestParameters"] = {"g_variant": self.parameters}
        return out


# --- response documents ----------------------------------------------------------------------


def _meta(summary: Summary, returned: Granularity) -> dict[str, Any]:
    return {
        "beaconId": BEACON_ID,
        "apiVersion": API_VERSION,
        "returnedGranularity": returned,
        "receivedRequestSummary": summary.as_dict(),
        "returnedSchemas": [_GV_SCHEMA],
        "testMode": summary.test_mode,
    }


def informational_meta(entity: str, schema: str) -> dict[str, Any]:
    """Return the ``meta`` of an informational response (info, configuration, map, ...)."""
    return {
        "beaconId": BEACON_ID,
        "apiVersion": API_VERSION,
        "returnedSchemas": [{"entityType": entity, "schema": schema}],
    }


def error_response_body(status: int, message: str, summary: Summary | None = None) -> dict[str, Any]:
    """Return a Beacon error document (``beaconErrorResponse``)."""
    return {
        "meta": _meta(summary or Summary(), "boolean"),
        "error": {"errorCode": status, "errorMessage": message},
    }


def boolean_response(summary: Summary, exists: bool, info: dict[str, Any]) -> dict[str, Any]:
    """Return a ``beaconBooleanResponse``."""
    return {"meta": _meta(summary, "boolean"), "responseSummary": {"exists": exists}, "info": info}


def count_response(summary: Summary, total: int, info: dict[str, Any]) -> dict[str, Any]:
    """Return a ``beaconCountResponse``."""
    return {
        "meta": _meta(summary, "count"),
        "responseSummary": {"exists": total > 0, "numTotalResults": total},
        "info": info,
    }


def resultsets_response(
    summary: Summary, rel: OpenRelease, total: int, records: list[dict[str, Any]], info: dict[str, Any]
) -> dict[str, Any]:
    """Return a ``beaconResultsetsResponse``: one result set, the release (a Beacon dataset).

    ``includeResultsetResponses`` decides whether the set is listed: ``HIT`` when it
    matched, ``MISS`` when it did not, ``ALL`` always, ``NONE`` never.
    """
    exists = total > 0
    include = summary.include_resultsets
    listed = include == "ALL" or (include == "HIT" and exists) or (include == "MISS" and not exists)
    sets = []
    if listed:
        sets.append(
            {
                "id": rel.id,
                "setType": "dataset",
                "exists": exists,
                "resultsCount": total,
                "results": records,
                "info": {"release": rel.id, "created": rel.meta.created},
            }
        )
    return {
        "meta": _meta(summary, "record"),
        "responseSummary": {"exists": exists, "numTotalResults": total},
        "response": {"resultSets": sets},
        "info": info,
    }


def _frequency(population: str, counts: dict[str, Any]) -> dict[str, Any] | None:
    an = counts["an"]
    if not an:
        return None
    ac, hom, hemi = counts["ac"], counts["homozygote_count"], counts["hemizygote_count"]
    return {
        "population": population,
        "alleleFrequency": af(ac, an),
        "alleleCount": ac,
        "alleleNumber": an,
        "alleleCountHomozygous": hom,
        # adj genotypes carry 1 alt allele (het, hemi) or 2 (hom): the rest of AC is heterozygous
        "alleleCountHeterozygous": ac - 2 * hom - hemi,
        "alleleCountHemizygous": hemi,
    }


def genomic_variation(rel: OpenRelease, row: int, base_url: str) -> dict[str, Any]:
    """Return a Beacon ``genomicVariation`` record of the variant at an index row.

    Notes
    -----
    The variation is a Beacon ``LegacyVariation``: VCF-style alleles (with the
    padding base of an indel) and a VRS ``SequenceLocation`` over the reference
    bases, 0-based half-open ``[POS - 1, POS - 1 + len(REF))``. Frequencies are one
    ``frequencyInPopulations`` entry for the release: the headline (adj founders)
    population first, then one population per stratum (sex, region, patient
    group) with ``alleleCount``, ``alleleNumber`` and genotype counts beside the
    schema's ``alleleFrequency``. A stratum with no called allele at the variant
    has no frequency and is left out. ``/v1/variants`` has every count.
    """
    rec = record_for_row(rel, row)
    start = beacon_start(rec["pos"])
    freqs = [_frequency("All (adj genotypes of founders)", rec)]
    for s in rec.get("strata") or []:
        freqs.append(_frequency(f"{_KIND_LABELS.get(s['kind'], s['kind'])}: {s['value']}", s))
    return {
        "variantInternalId": rec["variant_id"],
        "variation": {
            "variantType": classify_variant(rec["ref"], rec["alt"]),
            "referenceBases": rec["ref"],
            "alternateBases": rec["alt"],
            "location": {
                "type": "SequenceLocation",
                "sequence_id": f"refseq:{REFSEQ[rec['chrom']]}",
                "interval": {
                    "type": "SequenceInterval",
                    "start": {"type": "Number", "value": start},
                    "end": {"type": "Number", "value": start + len(rec["ref"])},
                },
            },
        },
        "frequencyInPopulations": [
            {
                "source": "variantdb national allele frequencies",
                "sourceReference": f"{base_url}v1/releases/{rel.id}",
                "version": rel.id,
                "frequencies": [f for f in freqs if f is not None],
            }
        ],
    }


def info(rel: OpenRelease | None, base_url: str) -> dict[str, Any]:
    """Return the ``beaconInfoResponse`` of ``/`` and ``/info``."""
    response: dict[str, Any] = {
        "id": BEACON_ID,
        "name": "variantdb Beacon",
        "apiVersion": API_VERSION,
        "environment": "prod",
        "organization": dict(_ORGANIZATION),
        "description": "Has this variant been seen in our population? GRCh38 genomic variants with allele "
        "frequencies by sex, region and patient group; granularity by the caller's role.",
        "version": f"v{variantdb.__version__}",
        "welcomeUrl": base_url,
        "alternativeUrl": f"{base_url}docs",
        "info": {"assembly": "GRCh38", "release": rel.id if rel else None},
    }
    if rel is not None:
        response["updateDateTime"] = rel.meta.created
    return {"meta": informational_meta("info", "beacon-info-v2.0.0"), "response": response}


def service_info(base_url: str) -> dict[str, Any]:
    """Return the GA4GH service-info document of ``/service-info``."""
    return {
        "id": BEACON_ID,
        "name": "variantdb Beacon",
        "type": {"group": "org.ga4gh", "artifact": "beacon", "version": API_VERSION},
        "description": "GA4GH Beacon v2 over the national allele frequencies of variantdb (GRCh38)",
        "organization": {"name": _ORGANIZATION["name"], "url": base_url},
        "documentationUrl": f"{base_url}docs",
        "environment": "prod",
        "version": variantdb.__version__,
    }


def _entry_type() -> dict[str, Any]:
    return {
        "id": ENTRY_TYPE,
        "name": "Genomic variants",
        "description": "Biallelic GRCh38 variants, normalized as bcftools norm -m -any -f REF gives them, "
        "with allele frequencies per population (stratum)",
        "ontologyTermForThisType": {"id": "ENSGLOSSARY:0000092", "label": "Variant"},
        "partOfSpecification": "Beacon v2.0.0",
        "defaultSchema": {
            "id": "ga4gh-beacon-variant-v2.0.0",
            "name": "Default schema for a genomic variation",
            "referenceToSchemaDefinition": _GV_SCHEMA_URL,
            "schemaVersion": "v2.0.0",
        },
        "additionallySupportedSchemas": [],
        "nonFilteredQueriesAllowed": False,
    }


def configuration() -> dict[str, Any]:
    """Return the ``beaconConfigurationResponse`` of ``/configuration``."""
    return {
        "meta": informational_meta("configuration", "beacon-configuration-v2.0.0"),
        "response": {
            "$schema": _RAW + "framework/json/configuration/beaconConfigurationSchema.json",
            "maturityAttributes": {"productionStatus": "PROD"},
            "securityAttributes": {
                "defaultGranularity": "boolean",
                "securityLevels": ["PUBLIC", "REGISTERED", "CONTROLLED"],
            },
            "entryTypes": {ENTRY_TYPE: _entry_type()},
        },
    }


def entry_types() -> dict[str, Any]:
    """Return the ``beaconEntryTypesResponse`` of ``/entry_types``."""
    return {
        "meta": informational_meta("entryType", "beacon-entry-types-v2.0.0"),
        "response": {"entryTypes": {ENTRY_TYPE: _entry_type()}},
    }


def map_(root: str) -> dict[str, Any]:
    """Return the ``beaconMapResponse`` of ``/map``; ``root`` is the absolute URL of ``/beacon/v2``."""
    return {
        "meta": informational_meta("map", "beacon-map-v2.0.0"),
        "response": {
            "$schema": _RAW + "framework/json/configuration/beaconMapSchema.json",
            "endpointSets": {ENTRY_TYPE: {"entryType": ENTRY_TYPE, "rootUrl": f"{root}/g_variants"}},
        },
    }


def filtering_terms() -> dict[str, Any]:
    """Return the ``beaconFilteringTermsResponse`` of ``/filtering_terms``: this beacon has none."""
    return {
        "meta": informational_meta("filteringTerm", "beacon-filtering-terms-v2.0.0"),
        "response": {"filteringTerms": [], "resources": []},
    }
