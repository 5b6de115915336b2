"""``POST /v1/annotate``: a lab uploads a patient VCF and gets it back with the release's frequencies.

The body is the VCF itself (plain, gzipped or bgzipped; ``curl --data-binary
@patient.vcf.gz``). It is spooled to a temporary file (refused past the
``max_annotate_bytes`` setting), annotated by :class:`variantdb.annotate.Annotator`
against the release the request names, and the annotated file is streamed back
in chunks. The whole input is read and checked before the first byte of the
answer, so a malformed record anywhere gets a 4xx in the one error shape rather
than a 200 cut short.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import StreamingResponse

from variantdb.annotate import DEFAULT_FIELDS, AnnotateError, AnnotateReport, Annotator, parse_list
from variantdb.api.access import spend_queries
from variantdb.api.auth import caller_role, may_see_strata, note_granularity
from variantdb.api.deps import OpenRelease, ReleaseDep, SettingsDep
from variantdb.api.errors import APIError
from variantdb.api.models import ErrorPublic
from variantdb.api.verdicts import VERDICT_PARAMETERS, parse_verdict_query
from variantdb.verdict import DiseaseArchitecture

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["annotate"])

_CHUNK = 1 << 16
_GZIP_MAGIC = b"\x1f\x8b"
_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorPublic, "description": "the upload is not a readable VCF, or an option is unknown"},
    401: {"model": ErrorPublic, "description": "the API key is malformed, unknown or revoked"},
    403: {"model": ErrorPublic, "description": "annotation needs a controlled key (it writes exact counts)"},
    404: {"model": ErrorPublic, "description": "unknown release"},
    413: {"model": ErrorPublic, "description": "the upload is larger than max_annotate_bytes"},
    429: {"model": ErrorPublic, "description": "over the rate or the daily query budget; see Retry-After"},
}
_VCF_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "the VCF or BCF itself (plain, gzipped or bgzipped), as the request body",
        "content": {
            "application/gzip": {"schema": {"type": "string", "format": "binary"}},
            "text/vcf": {"schema": {"type": "string", "format": "binary"}},
            "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
        },
    }
}


async def _spool(request: Request, path: Path, limit: int) -> int:
    """Write the request body to ``path``; return its size, refusing bodies over ``limit`` bytes."""
    size = 0
    with open(path, "wb") as fh:
        async for part in request.stream():
            size += len(part)
            if size > limit:
                raise APIError(
                    413,
                    "payload_too_large",
                    f"the uploaded VCF is larger than {limit:,} bytes (setting max_annotate_bytes); "
                    "annotate it with `variantdb annotate` instead, or split it by chromosome",
                )
            fh.write(part)
    return size


def _annotate(
    rel: OpenRelease,
    src: Path,
    dst: Path,
    fields: list[str],
    strata: list[str],
    prefix: str,
    gz: bool,
    verdict: tuple[DiseaseArchitecture, str | None] | None = None,
) -> AnnotateReport:
    try:
        annotator = Annotator(
            rel.index,
            rel.id,
            rel.reference,
            fields or list(DEFAULT_FIELDS),
            strata,
            prefix,
            verdict[0] if verdict else None,
            verdict[1] if verdict else None,
        )
        # The index is shared with every request: keep its pages mapped.
        return annotator.annotate(src, dst, release_pages=False, compress=gz)
    except AnnotateError as e:
        # The message names the temporary file; the caller knows it as "the upload".
        raise APIError(400, "invalid_vcf", str(e).replace(str(src), "the uploaded VCF")) from None


def _verdict(
    rel: OpenRelease, request: Request, patient_group: str | None, disease: str | None
) -> tuple[DiseaseArchitecture, str | None] | None:
    """Return the disease architecture and group code the verdict fields use, or None when not asked."""
    if patient_group is None and disease is None:
        return None
    params = {k: v for k, v in request.query_params.items() if k in VERDICT_PARAMETERS}
    asked = parse_verdict_query(rel, params)
    assert asked is not None
    group = asked.group.id.removeprefix("group_") if asked.group else None
    return asked.architectures[0], group


def summary_header(report: AnnotateReport) -> str:
    """Return the ``X-Variantdb-Summary`` header: records, ALT alleles, and alleles per seen state.

    The states are those of :mod:`variantdb.seen` (seen, seen_relatives_only,
    seen_low_quality, not_seen, no_data), the words of every other route.
    """
    states = report.as_dict()["states"]
    parts = [f"records={report.records}", f"alleles={report.alleles}"]
    parts += [f"{state}={n}" for state, n in states.items()]
    return "; ".join(parts)


def _stream(work: Path, path: Path) -> Iterator[bytes]:
    try:
        with open(path, "rb") as fh:
            while chunk := fh.read(_CHUNK):
                yield chunk
    finally:
        _cleanup(work)


def _cleanup(work: Path) -> None:
    for p in work.iterdir():
        with contextlib.suppress(OSError):
            p.unlink()
    with contextlib.suppress(OSError):
        work.rmdir()


@router.post(
    "/annotate",
    summary="Annotate an uploaded VCF with the release's frequencies",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "the same VCF with gnomAD-named INFO fields per ALT allele (AC, AN, AF, nhomalt ...), "
            "bgzipped when the upload was compressed; the X-Variantdb-Summary header counts the ALT alleles per "
            "seen state (seen, seen_relatives_only, seen_low_quality, not_seen, no_data)",
            "content": {"application/gzip": {}, "text/vcf": {}},
        },
        **_ERRORS,
    },
    openapi_extra=_VCF_BODY,
)
async def annotate(
    request: Request,
    rel: ReleaseDep,
    settings: SettingsDep,
    fields: Annotated[
        str | None,
        Query(
            description="release fields, comma-separated (ac, an, af, homozygote_count, hemizygote_count, "
            "n_carriers and _raw / _all forms). Default ac,an,af,homozygote_count",
            max_length=1000,
        ),
    ] = None,
    strata: Annotated[
        str | None,
        Query(
            description="also per stratum: all, sex, region, patient_group, or keys (sex_xx)", max_length=1000
        ),
    ] = None,
    prefix: Annotated[str, Query(description="put before every INFO name, e.g. NGC_", max_length=32)] = "",
    patient_group: Annotated[
        str | None,
        Query(
            description="add frequency verdict INFO fields (maxCredibleAF, maxTolAC, ACMG_freq, freqVerdict) for "
            "this patient group's disease, counted outside the group (docs/verdicts.md)",
            max_length=100,
        ),
    ] = None,
    disease: Annotated[
        str | None,
        Query(
            description="verdict fields for this disease of the table (without patient_group: everyone)",
            max_length=200,
        ),
    ] = None,
) -> StreamingResponse:
    """Return the uploaded VCF with the release's counts added to every ALT allele.

    Multi-allelic records are split and each ALT normalized as the loader does;
    values are per ALT (``Number=A``). A variant not in the release gets ``AC=0``
    and the AN the release has at its position. The header names the release.
    Needs a controlled key.
    """
    if not may_see_strata(caller_role(request)):
        # The annotated file carries exact counts (and strata on request), like an export.
        raise APIError(
            403,
            "forbidden",
            f"annotation writes exact counts, which need a controlled key; this caller is {caller_role(request)}",
        )
    verdict = _verdict(rel, request, patient_group, disease)
    note_granularity(request, "record")
    work = Path(tempfile.mkdtemp(prefix="variantdb-annotate-"))
    try:
        src = work / "upload"
        size = await _spool(request, src, settings.max_annotate_bytes)
        if size == 0:
            raise APIError(
                400,
                "invalid_vcf",
                "the request body is empty; send the VCF itself (curl --data-binary @IN.vcf.gz)",
            )
        with open(src, "rb") as fh:
            gz = fh.read(2) == _GZIP_MAGIC
        dst = work / ("annotated.vcf.gz" if gz else "annotated.vcf")
        report = await run_in_threadpool(
            _annotate, rel, src, dst, parse_list(fields), parse_list(strata), prefix, gz, verdict
        )
        os.unlink(src)
        # Every ALT allele annotated is one variant query of the daily budget; the request paid for one.
        spend_queries(request, report.alleles - 1)
    except BaseException:
        _cleanup(work)
        raise
    return StreamingResponse(
        _stream(work, dst),
        media_type="application/gzip" if gz else "text/vcf",
        headers={
            "Content-Disposition": f'attachment; filename="annotated-{rel.id}.vcf{".gz" if gz else ""}"',
            "X-Variantdb-Release": rel.id,
            "X-Variantdb-Summary": summary_header(report),
        },
    )
