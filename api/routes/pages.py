"""The web pages for people: search, variant, region / gene and statistics views.

Lab staff look variants up in a browser more often than with curl, so the
service renders small HTML pages from the same release store and record
builders as the JSON routes (:func:`variantdb.api.lookup.record_for_query`,
:func:`variantdb.api.lookup.record_for_row`, :func:`variantdb.api.routes.regions.parse_region`), so
a page and ``/v1/...`` never disagree. Hospital networks are closed: every
asset is served from here (:data:`STATIC_FILES`), charts are SVG rendered on the
server (:mod:`variantdb.api.charts`), and a Content-Security-Policy forbids any other host.

What a caller may see is decided in one place, :mod:`variantdb.api.auth`.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

import jinja2
import numpy as np
from fastapi import APIRouter, Query, Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import NoMatchFound

import variantdb
from variantdb.api.access import signed_in, spend_queries
from variantdb.api.auth import (
    Role,
    caller_of,
    caller_role,
    granularity,
    may_see_counts,
    may_see_strata,
    note_granularity,
    shape_record,
    shape_stats,
)
from variantdb.api.charts import af_bar_chart, af_plot, bar_chart, column_chart
from variantdb.api.coverage import coverage_track, protect_covered
from variantdb.api.deps import OpenRelease, SettingsDep, StoreDep
from variantdb.api.errors import APIError
from variantdb.api.lookup import record_for_query, record_for_row
from variantdb.api.routes.regions import check_listing, parse_region, resolve_gene
from variantdb.api.verdicts import page_verdicts
from variantdb.frequency import af_array
from variantdb.genes import GeneNotFoundError, find_gene
from variantdb.hgvs import is_hgvs
from variantdb.seen import STATE_HEADLINES, describe_state
from variantdb.settings import Settings
from variantdb.variant import InvalidVariantError, Variant, format_variant_id, parse_variant_id, to_spdi

__all__ = ["HTML_HEADERS", "STATIC_FILES", "render_page", "router"]

#: HTML pages are for people, not API clients: kept out of the OpenAPI document.
router = APIRouter(include_in_schema=False, tags=["pages"])

_HERE = Path(__file__).resolve().parent.parent
_ENV = jinja2.Environment(
    loader=jinja2.FileSystemLoader(_HERE / "templates"),
    autoescape=jinja2.select_autoescape(("html",)),
    trim_blocks=True,
    lstrip_blocks=True,
    undefined=jinja2.StrictUndefined,
)

#: Every asset the pages load, served by :func:`get_static` (a fixed list: no path from the URL reaches the disk).
STATIC_FILES: dict[str, str] = {
    "style.css": "text/css; charset=utf-8",
    "sort.js": "text/javascript; charset=utf-8",
}
_STATIC_BYTES = {name: (_HERE / "static" / name).read_bytes() for name in STATIC_FILES}

# No other host may be contacted, and no inline script or style can run even if
# a value were ever mis-escaped.
_CSP = (
    "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
#: Headers of every HTML page.
HTML_HEADERS = {
    "Content-Security-Policy": _CSP,
    "X-Content-Type-Options": "nosniff",
    # Not no-referrer: under it browsers send "Origin: null" even on the pages' own forms, and the
    # sign-in and sign-out forms' Origin check would refuse every one (found by the Chromium test).
    # same-origin still tells other sites (links out to gnomAD, ClinVar, dbSNP) nothing.
    "Referrer-Policy": "same-origin",
}

_POSITION = re.compile(r"^[\w.]+:(?P<pos>[\d,]+)$")

#: Most points drawn in a region plot; larger regions are sampled evenly (the page says so).
MAX_PLOT_POINTS = 3000

_SEARCH_HELP = (
    "a variant id (1-55516888-G-GA, chr1-55516888-G-GA, chr1:55516888:G:GA, 'chr1:55516888 G>GA', "
    "SPDI NC_000001.11:55516887:G:GA), a region (chr1:55516000-55517000, 1-based) or a gene "
    "(MYH7 or ENSG00000092054)"
)


# --- rendering ----------------------------------------------------------------------------


#: Shown for a missing figure (AF where AN is 0).
_NONE = "\N{EN DASH}"


def _fmt_af(af: float | None) -> str:
    if af is None:
        return _NONE
    if af == 0:
        return "0"
    return f"{af:.4f}" if af >= 0.001 else f"{af:.2e}"


def _fmt_int(n: int | str | None) -> str:
    if isinstance(n, str):  # an imprecise count, "<5"
        return n
    return _NONE if n is None else f"{n:,}"


_ENV.filters["af"] = _fmt_af
_ENV.filters["intc"] = _fmt_int
# A count withheld from this caller (None: it would give a small one away) says so.
_ENV.filters["cell"] = lambda n: "withheld" if n is None else _fmt_int(n)
_ENV.filters["state"] = lambda state: STATE_HEADLINES.get(state, state)


def _release_line(rel: OpenRelease | None) -> dict[str, Any] | None:
    if rel is None:
        return None
    return {"id": rel.id, "created": rel.meta.created, "n_samples": rel.meta.n_samples}


def render_page(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    """Render a page template with what every page shows: the release, the caller's role, who is signed in.

    ``show_counts`` / ``show_strata`` tell the template what the role may see, so
    that no link leads a role to a page it would be refused (403).
    """
    store = request.app.state.store
    rel = context.pop("rel", None) or store.current()
    role = caller_role(request)
    html = _ENV.get_template(template).render(
        signed_in=signed_in(request),
        here=request.url.path,
        release=_release_line(rel),
        version=variantdb.__version__,
        show_counts=may_see_counts(role),
        show_strata=may_see_strata(role),
        role=role,
        search_help=_SEARCH_HELP,
        **context,
    )
    return HTMLResponse(html, status_code=status, headers=HTML_HEADERS)


def error_page(request: Request, e: APIError, title: str = "Not found") -> HTMLResponse:
    return render_page(
        request,
        "error.html",
        status=e.status,
        title=title,
        message=e.message,
        code=e.code,
        rel=None,
    )


# --- search -------------------------------------------------------------------------------


def _redirect(path: str) -> RedirectResponse:
    return RedirectResponse(path, status_code=303)


@router.get("/", response_class=HTMLResponse)
async def get_index(request: Request) -> Response:
    """Render the search page, its examples drawn from the release being served."""
    return render_page(request, "index.html", query="", problem=None, examples=_examples(request))


def _examples(request: Request) -> list[tuple[str, str, bool]]:
    """Return (query, what it is, is a listing) examples of every search form, on a variant this release holds.

    A listing (region, gene) needs a role that may see counts: the page shows it without a link otherwise.
    """
    rel = request.app.state.store.current()
    if rel is None or len(rel.index) == 0:
        v = Variant("chr1", 55516888, "G", "GA")
    else:
        # The middle row rather than the first: the start of chr1 is often sparse.
        v = rel.index.variant_at(len(rel.index) // 2)
    bare = v.chrom.removeprefix("chr")
    return [
        (format_variant_id(v), "CHROM-POS-REF-ALT, 1-based", False),
        (f"{v.chrom}:{v.pos}:{v.ref}:{v.alt}", "colon-separated", False),
        (f"{v.chrom}:{v.pos} {v.ref}>{v.alt}", "HGVS-like", False),
        (to_spdi(v), "SPDI, 0-based", False),
        (f"chr{bare}:{max(1, v.pos - 5000)}-{v.pos + 5000}", "a region, 1-based inclusive", True),
        ("MYH7", "a gene symbol", True),
    ]


@router.get("/search", response_class=HTMLResponse)
async def get_search(
    request: Request,
    store: StoreDep,
    settings: SettingsDep,
    q: Annotated[str, Query(max_length=500)] = "",
) -> Response:
    """Send a search to its page: a variant id, a region or a gene; otherwise say what could not be read.

    Notes
    -----
    Variant ids are tried first (every form :func:`variantdb.variant.parse_variant_id`
    takes), then ``CHROM:START-END`` regions (:func:`variantdb.api.routes.regions.parse_region`),
    then gene symbols and Ensembl ids (:func:`variantdb.genes.find_gene`).
    """
    text = q.strip()
    if not text:
        return render_page(
            request,
            "index.html",
            status=400,
            query=q,
            problem="Type something to search for.",
            examples=_examples(request),
        )
    rel = store.current()
    try:
        v = parse_variant_id(text, rel.reference if rel else None)
        return _redirect("/variant/" + quote(format_variant_id(v), safe=""))
    except InvalidVariantError as e:
        variant_problem = str(e)
    if is_hgvs(text):
        # An HGVS description is no region or gene: the parser's words say what is not supported.
        return render_page(
            request,
            "index.html",
            status=400,
            query=q,
            problem=f"HGVS: {variant_problem}.",
            examples=_examples(request),
        )
    single = _POSITION.match(text)
    if single or (":" in text and "-" in text.split(":", 1)[1]):
        # A lone position (chr1:55516888) is the one-base region at it: every allele there.
        try:
            chrom, start, end = parse_region(f"{text}-{single['pos']}" if single else text, settings)
        except APIError as e:
            return render_page(
                request,
                "index.html",
                status=400,
                query=q,
                problem=f"Region: {e.message}",
                examples=_examples(request),
            )
        return _redirect(f"/region/{chrom}:{start}-{end}")
    try:
        gene = find_gene(text)[0]
        return _redirect(
            "/gene/" + quote(gene.symbol if gene.symbol.upper() == text.upper() else text, safe="")
        )
    except GeneNotFoundError:
        pass
    problem = f"Could not read {text[:200]!r} as a variant id, a region or a gene in the GRCh38 gene table."
    if any(c.isdigit() for c in text):
        # Looks like an attempt at an id: the parser's own words say what is wrong with it.
        problem += f" As a variant id: {variant_problem}."
    return render_page(
        request, "index.html", status=400, query=q, problem=problem, examples=_examples(request)
    )


# --- variant ------------------------------------------------------------------------------


#: CSS class of the verdict box of each state (variantdb.seen.SEEN_STATES).
_VERDICT_KIND = {
    "seen": "seen",
    "seen_relatives_only": "seen",
    "seen_low_quality": "low_quality",
    "not_seen": "absent",
    "no_data": "no_data",
}


def _verdict(rec: dict[str, Any]) -> tuple[str, str, str]:
    """Return (kind, headline, sentence) of a record, in the words of :mod:`variantdb.seen`.

    The record is the one the caller may see (:func:`variantdb.api.auth.shape_record`): without
    counts (public) the sentence has no numbers; an imprecise AC (``"<5"``) is said
    as "fewer than 5", a withheld one (None) as withheld.
    """
    state = rec["state"]
    kind, headline = _VERDICT_KIND[state], STATE_HEADLINES[state]
    if "ac" not in rec:
        sentence = describe_state(state)
    else:
        sentence = describe_state(state, rec["ac"], rec["an"])
        if state == "seen" and isinstance(rec["ac"], int):
            sentence += f" (AF {_fmt_af(rec['af'])})"
        elif state in ("seen_low_quality", "seen_relatives_only") and ("raw" in rec or "all" in rec):
            sentence += "; see the raw and all-samples rows"
    sentence = sentence[0].upper() + sentence[1:] + "."
    if state == "no_data":
        sentence = sentence[:-1] + " (not covered, or not loaded), so absence says nothing."
    return kind, headline, sentence


def _beacon_href(request: Request, rec: dict[str, Any]) -> str | None:
    """Return the Beacon v2 g_variants query of a variant when the app serves Beacon, else None."""
    try:
        # By route name: routers included into the app are not listed in app.routes.
        path = request.app.url_path_for("get_g_variants")
    except NoMatchFound:
        return None
    # Beacon's start is 0-based; the record's pos is 1-based VCF POS.
    return (
        f"{path}?assemblyId=GRCh38&referenceName={quote(rec['chrom'].removeprefix('chr'))}"
        f"&start={rec['pos'] - 1}&referenceBases={quote(rec['ref'])}&alternateBases={quote(rec['alt'])}"
    )


def _strata_tables(rec: dict[str, Any]) -> list[tuple[str, list[dict[str, Any]], str]]:
    """Return (title, rows, AF chart) per kind of stratum: the table and the same AFs as bars beside it."""
    titles = {"sex": "By sex", "region": "By region", "patient_group": "By patient group"}
    out: dict[str, list[dict[str, Any]]] = {}
    for s in rec.get("strata") or []:
        out.setdefault(s["kind"], []).append(s)
    tables = []
    for i, (kind, rows) in enumerate(out.items(), start=1):
        title = titles.get(kind, kind)
        chart = af_bar_chart(
            [(str(s["value"]), s["af"]) for s in rows], f"AF {title.lower()}", f"chart-af-{i}"
        )
        tables.append((title, rows, chart))
    return tables


def _coverage_at(rel: OpenRelease, rec: dict[str, Any], role: Role, threshold: int) -> dict[str, Any]:
    """Return the samples with a confident call at the variant's position, by technology, as the role may see them.

    ``{"track": False}`` when the release has no coverage track, ``covered`` None where
    the track holds nothing at the position. Below granularity ``record`` the counts
    are protected as ``/v1/coverage`` protects them.
    """
    track = coverage_track(rel)
    if track is None:
        return {"track": False, "covered": None}
    covered = track.at(rec["chrom"], rec["pos"])
    if covered is not None and granularity(role) != "record":
        covered = protect_covered(covered, threshold)
    return {"track": True, "covered": covered}


def _links_out(rec: dict[str, Any]) -> list[tuple[str, str, str]]:
    """Return (name, URL, what it shows) of the same variant or position in gnomAD, ClinVar and dbSNP.

    Plain links (GRCh38, 1-based positions): the page loads nothing from them; a click leaves the service.
    """
    chrom = str(rec["chrom"]).removeprefix("chr")
    pos, ref, alt = rec["pos"], rec["ref"], rec["alt"]
    term = quote(f"{chrom}[chr] AND {pos}[chrpos38]", safe="")
    return [
        (
            "gnomAD v4",
            f"https://gnomad.broadinstitute.org/variant/{quote(f'{chrom}-{pos}-{ref}-{alt}', safe='')}"
            "?dataset=gnomad_r4",
            "the same variant",
        ),
        ("ClinVar", f"https://www.ncbi.nlm.nih.gov/clinvar/?term={term}", f"records at {chrom}:{pos}"),
        (
            "dbSNP",
            f"https://www.ncbi.nlm.nih.gov/snp/?term={quote(f'{chrom}[CHR] AND {pos}[CHRPOS]', safe='')}",
            f"records at {chrom}:{pos}",
        ),
    ]


@router.get("/variant/{variant_id:path}", response_class=HTMLResponse)
async def get_variant_page(
    request: Request,
    store: StoreDep,
    variant_id: str,
    release: Annotated[str | None, Query(max_length=64)] = None,
) -> Response:
    """Render one variant: seen / absent / no data, counts by group and stratum, the release to cite."""
    caller = caller_of(request)
    level = granularity(caller.role)
    try:
        rel = store.get(release)
        rec = record_for_query(rel, variant_id, strata=level == "record")
    except APIError as e:
        title = "Cannot read this variant id" if e.code == "invalid_variant" else "Not found"
        return error_page(request, e, title)
    rec = shape_record(rec, caller.role, caller.small_count_threshold)
    try:
        asked = page_verdicts(rel, rec, request.query_params, caller.role, caller.small_count_threshold)
    except APIError as e:
        return error_page(request, e, "Cannot compute these verdicts")
    note_granularity(request, level)
    kind, headline, sentence = _verdict(rec)
    lo, hi = rel.index.region_rows(rec["chrom"], rec["pos"], rec["pos"])
    others = [format_variant_id(rel.index.variant_at(r)) for r in range(lo, min(hi, lo + 20))]
    others = [o for o in others if o != rec["variant_id"]]
    groups = [("adj founders (headline)", rec)] + [
        (label, rec[key])
        for key, label in (("raw", "raw founders"), ("all", "adj, all samples"))
        if key in rec
    ]
    json_href = f"/v1/variants/{quote(rec['variant_id'], safe='')}?release={rel.id}"
    return render_page(
        request,
        "variant.html",
        rel=rel,
        rec=rec,
        kind=kind,
        headline=headline,
        sentence=sentence,
        groups=groups,
        strata=_strata_tables(rec),
        coverage=_coverage_at(rel, rec, caller.role, caller.small_count_threshold)
        if may_see_counts(caller.role)
        else None,
        links_out=_links_out(rec),
        others=others,
        json_href=json_href,
        beacon_href=_beacon_href(request, rec),
        region_href=f"/region/{rec['chrom']}:{max(1, rec['pos'] - 50)}-{rec['pos'] + 50}",
        verdict_groups=rel.layout.patient_groups(),
        verdict_group=asked.group.id.removeprefix("group_") if asked and asked.group else "",
        verdict_population=rec.get("verdict_population"),
    )


# --- region and gene ----------------------------------------------------------------------


def _plot_points(rel: OpenRelease, lo: int, hi: int) -> tuple[list[tuple[int, float | None, str]], bool]:
    """Return (pos, AF, id) of the region's rows for the plot, sampled evenly past MAX_PLOT_POINTS."""
    if hi <= lo:
        return [], False
    sampled = hi - lo > MAX_PLOT_POINTS
    rows = np.linspace(lo, hi - 1, MAX_PLOT_POINTS).astype(np.int64) if sampled else np.arange(lo, hi)
    # One vectorized read of the two headline columns instead of a record per row.
    vals = rel.index.values[rows]
    ac, an = vals["ac"].astype(np.float64), vals["an"].astype(np.float64)
    af = af_array(ac, an)
    out = []
    for row, f in zip(rows.tolist(), af.tolist(), strict=True):
        v = rel.index.variant_at(row)
        out.append((v.pos, None if math.isnan(f) else f, format_variant_id(v)))
    return out, sampled


