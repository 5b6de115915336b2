"""A variant's record as a GA4GH VA-Spec ``CohortAlleleFrequencyStudyResult`` (what gnomAD serves).

Asked for with ``?format=va`` or an ``Accept`` of ``application/ld+json`` or
``application/vnd.ga4gh.va+json`` on ``GET /v1/variants/{id}``. The study
result is the headline population (adj genotypes of founders); each stratum
(sex, region, patient group) is a ``subCohortFrequency`` whose ``focusAllele``
points back to the top one (``#/focusAllele``). gnomAD-style figures VA-Spec has
no attribute for (faf95, faf99, homozygotes, hemizygotes, the region maximum)
go in ``ancillaryResults``.

The focus allele is a VRS 2 ``Allele`` on the RefSeq accession of the GRCh38
chromosome (``refseq:NC_000017.11``), in 0-based interbase coordinates with
the shared anchor base of an indel dropped (the SPDI form, also given in
``expressions``); it carries no computed VRS digest, which needs the refget
sequence digests the service does not hold.

Counts are exact integers, so a caller whose counts are floored (``registered``,
below ``small_count_threshold``) gets a 403 for a small count and no
sub-cohorts; ``public`` callers get a 403.
"""

from __future__ import annotations

from typing import Any, Final

import orjson
from starlette.responses import Response

from variantdb.api.auth import Caller, granularity, shape_record
from variantdb.api.deps import OpenRelease
from variantdb.api.errors import APIError
from variantdb.api.lookup import record_for_query
from variantdb.genome import REFSEQ

__all__ = ["VA_MEDIA_TYPES", "to_va", "va_response", "wants_va"]

#: Accept types answered with the VA-Spec form.
VA_MEDIA_TYPES: Final = ("application/ld+json", "application/vnd.ga4gh.va+json")
_SEX = {"sex": "Sex", "region": "Geographic region", "patient_group": "Patient group"}


def wants_va(format_param: str | None, accept: str | None) -> bool:
    """Return True when a request asks for the VA-Spec form (``?format=va`` or an Accept type).

    Raises
    ------
    APIError
        422 for a ``format`` other than ``json`` or ``va``.
    """
    if format_param is not None:
        low = format_param.lower()
        if low not in ("json", "va"):
            raise APIError(
                422,
                "invalid_request",
                f"query parameter format={format_param[:50]!r}: use json (default) or va (GA4GH VA-Spec)",
                [{"location": "query.format", "message": "json or va", "type": "enum"}],
            )
        return low == "va"
    if not accept:
        return False
    types = [part.split(";")[0].strip().lower() for part in accept.split(",")]
    return any(t in VA_MEDIA_TYPES for t in types) and "application/json" not in types[:1]


def _allele(rec: dict[str, Any]) -> dict[str, Any]:
    spdi = rec["spdi"]
    _, pos0, deleted, inserted = spdi.split(":")
    start = int(pos0)
    return {
        "id": f"variantdb:{rec['variant_id']}",
        "type": "Allele",
        "name": rec["variant_id"],
        "expressions": [
            {"syntax": "spdi", "value": spdi},
            {"syntax": "gnomad", "value": rec["variant_id"]},
        ],
        "location": {
            "type": "SequenceLocation",
            "sequenceReference": f"refseq:{REFSEQ[rec['chrom']]}",
            "start": start,
            "end": start + len(deleted),
        },
        "state": {"type": "LiteralSequenceExpression", "sequence": inserted},
    }


def _frequency(ac: int, an: int) -> float:
    return ac / an if an else 0.0


def to_va(rec: dict[str, Any], rel: OpenRelease, with_strata: bool) -> dict[str, Any]:
    """Return a record (record granularity) as a ``CohortAlleleFrequencyStudyResult`` dict."""
    created = rel.meta.created[:10] or None
    out: dict[str, Any] = {
        "id": f"variantdb:{rel.id}:{rec['variant_id']}",
        "type": "CohortAlleleFrequencyStudyResult",
        "description": rec["message"],
        "sourceDataSet": {
            "id": f"variantdb:{rel.id}",
            "type": "DataSet",
            "name": "variantdb",
            "version": rel.id,
            **({"releaseDate": created} if created else {}),
        },
        "focusAllele": _allele(rec),
        "focusAlleleCount": rec["ac"],
        "locusAlleleCount": rec["an"],
        "focusAlleleFrequency": _frequency(rec["ac"], rec["an"]),
        "cohort": {"id": "adj_founders", "type": "StudyGroup", "name": "adj genotypes of founders"},
        "ancillaryResults": {
            k: rec.get(k)
            for k in (
                "faf95",
                "faf99",
                "homozygote_count",
                "hemizygote_count",
                "n_carriers",
                "faf95_max_region",
                "faf95_max_region_code",
                "state",
            )
            if k in rec
        },
        "qualityMeasures": {"coverage": rec["coverage"], "normalization": rec["normalization"]},
    }
    if with_strata and rec.get("strata"):
        out["subCohortFrequency"] = [
            {
                "id": f"variantdb:{rel.id}:{rec['variant_id']}:{s['id']}",
                "type": "CohortAlleleFrequencyStudyResult",
                "focusAllele": "#/focusAllele",
                "focusAlleleCount": s["ac"],
                "locusAlleleCount": s["an"],
                "focusAlleleFrequency": _frequency(s["ac"], s["an"]),
                "cohort": {
                    "id": s["id"],
                    "type": "StudyGroup",
                    "name": s["value"],
                    "characteristics": [{"conceptType": _SEX.get(s["kind"], s["kind"]), "name": s["value"]}],
                },
                "ancillaryResults": {
                    k: s.get(k) for k in ("faf95", "faf99", "homozygote_count", "hemizygote_count") if k in s
                },
            }
            for s in rec["strata"]
        ]
    return out


def va_response(rel: OpenRelease, text: str, caller: Caller) -> Response:
    """Answer one variant in the VA-Spec form, cut to what the caller may see (see the module docstring)."""
    level = granularity(caller.role)
    if level == "boolean":
        raise APIError(
            403,
            "forbidden",
            "the VA-Spec form carries counts, which a caller without a key may not see; send a registered key",
            [{"location": "query.format", "message": "needs a registered key", "type": "forbidden"}],
        )
    rec = record_for_query(rel, text, strata=level == "record")
    shown = shape_record(dict(rec), caller.role, caller.small_count_threshold)
    if not isinstance(shown.get("ac"), int):
        raise APIError(
            403,
            "forbidden",
            f"the VA-Spec form needs an exact allele count, and this one is imprecise or withheld for a registered "
            f"key (counts below {caller.small_count_threshold}): use the JSON form or a controlled key",
            [{"location": "query.format", "message": "small count", "type": "forbidden"}],
        )
    caller.granularity = level
    body = to_va(rec, rel, with_strata=level == "record")
    if level == "count":
        # the strata and region maximum are for controlled keys only (api/auth.shape_record)
        for k in (
            "faf95_max_region",
            "faf95_max_region_code",
            "n_carriers",
            "homozygote_count",
            "hemizygote_count",
        ):
            body["ancillaryResults"].pop(k, None)
    return Response(orjson.dumps(body), media_type="application/json")
