"""The web pages driven in headless Chromium: search, a variant, paging a region, statistics, axe-core.

Also signing in and out (on a second server whose keyless callers are ``public``, as
deployed), no link that leads a role to a 403, and the variant page on a 390 px phone.

Runs ``variantdb serve`` on a free 127.0.0.1 port against a database built by
the real loader from ``tests/data/gvcf-1kg-chr22``, and takes screenshots of
each page: into a temporary folder by default, and into ``docs/screenshots/``
(the ones the README shows, which are tracked) only when asked with
``VARIANTDB_UPDATE_SCREENSHOTS=1``. Needs the Debian package
``chromium`` (``/usr/bin/chromium``; Playwright never downloads a browser here),
``pip install playwright``, and for the accessibility check
``npm ci --prefix tests/browser`` (axe-core). Each missing piece skips with
its reason.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from variantdb.release.index import ReleaseIndex
from variantdb.variant import Variant, format_variant_id

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
MANIFEST = ROOT / "tests" / "data" / "gvcf-1kg-chr22" / "manifest.tsv"
CHROMIUM = Path("/usr/bin/chromium")
AXE = ROOT / "tests" / "browser" / "node_modules" / "axe-core" / "axe.min.js"
SHOTS = ROOT / "docs" / "screenshots"
#: Set to 1 to regenerate the README's screenshots (tracked files) instead of writing to a temporary folder.
UPDATE_SHOTS = "VARIANTDB_UPDATE_SCREENSHOTS"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
REGION = "chr22:10500000-12700000"

if not CHROMIUM.exists() and os.environ.get("CI"):
    # .ci/run installs Chromium: in CI a missing browser is a failure, not a skip.
    raise RuntimeError(
        "CI needs /usr/bin/chromium for the browser tests: apt-get install -y chromium chromium-driver"
    )
if not CHROMIUM.exists():
    pytest.skip(
        "needs /usr/bin/chromium: apt-get install -y chromium chromium-driver", allow_module_level=True
    )
sync_api = pytest.importorskip(
    "playwright.sync_api", reason="needs Playwright for Python: pip install playwright (no browser download)"
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def browser_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from variantdb.load import load_batch

    db = tmp_path_factory.mktemp("browser_db")
    load_batch(db, MANIFEST, batch_name="example")
    return db


@pytest.fixture(scope="module")
def base_url(browser_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``variantdb serve`` on a free local port, stopped after the module (callers without a key: controlled)."""
    yield from _serve(browser_db, tmp_path_factory, {})


@pytest.fixture(scope="module")
def public_url(
    browser_db: Path, keys: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """The same database served as deployed: a browser that has not signed in is ``public``."""
    yield from _serve(browser_db, tmp_path_factory, {"VARIANTDB_ANONYMOUS_ROLE": "public"})


def _serve(db: Path, tmp_path_factory: pytest.TempPathFactory, env: dict[str, str]) -> Iterator[str]:
    exe = Path(sys.executable).with_name("variantdb")
    if not exe.exists():
        pytest.skip(f"the variantdb command is not installed beside {sys.executable} (pip install -e .)")
    port = _free_port()
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(exe), "serve", "--db", str(db), "--host", "127.0.0.1", "--port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONWARNINGS": "ignore", **env},
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"variantdb serve did not start: {log.read_text()[-2000:]}") from None
                time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


class _Watch:
    """What a page did that it must not: requests to other hosts, console errors (CSP), script errors."""

    def __init__(self) -> None:
        self.outside: list[str] = []
        self.errors: list[str] = []


@pytest.fixture
def page(browser: Any, base_url: str) -> Iterator[tuple[Any, _Watch]]:
    yield from _page(browser, base_url, {"width": 1200, "height": 900})


@pytest.fixture
def public_page(browser: Any, public_url: str) -> Iterator[tuple[Any, _Watch]]:
    """A browser on the public deployment, not signed in."""
    yield from _page(browser, public_url, {"width": 1200, "height": 900})


@pytest.fixture
def phone_page(browser: Any, public_url: str) -> Iterator[tuple[Any, _Watch]]:
    """A 390 px wide phone screen on the public deployment, not signed in."""
    yield from _page(browser, public_url, {"width": 390, "height": 844})