def _page_numbers(settings: Settings, page: int, per_page: int | None) -> tuple[int, int]:
    size = settings.page_size if per_page is None else per_page
    if not 1 <= size <= settings.max_page_size:
        raise APIError(
            400, "invalid_limit", f"per_page must be between 1 and {settings.max_page_size}, got {size}"
        )
    if page < 1:
        raise APIError(400, "invalid_page", f"page must be 1 or more, got {page}")
    return page, size


def _region_page(
    request: Request,
    store: StoreDep,
    settings: Settings,
    release: str | None,
    chrom: str,
    start: int,
    end: int,
    page: int,
    per_page: int | None,
    gene: dict[str, Any] | None = None,
) -> HTMLResponse:
    page, size = _page_numbers(settings, page, per_page)
    rel = store.get(release)
    lo, hi = rel.index.region_rows(chrom, start, end)
    total = hi - lo
    n_pages = max(1, math.ceil(total / size))
    if page > n_pages:
        raise APIError(404, "invalid_page", f"page {page} is past the last page ({n_pages}) of this region")
    first = lo + (page - 1) * size
    caller = caller_of(request)
    # Every variant listed is one query of the daily budget, as on /v1/regions; the request paid for one.
    spend_queries(request, min(hi, first + size) - first - 1)
    rows = [
        shape_record(record_for_row(rel, row), caller.role, caller.small_count_threshold)
        for row in range(first, min(hi, first + size))
    ]
    note_granularity(request, granularity(caller.role))
    # The plot draws exact AFs: controlled only.
    show = may_see_strata(caller.role)
    plot, sampled = _plot_points(rel, lo, hi) if show else ([], False)
    label = gene["symbol"] if gene else f"{chrom}:{start:,}-{end:,}"
    base = request.url.path

    def href(p: int) -> str:
        extra = f"&per_page={size}" if per_page is not None else ""
        return f"{base}?page={p}&release={rel.id}{extra}"

    json_base = f"/v1/genes/{quote(gene['symbol'])}" if gene else f"/v1/regions/{chrom}:{start}-{end}"
    return render_page(
        request,
        "region.html",
        rel=rel,
        label=label,
        gene=gene,
        chrom=chrom,
        start=start,
        end=end,
        rows=rows,
        total=total,
        page=page,
        n_pages=n_pages,
        first_index=first - lo + 1,
        prev_href=href(page - 1) if page > 1 else None,
        next_href=href(page + 1) if page < n_pages else None,
        plot=af_plot(plot, start, end, f"Allele frequency by position, {label}") if plot else None,
        plot_sampled=sampled,
        plot_count=len(plot),
        json_href=f"{json_base}?release={rel.id}",
    )


