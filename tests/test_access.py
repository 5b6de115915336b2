"""Access control (issue 6): keys, the role matrix of docs/http-api.md, limits, the audit log, attacks.

Every app here is built with ``anonymous_role="public"`` (the production
default; the other service tests serve keyless callers as controlled, see
``tests/conftest.py``) and every key is a real one made by :class:`KeyStore`.
Each refused attempt is checked twice: the answer, and the audit line it left.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pyarrow as pa
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from tests.api_helpers import assert_error
from tests.conftest_api import build_release
from variantdb.api.main import create_app
from variantdb.audit import audit_path, read_audit
from variantdb.keys import KeyStore
from variantdb.loaders.cli import app as cli
from variantdb.release.coverage import write_coverage
from variantdb.release.files import read_current
from variantdb.settings import Settings
from variantdb.store.layout import variants_file

ROOT = Path(__file__).resolve().parent.parent

# Two variants in MYH7 (chr14:23,412,740-23,435,660): AC 3 (small: "<5" for registered) and AC 40.
SMALL = ("chr14", 23413000, "A", "G", 3, 200)
LARGE = ("chr14", 23414000, "C", "T", 40, 200)
SMALL_ID, LARGE_ID = "14-23413000-A-G", "14-23414000-C-T"
STATS = {
    "genomes": 62,
    "by_region": {"Hovedstaden": 60, "Nordjylland": 2},
    "by_sex": {"XX": 31, "XY": 31},
    "by_month_received": {"2026-10": 62},
}
OPEN = Settings(reload_interval=0.0, public_requests_per_minute=0, public_daily_queries=0)


def _db(path: Path) -> Path:
    release_dir = build_release(path, "r0001", [SMALL, LARGE], meta={"stats": STATS, "batches": ["b1"]})
    # 100 genomes (50 XX, 50 XY) covered everywhere: the coverage endpoint's cell has figures to show.
    samples = pa.table(
        {
            "sample_idx": pa.array(range(100), pa.int32()),
            "sex": ["XX"] * 50 + ["XY"] * 50,
            "technology": ["WGS"] * 100,
        }
    )
    write_coverage(release_dir, samples, [])
    return path


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _db(tmp_path_factory.mktemp("access_db"))


@pytest.fixture(scope="module")
def keys(db: Path) -> dict[str, str]:
    store = KeyStore(db)
    out = {role: store.create(role, f"{role} test key")[0] for role in ("registered", "controlled", "admin")}
    revoked, rec = store.create("controlled", "revoked test key")
    store.revoke(rec.id)
    out["revoked"] = revoked
    return out


@pytest.fixture(scope="module")
def client(db: Path, keys: dict[str, str]) -> Iterator[TestClient]:
    with TestClient(create_app(db, OPEN, anonymous_role="public")) as c:
        yield c


@pytest.fixture(scope="module")
def loaded(
    api_db: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Path, dict[str, str], str]]:
    """A copy of the loaded session database (sub-cohorts need stored calls), its keys and one variant id."""
    import pyarrow.parquet as pq

    db = tmp_path_factory.mktemp("access_loaded") / "db"
    shutil.copytree(api_db, db)
    store = KeyStore(db)
    keys = {role: store.create(role, f"{role} test key")[0] for role in ("registered", "controlled", "admin")}
    release = db / "releases" / str(read_current(db))
    row = (
        pq.read_table(variants_file(release, "chr1"), columns=["pos", "ref", "alt"])
        .slice(0, 1)
        .to_pylist()[0]
    )
    yield db, keys, f"chr1-{row['pos']}-{row['ref']}-{row['alt']}"


@pytest.fixture(scope="module")
def loaded_client(loaded: tuple[Path, dict[str, str], str]) -> Iterator[TestClient]:
    with TestClient(create_app(loaded[0], OPEN, anonymous_role="public")) as c:
        yield c


def _auth(key: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"} if key else {}


def _last_audit(db: Path) -> dict[str, Any]:
    lines = audit_path(db).read_bytes().splitlines()
    return orjson.loads(lines[-1])


# --- keys and the CLI ------------------------------------------------------------------------


def test_keys_cli_prints_a_key_once_and_stores_only_its_hash(tmp_path: Path) -> None:
    runner = CliRunner()
    r = runner.invoke(
        cli, ["keys", "create", "--db", str(tmp_path), "--role", "registered", "--name", "Lab A"]
    )
    assert r.exit_code == 0, r.output
    key = r.stdout.strip().splitlines()[-1]
    m = re.fullmatch(r"vdb_([0-9a-f]{12})_([A-Za-z0-9_-]{43})", key)
    assert m, key
    kid, secret = m.groups()
    stored = (tmp_path / "access" / "keys.json").read_text()
    assert kid in stored and secret not in stored and key not in stored
    listed = runner.invoke(cli, ["keys", "list", "--db", str(tmp_path), "--json"])
    assert listed.exit_code == 0
    assert json.loads(listed.stdout) == [
        {
            "id": kid,
            "name": "Lab A",
            "role": "registered",
            "created": json.loads(stored)["keys"][0]["created"],
            "revoked": None,
        }
    ]
    assert secret not in listed.output and "hash" not in listed.output and "salt" not in listed.output
    r = runner.invoke(cli, ["keys", "revoke", "--db", str(tmp_path), kid])
    assert r.exit_code == 0, r.output
    assert KeyStore(tmp_path).load()[kid].revoked is not None
    # Bad input is a clear error, not a trace.
    r = runner.invoke(cli, ["keys", "create", "--db", str(tmp_path), "--role", "public", "--name", "x"])
    assert r.exit_code == 1 and "public needs no key" in r.output
    r = runner.invoke(cli, ["keys", "revoke", "--db", str(tmp_path), "0123456789ab"])
    assert r.exit_code == 1 and "no key has id 0123456789ab" in r.output
    r = runner.invoke(cli, ["keys", "revoke", "--db", str(tmp_path), "../../etc"])
    assert r.exit_code == 1 and "not a key id" in r.output


def test_a_key_verifies_only_whole_and_exact(tmp_path: Path) -> None:
    store = KeyStore(tmp_path)
    key, rec = store.create("controlled", "x")
    assert store.verify(key, rec)
    assert not store.verify(key[:-1] + ("A" if key[-1] != "A" else "B"), rec)
    assert rec.salt != store.create("controlled", "y")[1].salt


# --- the role matrix of docs/http-api.md: one test per cell -------------------------------------


def _readme_matrix() -> list[tuple[str, str, str]]:
    text = (ROOT / "docs" / "http-api.md").read_text()
    block = text.split("<!-- role-matrix -->")[1].split("<!-- /role-matrix -->")[0]
    rows = [r.strip().strip("|").split("|") for r in block.strip().splitlines()]
    header = [c.strip() for c in rows[0]]
    assert header == ["endpoint", "public (no key)", "registered", "controlled", "admin key"]
    roles = ["public", "registered", "controlled", "admin"]
    cells = []
    for row in rows[2:]:
        endpoint = row[0].strip().replace("`", "").replace(" (page)", "")
        for role, cell in zip(roles, row[1:], strict=True):
            cells.append((endpoint, role, cell.strip().split()[0]))
    return cells


MATRIX = _readme_matrix()

_VCF = (
    "##fileformat=VCFv4.2\n##contig=<ID=chr14,length=107043718>\n"
    "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
    "chr14\t23413000\t.\tA\tG\t.\t.\t.\n"
)

REQUESTS: dict[str, Callable[[TestClient, dict[str, str]], httpx.Response]] = {
    "GET /v1/variants/{id}": lambda c, h: c.get(f"/v1/variants/{SMALL_ID}", headers=h),
    "POST /v1/variants": lambda c, h: c.post(
        "/v1/variants", json={"variants": [SMALL_ID, LARGE_ID]}, headers=h
    ),
    "GET /v1/variants/{id}?exclude_group=": lambda c, h: c.get(
        f"/v1/variants/{SMALL_ID}?exclude_group=hereditary_heart", headers=h
    ),
    "GET /v1/regions/{region}": lambda c, h: c.get("/v1/regions/chr14:23412000-23436000", headers=h),
    "GET /v1/genes/{symbol}": lambda c, h: c.get("/v1/genes/MYH7", headers=h),
    "GET /v1/stats": lambda c, h: c.get("/v1/stats", headers=h),
    "GET /v1/coverage/{locus}": lambda c, h: c.get("/v1/coverage/chr14:23412000-23436000", headers=h),
    "GET /v1/releases": lambda c, h: c.get("/v1/releases", headers=h),
    "GET /v1/releases/{id}": lambda c, h: c.get("/v1/releases/r0001", headers=h),
    "POST /v1/annotate": lambda c, h: c.post("/v1/annotate", content=_VCF.encode(), headers=h),
    "GET /variant/{id}": lambda c, h: c.get(f"/variant/{SMALL_ID}", headers=h),
    "GET /region/{region}": lambda c, h: c.get("/region/chr14:23412000-23436000", headers=h),
    "GET /gene/{symbol}": lambda c, h: c.get("/gene/MYH7", headers=h),
    "GET /stats": lambda c, h: c.get("/stats", headers=h),
    "export": lambda c, h: c.get("/v1/export?format=vcf", headers=h),
    "POST /v1/diff": lambda c, h: c.post(
        "/v1/diff", json={"variants": [SMALL_ID, LARGE_ID], "since": "r0001"}, headers=h
    ),
    "POST /diff": lambda c, h: c.post(
        "/diff", data={"variants": f"{SMALL_ID}\n{LARGE_ID}", "from": "r0001", "to": "r0001"}, headers=h
    ),
}


#: Routes answered from stored calls, asked of the loaded database (id: one of its variants).
SUB_REQUESTS: dict[str, Callable[[TestClient, dict[str, str], str], httpx.Response]] = {
    "GET /v1/subcohort/variants/{id}": lambda c, h, v: c.get(f"/v1/subcohort/variants/{v}?sex=XX", headers=h),
    "POST /v1/subcohort/variants": lambda c, h, v: c.post(
        "/v1/subcohort/variants", json={"variants": [v], "filter": {"sex": ["XX"]}}, headers=h
    ),
    "GET /v1/subcohort/regions/{locus}": lambda c, h, v: c.get(
        f"/v1/subcohort/regions/chr1:{v.split('-')[1]}-{v.split('-')[1]}?sex=XX", headers=h
    ),
}


def _check_record(rec: dict[str, Any], level: str, small: bool) -> None:
    from variantdb.api.models import VariantPublic

    VariantPublic.model_validate(rec)
    assert rec["granularity"] == level
    assert rec["seen"] is True
    if level == "boolean":
        assert not {"ac", "an", "af", "raw", "all", "strata", "n_carriers", "homozygote_count"} & set(rec)
        assert not re.search(r"\d", rec["message"])
    elif level == "count":
        assert "strata" not in rec and rec["faf95_max_region"] is None and rec["imprecise_below"] == 5
        if small:
            assert rec["ac"] == "<5" and rec["af"] is None and rec["faf95"] is None and rec["an"] == 200
            assert rec["n_carriers"] == "<5"
            # raw and all differ from the headline by counts of people: not shown beside it (issue 13).
            assert "raw" not in rec and "all" not in rec
            assert "fewer than 5" in rec["message"]
        else:
            assert rec["ac"] == 40 and rec["af"] == 0.2
    else:
        assert rec["ac"] == (3 if small else 40) and rec["strata"]


def _check_json(endpoint: str, body: Any, level: str) -> None:
    if endpoint in SUB_REQUESTS:
        assert level == "record" and body["filter"]["sex"] == ["XX"] and body["count"] == 1
        assert isinstance(body["data"][0]["ac"], int) and isinstance(body["data"][0]["an"], int)
    elif endpoint == "GET /v1/variants/{id}":
        _check_record(body, level, small=True)
    elif endpoint == "GET /v1/variants/{id}?exclude_group=":
        assert body["excluded_group"] == "group_hereditary_heart"
    elif endpoint in ("POST /v1/variants", "GET /v1/regions/{region}", "GET /v1/genes/{symbol}"):
        assert [r["variant_id"] for r in body["data"]] == [SMALL_ID, LARGE_ID]
        for rec, small in zip(body["data"], (True, False), strict=True):
            _check_record(rec, level, small)
    elif endpoint == "POST /v1/diff":
        assert body["granularity"] == level and [r["variant_id"] for r in body["data"]] == [
            SMALL_ID,
            LARGE_ID,
        ]
        small, large = body["data"]
        assert ("ac_from" in small) == ("ac_from" in large) == (level == "record")
        assert small.get("withheld", False) == (level == "count") and "withheld" not in large
    elif endpoint == "GET /v1/stats":
        # 62 genomes: Hovedstaden 60 would give Nordjylland 2 away, so it is withheld too (issue 13).
        want = {
            "count": {"Hovedstaden": None, "Nordjylland": "<5"},
            "record": {"Hovedstaden": 60, "Nordjylland": 2},
        }
        assert body["stats"]["by_region"] == want[level]
    elif endpoint == "GET /v1/coverage/{locus}":
        # Covered samples, not carriers: the same figures for every role that may see counts.
        assert body["region"]["chrom"] == "chr14" and body["technologies"]
        by_tech = {t["technology"]: t for t in body["technologies"]}
        assert by_tech["WGS"]["mean"] == 100 and by_tech["WGS"]["fraction_all"] == 1
    elif endpoint.startswith("GET /v1/releases"):
        meta = body["data"][0] if endpoint == "GET /v1/releases" else body
        if level == "boolean":
            assert "stats" not in meta
        else:
            assert meta["stats"]["by_region"]["Nordjylland"] == {"count": "<5", "record": 2}[level]
    else:
        raise AssertionError(endpoint)


def _check_page(endpoint: str, html: str, level: str) -> None:
    if endpoint == "GET /variant/{id}":
        assert '<h2 id="verdict">Seen</h2>' in html
        if level == "boolean":
            assert ">AC<" not in html and "called alleles" not in html and "By region" not in html
        elif level == "count":
            assert "Seen: fewer than 5 of 200 called alleles." in html and ">AC<" in html
            # the AC 3 nowhere in a count cell (the verdicts' max tolerated AC may be 3: it is AN's)
            assert "By region" not in html and '"num">3</td><td class="num">200<' not in html
            assert "Seen: 3 " not in html
        else:
            assert "Seen: 3 of 200 called alleles" in html and "By region" in html
    elif endpoint in ("GET /region/{region}", "GET /gene/{symbol}"):
        assert SMALL_ID in html and LARGE_ID in html
        if level == "count":
            assert 'data-value="&lt;5">&lt;5</td>' in html and "<svg" not in html
        else:
            assert 'data-value="3">3</td>' in html and "<svg" in html
    elif endpoint == "POST /diff":
        assert "0 of 2 changed from r0001 to r0001" in html
        assert ("AF before" in html) == (level != "boolean")
    elif endpoint == "GET /stats":
        assert "Nordjylland" in html
        assert ("&lt;5" in html) == (level == "count")
    else:
        raise AssertionError(endpoint)


@pytest.mark.parametrize(("endpoint", "role", "cell"), MATRIX, ids=[f"{e} {r}" for e, r, _ in MATRIX])
def test_role_matrix_cell(
    client: TestClient,
    db: Path,
    keys: dict[str, str],
    loaded: tuple[Path, dict[str, str], str],
    loaded_client: TestClient,
    endpoint: str,
    role: str,
    cell: str,
) -> None:
    if endpoint in SUB_REQUESTS:
        db, keys, variant = loaded
        key = None if role == "public" else keys[role]
        r = SUB_REQUESTS[endpoint](loaded_client, _auth(key), variant)
    else:
        key = None if role == "public" else keys[role]
        r = REQUESTS[endpoint](client, _auth(key))
    entry = _last_audit(db)
    assert entry["role"] == role and entry["status"] == r.status_code
    assert entry["key"] == (None if key is None else key.split("_")[1])
    if cell in ("403", "404") and r.headers["content-type"].startswith("text/html"):
        assert r.status_code == int(cell) and "API key" in r.text and SMALL_ID not in r.text
        assert entry["granularity"] is None
        return
    if cell in ("403", "404"):
        err = assert_error(r, int(cell))
        if role == "admin":
            assert err["code"] == ("admin_key_over_http" if cell == "403" else "not_found")
        elif cell == "403":
            assert err["code"] == "forbidden"
        assert entry["granularity"] is None
        return
    assert r.status_code == 200, r.text[:500]
    if endpoint == "POST /v1/annotate":
        assert cell == "record"
        assert ";AC=3;AN=200;" in r.text or "AC=3;AN=200" in r.text
    elif r.headers["content-type"].startswith("text/html"):
        _check_page(endpoint, r.text, cell)
    else:
        _check_json(endpoint, r.json(), cell)
    if not endpoint.startswith("GET /v1/releases"):
        assert entry["granularity"] == cell


def test_the_matrix_covers_every_data_route(client: TestClient) -> None:
    """A new route (Beacon, sub-cohorts, coverage ...) must get a row in the role matrix (docs/http-api.md) or here."""
    documented = {e.split("?")[0] for e, _, _ in MATRIX}
    not_data = {"/health", "/metrics", "/", "/search", "/static/{name}", "/openapi.json", "/docs", "/redoc"}
    # GET /diff: the form, no data
    not_data |= {"/docs/oauth2-redirect", "/static/apidocs/{name}", "/signin", "/signout", "/diff"}
    missing = []
    for route in client.app.routes:  # type: ignore[attr-defined]
        path = getattr(route, "path", "")
        for method in sorted(getattr(route, "methods", None) or ()):
            if method in ("HEAD", "OPTIONS") or path in not_data or path.startswith("/beacon"):
                continue
            name = f"{method} {path}".replace("{variant_id:path}", "{id}").replace("{variant_id}", "{id}")
            name = name.replace("{release_id}", "{id}")
            if name not in documented:
                missing.append(name)
    assert not missing, f"routes without a row in the role matrix of docs/http-api.md: {missing}"


# --- keys over HTTP ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "why"),
    [
        ({"Authorization": "Bearer not-a-key"}, "malformed"),
        ({"Authorization": "Basic dXNlcjpwYXNz"}, "Bearer"),
        ({"Authorization": "Bearer"}, "Bearer"),
        ({"X-API-Key": "vdb_0123456789ab_" + "A" * 43}, "not valid"),
        ({"X-API-Key": "vdb_0123456789ab_" + "A" * 42 + "'"}, "malformed"),
        ({"X-API-Key": "' OR 1=1 --"}, "malformed"),
    ],
)
def test_a_bad_key_is_401_and_logged_never_public(
    client: TestClient, db: Path, headers: dict[str, str], why: str
) -> None:
    r = client.get(f"/v1/variants/{SMALL_ID}", headers=headers)
    err = assert_error(r, 401, "invalid_key")
    assert why in err["message"]
    assert r.headers["www-authenticate"].startswith("Bearer")
    entry = _last_audit(db)
    assert entry["status"] == 401 and entry["granularity"] is None and entry["role"] == "public"
    assert "Authorization" not in json.dumps(entry) and "A" * 40 not in json.dumps(entry)


def test_a_known_id_with_the_wrong_secret_is_401(client: TestClient, db: Path, keys: dict[str, str]) -> None:
    good = keys["controlled"]
    kid = good.split("_")[1]
    forged = f"vdb_{kid}_" + ("B" * 43 if not good.endswith("B" * 43) else "C" * 43)
    r = client.get(f"/v1/variants/{SMALL_ID}", headers=_auth(forged))
    assert_error(r, 401, "invalid_key")
    entry = _last_audit(db)
    assert entry["key"] == kid and entry["status"] == 401 and entry["refused"] == "unknown"
    # The real key still works after a failed attempt (the negative cache holds the forged key only).
    assert client.get(f"/v1/variants/{SMALL_ID}", headers=_auth(good)).json()["ac"] == 3


def test_a_revoked_key_is_401(client: TestClient, db: Path, keys: dict[str, str]) -> None:
    r = client.get(f"/v1/variants/{SMALL_ID}", headers={"X-API-Key": keys["revoked"]})
    assert "revoked" in assert_error(r, 401, "invalid_key")["message"]
    assert _last_audit(db)["refused"] == "revoked"


def test_revocation_takes_effect_without_a_restart(tmp_path: Path) -> None:
    db = _db(tmp_path)
    key, rec = KeyStore(db).create("controlled", "short-lived")
    with TestClient(create_app(db, OPEN, anonymous_role="public")) as c:
        assert c.get(f"/v1/variants/{SMALL_ID}", headers=_auth(key)).json()["ac"] == 3
        r = CliRunner().invoke(cli, ["keys", "revoke", "--db", str(db), rec.id])
        assert r.exit_code == 0, r.output
        assert_error(c.get(f"/v1/variants/{SMALL_ID}", headers=_auth(key)), 401, "invalid_key")
        # And a key created while the service runs works at once.
        new, _ = KeyStore(db).create("registered", "new")
        assert c.get(f"/v1/variants/{SMALL_ID}", headers=_auth(new)).json()["ac"] == "<5"


def test_both_headers_must_agree(client: TestClient, keys: dict[str, str]) -> None:
    same = {**_auth(keys["controlled"]), "X-API-Key": keys["controlled"]}
    assert client.get(f"/v1/variants/{SMALL_ID}", headers=same).json()["ac"] == 3
    other = {**_auth(keys["controlled"]), "X-API-Key": keys["registered"]}
    assert (
        "different keys"
        in assert_error(client.get(f"/v1/variants/{SMALL_ID}", headers=other), 401)["message"]
    )


def test_no_role_gets_sample_ids_or_genotypes(client: TestClient, db: Path, keys: dict[str, str]) -> None:
    """Every JSON answer of the controlled key, searched for the fields that would name people."""
    h = _auth(keys["controlled"])
    for endpoint in (
        "GET /v1/variants/{id}",
        "POST /v1/variants",
        "GET /v1/regions/{region}",
        "GET /v1/stats",
    ):
        text = REQUESTS[endpoint](client, h).text
        for word in ("sample_id", "sample_ids", "genotype", '"gt"', "carriers_ids"):
            assert word not in text, (endpoint, word)
    meta = client.get("/v1/releases/r0001", headers=h).json()
    assert not any(
        isinstance(v, list) and v and isinstance(v[0], str) and "sample" in k for k, v in meta.items()
    )


# --- limits -----------------------------------------------------------------------------------


def test_public_rate_limit_is_429_with_retry_after_and_logged(tmp_path: Path) -> None:
    db = _db(tmp_path)
    settings = Settings(reload_interval=0.0, public_requests_per_minute=3, public_daily_queries=0)
    key, _ = KeyStore(db).create("registered", "lab")
    with TestClient(create_app(db, settings, anonymous_role="public")) as c:
        for _ in range(3):
            assert c.get(f"/v1/variants/{SMALL_ID}").status_code == 200
        r = c.get(f"/v1/variants/{SMALL_ID}")
        err = assert_error(r, 429, "rate_limited")
        assert int(r.headers["retry-after"]) >= 1 and "client address" in err["message"]
        entry = _last_audit(db)
        assert entry["status"] == 429 and entry["role"] == "public"
        # The limit is per caller: a key behind the same address has its own.
        assert c.get(f"/v1/variants/{SMALL_ID}", headers=_auth(key)).status_code == 200
        # Health checks are not limited.
        assert c.get("/health").status_code == 200


def test_guessing_secrets_of_a_known_id_is_rate_limited(tmp_path: Path) -> None:
    """Each scrypt verification is charged to the client address: guesses cannot tie up the workers."""
    db = _db(tmp_path)
    settings = Settings(reload_interval=0.0, public_requests_per_minute=3, public_daily_queries=0)
    _, rec = KeyStore(db).create("controlled", "target")
    with TestClient(create_app(db, settings, anonymous_role="public")) as c:
        statuses = [
            c.get(f"/v1/variants/{SMALL_ID}", headers=_auth(f"vdb_{rec.id}_{str(i) * 43}")).status_code
            for i in range(5)
        ]
        assert statuses == [401, 401, 401, 429, 429]
        assert _last_audit(db)["status"] == 429 and _last_audit(db)["key"] is None


def test_public_daily_budget_counts_each_id_of_a_batch(tmp_path: Path) -> None:
    db = _db(tmp_path)
    settings = Settings(reload_interval=0.0, public_requests_per_minute=0, public_daily_queries=10)
    with TestClient(create_app(db, settings, anonymous_role="public")) as c:
        ok = c.post("/v1/variants", json={"variants": [SMALL_ID] * 8})
        assert ok.status_code == 200 and {d["granularity"] for d in ok.json()["data"]} == {"boolean"}
        r = c.post("/v1/variants", json={"variants": [SMALL_ID] * 5})
        err = assert_error(r, 429, "query_budget_exceeded")
        # The refused request itself counted one query (8 + 1).
        assert "9 queries today" in err["message"] and "registered key" in err["message"]
        assert int(r.headers["retry-after"]) <= 86_400
        entry = _last_audit(db)
        assert entry["status"] == 429 and entry["queries"] == 5
        # One single query still fits, then the budget is spent.
        assert c.get(f"/v1/variants/{SMALL_ID}").status_code == 200
        assert_error(c.get(f"/v1/variants/{SMALL_ID}"), 429, "query_budget_exceeded")


def _spend(path: str, n: int, out: Any) -> None:
    from variantdb.limits import Limiter

    lim = Limiter(Path(path))
    out.put(sum(lim.take("key:shared", 0, 1, 0, 500).allowed for _ in range(n)))


def test_the_budget_is_exact_across_processes(tmp_path: Path) -> None:
    """Four processes spend one shared budget of 500 with 200 tries each: exactly 500 are allowed."""
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    procs = [ctx.Process(target=_spend, args=(str(tmp_path), 200, q)) for _ in range(4)]
    for p in procs:
        p.start()
    allowed = sum(q.get(timeout=60) for _ in procs)
    for p in procs:
        p.join(10)
    assert allowed == 500


def test_rate_token_bucket_refills(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import variantdb.limits as limits

    now = [1_000_000.0]
    monkeypatch.setattr(limits.time, "time", lambda: now[0])
    lim = limits.Limiter(tmp_path)
    assert [lim.take("a", 1, 1, 60, 0).allowed for _ in range(61)] == [True] * 60 + [False]
    d = lim.take("a", 1, 1, 60, 0)
    assert (d.reason, d.retry_after) == ("rate", 1)
    now[0] += 2.0
    assert [lim.take("a", 1, 1, 60, 0).allowed for _ in range(3)] == [True, True, False]
    assert lim.take("b", 1, 1, 60, 0).allowed  # another identity has its own bucket
    now[0] += 86_400
    assert lim.take("a", 1, 1, 60, 2).allowed and lim.take("a", 1, 1, 60, 2).allowed
    assert lim.take("a", 1, 1, 60, 2).reason == "budget"


# --- attacks: oversized input, traversal, SQL, header injection -------------------------------------


def test_oversized_bodies_and_batches_are_refused_and_logged(tmp_path: Path) -> None:
    db = _db(tmp_path)
    settings = Settings(
        reload_interval=0.0,
        public_requests_per_minute=0,
        public_daily_queries=0,
        max_request_bytes=1000,
        max_batch_ids=3,
    )
    with TestClient(create_app(db, settings, anonymous_role="controlled")) as c:
        big = json.dumps({"variants": [SMALL_ID] * 100}).encode()
        err = assert_error(
            c.post("/v1/variants", content=big, headers={"content-type": "application/json"}), 413
        )
        assert "max_request_bytes" in err["message"]
        assert _last_audit(db)["status"] == 413

        def chunks() -> Iterator[bytes]:  # no Content-Length: the route counts the bytes itself
            for _ in range(10):
                yield b" " * 200

        assert_error(c.post("/v1/variants", content=chunks()), 413, "payload_too_large")
        assert _last_audit(db)["status"] == 413
        assert_error(c.post("/v1/variants", json={"variants": [SMALL_ID] * 4}), 413, "too_many_ids")
        assert _last_audit(db)["status"] == 413
        assert_error(
            c.post("/v1/variants", content=b"[" * 500, headers={"content-type": "application/json"}), 422
        )
        assert _last_audit(db)["status"] == 422


@pytest.mark.parametrize(
    "path",
    [
        f"/v1/variants/{SMALL_ID}?release=../../../etc/passwd",
        f"/v1/variants/{SMALL_ID}?release=r0001'%20OR%201=1--",
        f"/v1/variants/{SMALL_ID}?release=r0001;DROP%20TABLE%20samples",
        "/v1/releases/..%2F..%2Fregistry.duckdb",
        "/v1/regions/chr14:1-100;DROP%20TABLE%20samples",
        "/v1/regions/..%2F..%2Fetc%2Fpasswd:1-2",
        "/v1/regions/chr14'%20OR%20'1'='1:1-100",
        "/v1/genes/MYH7';%20DROP%20TABLE%20samples;--",
        "/v1/variants/chr14-23413000-A-G'%20OR%201=1",
        "/v1/stats?release=../CURRENT",
        "/static/..%2F..%2Fmain.py",
        "/variant/chr14-1-A-G?release=../../etc",
    ],
)
def test_traversal_and_sql_in_parameters_are_refused_and_logged(
    client: TestClient, db: Path, keys: dict[str, str], path: str
) -> None:
    r = client.get(path, headers=_auth(keys["controlled"]))
    assert 400 <= r.status_code < 500, (path, r.status_code)
    if r.headers["content-type"].startswith("application/json"):
        assert_error(r, r.status_code)
    assert "root:" not in r.text and "DuckDB" not in r.text and "Traceback" not in r.text
    entry = _last_audit(db)
    assert entry["status"] == r.status_code and entry["key"] == keys["controlled"].split("_")[1]
    # The registry was never touched: still the file the loader would open.
    assert not (db / "registry.duckdb").exists() or (db / "registry.duckdb").stat().st_size > 0


def test_header_injection_cannot_split_a_response_or_an_audit_line(
    client: TestClient, db: Path, keys: dict[str, str]
) -> None:
    before = len(audit_path(db).read_bytes().splitlines())
    # A search whose text carries CR LF and a header of its own: the redirect escapes it.
    r = client.get(
        "/search?q=chr14-23413000-A-G%0d%0aSet-Cookie:%20x=1",
        headers=_auth(keys["controlled"]),
        follow_redirects=False,
    )
    assert "set-cookie" not in {k.lower() for k in r.headers}
    assert "\r" not in r.headers.get("location", "") and "\n" not in r.headers.get("location", "")
    # A path and a query with encoded newlines and a forged JSON line: logged as one line.
    forged = '%0a{"time":"2026-01-01T00:00:00Z","key":"admin","status":200}'
    r = client.get(f"/v1/variants/{SMALL_ID}{forged}?x={forged}")
    assert r.status_code in (400, 404)
    lines = audit_path(db).read_bytes().splitlines()
    assert len(lines) == before + 2
    assert all(orjson.loads(line)["key"] != "admin" for line in lines)
    # A key carrying CR LF and a header of its own (a real server's h11 refuses it before the app;
    # the in-process client passes it on): malformed, 401, one audit line, no header added.
    r = client.get(f"/v1/variants/{SMALL_ID}", headers={"X-API-Key": "vdb_x\r\nX-Evil: 1"})
    assert_error(r, 401, "invalid_key")
    assert "x-evil" not in {k.lower() for k in r.headers}
    assert len(audit_path(db).read_bytes().splitlines()) == before + 3


# --- the audit log ----------------------------------------------------------------------------


def test_audit_cli_filters_by_key_and_time(client: TestClient, db: Path, keys: dict[str, str]) -> None:
    kid = keys["registered"].split("_")[1]
    client.get(f"/v1/variants/{LARGE_ID}", headers=_auth(keys["registered"]))
    runner = CliRunner()
    r = runner.invoke(cli, ["audit", "--db", str(db), "--key", kid, "--json"])
    assert r.exit_code == 0, r.output
    entries = [json.loads(x) for x in r.stdout.splitlines()]
    assert entries and {e["key"] for e in entries} == {kid}
    assert entries[-1]["query"] == f"/v1/variants/{LARGE_ID}" and entries[-1]["granularity"] == "count"
    assert entries[-1]["endpoint"] == "/v1/variants/{variant_id}"
    r = runner.invoke(cli, ["audit", "--db", str(db), "--since", "2999-01-01"])
    assert r.exit_code == 0 and r.stdout == "time\tkey\trole\tstatus\tgranularity\tmethod\tendpoint\tquery\n"
    r = runner.invoke(cli, ["audit", "--db", str(db), "--since", "yesterday"])
    assert r.exit_code == 1 and "not a date" in r.output
    public = list(read_audit(db, "public"))
    assert public and all(e["key"] is None for e in public)
    # No key material anywhere in the log.
    text = audit_path(db).read_text()
    for key in keys.values():
        assert key.split("_", 2)[2] not in text


@pytest.mark.slow
def test_audit_log_is_complete_under_concurrent_load_from_several_workers(tmp_path: Path) -> None:
    """Three uvicorn workers, four client processes x 150 requests: exactly one whole line per request."""
    import os
    import socket
    import subprocess
    import sys
    import time
    from concurrent.futures import ProcessPoolExecutor

    db = _db(tmp_path)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {
        **os.environ,
        "VARIANTDB_DB": str(db),
        "VARIANTDB_ANONYMOUS_ROLE": "public",
        "VARIANTDB_PUBLIC_REQUESTS_PER_MINUTE": "0",
        "VARIANTDB_PUBLIC_DAILY_QUERIES": "500",
        "PYTHONPATH": str(ROOT),
    }
    cmd = [
        sys.executable,
        "-m",
        "uvicorn",
        "variantdb.api.main:create_app_from_env",
        "--factory",
        "--port",
        str(port),
    ]
    proc = subprocess.Popen(
        [*cmd, "--workers", "3", "--log-level", "warning", "--no-access-log"], env=env, cwd=ROOT
    )
    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        else:
            raise AssertionError("the service did not start")
        with ProcessPoolExecutor(4) as pool:
            statuses = [s for part in pool.map(_hammer, [port] * 4, range(4)) for s in part]
    finally:
        proc.terminate()
        proc.wait(20)
    # Every line is whole JSON (no interleaving); the health checks of the start-up are left out.
    entries = [orjson.loads(line) for line in audit_path(db).read_bytes().splitlines()]
    entries = [e for e in entries if e["endpoint"] != "/health"]
    assert len(statuses) == 600 and len(entries) == 600
    # The shared daily budget (500) held across the three workers: exactly 100 refused.
    assert statuses.count(200) == 500 and statuses.count(429) == 100
    assert sorted(e["status"] for e in entries) == sorted(statuses)
    assert {e["query"] for e in entries} == {f"/v1/variants/{SMALL_ID}?c={c}" for c in range(4)}


def _hammer(port: int, c: int) -> list[int]:
    with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
        return [client.get(f"/v1/variants/{SMALL_ID}?c={c}").status_code for _ in range(150)]


# --- every DuckDB query takes parameters ------------------------------------------------------------


def test_every_duckdb_query_takes_parameters() -> None:
    """No SQL handed to DuckDB is built by formatting (f-string, %, .format, +), checked on the syntax tree.

    The one exception is SQL whose formatted parts are identifiers generated
    from the code's own constants (column names cannot be parameters); it is
    listed here with its reason.
    """
    import ast

    allowed = {
        # column and stratum names from variantdb.schema, never request or file values
        ("variantdb/release/aggregate.py", "_count_sql"),
        # the two sides are the module's constant SQL fragments (read the files / an empty side);
        # the file lists, threshold and contig order are parameters
        ("variantdb/release/diff.py", "diff_releases"),
        # count column names from variantdb.release.aggregate.count_columns and registered table names
        ("variantdb/release/incremental.py", "_sum_sql"),
        # table and column names read from the registry's own information_schema, never from input
        ("variantdb/release/check.py", "_clear_paths"),
    }
    formatted = (ast.JoinedStr, ast.BinOp)
    problems = []
    for folder in ("variantdb", "loaders", "api", "benchmarks"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            tree = ast.parse(path.read_text())
            rel = str(path.relative_to(ROOT))
            for func in [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]:
                assigned: dict[str, list[ast.expr]] = {}
                for node in ast.walk(func):
                    if isinstance(node, ast.Assign):
                        for t in node.targets:
                            if isinstance(t, ast.Name):
                                assigned.setdefault(t.id, []).append(node.value)
                for node in ast.walk(func):
                    if not (
                        isinstance(node, ast.Call)
                        and isinstance(node.func, ast.Attribute)
                        and node.func.attr in ("execute", "sql", "query", "executemany")
                        and node.args
                    ):
                        continue
                    arg = node.args[0]
                    values = assigned.get(arg.id, []) if isinstance(arg, ast.Name) else [arg]
                    for v in values:
                        bad = isinstance(v, formatted) or (
                            isinstance(v, ast.Call)
                            and isinstance(v.func, ast.Attribute)
                            and v.func.attr == "format"
                        )
                        callee = (
                            v.func.id if isinstance(v, ast.Call) and isinstance(v.func, ast.Name) else None
                        )
                        if callee is not None and (rel, callee) in allowed:
                            continue
                        if bad and (rel, func.name) not in allowed:
                            problems.append(f"{rel}:{node.lineno} in {func.name}")
    assert not problems, f"DuckDB queries built by formatting: {problems}"


def test_openapi_documents_the_keys_and_the_access_errors(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert spec["security"][0] == {} and {"bearer": []} in spec["security"]
    assert spec["components"]["securitySchemes"]["apiKey"] == {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
        "description": "the same key",
    }
    for path in ("/v1/variants/{variant_id}", "/v1/regions/{region}", "/v1/stats"):
        assert {"401", "403", "429"} <= set(spec["paths"][path]["get"]["responses"]), path
    props = spec["components"]["schemas"]["VariantPublic"]["properties"]
    assert {"type": "string", "pattern": "^<[0-9]+$"}.items() <= next(
        s for s in props["ac"]["anyOf"] if s.get("type") == "string"
    ).items()
    assert props["granularity"]["enum"] == ["boolean", "count", "record"]


def test_the_audit_log_can_be_rotated_by_renaming(tmp_path: Path) -> None:
    from variantdb.audit import AuditLog

    log = AuditLog(tmp_path)
    log.check_interval = 0.0
    log.write({"time": "2026-11-22T00:00:00.000Z", "n": 1})
    audit_path(tmp_path).rename(tmp_path / "access" / "audit.log.1")
    log.write({"time": "2026-11-22T00:00:01.000Z", "n": 2})
    assert [
        orjson.loads(x)["n"] for x in (tmp_path / "access" / "audit.log.1").read_bytes().splitlines()
    ] == [1]
    assert [e["n"] for e in read_audit(tmp_path)] == [2]
    log.close()
