"""``POST /v1/diff`` and the ``/diff`` page: which of a lab's variants changed between two releases.

The comparison is :mod:`variantdb.release.alerts`; this module reads the
request, opens the two releases, normalizes the ids with the newer release's
reference (the loader's code), spends one query of the daily budget per id and
cuts the rows down to what the caller's role may see:

- ``public``: the seen / not seen states only (``reasons`` of ``state``);
- ``registered``: no counts (``ac``, ``an``, ``af`` left out); the AF and
  verdict reasons and the criteria are withheld (``withheld: true``) where a
  count they rest on is from 1 to ``small_count_threshold - 1`` in either
  release;
- ``controlled``: everything.
"""

from __future__ import annotations

import csv
import io
from typing import Annotated, Any, Final
from urllib.parse import parse_qs

import orjson
from fastapi import APIRouter, Body
from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from variantdb.api.access import spend_queries
from variantdb.api.auth import Caller, caller_of, granularity, note_granularity
from variantdb.api.deps import OpenRelease, ReleaseStore
from variantdb.api.errors import APIError
from variantdb.api.lookup import parse_query
from variantdb.api.models import ACCESS_ERRORS, ErrorPublic
from variantdb.api.routes.pages import error_page, render_page
from variantdb.api.verdicts import VERDICT_PARAMETERS, parse_verdict_query
from variantdb.disclosure import is_small
from variantdb.release.alerts import (
    AF_FACTOR,
    ALERT_COLUMNS,
    ReleaseCounts,
    compare_counts,
    read_counts,
    tsv_cells,
)
from variantdb.variant import Variant
from variantdb.verdict import DiseaseArchitecture

__all__ = ["router"]

router = APIRouter(tags=["diff"])

_VERDICT_FIELDS: Final = tuple(p for p in VERDICT_PARAMETERS if p != "verdicts")
_FIELDS: Final = frozenset(("variants", "from", "to", "since", "af_factor", *_VERDICT_FIELDS))
_COUNTS: Final = ("ac_from", "an_from", "af_from", "ac_to", "an_to", "af_to")


