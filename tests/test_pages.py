"""The web pages (api/routes/pages.py, api/charts.py), in-process on a database built by the real loader."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient

from variantdb.api.charts import af_bar_chart, af_plot, bar_chart, column_chart
from variantdb.api.routes.pages import _fmt_af
from variantdb.release.index import ReleaseIndex
from variantdb.variant import Variant, format_variant_id, to_spdi

MANIFEST = Path(__file__).parent / "data" / "gvcf-1kg-chr22" / "manifest.tsv"


@pytest.fixture(scope="module")
def pages_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from variantdb.load import load_batch

    db = tmp_path_factory.mktemp("pages_db")
    load_batch(db, MANIFEST, batch_name="example")
    return db


@pytest.fixture(scope="module")
def client(pages_db: Path) -> Iterator[TestClient]:
    from variantdb.api.main import create_app

    with TestClient(create_app(pages_db)) as c:
        yield c


@pytest.fixture(scope="module")
def index(pages_db: Path) -> ReleaseIndex:
    return ReleaseIndex.open(pages_db / "releases" / (pages_db / "CURRENT").read_text().strip())


@pytest.fixture(scope="module")
def seen(index: ReleaseIndex) -> Variant:
    """The first variant of the release carried by an adj founder genotype."""
    ac = index.fields.index("ac")
    row = next(r for r in range(len(index)) if index.count_tuple(r)[ac] > 0)
    return index.variant_at(row)


def _absent(index: ReleaseIndex, v: Variant) -> Variant:
    for alt in "ACGT":
        if alt != v.ref and index.find(v.chrom, v.pos, v.ref, alt) is None:
            return Variant(v.chrom, v.pos, v.ref, alt)
    raise AssertionError("every SNV alt is loaded at this position")


def _alert(html: str) -> str:
    m = re.search(r'role="alert">([^<]*)<', html)
    assert m, "no message shown"
    return m.group(1)


def _html(client: TestClient, url: str, status: int = 200) -> str:
    r = client.get(url)
    assert r.status_code == status, (url, r.status_code, r.text[:300])
    assert r.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in r.headers["content-security-policy"]
    assert '<html lang="en">' in r.text
    return r.text


def _pages(seen: Variant) -> list[str]:
    return [
        "/",
        f"/variant/{format_variant_id(seen)}",
        f"/region/{seen.chrom}:{seen.pos - 5000}-{seen.pos + 5000}",
        "/gene/FRG1FP",
        "/stats",
    ]


# --- every page renders -----------------------------------------------------------------------


def test_every_page_renders_with_one_h1(client: TestClient, seen: Variant) -> None:
    for url in _pages(seen):
        html = _html(client, url)
        assert html.count("<h1") == 1, url
        assert "Release to cite" in html, url


def test_pages_are_not_in_the_openapi_document(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert not [p for p in paths if not p.startswith(("/v1", "/health", "/metrics", "/beacon/v2"))]


def test_unknown_v1_paths_keep_the_json_error_shape(client: TestClient) -> None:
    for url in ("/v1/nope", "/v1/variants/not-a-variant", "/v1/regions/chr22:5-1", "/static/missing.css"):
        r = client.get(url)
        assert r.status_code in (400, 404), url
        assert r.headers["content-type"] == "application/json", url
        assert set(r.json()["error"]) == {"status", "code", "message", "details"}, url


# --- search -----------------------------------------------------------------------------------


def test_search_redirects_every_id_form_to_the_variant_page(client: TestClient, seen: Variant) -> None:
    bare = seen.chrom.removeprefix("chr")
    forms = [
        f"{bare}-{seen.pos}-{seen.ref}-{seen.alt}",
        f"{seen.chrom}-{seen.pos}-{seen.ref}-{seen.alt}",
        f"{seen.chrom}:{seen.pos}:{seen.ref}:{seen.alt}",
        f"{seen.chrom}:{seen.pos} {seen.ref}>{seen.alt}",
        to_spdi(seen),
        f"  {bare}-{seen.pos}-{seen.ref}-{seen.alt}  ",
    ]
    for text in forms:
        r = client.get("/search", params={"q": text}, follow_redirects=False)
        assert r.status_code == 303, text
        assert r.headers["location"] == f"/variant/{format_variant_id(seen)}", text


def test_search_redirects_regions_and_genes(client: TestClient) -> None:
    expected = {
        "chr22:10670000-10680000": "/region/chr22:10670000-10680000",
        "22:10,670,000-10,680,000": "/region/chr22:10670000-10680000",
        "frg1fp": "/gene/FRG1FP",
        "MYH7": "/gene/MYH7",
        "ENSG00000092054": "/gene/ENSG00000092054",
    }
    for text, location in expected.items():
        r = client.get("/search", params={"q": text}, follow_redirects=False)
        assert (r.status_code, r.headers.get("location")) == (303, location), text


def test_search_says_what_it_cannot_read(client: TestClient) -> None:
    html = _html(client, "/search?q=" + quote("not a thing"), 400)
    assert "Could not read &#39;not a thing&#39; as a variant id, a region or a gene" in _alert(html)
    # An attempted id gets the parser's own explanation.
    assert "As a variant id:" in _alert(_html(client, "/search?q=chr22-100-X-Y", 400))
    assert "Type something" in _alert(_html(client, "/search?q=", 400))
    too_big = _alert(_html(client, "/search?q=chr22:1-40000000", 400))
    assert "Region:" in too_big and "limit" in too_big


# --- variant page -----------------------------------------------------------------------------


def test_variant_page_tells_seen_absent_and_no_data_apart(
    client: TestClient, index: ReleaseIndex, seen: Variant
) -> None:
    rec = client.get(f"/v1/variants/{format_variant_id(seen)}").json()
    html = _html(client, f"/variant/{format_variant_id(seen)}")
    assert '<h2 id="verdict">Seen</h2>' in html
    # The page says what the JSON says (variantdb.seen's words), capitalized.
    assert rec["state"] == "seen" and rec["message"] == f"seen: {rec['ac']:,} of {rec['an']:,} called alleles"
    assert "S" + rec["message"][1:] in html

    absent = _absent(index, seen)
    an = client.get(f"/v1/variants/{format_variant_id(absent)}").json()["an"]
    assert an > 0
    html = _html(client, f"/variant/{format_variant_id(absent)}")
    assert '<h2 id="verdict">Not seen</h2>' in html
    assert f"Absent among {an:,} called alleles" in html

    html = _html(client, "/variant/1-55516888-G-GA")
    assert '<h2 id="verdict">No data here</h2>' in html


def test_variant_page_shows_strata_release_and_links(client: TestClient, seen: Variant) -> None:
    vid = format_variant_id(seen)
    html = _html(client, f"/variant/{vid}")
    for heading in ("By sex", "By region", "By patient group", "Frequencies"):
        assert f">{heading}</h2>" in html, heading
    release = client.get("/v1/releases").json()["current"]
    assert f"variantdb {release}" in html
    href = re.search(r'<a href="([^"]+)">JSON record</a>', html)
    assert href
    r = client.get(href.group(1).replace("&amp;", "&"))
    assert r.status_code == 200 and r.json()["variant_id"] == vid
    assert "Beacon v2 form" in html


def test_variant_page_charts_af_by_stratum_beside_the_table(client: TestClient, seen: Variant) -> None:
    vid = format_variant_id(seen)
    html = _html(client, f"/variant/{vid}")
    rec = client.get(f"/v1/variants/{vid}").json()
    by_region = [s for s in rec["strata"] if s["kind"] == "region"]
    section = html[html.index(">By region</h2>") :]
    section = section[: section.index("</section>")]
    # The table and the chart sit in one row; the chart names every stratum and its AF.
    assert '<div class="chart-row">' in section and "<table" in section and "<svg" in section
    desc = re.search(r'<desc id="chart-af-\d-desc">([^<]*)</desc>', section)
    assert desc
    for s in by_region:
        shown = "no data" if s["af"] is None else _fmt_af(s["af"])
        assert f"{s['value']}: AF {shown}" in desc.group(1), s


def test_variant_page_shows_coverage_at_the_position(
    client: TestClient, pages_db: Path, seen: Variant
) -> None:
    from variantdb.release.coverage import CoverageTrack
    from variantdb.release.files import read_current, read_release_meta

    rid = read_current(pages_db)
    assert rid is not None
    coverage = read_release_meta(pages_db, rid).coverage
    assert coverage is not None
    track = CoverageTrack(pages_db / "releases" / rid, coverage.n_samples)
    covered = track.at(seen.chrom, seen.pos)
    assert covered is not None and covered["all"] > 0
    html = _html(client, f"/variant/{format_variant_id(seen)}")
    block = html[html.index('id="coverage-at"') :]
    block = block[: block.index("</dd>")]
    assert f"{covered['all']:,} samples with a confident call at {seen.chrom}:{seen.pos:,}" in block
    # The same figure as the coverage route.
    assert client.get(f"/v1/coverage/{seen.chrom}:{seen.pos}").json()["covered"]["all"] == covered["all"]


def test_variant_page_links_out_to_gnomad_clinvar_and_dbsnp(client: TestClient, seen: Variant) -> None:
    html = _html(client, f"/variant/{format_variant_id(seen)}")
    chrom = seen.chrom.removeprefix("chr")
    links = re.findall(r'<a href="(https://[^"]+)" rel="noopener noreferrer external">([^<]+)</a>', html)
    assert [name for _, name in links] == ["gnomAD v4", "ClinVar", "dbSNP"]
    hrefs = [h.replace("&amp;", "&") for h, _ in links]
    assert hrefs[0] == (
        f"https://gnomad.broadinstitute.org/variant/{chrom}-{seen.pos}-{seen.ref}-{seen.alt}?dataset=gnomad_r4"
    )
    assert (
        hrefs[1]
        == f"https://www.ncbi.nlm.nih.gov/clinvar/?term={chrom}%5Bchr%5D%20AND%20{seen.pos}%5Bchrpos38%5D"
    )
    assert (
        hrefs[2] == f"https://www.ncbi.nlm.nih.gov/snp/?term={chrom}%5BCHR%5D%20AND%20{seen.pos}%5BCHRPOS%5D"
    )


def test_variant_page_shows_the_verdicts_below_the_counts(client: TestClient, seen: Variant) -> None:
    html = _html(client, f"/variant/{format_variant_id(seen)}")
    assert html.count('id="verdicts"') == 1
    assert html.index("Frequency verdicts") > html.index("coverage-at")


def test_af_bar_chart_draws_no_data_as_words() -> None:
    svg = af_bar_chart([("Hovedstaden", 0.25), ("Sjælland", 0.0), ("Nord", None)], "AF by region", "c9")
    assert svg.count("<rect") == 2 and ">no data</text>" in svg and ">0.2500</text>" in svg
    assert "Nord: AF no data" in svg


def test_variant_page_explains_an_id_it_cannot_read(client: TestClient) -> None:
    html = _html(client, "/variant/chr22-100-X-Y", 400)
    assert "Cannot read this variant id" in html
    assert "chr22-100-X-Y" in _alert(html)


# --- region and gene pages --------------------------------------------------------------------


def _rows(html: str) -> list[str]:
    return re.findall(r'<a class="mono" href="/variant/([^"?]+)\?', html)


def test_region_page_pages_through_every_variant_once(client: TestClient, seen: Variant) -> None:
    region = f"{seen.chrom}:10500000-12700000"
    total = client.get(f"/v1/regions/{region}", params={"limit": 1}).json()["total"]
    assert total > 50
    html = _html(client, f"/region/{region}?per_page=50")
    assert '<svg xmlns="http://www.w3.org/2000/svg" class="chart"' in html
    assert html.count("<circle") == total
    seen_ids: list[str] = []
    url: str | None = f"/region/{region}?per_page=50"
    pages = 0
    while url:
        html = _html(client, url)
        seen_ids += _rows(html)
        pages += 1
        m = re.search(r'<a href="([^"]+)" rel="next">', html)
        url = m.group(1).replace("&amp;", "&") if m else None
    assert pages == -(-total // 50)
    assert len(seen_ids) == len(set(seen_ids)) == total
    assert "Previous page</a>" in html and "Next page</span>" in html


def test_region_page_errors_are_pages(client: TestClient) -> None:
    assert "page 99 is past the last page" in _alert(
        _html(client, "/region/chr22:10670000-10680000?page=99", 404)
    )
    assert "limit" in _alert(_html(client, "/region/chr22:1-40000000", 400))
    assert "not CHROM:START-END" in _alert(_html(client, "/region/chr22:x-y", 400))
    assert "per_page" in _alert(_html(client, "/region/chr22:1-100?per_page=0", 400))


def test_gene_page_lists_the_genes_variants(client: TestClient) -> None:
    api = client.get("/v1/genes/FRG1FP", params={"limit": 1000}).json()
    html = _html(client, "/gene/FRG1FP")
    assert "Gene <span" in html and api["gene"]["gene_id"] in html
    assert _rows(html) == [quote(d["variant_id"], safe="") for d in api["data"]][:100]
    assert "<svg" in html
    assert "is not in the GRCh38 gene table" in _alert(_html(client, "/gene/NOSUCHGENE1", 404))


def test_an_empty_region_says_so(client: TestClient) -> None:
    html = _html(client, "/region/chr1:1000-2000")
    assert "No variants in this release lie here." in html


# --- statistics -------------------------------------------------------------------------------


def test_stats_page_has_charts_and_the_numbers_beside_them(client: TestClient) -> None:
    stats = client.get("/v1/stats").json()["stats"]
    html = _html(client, "/stats")
    assert html.count("<svg") >= 4
    for key in ("by_region", "by_patient_group", "by_sex", "by_month_received"):
        for label, n in stats[key].items():
            assert f'<th scope="row">{label}</th><td class="num">{n:,}</td>' in html, (key, label)


# --- nothing from outside -----------------------------------------------------------------------

_SVG_NS = "http://www.w3.org/2000/svg"


#: The only other hosts a page names: plain links out of the variant page (a click, never a load).
_LINK_OUT = re.compile(
    r'<a href="https://(?:gnomad\.broadinstitute\.org|www\.ncbi\.nlm\.nih\.gov)/[^"]*" rel="noopener noreferrer external">'
)


def _external(text: str) -> list[str]:
    text = _LINK_OUT.sub("", text)
    return [u for u in re.findall(r"(?:https?:)?//[\w.-]+[^\s\"'<>)]*", text) if u != _SVG_NS]


def test_no_served_page_or_asset_names_another_host(client: TestClient, seen: Variant) -> None:
    urls = [*_pages(seen), "/search?q=nothing", "/variant/bad-id"]
    assets: set[str] = set()
    for url in urls:
        html = client.get(url).text
        assert _external(html) == [], url
        for ref in re.findall(r'(?:src|href|action)="([^"]*)"', _LINK_OUT.sub("", html)):
            assert ref.startswith(("/", "#", "?")) and not ref.startswith("//"), (url, ref)
            if ref.startswith("/static/"):
                assets.add(ref)
    assert assets == {"/static/style.css", "/static/sort.js"}
    for asset in assets:
        body = client.get(asset).text
        assert _external(body) == [], asset
        assert "@import" not in body and "url(" not in body, asset


# --- who sees what ------------------------------------------------------------------------------


def test_a_public_visitor_sees_seen_or_not_only(pages_db: Path, seen: Variant) -> None:
    from variantdb.api.main import create_app

    with TestClient(create_app(pages_db, anonymous_role="public")) as public:
        html = _html(public, f"/variant/{format_variant_id(seen)}")
        assert '<h2 id="verdict">Seen</h2>' in html
        assert "called alleles" not in html and ">AC<" not in html and "By region" not in html
        # A listing names every variant of a region: refused without a key (issue 6).
        r = public.get(f"/region/{seen.chrom}:{seen.pos - 5000}-{seen.pos + 5000}")
        assert r.status_code == 403
        assert "<svg" not in r.text and ">AF</button>" not in r.text and format_variant_id(seen) not in r.text
        assert "API key" in r.text


# --- charts -------------------------------------------------------------------------------------


def test_af_plot_puts_zero_and_missing_af_in_their_own_bands() -> None:
    svg = af_plot([(100, 0.5, "a"), (150, 0.001, "b"), (200, 0.0, "c"), (300, None, "d")], 100, 300, "t")
    cy = {m[1]: float(m[0]) for m in re.findall(r'cy="([\d.]+)"[^>]*><title>(\w): ', svg)}
    assert cy["a"] < cy["b"] < cy["c"] < cy["d"]
    assert ">1e-3</text>" in svg and ">AC 0</text>" in svg and ">no data</text>" in svg


def test_charts_escape_labels_and_show_values() -> None:
    svg = bar_chart([("<b>x</b>", 1234), ("y", 0)], "T & U", "c1")
    assert "<b>" not in svg and "&lt;b&gt;x&lt;/b&gt;" in svg and "T &amp; U" in svg
    assert ">1,234</text>" in svg
    assert 'role="img"' in svg and 'aria-labelledby="c1-title c1-desc"' in svg
    col = column_chart([("2026-01", 5), ("2026-02", 7)], "months", "c2")
    assert ">2026-02</text>" in col and ">7</text>" in col
    assert bar_chart([], "empty", "c3").endswith("</svg>")


def test_every_example_on_the_search_page_leads_to_a_page(client: TestClient) -> None:
    html = _html(client, "/")
    links = re.findall(r'href="(/search\?q=[^"]+)"', html)
    assert len(links) == 6
    for link in links:
        r = client.get(link.replace("&amp;", "&"))
        assert r.status_code == 200, (link, r.text[:300])
        assert "<h1" in r.text


def test_a_lone_position_searches_every_allele_there(client: TestClient, seen: Variant) -> None:
    r = client.get("/search", params={"q": f"{seen.chrom}:{seen.pos}"}, follow_redirects=False)
    assert r.headers["location"] == f"/region/{seen.chrom}:{seen.pos}-{seen.pos}"
    assert format_variant_id(seen) in _html(client, r.headers["location"])


def test_an_absent_variant_names_the_alleles_seen_at_its_position(
    client: TestClient, index: ReleaseIndex, seen: Variant
) -> None:
    html = _html(client, f"/variant/{format_variant_id(_absent(index, seen))}")
    assert "Other alleles at this position" in html and format_variant_id(seen) in html


def test_pages_before_any_release(tmp_path: Path) -> None:
    from variantdb.api.main import create_app

    with TestClient(create_app(tmp_path)) as c:
        assert "No release is published yet" in _html(c, "/")
        for url in ("/variant/1-55516888-G-GA", "/stats", "/region/chr1:1-100", "/gene/MYH7"):
            assert "no release is published" in _alert(_html(c, url, 404)), url
        assert c.get("/search", params={"q": "1-55516888-G-GA"}, follow_redirects=False).status_code == 303


def test_af_plot_of_a_one_base_region() -> None:
    svg = af_plot([(500, 0.25, "x")], 500, 500, "one base")
    assert svg.count("<circle") == 1 and ">500</text>" in svg


def test_what_a_visitor_types_is_escaped(client: TestClient) -> None:
    evil = '"><script>alert(1)</script>'
    for html in (
        _html(client, "/search?q=" + quote(evil), 400),
        _html(client, "/variant/" + quote(evil, safe=""), 400),
    ):
        assert "<script>alert" not in html and "&lt;script&gt;alert(1)" in html
    # A path segment cannot hold "/", so the gene page gets a tag without one.
    html = _html(client, "/gene/" + quote("<img src=x onerror=alert(1)>", safe=""), 404)
    assert "<img src=x" not in html and "&lt;img src=x" in html


def test_the_readme_example_variant_has_a_meaningful_an(client: TestClient, pages_db: Path) -> None:
    import pyarrow.dataset as ds

    readme = (Path(__file__).parent.parent / "README.md").read_text()
    ids = set(re.findall(r"/v1/variants/([\w-]+)`", readme))
    assert len(ids) == 1, ids
    rec = client.get(f"/v1/variants/{ids.pop()}").json()
    rid = (pages_db / "CURRENT").read_text().strip()
    top = max(
        ds.dataset(pages_db / "releases" / rid / "variants").to_table(columns=["an"]).column("an").to_pylist()
    )
    assert rec["ac"] > 5 and rec["an"] >= 0.9 * top, (rec["ac"], rec["an"], top)
    # What the README says of it.
    assert f"seen {rec['ac']} times among {rec['an']} called alleles" in readme
    assert f"at most {top}" in readme