@router.get("/region/{region}", response_class=HTMLResponse)
async def get_region_page(
    request: Request,
    store: StoreDep,
    settings: SettingsDep,
    region: str,
    page: int = 1,
    per_page: int | None = None,
    release: Annotated[str | None, Query(max_length=64)] = None,
) -> Response:
    """Render the variants of a region (1-based inclusive): a plot of AF by position and a paged table."""
    try:
        check_listing(request)
        chrom, start, end = parse_region(region, settings)
        return _region_page(request, store, settings, release, chrom, start, end, page, per_page)
    except APIError as e:
        return error_page(request, e, "Cannot show this region")


@router.get("/gene/{symbol}", response_class=HTMLResponse)
async def get_gene_page(
    request: Request,
    store: StoreDep,
    settings: SettingsDep,
    symbol: str,
    page: int = 1,
    per_page: int | None = None,
    release: Annotated[str | None, Query(max_length=64)] = None,
) -> Response:
    """Render the variants within a gene's span (the GRCh38 gene table shipped with variantdb)."""
    try:
        check_listing(request)
        gene = resolve_gene(symbol, settings)
        return _region_page(
            request, store, settings, release, gene["chrom"], gene["start"], gene["end"], page, per_page, gene
        )
    except APIError as e:
        return error_page(request, e, "Cannot show this gene")


