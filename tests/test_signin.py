"""Signing in to the web pages (api/routes/signin.py, api/sessions.py): sessions, cookies, CSRF, roles.

The app serves keyless callers as ``public`` (the production default); every key
is a real one made by :class:`KeyStore`. Each test signs in with its own client,
so cookies never leak between tests.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import httpx
import pyarrow as pa
import pytest
from fastapi.testclient import TestClient

from tests.conftest_api import build_release
from variantdb.api.main import create_app
from variantdb.api.sessions import CSRF_COOKIE, SESSION_COOKIE, sessions_path
from variantdb.audit import read_audit
from variantdb.keys import KeyStore
from variantdb.release.coverage import write_coverage
from variantdb.settings import Settings

SMALL = ("chr14", 23413000, "A", "G", 3, 200)
LARGE = ("chr14", 23414000, "C", "T", 40, 200)
STATS = {
    "genomes": 62,
    "by_region": {"Hovedstaden": 60, "Nordjylland": 2},
    "by_sex": {"XX": 31, "XY": 31},
    "by_month_received": {"2026-10": 62},
}
OPEN = Settings(reload_interval=0.0, public_requests_per_minute=0, public_daily_queries=0)
LARGE_ID = "14-23414000-C-T"


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("signin_db")
    release_dir = build_release(path, "r0001", [SMALL, LARGE], meta={"stats": STATS, "batches": ["b1"]})
    samples = pa.table(
        {"sample_idx": pa.array(range(10), pa.int32()), "sex": ["XX"] * 10, "technology": ["WGS"] * 10}
    )
    write_coverage(release_dir, samples, [])
    return path


@pytest.fixture(scope="module")
def keys(db: Path) -> dict[str, str]:
    store = KeyStore(db)
    return {role: store.create(role, f"{role} lab")[0] for role in ("registered", "controlled", "admin")}


def _client(db: Path, settings: Settings = OPEN) -> TestClient:
    return TestClient(create_app(db, settings, anonymous_role="public"))


@pytest.fixture
def browser(db: Path, keys: dict[str, str]) -> Iterator[TestClient]:
    with _client(db) as c:
        yield c


def _csrf(html: str) -> str:
    m = re.search(r'name="csrf" value="([^"]+)"', html)
    assert m, "no CSRF token in the form"
    return m.group(1)


def _sign_in(c: TestClient, key: str, next_page: str = "/") -> httpx.Response:
    form = c.get("/signin", params={"next": next_page})
    assert form.status_code == 200
    return c.post(
        "/signin",
        data={"key": key, "csrf": _csrf(form.text), "next": next_page},
        follow_redirects=False,
    )


def _set_cookie(r: httpx.Response, name: str) -> str:
    found = [h for h in r.headers.get_list("set-cookie") if h.startswith(f"{name}=")]
    assert len(found) == 1, r.headers.get_list("set-cookie")
    return found[0]


# --- signing in -------------------------------------------------------------------------------


def test_public_pages_link_to_nothing_that_answers_403(browser: TestClient) -> None:
    home = browser.get("/").text
    assert 'href="/stats"' not in home
    assert "Sign in" in home
    variant = browser.get(f"/variant/{LARGE_ID}").text
    assert "/region/" not in variant
    for href in set(re.findall(r'href="(/[^"]*)"', home + variant)):
        r = browser.get(href.replace("&amp;", "&"))
        assert r.status_code != 403, href


def test_sign_in_opens_a_session_with_safe_cookie_flags(browser: TestClient, keys: dict[str, str]) -> None:
    r = _sign_in(browser, keys["registered"], "/stats")
    assert r.status_code == 303
    assert r.headers["location"] == "/stats"
    cookie = _set_cookie(r, SESSION_COOKIE)
    flags = {f.strip().lower() for f in cookie.split(";")[1:]}
    assert {"httponly", "samesite=strict", "path=/"} <= flags
    assert "secure" not in flags  # plain http here; see the https test
    value = cookie.split(";")[0].split("=", 1)[1]
    # No key material: neither the key, its id nor its secret is in the cookie.
    key = keys["registered"]
    kid, secret = key.split("_")[1], key.split("_", 2)[2]
    assert kid not in value and secret not in value and key not in value
    assert len(value) >= 43
    # ... and the sessions file holds the id's hash, not the id.
    assert (
        value.encode() not in sessions_path(browser.app.state.access.sessions.path.parent.parent).read_bytes()
    )


def test_pages_let_browsers_send_their_origin_with_the_forms(browser: TestClient) -> None:
    # Under no-referrer a browser sends "Origin: null" with a page's own form, and sign-in refuses it.
    for url in ("/", "/signin"):
        assert browser.get(url).headers["referrer-policy"] == "same-origin", url
    r = browser.get("/signin")
    refused = browser.post("/signin", data={"csrf": _csrf(r.text), "key": "x"}, headers={"Origin": "null"})
    assert refused.status_code == 403


def test_cookie_is_secure_over_https(db: Path, keys: dict[str, str]) -> None:
    with TestClient(create_app(db, OPEN, anonymous_role="public"), base_url="https://testserver") as c:
        r = _sign_in(c, keys["registered"])
        assert "secure" in _set_cookie(r, SESSION_COOKIE).lower()


def test_signed_in_pages_show_counts_for_the_role(browser: TestClient, keys: dict[str, str]) -> None:
    assert browser.get("/stats").status_code == 403
    _sign_in(browser, keys["registered"])
    home = browser.get("/").text
    assert "Signed in as <strong>registered lab</strong> (registered)" in home
    assert 'href="/stats"' in home
    stats = browser.get("/stats")
    assert stats.status_code == 200
    assert "Hovedstaden" in stats.text
    variant = browser.get(f"/variant/{LARGE_ID}").text
    assert ">40<" in variant  # AC shown to registered
    assert "By region" not in variant  # strata: controlled only
    assert browser.get("/region/chr14:23412000-23415000").status_code == 200
    assert browser.get(f"/v1/variants/{LARGE_ID}").json()["granularity"] == "count"


def test_controlled_session_sees_strata(browser: TestClient, keys: dict[str, str]) -> None:
    _sign_in(browser, keys["controlled"])
    assert browser.get(f"/v1/variants/{LARGE_ID}").json()["granularity"] == "record"


def test_sign_out_ends_the_session(browser: TestClient, keys: dict[str, str]) -> None:
    _sign_in(browser, keys["registered"])
    home = browser.get("/").text
    session = browser.cookies[SESSION_COOKIE]
    r = browser.post("/signout", data={"csrf": _csrf(home)}, follow_redirects=False)
    assert r.status_code == 303
    assert "max-age=0" in _set_cookie(r, SESSION_COOKIE).lower()
    assert browser.get("/stats").status_code == 403
    # The old id is dead everywhere, even if a browser kept it.
    with _client(browser.app.state.access.sessions.path.parent.parent) as other:
        other.cookies.set(SESSION_COOKIE, session)
        assert other.get("/stats").status_code == 403


def test_a_session_is_shared_by_every_worker(db: Path, keys: dict[str, str]) -> None:
    with _client(db) as one, _client(db) as two:
        _sign_in(one, keys["registered"])
        two.cookies.set(SESSION_COOKIE, one.cookies[SESSION_COOKIE])
        assert two.get("/stats").status_code == 200


def test_revoking_the_key_ends_the_session(db: Path) -> None:
    store = KeyStore(db)
    key, rec = store.create("registered", "soon revoked")
    with _client(db) as c:
        _sign_in(c, key)
        assert c.get("/stats").status_code == 200
        store.revoke(rec.id)
        r = c.get("/stats")
        assert r.status_code == 403
        assert "max-age=0" in _set_cookie(r, SESSION_COOKIE).lower()
    con = sqlite3.connect(sessions_path(db))
    assert con.execute("SELECT count(*) FROM sessions WHERE key_id = ?", (rec.id,)).fetchone() == (0,)


def test_an_expired_session_is_public(db: Path, keys: dict[str, str]) -> None:
    with _client(db) as c:
        _sign_in(c, keys["registered"])
        assert c.get("/stats").status_code == 200
        with sqlite3.connect(sessions_path(db)) as con:
            con.execute("UPDATE sessions SET expires = 0")
        r = c.get("/stats")
        assert r.status_code == 403
        assert "max-age=0" in _set_cookie(r, SESSION_COOKIE).lower()


def test_the_session_lasts_session_max_age(db: Path, keys: dict[str, str]) -> None:
    short = Settings(
        reload_interval=0.0, public_requests_per_minute=0, public_daily_queries=0, session_max_age=600
    )
    with _client(db, short) as c:
        assert "max-age=600" in _set_cookie(_sign_in(c, keys["registered"]), SESSION_COOKIE).lower()


# --- refusals ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("which", "status", "words"),
    [
        ("bad", 401, "not an API key"),
        ("unknown", 401, "not valid"),
        ("admin", 403, "command line only"),
    ],
)
def test_bad_keys_open_no_session(
    browser: TestClient, keys: dict[str, str], which: str, status: int, words: str
) -> None:
    key = {
        "bad": "hello",
        "unknown": keys["registered"][:-4] + "AAAA",
        "admin": keys["admin"],
    }[which]
    r = _sign_in(browser, key)
    assert r.status_code == status
    assert words in r.text
    assert SESSION_COOKIE not in r.cookies
    assert browser.get("/stats").status_code == 403


def test_sign_in_without_the_form_token_is_refused(browser: TestClient, keys: dict[str, str]) -> None:
    r = browser.post("/signin", data={"key": keys["registered"], "csrf": "forged"}, follow_redirects=False)
    assert r.status_code == 403
    assert SESSION_COOKIE not in r.cookies


def test_sign_in_from_another_origin_is_refused(browser: TestClient, keys: dict[str, str]) -> None:
    form = browser.get("/signin")
    r = browser.post(
        "/signin",
        data={"key": keys["registered"], "csrf": _csrf(form.text)},
        headers={"Origin": "https://evil.example"},
        follow_redirects=False,
    )
    assert r.status_code == 403
    assert SESSION_COOKIE not in r.cookies


def test_sign_out_without_the_session_token_is_refused(browser: TestClient, keys: dict[str, str]) -> None:
    _sign_in(browser, keys["registered"])
    r = browser.post("/signout", data={"csrf": "forged"}, follow_redirects=False)
    assert r.status_code == 403
    assert browser.get("/stats").status_code == 200
    r = browser.post(
        "/signout",
        data={"csrf": _csrf(browser.get("/").text)},
        headers={"Origin": "https://evil.example"},
        follow_redirects=False,
    )
    assert browser.get("/stats").status_code == 200


@pytest.mark.parametrize(
    "target", ["https://evil.example/", "//evil.example/", "/\\evil.example", "/signout"]
)
def test_next_never_leaves_the_site(db: Path, keys: dict[str, str], target: str) -> None:
    with _client(db) as c:
        assert _sign_in(c, keys["registered"], target).headers["location"] == "/"


def test_the_key_is_never_logged(db: Path, browser: TestClient, keys: dict[str, str]) -> None:
    _sign_in(browser, keys["registered"])
    browser.get("/")
    text = "\n".join(str(e) for e in read_audit(db))
    assert keys["registered"].split("_", 2)[2] not in text
    assert any(e.get("via") == "session" for e in read_audit(db))


# --- the reverse proxy's user header ------------------------------------------------------------


def test_a_trusted_proxy_names_the_user(db: Path, keys: dict[str, str]) -> None:
    proxied = Settings(
        reload_interval=0.0,
        public_requests_per_minute=0,
        public_daily_queries=0,
        proxy_user_header="X-Remote-User",
        trusted_proxies="testclient",
    )
    with _client(db, proxied) as c:
        r = c.get("/stats", headers={"X-Remote-User": "controlled lab"})
        assert r.status_code == 200
        assert "Signed in as <strong>controlled lab</strong>" in r.text
        assert "Sign out" not in r.text
        assert c.get("/stats", headers={"X-Remote-User": "nobody"}).status_code == 403
        assert c.get("/stats", headers={"X-Remote-User": "admin lab"}).status_code == 403


def test_an_untrusted_address_cannot_name_a_user(db: Path, keys: dict[str, str]) -> None:
    proxied = Settings(
        reload_interval=0.0,
        public_requests_per_minute=0,
        public_daily_queries=0,
        proxy_user_header="X-Remote-User",
        trusted_proxies="10.0.0.1",
    )
    with _client(db, proxied) as c:
        assert c.get("/stats", headers={"X-Remote-User": "controlled lab"}).status_code == 403


def test_without_the_setting_the_header_is_ignored(browser: TestClient) -> None:
    assert browser.get("/stats", headers={"X-Remote-User": "controlled lab"}).status_code == 403


def test_csrf_cookie_is_strict_and_httponly(db: Path) -> None:
    with _client(db) as c:
        r = c.get("/signin")
        cookie = _set_cookie(r, CSRF_COOKIE).lower()
        assert "httponly" in cookie and "samesite=strict" in cookie


def test_a_trusted_proxy_forwards_the_client_and_https(db: Path, keys: dict[str, str]) -> None:
    proxied = Settings(
        reload_interval=0.0,
        public_requests_per_minute=0,
        public_daily_queries=0,
        trusted_proxies="testclient",
    )
    with _client(db, proxied) as c:
        form = c.get("/signin")
        r = c.post(
            "/signin",
            data={"key": keys["registered"], "csrf": _csrf(form.text)},
            headers={"X-Forwarded-For": "192.0.2.7", "X-Forwarded-Proto": "https"},
            follow_redirects=False,
        )
        assert "secure" in _set_cookie(r, SESSION_COOKIE).lower()
    assert list(read_audit(db))[-1]["client"] == "192.0.2.7"


def test_an_untrusted_client_cannot_forward(db: Path, keys: dict[str, str]) -> None:
    with _client(db) as c:
        c.get("/", headers={"X-Forwarded-For": "192.0.2.8"})
    assert list(read_audit(db))[-1]["client"] == "testclient"