def _page(browser: Any, base_url: str, viewport: dict[str, int]) -> Iterator[tuple[Any, _Watch]]:
    context = browser.new_context(viewport=viewport, base_url=base_url)
    watch = _Watch()
    local = urlsplit(base_url).netloc

    def guard(route: Any) -> None:
        if urlsplit(route.request.url).netloc == local:
            route.continue_()
        else:
            watch.outside.append(route.request.url)
            route.abort()

    context.route("**/*", guard)
    pg = context.new_page()
    pg.on("console", lambda m: watch.errors.append(m.text) if m.type == "error" else None)
    pg.on("pageerror", lambda e: watch.errors.append(str(e)))
    yield pg, watch
    context.close()
    assert watch.outside == [], "a page asked another host"
    # An HTML error page (400/404) logs the failed load itself; anything else is a defect.
    real = [e for e in watch.errors if "Failed to load resource" not in e]
    assert real == [], real


@pytest.fixture(scope="module")
def seen(browser_db: Path) -> Variant:
    index = ReleaseIndex.open(browser_db / "releases" / (browser_db / "CURRENT").read_text().strip())
    ac = index.fields.index("ac")
    row = next(r for r in range(len(index)) if index.count_tuple(r)[ac] > 0)
    return index.variant_at(row)


_shots_dir: list[Path] = []