# --- statistics ---------------------------------------------------------------------------


def _items(counts: Any) -> list[tuple[str, int | str | None]]:
    """Return (label, genomes) pairs; genomes may be ``"<5"`` or withheld (None) for a registered caller."""
    if not isinstance(counts, dict):
        return []
    return [
        (str(k), v)
        for k, v in counts.items()
        if (v is None or isinstance(v, int | str)) and not isinstance(v, bool)
    ]


def _sort_key(kv: tuple[str, int | str | None]) -> tuple[int, str]:
    n = kv[1]
    return (-n if isinstance(n, int) else 0, kv[0])


@router.get("/stats", response_class=HTMLResponse)
async def get_stats_page(
    request: Request,
    store: StoreDep,
    release: Annotated[str | None, Query(max_length=64)] = None,
) -> Response:
    """Render the genomes of a release by region, patient group, sex and month received, as charts and tables."""
    caller = caller_of(request)
    try:
        if not may_see_counts(caller.role):
            raise APIError(
                403,
                "forbidden",
                "genome statistics are counts of people: they need an API key (registered or controlled)",
            )
        rel = store.get(release)
    except APIError as e:
        return error_page(request, e, "Not available")
    stats = shape_stats(rel.meta.stats, caller.role, caller.small_count_threshold)
    stats = stats if isinstance(stats, dict) else {}
    note_granularity(request, granularity(caller.role))
    sections = []
    for key, title, ident in (
        ("by_region", "Genomes by region", "chart-region"),
        ("by_patient_group", "Genomes by patient group", "chart-group"),
        ("by_sex", "Genomes by sex", "chart-sex"),
        ("by_technology", "Genomes by sequencing technology", "chart-technology"),
    ):
        items = sorted(_items(stats.get(key)), key=_sort_key)
        if items:
            exact = [(k, v) for k, v in items if isinstance(v, int)]
            svg = bar_chart(exact, title, ident) if len(exact) == len(items) else None
            sections.append({"title": title, "rows": items, "svg": svg})
    months = sorted(_items(stats.get("by_month_received")))
    cumulative: list[tuple[str, int | str | None, int | str | None]] = []
    running: int | None = 0
    for month, n in months:
        running = running + n if isinstance(n, int) and running is not None else None
        cumulative.append((month, n, running))
    month_exact = [(m, n) for m, n in months if isinstance(n, int)]
    month_svg = (
        column_chart(month_exact, "Genomes received per month", "chart-month")
        if months and len(month_exact) == len(months)
        else None
    )
    return render_page(
        request,
        "stats.html",
        rel=rel,
        stats=stats,
        sections=sections,
        months=cumulative,
        month_svg=month_svg,
        batches=rel.meta.batches,
        json_href=f"/v1/stats?release={rel.id}",
    )


# --- assets -------------------------------------------------------------------------------


@router.get("/static/{name}")
async def get_static(name: str) -> Response:
    """Serve one of the bundled assets (:data:`STATIC_FILES`)."""
    media = STATIC_FILES.get(name)
    if media is None:
        raise APIError(404, "not_found", f"no such asset: /static/{name[:100]}")
    return Response(
        _STATIC_BYTES[name],
        media_type=media,
        headers={"Cache-Control": "public, max-age=3600", "X-Content-Type-Options": "nosniff"},
    )