class DiffRequest(BaseModel):
    """The body of ``POST /v1/diff``."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    variants: list[str] = Field(description="up to 10,000 variant ids (any accepted form, HGVS g. too)")
    from_: str | None = Field(default=None, alias="from", description="the older release id")
    to: str | None = Field(default=None, description="the newer release id; default the current")
    since: str | None = Field(default=None, description="the older release id, compared with the current")
    af_factor: float = Field(default=AF_FACTOR, gt=1, description="an AF change counts beyond this factor")
    patient_group: str | None = Field(default=None, description="compare verdicts for this group's disease")
    disease: str | None = Field(default=None, description="compare verdicts for this disease of the table")
    inheritance: str | None = None
    prevalence: str | float | None = None
    allelic: str | float | None = None
    genetic: str | float | None = None
    penetrance: str | float | None = None
    ci: str | float | None = None


class DiffResult(BaseModel):
    """The answer of ``POST /v1/diff``."""

    model_config = ConfigDict(populate_by_name=True)
    from_: str = Field(alias="from")
    to: str
    af_factor: float
    population: str
    granularity: str
    count: int = Field(description="ids asked")
    changed: int = Field(description="ids with a change")
    data: list[dict[str, Any]]


def _invalid(message: str, location: str) -> APIError:
    return APIError(
        422,
        "invalid_request",
        f"the request is not valid: {location}: {message}",
        [{"location": location, "message": message, "type": "invalid_body"}],
    )


def _check_body(body: object, max_ids: int) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise _invalid('expected an object {"variants": [...], "since": "r0001"}', "body")
    extra = sorted(set(body) - _FIELDS)
    if extra:
        raise _invalid(f"unexpected field(s) {extra}; accepted: {', '.join(sorted(_FIELDS))}", "body")
    ids = body.get("variants")
    if not isinstance(ids, list) or not all(isinstance(x, str) for x in ids):
        raise _invalid("variants must be a list of variant ids", "body.variants")
    if len(ids) > max_ids:
        raise APIError(
            413, "too_many_ids", f"{len(ids):,} ids in one request; the limit is {max_ids:,}: split it"
        )
    for key in ("from", "to", "since", *_VERDICT_FIELDS):
        v = body.get(key)
        if v is not None and not isinstance(v, str | int | float):
            raise _invalid("must be a string", f"body.{key}")
    if body.get("since") is not None and body.get("from") is not None:
        raise _invalid("give either since or from (with to), not both", "body.since")
    if body.get("since") is None and body.get("from") is None:
        raise _invalid('give the older release: "since": "r0001", or "from" and "to"', "body.from")
    factor = body.get("af_factor", AF_FACTOR)
    if isinstance(factor, bool) or not isinstance(factor, int | float) or not factor > 1:
        raise _invalid(f"af_factor must be a number > 1, not {factor!r}", "body.af_factor")
    return body


def _architecture(
    rel: OpenRelease, body: dict[str, Any]
) -> tuple[DiseaseArchitecture | None, str | None, str]:
    """Return the disease architecture to compare verdicts for, the group code left out, and the population."""
    params = {k: str(body[k]) for k in _VERDICT_FIELDS if body.get(k) is not None}
    if not params:
        return None, None, "adj founders (all patient groups)"
    if "patient_group" not in params and "disease" not in params:
        name = next(iter(params))
        raise APIError(
            422,
            "invalid_request",
            f"{name} overrides a disease architecture: give patient_group or disease too",
            [
                {
                    "location": f"body.{name}",
                    "message": "needs patient_group or disease",
                    "type": "invalid_body",
                }
            ],
        )
    asked = parse_verdict_query(rel, params)
    assert asked is not None
    group = asked.group.id.removeprefix("group_") if asked.group else None
    return asked.architectures[0], group, asked.population


def _counts(rel: OpenRelease, variants: list[Variant], group: str | None) -> ReleaseCounts:
    try:
        return read_counts(rel.index, variants, group)
    except KeyError:
        raise APIError(
            400, "unknown_group", f"patient group {group} is not a stratum of release {rel.id}"
        ) from None


def _shape(
    row: dict[str, Any], caller: Caller, old: ReleaseCounts, new: ReleaseCounts, i: int, verdicts: bool
) -> dict[str, Any]:
    level = granularity(caller.role)
    if level == "record":
        return row
    if level == "boolean":
        reasons = [r for r in row["reasons"] if r == "state"]
        keep = ("query", "variant_id", "state_from", "state_to")
        return {**{k: row[k] for k in keep}, "changed": bool(reasons), "reasons": reasons}
    t = caller.small_count_threshold
    # The region maximum matters to the verdicts only.
    rests_on = [old.ac, new.ac, old.group_ac, new.group_ac] + (
        [old.region_ac, new.region_ac] if verdicts else []
    )
    small = any(is_small(int(c[i]), t) for c in rests_on)
    out = {k: v for k, v in row.items() if k not in _COUNTS}
    if small:
        out["reasons"] = [r for r in row["reasons"] if r == "state"]
        out["changed"] = bool(out["reasons"])
        for k in ("criteria_from", "criteria_to", "verdict_from", "verdict_to"):
            out[k] = None
        out["withheld"] = True
    return out


def _run(request: Request, body: dict[str, Any]) -> dict[str, Any]:
    store: ReleaseStore = request.app.state.store
    caller = caller_of(request)
    old_id = body.get("since") or body.get("from")
    new_rel = store.get(body.get("to"))
    old_rel = store.get(str(old_id))
    ids: list[str] = body["variants"]
    spend_queries(request, len(ids) - 1)
    architecture, group, population = _architecture(new_rel, body)
    if architecture is not None and granularity(caller.role) == "boolean":
        raise APIError(403, "forbidden", "verdicts need a registered or controlled key")
    parsed: list[tuple[int, str, Variant]] = []
    errors: dict[int, dict[str, Any]] = {}
    for i, text in enumerate(ids):
        try:
            parsed.append((i, text, parse_query(new_rel, text)))
        except APIError as e:
            errors[i] = {
                "query": text,
                "error": {"status": e.status, "code": e.code, "message": e.message, "details": None},
            }
    variants = [v for _, _, v in parsed]
    old, new = _counts(old_rel, variants, group), _counts(new_rel, variants, group)
    rows = compare_counts(
        [t for _, t, _ in parsed],
        variants,
        old,
        new,
        af_factor=float(body.get("af_factor", AF_FACTOR)),
        architecture=architecture,
    )
    shaped = {
        i: _shape(row, caller, old, new, k, architecture is not None)
        for k, ((i, _, _), row) in enumerate(zip(parsed, rows, strict=True))
    }
    data = [errors[i] if i in errors else shaped[i] for i in range(len(ids))]
    level = granularity(caller.role)
    note_granularity(request, level)
    return {
        "from": old_rel.id,
        "to": new_rel.id,
        "af_factor": float(body.get("af_factor", AF_FACTOR)),
        "population": population,
        "granularity": level,
        "count": len(ids),
        "changed": sum(1 for r in data if r.get("changed")),
        "data": data,
    }


def _tsv(result: dict[str, Any]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, delimiter="\t", lineterminator="\n")
    rows = [r for r in result["data"] if "error" not in r]
    cols = [c for c in ALERT_COLUMNS if any(c in r for r in rows)] or [
        "query",
        "variant_id",
        "changed",
        "reasons",
    ]
    w.writerow(["from", "to", *cols])
    for r in result["data"]:
        if "error" in r:
            continue
        w.writerow([result["from"], result["to"], *tsv_cells(r, cols)])
    return buf.getvalue()


@router.post(
    "/v1/diff",
    response_model=DiffResult,
    responses={
        400: {"model": ErrorPublic, "description": "unknown patient group"},
        404: {"model": ErrorPublic, "description": "unknown or pruned release"},
        413: {"model": ErrorPublic, "description": "more ids than max_batch_ids"},
        422: {"model": ErrorPublic, "description": "invalid body"},
        **ACCESS_ERRORS,
    },
)
async def post_diff(
    request: Request,
    payload: Annotated[
        DiffRequest,
        Body(openapi_examples={"since": {"value": {"variants": ["1-55516888-G-GA"], "since": "r0001"}}}),
    ],
) -> Response:
    """Say which of up to 10,000 variants changed between two releases: state, verdict or AF.

    Give ``"since": "r0001"`` (to the current release) or ``"from"`` and ``"to"``. One row per id, in
    order, with ``changed`` and ``reasons`` (``state``, ``verdict``, ``af``); an unparsable id gets an
    error item. Each id is one query of the daily budget.
    """
    store: ReleaseStore = request.app.state.store
    body = _check_body(orjson.loads(await request.body()), store.settings.max_batch_ids)
    return Response(orjson.dumps(_run(request, body)), media_type="application/json")


# --- the page -------------------------------------------------------------------------


def _releases(store: ReleaseStore) -> list[str]:
    from variantdb.release.files import list_releases

    return list(reversed(list_releases(store.db)))


@router.get("/diff", response_class=HTMLResponse, include_in_schema=False)
async def get_diff_page(request: Request) -> Response:
    """Render the form: paste ids, pick two releases."""
    store: ReleaseStore = request.app.state.store
    return render_page(request, "diff.html", releases=_releases(store), result=None, form={})


@router.post("/diff", response_class=HTMLResponse, include_in_schema=False)
async def post_diff_page(request: Request) -> Response:
    """Render the changes (or, with ``format=tsv``, download them as TSV with a header row)."""
    store: ReleaseStore = request.app.state.store
    raw = await request.body()
    if len(raw) > store.settings.max_request_bytes:
        return error_page(
            request, APIError(413, "payload_too_large", "the form is too large: split the ids"), "Too large"
        )
    form = {k: v[0] for k, v in parse_qs(raw.decode("utf-8", "replace")).items()}
    ids = [line.strip() for line in form.get("variants", "").splitlines() if line.strip()]
    body: dict[str, Any] = {"variants": ids, "from": form.get("from") or None, "to": form.get("to") or None}
    for k in _VERDICT_FIELDS:
        if form.get(k):
            body[k] = form[k]
    if form.get("af_factor"):
        try:
            body["af_factor"] = float(form["af_factor"])
        except ValueError:
            body["af_factor"] = form["af_factor"]
    try:
        result = _run(request, _check_body(body, store.settings.max_batch_ids))
    except APIError as e:
        return error_page(request, e, "Cannot compare")
    if form.get("format") == "tsv":
        name = f"variantdb-diff-{result['from']}-{result['to']}.tsv"
        return Response(
            _tsv(result),
            media_type="text/tab-separated-values; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )
    return render_page(request, "diff.html", releases=_releases(store), result=result, form=form)