@pytest.fixture(scope="module", autouse=True)
def shots_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Where screenshots go: ``docs/screenshots`` only with ``VARIANTDB_UPDATE_SCREENSHOTS=1``."""
    folder = SHOTS if os.environ.get(UPDATE_SHOTS) == "1" else tmp_path_factory.mktemp("screenshots")
    _shots_dir.append(folder)
    yield folder
    _shots_dir.remove(folder)


def _shot(pg: Any, name: str) -> None:
    folder = _shots_dir[-1]
    folder.mkdir(parents=True, exist_ok=True)
    pg.screenshot(path=str(folder / name), full_page=True)


def test_search_and_open_a_variant(page: tuple[Any, _Watch], seen: Variant) -> None:
    pg, _ = page
    pg.goto("/")
    typed = f"{seen.chrom}:{seen.pos}:{seen.ref}:{seen.alt}"
    pg.get_by_label("Variant, region or gene", exact=True).fill(typed)
    _shot(pg, "search.png")
    pg.get_by_role("button", name="Search").last.click()
    pg.wait_for_url(f"**/variant/{format_variant_id(seen)}")
    assert pg.locator("h1").inner_text() == f"Variant {format_variant_id(seen)}"
    assert pg.locator("#verdict").inner_text() == "Seen"
    assert "Release to cite" in pg.locator(".cite-line").inner_text()
    _shot(pg, "variant.png")
    pg.get_by_role("link", name="JSON record").click()
    assert f'"variant_id":"{format_variant_id(seen)}"' in pg.content()


def test_search_explains_what_it_cannot_read(page: tuple[Any, _Watch]) -> None:
    pg, _ = page
    pg.goto("/")
    pg.get_by_label("Variant, region or gene", exact=True).fill("chr22-100-X-Y")
    pg.keyboard.press("Enter")
    pg.wait_for_url("**/search?q=*")
    alert = pg.get_by_role("alert")
    assert "Could not read" in alert.inner_text()
    assert pg.locator("#q").get_attribute("aria-invalid") == "true"


def test_page_through_a_region_and_sort_it(page: tuple[Any, _Watch]) -> None:
    pg, _ = page
    pg.goto("/")
    pg.get_by_label("Variant, region or gene", exact=True).fill(REGION)
    pg.keyboard.press("Enter")
    pg.wait_for_url(f"**/region/{REGION}")
    assert pg.locator("svg#af-plot circle").count() > 100
    first_page = pg.locator("#variants tbody tr").all_inner_texts()
    assert len(first_page) == 100
    pg.get_by_role("link", name="Next page").click()
    pg.wait_for_url("**page=2*")
    assert "Variants 101\u2013200" in pg.locator("#variants caption").inner_text()
    assert not set(first_page) & set(pg.locator("#variants tbody tr").all_inner_texts())
    pg.get_by_role("link", name="Previous page").click()
    pg.wait_for_url("**page=1*")

    pg.goto(f"/region/{REGION}?per_page=15")
    af = pg.get_by_role("button", name="AF", exact=True)
    af.click()
    af.click()  # second press: descending, the common variants first
    header = pg.locator("th", has=af)
    assert header.get_attribute("aria-sort") == "descending"
    values = [
        float(v)
        for v in pg.locator("#variants tbody td:nth-child(5)").evaluate_all(
            "cells => cells.map(c => c.dataset.value)"
        )
    ]
    assert values == sorted(values, reverse=True)
    _shot(pg, "region.png")


def test_gene_page(page: tuple[Any, _Watch]) -> None:
    pg, _ = page
    pg.goto("/search?q=frg1fp")
    pg.wait_for_url("**/gene/FRG1FP")
    assert pg.locator("h1").inner_text() == "Gene FRG1FP"
    assert pg.locator("svg#af-plot").count() == 1
    _shot(pg, "gene.png")


def test_statistics_page(page: tuple[Any, _Watch]) -> None:
    pg, _ = page
    pg.goto("/")
    pg.get_by_role("link", name="Statistics").click()
    pg.wait_for_url("**/stats")
    assert pg.locator("svg.chart").count() >= 4
    assert pg.locator("table").count() >= 4
    _shot(pg, "stats.png")


_AXE_PAGES = [
    "/",
    "/search?q=nonsense",
    "/variant/{seen}",
    "/variant/1-55516888-G-GA",
    f"/region/{REGION}?per_page=20",
    "/gene/FRG1FP",
    "/stats",
    "/region/chr22:x-y",
]


def test_no_serious_accessibility_violations(page: tuple[Any, _Watch], seen: Variant) -> None:
    if not AXE.exists():
        assert not os.environ.get("CI"), f"CI needs axe-core ({AXE}): npm ci --prefix tests/browser"
        pytest.skip(f"axe-core is not installed ({AXE}): npm ci --prefix tests/browser")
    pg, _ = page
    source = AXE.read_text()
    problems = []
    for url in _AXE_PAGES:
        pg.goto(url.format(seen=format_variant_id(seen)))
        # evaluate() runs in the page without an inline <script>, so the pages' CSP stays on.
        pg.evaluate(source)
        result = pg.evaluate(
            "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
            ".map(v => ({id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.length}))"
        )
        problems += [(url, v) for v in result if v["impact"] in ("serious", "critical")]
    assert problems == []


# --- signing in, role-aware pages, a phone screen -----------------------------------------------


@pytest.fixture(scope="module")
def keys(browser_db: Path) -> dict[str, str]:
    """A registered and a controlled key of the browser database, by role."""
    from variantdb.keys import KeyStore

    store = KeyStore(browser_db)
    return {role: store.create(role, f"lab {role}")[0] for role in ("registered", "controlled")}


def _sign_in(pg: Any, key: str, start: str = "/") -> None:
    pg.goto(start)
    pg.get_by_role("banner").get_by_role("link", name="Sign in", exact=True).click()
    pg.wait_for_url(lambda url: "/signin?next=" in url)
    pg.get_by_label("API key").fill(key)
    pg.get_by_role("button", name="Sign in").last.click()
    pg.wait_for_load_state()
    assert urlsplit(pg.url).path == urlsplit(start).path, pg.locator("main").inner_text()


def test_sign_in_shows_the_role_and_sign_out_ends_it(
    public_page: tuple[Any, _Watch], keys: dict[str, str], seen: Variant
) -> None:
    pg, _ = public_page
    vid = format_variant_id(seen)
    pg.goto(f"/variant/{vid}")
    assert pg.locator(".role").inner_text() == "Public view"
    assert pg.get_by_role("link", name="Statistics").count() == 0
    assert pg.get_by_role("link", name="Variants nearby").count() == 0
    _shot(pg, "public-variant.png")
    _sign_in(pg, keys["registered"], f"/variant/{vid}")
    assert "Signed in as lab registered (registered)" in pg.locator(".account").inner_text()
    assert pg.get_by_role("link", name="Statistics").count() == 1
    assert pg.locator("#summary").inner_text() == "Frequencies"
    cookie = next(c for c in pg.context.cookies() if c["name"] == "variantdb_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert keys["registered"].split("_")[-1] not in cookie["value"]
    _shot(pg, "signed-in-variant.png")
    pg.get_by_role("button", name="Sign out").click()
    pg.wait_for_url("**/")
    assert pg.locator(".role").inner_text() == "Public view"
    assert not [c for c in pg.context.cookies() if c["name"] == "variantdb_session" and c["value"]]
    # The old session does not come back.
    pg.goto("/stats")
    assert "API key" in pg.content()


def test_a_wrong_key_is_said_on_the_form(public_page: tuple[Any, _Watch]) -> None:
    pg, _ = public_page
    pg.goto("/signin")
    pg.get_by_label("API key").fill("vdb_nope_nope")
    pg.get_by_role("button", name="Sign in").last.click()
    assert pg.get_by_role("alert").count() == 1
    assert pg.locator("#key").get_attribute("aria-invalid") == "true"


def _links(pg: Any) -> list[str]:
    hrefs: list[str] = pg.locator("a[href]").evaluate_all("as => as.map(a => a.getAttribute('href'))")
    return [h for h in hrefs if h.startswith("/") and not h.startswith("//")]


@pytest.mark.parametrize("role", ["public", "registered", "controlled"])
def test_no_link_leads_a_role_to_a_403(
    public_page: tuple[Any, _Watch], keys: dict[str, str], seen: Variant, role: str
) -> None:
    pg, _ = public_page
    if role != "public":
        _sign_in(pg, keys[role])
    starts = ["/", f"/variant/{format_variant_id(seen)}", "/signin"]
    if role != "public":
        starts += [f"/region/{REGION}?per_page=20", "/gene/FRG1FP", "/stats"]
    checked: dict[str, int] = {}
    for start in starts:
        response = pg.goto(start)
        assert response.status != 403, start
        for href in _links(pg)[:80]:
            if href not in checked:
                checked[href] = pg.request.get(href, max_redirects=5).status
    refused = {h: s for h, s in checked.items() if s == 403}
    assert refused == {}, role
    assert len(checked) > 5


def test_the_variant_page_on_a_390px_phone(
    phone_page: tuple[Any, _Watch], keys: dict[str, str], seen: Variant
) -> None:
    pg, _ = phone_page
    _sign_in(pg, keys["controlled"], f"/variant/{format_variant_id(seen)}")
    # The page never scrolls sideways; wide tables scroll inside their own box.
    assert pg.evaluate("document.documentElement.scrollWidth") <= 390
    charts = pg.locator("figure.af-chart svg")
    assert charts.count() == 3
    for i in range(charts.count()):
        box = charts.nth(i).bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390
    assert "samples with a confident call" in pg.locator("#coverage-at").inner_text()
    for name in ("gnomAD v4", "ClinVar", "dbSNP"):
        link = pg.get_by_role("link", name=name)
        assert link.count() == 1 and link.get_attribute("href").startswith("https://")
    assert pg.locator("#verdicts").count() == 1
    _shot(pg, "variant-390.png")
    _axe_clean(pg, [f"/variant/{format_variant_id(seen)}", "/", "/stats", f"/region/{REGION}?per_page=20"])


def test_frequency_verdicts_for_a_patient_group(
    phone_page: tuple[Any, _Watch], keys: dict[str, str], seen: Variant
) -> None:
    """A signed-in lab picks the patient's group and reads the verdict per disease; public sees none."""
    pg, _ = phone_page
    vid = format_variant_id(seen)
    _sign_in(pg, keys["controlled"], f"/variant/{vid}")
    section = pg.locator("section[aria-labelledby=verdicts]")
    assert section.count() == 1 and "Frequency verdicts" in section.inner_text()
    pg.select_option("select[name=patient_group]", "hereditary_heart")
    pg.locator("form.verdict-form button[type=submit], form.verdict-form input[type=submit]").first.click()
    pg.wait_for_load_state()
    text = pg.locator("section[aria-labelledby=verdicts]").inner_text()
    assert "Hypertrophic cardiomyopathy" in text and "Hereditary heart disease" in text
    assert "patient_group=hereditary_heart" in pg.url
    _axe_clean(pg, [pg.url, "/diff"])


def test_public_sees_no_verdicts(public_page: tuple[Any, _Watch], seen: Variant) -> None:
    pg, _ = public_page
    pg.goto(f"/variant/{format_variant_id(seen)}")
    assert pg.locator("section[aria-labelledby=verdicts]").count() == 0


def test_public_pages_and_sign_in_are_axe_clean(public_page: tuple[Any, _Watch], seen: Variant) -> None:
    pg, _ = public_page
    _axe_clean(pg, ["/", f"/variant/{format_variant_id(seen)}", "/signin", "/signin?next=/stats"])


def _axe_clean(pg: Any, urls: list[str]) -> None:
    if not AXE.exists():
        assert not os.environ.get("CI"), f"CI needs axe-core ({AXE}): npm ci --prefix tests/browser"
        pytest.skip(f"axe-core is not installed ({AXE}): npm ci --prefix tests/browser")
    source = AXE.read_text()
    problems = []
    for url in urls:
        pg.goto(url)
        pg.evaluate(source)
        result = pg.evaluate(
            "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
            ".map(v => ({id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.length}))"
        )
        problems += [(url, v) for v in result if v["impact"] in ("serious", "critical")]
    assert problems == []
