"""Privacy of counts (issue 13, items 8-11): floors that hold under differences, budgets, no paths.

* :mod:`variantdb.disclosure` is checked by brute force: every table of small
  values is shown, every other table shown the same way is listed, and no small
  count (shown, hidden or a sum the caller can form) may take a single value
  over them. The rule's own choices are part of what the caller knows, so
  "shown the same way" means the same output of the same function.
* Every route and page a registered caller can use is asked about a release
  built to tempt each identity (``homozygote_count = ac - n_carriers``,
  ``het = n_carriers - hom - hemi``, a group and its complement, a total and
  its parts), and no value computed from exact shown cells may fall in 1..4.
* Every route that returns N variant records spends N queries of the budget.
* No response of any route names a filesystem path of the server.
"""

from __future__ import annotations

import itertools
import re
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pytest
from fastapi.testclient import TestClient

from tests.conftest_api import full_row, make_an_track
from variantdb.api.main import create_app
from variantdb.audit import audit_path
from variantdb.disclosure import is_small, protect_genotypes, protect_parts
from variantdb.release.coverage import write_coverage
from variantdb.release.files import write_release
from variantdb.schema import GROUPS, variants_schema
from variantdb.settings import Settings

T = 5
OPEN = Settings(reload_interval=0.0, public_requests_per_minute=0, public_daily_queries=0)


# --- the rule, by brute force ------------------------------------------------------------------


def test_genotype_counts_never_pin_a_small_count() -> None:
    """Over every (het, hom, hemi) up to 12, no small sum is pinned by what the rule shows."""
    shown_as: dict[str, list[tuple[int, int, int]]] = defaultdict(list)
    box = range(31)
    for het, hom, hemi in itertools.product(box, box, box):
        counts = {"ac": het + 2 * hom + hemi, "n_carriers": het + hom + hemi}
        counts |= {"homozygote_count": hom, "hemizygote_count": hemi}
        shown_as[repr(protect_genotypes(counts, T))].append((het, hom, hemi))

    def quantities(het: int, hom: int, hemi: int) -> list[int]:
        return [het, hom, hemi, het + hom, het + hemi, hom + hemi, het + hom + hemi, het + 2 * hom + hemi]

    # ac <= 4 with a homozygote and a hemizygote leaves one homozygote: the ranges alone pin it.
    one = {"ac": 3, "n_carriers": 2, "homozygote_count": 1, "hemizygote_count": 1}
    assert protect_genotypes(one, T) == {k: None for k in one}
    kept_ac = 0
    for het, hom, hemi in itertools.product(range(13), range(13), range(13)):
        counts = {"ac": het + 2 * hom + hemi, "n_carriers": het + hom + hemi}
        counts |= {"homozygote_count": hom, "hemizygote_count": hemi}
        shown = protect_genotypes(counts, T)
        kept_ac += isinstance(shown["ac"], int) and is_small(hom, T)
        same = shown_as[repr(shown)]
        truth = quantities(het, hom, hemi)
        for i, value in enumerate(truth):
            if is_small(value, T):
                values = {quantities(*other)[i] for other in same}
                assert len(values) > 1, (het, hom, hemi, shown, i)
    assert kept_ac > 100  # the headline AC survives a small homozygote count when it safely can


@pytest.mark.parametrize("n_parts", [2, 3])
def test_parts_of_a_total_never_pin_a_small_part(n_parts: int) -> None:
    """Over every table of parts (and an unlisted rest) up to a total of 30, no small cell is pinned.

    A caller knows the total, the exact parts, that a floored part is 1..4 and a
    withheld one at least 5 (at least every exact part: the rule withholds the
    largest): every table fitting that is listed, and each small cell of the
    truth (the unlisted rest included) must take more than one value over them.
    """
    for total in range(3 * T, 31 if n_parts == 2 else 3 * T + 2):
        tables = [p for p in itertools.product(range(total + 1), repeat=n_parts) if sum(p) <= total]
        for parts in tables:
            cells = (*parts, total - sum(parts))
            if not any(is_small(v, T) for v in cells):
                continue
            shown = list(protect_parts({f"p{i}": v for i, v in enumerate(parts)}, total, T).values())
            top = max((v for v in shown if isinstance(v, int)), default=T)

            def fits(other: tuple[int, ...], shown: list[Any] = shown, top: int = top) -> bool:
                for v, s in zip(other, shown, strict=True):
                    if isinstance(s, int) and v != s:
                        return False
                    if isinstance(s, str) and not is_small(v, T):
                        return False
                    if s is None and v < max(T, top):
                        return False
                return True

            same = [(*o, total - sum(o)) for o in tables if fits(o)]
            for i, value in enumerate(cells):
                if is_small(value, T):
                    assert len({c[i] for c in same}) > 1, (total, cells, shown)


# --- every route and page ----------------------------------------------------------------------

# chr14 lies in MYH7 (chr14:23,412,740-23,435,660): the gene routes list these too.
HOM_SMALL = ("chr14", 23413000, "A", "G")  # ac 40, n_carriers 38, homozygotes 2
REL_SMALL = ("chr14", 23414000, "C", "T")  # ac 30, all.ac 33: three relatives' alleles
FAIL_SMALL = ("chr14", 23415000, "G", "A")  # ac 20, raw.ac 22: two failing calls
STATS = {
    "n_samples": 100,
    "n_founders": 97,  # 3 relatives
    "by_sex": {"XX": 50, "XY": 48},  # 2 of unknown sex
    "by_region": {"Hovedstaden": 96, "Nordjylland": 4},
    "by_technology": {"WGS": 97, "panel": 3},
    "by_month_received": {"2026-10": 100},
}


def _row(v: tuple[str, int, str, str], groups: list[tuple[int, int, int]]) -> dict[str, Any]:
    """A row whose groups (adj, raw, all) have the given (ac, n_carriers, homozygote_count), diploid."""
    row = full_row(*v, groups[0][0], 2000)
    for g, (ac, car, hom) in zip(GROUPS, groups, strict=True):
        row |= {f"ac{g}": ac, f"n_carriers{g}": car, f"homozygote_count{g}": hom, f"hemizygote_count{g}": 0}
    return row


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("privacy_db")
    rows = [
        _row(HOM_SMALL, [(40, 38, 2), (40, 38, 2), (40, 38, 2)]),
        _row(REL_SMALL, [(30, 20, 10), (30, 20, 10), (33, 23, 10)]),
        _row(FAIL_SMALL, [(20, 10, 10), (22, 12, 10), (20, 10, 10)]),
    ]
    table = pa.Table.from_pylist(rows, schema=variants_schema())
    meta = {"created": "2026-11-22T00:00:00Z", "reference": str(path / "ref.fa"), "stats": STATS}
    meta |= {"n_samples": 100, "batches": ["b1"]}
    release = write_release(path, "r0001", [table], make_an_track(["chr14"]), meta)
    samples = pa.table(
        {
            "sample_idx": pa.array(range(100), pa.int32()),
            "sex": ["XX"] * 50 + ["XY"] * 50,
            "technology": ["WGS"] * 97 + ["panel"] * 3,
        }
    )
    write_coverage(release, samples, [])
    return path


@pytest.fixture(scope="module")
def registered(db: Path) -> Iterator[TestClient]:
    with TestClient(create_app(db, OPEN, anonymous_role="registered")) as c:
        yield c


_IDS = ["-".join(str(x) for x in v).removeprefix("chr") for v in (HOM_SMALL, REL_SMALL, FAIL_SMALL)]


def _exact(*cells: Any) -> bool:
    return all(isinstance(c, int) and not isinstance(c, bool) for c in cells)


def _check_record(rec: dict[str, Any], where: str) -> None:
    """No identity of a variant record gives a count from 1 to T-1."""
    groups = [("", rec)] + [(k, rec[k]) for k in ("raw", "all") if isinstance(rec.get(k), dict)]
    for name, g in groups:
        ac, car = g.get("ac"), g.get("n_carriers")
        hom, hemi = g.get("homozygote_count"), g.get("hemizygote_count")
        derived = []
        if _exact(ac, car):
            derived.append(("homozygote_count = ac - n_carriers", ac - car))
        if _exact(car, hom, hemi):
            derived.append(("het = n_carriers - hom - hemi", car - hom - hemi))
        if _exact(ac, hom, hemi):
            derived.append(("het = ac - 2 hom - hemi", ac - 2 * hom - hemi))
        if _exact(car, hom):
            derived.append(("het + hemi = n_carriers - hom", car - hom))
        if _exact(ac, car, hemi):
            derived.append(("het = 2 n_carriers - ac - hemi", 2 * car - ac - hemi))
        if _exact(car, g.get("n_carrier_families")):
            derived.append(
                ("carriers sharing a family = n_carriers - families", car - g["n_carrier_families"])
            )
        if _exact(g.get("af"), g.get("an")) and g["af"] is not None:
            derived.append(("ac = af * an", round(g["af"] * g["an"])))
        for what, value in derived:
            assert not is_small(value, T), (where, name, what, value)
    for other in ("raw", "all"):
        g = rec.get(other)
        if isinstance(g, dict):
            for cell in ("ac", "n_carriers", "homozygote_count", "hemizygote_count"):
                if _exact(g.get(cell), rec.get(cell)):
                    assert not is_small(g[cell] - rec[cell], T), (where, f"{other}.{cell} - {cell}")
    for cell in ("ac", "n_carriers", "homozygote_count", "hemizygote_count", "n_fail", "n_carrier_families"):
        v = rec.get(cell)
        assert not (_exact(v) and is_small(v, T)), (where, cell, v)


def _check_parts(parts: dict[str, Any], total: Any, where: str) -> None:
    """No part of a total, nor the rest of it, is from 1 to T-1 and computable."""
    for k, v in parts.items():
        assert not (_exact(v) and is_small(v, T)), (where, k, v)
    if not _exact(total):
        return
    unknown = [k for k, v in parts.items() if not _exact(v)]
    rest = total - sum(v for v in parts.values() if _exact(v))
    if not unknown:
        # All parts exact: the rest (genomes of unknown sex, say) is computed.
        assert not is_small(rest, T), (where, "total - sum(parts)", rest)
    elif len(unknown) == 1:
        # One unknown part is the rest minus what is unlisted: never a floored one alone.
        assert parts[unknown[0]] is None, (where, unknown, parts)


def _check_stats(stats: dict[str, Any], where: str) -> None:
    total = stats.get("n_samples")
    for key, v in stats.items():
        if isinstance(v, dict):
            _check_parts(v, total, f"{where} {key}")
    if _exact(total, stats.get("n_founders")):
        assert not is_small(total - stats["n_founders"], T), (where, "relatives = n_samples - n_founders")


def _check_covered(covered: dict[str, Any] | None, where: str) -> None:
    if covered:
        _check_parts({k: v for k, v in covered.items() if k != "all"}, covered.get("all"), where)


def test_no_json_route_gives_a_small_count_by_difference(registered: TestClient) -> None:
    c = registered
    for vid in _IDS:
        _check_record(c.get(f"/v1/variants/{vid}").json(), f"/v1/variants/{vid}")
    for rec in c.post("/v1/variants", json={"variants": _IDS}).json()["data"]:
        _check_record(rec, "POST /v1/variants")
    for path in ("/v1/regions/chr14:23412000-23416000", "/v1/genes/MYH7"):
        body = c.get(path).json()
        assert body["count"] == 3, path
        for rec in body["data"]:
            _check_record(rec, path)
        rows = {t["technology"]: t for t in body["coverage"]["technologies"]}
        _check_covered({k: v["n_samples"] for k, v in rows.items()}, f"{path} coverage")
        for fig in ("min", "max"):
            _check_covered({k: v[fig] for k, v in rows.items()}, f"{path} coverage {fig}")
    _check_stats(c.get("/v1/stats").json()["stats"], "/v1/stats")
    for meta in [c.get("/v1/releases").json()["data"][0], c.get("/v1/releases/r0001").json()]:
        _check_stats(meta["stats"], "/v1/releases")
        _check_covered(meta["coverage"]["n_samples"], "/v1/releases coverage")
    for locus in ("chr14:23413000", "chr14:23412000-23416000"):
        body = c.get(f"/v1/coverage/{locus}").json()
        _check_covered(body["covered"], f"/v1/coverage/{locus}")
        for seg in body["segments"]:
            _check_covered(seg["covered"], f"/v1/coverage/{locus} segment")
        rows = {t["technology"]: t for t in body["technologies"]}
        _check_covered({k: v["n_samples"] for k, v in rows.items()}, f"/v1/coverage/{locus} n_samples")
        for fig in ("min", "max"):
            _check_covered({k: v[fig] for k, v in rows.items()}, f"/v1/coverage/{locus} {fig}")
        for probe in range(1, 101):
            # fraction_at_least for every min_samples must not tell a withheld technology's count
            r = c.get(f"/v1/coverage/{locus}", params={"min_samples": probe}).json()
            panel = next(t for t in r["technologies"] if t["technology"] == "panel")
            assert panel["fraction_at_least"] is None
    b = c.get("/beacon/v2/g_variants", params={"referenceName": "14", "start": 23412000, "end": 23416000})
    assert "frequencyInPopulations" not in b.text


def test_the_identities_are_tempted_and_controlled_callers_see_them(db: Path) -> None:
    """The release does hold the small values: a controlled caller computes them exactly."""
    with TestClient(create_app(db, OPEN, anonymous_role="controlled")) as c:
        rec = c.get(f"/v1/variants/{_IDS[0]}").json()
        assert rec["ac"] - rec["n_carriers"] == 2
        rec = c.get(f"/v1/variants/{_IDS[1]}").json()
        assert rec["all"]["ac"] - rec["ac"] == 3
        stats = c.get("/v1/stats").json()["stats"]
        assert stats["n_samples"] - sum(stats["by_sex"].values()) == 2
        assert c.get("/v1/releases/r0001").json()["coverage"]["n_samples"]["panel"] == 3


def _cells(html: str) -> list[list[str]]:
    rows = re.findall(r"<tr>(.*?)</tr>", html, re.S)
    return [re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", r, re.S) for r in rows]


def _num(text: str) -> int | None:
    text = re.sub(r"<[^>]+>", "", text).replace(",", "").strip()
    return int(text) if text.isdigit() else None


def test_no_page_gives_a_small_count_by_difference(registered: TestClient) -> None:
    c = registered
    for vid in _IDS:
        html = c.get(f"/variant/{vid}").text
        # Group table: label, AC, AN, AF, homozygotes, hemizygotes, carriers.
        for row in _cells(html):
            if (len(row) == 7 and "founders" in row[0]) or (len(row) == 7 and "samples" in row[0]):
                ac, hom, hemi, car = _num(row[1]), _num(row[4]), _num(row[5]), _num(row[6])
                _check_record(
                    {"ac": ac, "homozygote_count": hom, "hemizygote_count": hemi, "n_carriers": car},
                    f"/variant/{vid}",
                )
    for path in ("/region/chr14:23412000-23416000", "/gene/MYH7"):
        html = c.get(path).text
        found = 0
        for row in _cells(html):
            if (
                len(row) == 8 and "/variant/" in row[0]
            ):  # variant, position, seen, AC, AN, AF, homozygotes, carriers
                found += 1
                _check_record(
                    {"ac": _num(row[3]), "homozygote_count": _num(row[6]), "n_carriers": _num(row[7])}, path
                )
        assert found == 3, path
    html = c.get("/stats").text
    assert "withheld" in html
    facts = dict(re.findall(r"<dt>(.*?)</dt><dd>(.*?)</dd>", html))
    total = _num(facts["Genomes"])
    for section in re.findall(r"<table>(.*?)</table>", html, re.S):
        parts = {
            r[0]: _num(r[1]) if _num(r[1]) is not None else (None if r[1] == "withheld" else r[1])
            for r in _cells(section)
            if len(r) == 2
        }
        parts.pop("Group", None)
        if parts:
            _check_parts(parts, total, "/stats")


# --- budget ------------------------------------------------------------------------------------


def _last_audit(db: Path) -> dict[str, Any]:
    return orjson.loads(audit_path(db).read_bytes().splitlines()[-1])


@pytest.mark.parametrize(
    "path",
    [
        "/region/chr14:23412000-23416000",
        "/gene/MYH7",
        "/v1/regions/chr14:23412000-23416000",
        "/beacon/v2/g_variants?referenceName=14&start=23412000&end=23416000&requestedGranularity=record",
    ],
)
def test_every_route_listing_n_variants_spends_n_queries(db: Path, path: str) -> None:
    with TestClient(create_app(db, OPEN, anonymous_role="controlled")) as c:
        r = c.get(path)
        assert r.status_code == 200, r.text[:300]
        assert _last_audit(db)["queries"] == 3, path


def test_annotate_spends_one_query_per_allele(db: Path) -> None:
    vcf = "\n".join(
        [
            "##fileformat=VCFv4.2",
            "##contig=<ID=chr14,length=107043718>",
            "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO",
            "chr14\t23413000\t.\tA\tG,C\t.\t.\t.",
            "chr14\t23414000\t.\tC\tT\t.\t.\t.",
        ]
    )
    with TestClient(create_app(db, OPEN, anonymous_role="controlled")) as c:
        r = c.post("/v1/annotate", content=vcf + "\n")
        assert r.status_code == 200, r.text[:300]
        assert _last_audit(db)["queries"] == 3


def test_pages_and_beacon_refuse_past_the_budget(db: Path) -> None:
    tight = Settings(reload_interval=0.0, controlled_daily_queries=2, controlled_requests_per_minute=0)
    with TestClient(create_app(db, tight, anonymous_role="controlled"), client=("10.9.9.9", 1)) as c:
        assert c.get("/region/chr14:23412000-23416000").status_code == 429
        r = c.get(
            "/beacon/v2/g_variants",
            params={
                "referenceName": "14",
                "start": 23412000,
                "end": 23416000,
                "requestedGranularity": "record",
            },
        )
        assert r.status_code == 429 and "retry-after" in r.headers


# --- no paths ----------------------------------------------------------------------------------


def test_no_response_names_a_server_path(api_db: Path, api_cohort: Path) -> None:
    """Every route, as every role, answers without the database's or the reference's location."""
    import pyarrow.parquet as pq

    from variantdb.release.files import read_current
    from variantdb.store.layout import variants_file

    secrets = [str(api_db), str(api_cohort), str(api_db.parent)]
    table = pq.read_table(variants_file(api_db / "releases" / str(read_current(api_db)), "chr1"))
    row = table.select(["pos", "ref", "alt"]).slice(0, 1).to_pylist()[0]
    vid = f"1-{row['pos']}-{row['ref']}-{row['alt']}"
    chrom, pos = vid.split("-")[0], int(vid.split("-")[1])
    paths = [
        "/",
        "/health",
        "/v1/releases",
        "/v1/releases/r0001",
        "/v1/stats",
        f"/v1/variants/{vid}",
        f"/v1/regions/chr{chrom}:{pos}-{pos + 1000}",
        f"/v1/coverage/chr{chrom}:{pos}",
        f"/variant/{vid}",
        f"/region/chr{chrom}:{pos}-{pos + 1000}",
        "/stats",
        "/beacon/v2/info",
        f"/beacon/v2/g_variants?referenceName={chrom}&start={pos - 1}&end={pos + 1000}&requestedGranularity=record",
        "/v1/releases/r9999",
        "/v1/variants/chr1-1-N-A",
        "/openapi.json",
    ]
    for role in ("public", "registered", "controlled"):
        with TestClient(create_app(api_db, OPEN, anonymous_role=role)) as c:
            for path in paths:
                r = c.get(path)
                assert r.status_code < 500, (role, path)
                for secret in secrets:
                    assert secret not in r.text, (role, path, secret)
                assert not re.search(r'"/(tmp|home|work|var|srv|data)/', r.text), (role, path)
            body = c.post("/v1/variants", json={"variants": [vid]}).text
            assert all(s not in body for s in secrets)


def test_public_callers_get_no_samples_by_technology(db: Path) -> None:
    """Item 9: /v1/releases showed keyless callers the exact genomes per sequencing technology."""
    with TestClient(create_app(db, OPEN, anonymous_role="public")) as c:
        for meta in (c.get("/v1/releases").json()["data"][0], c.get("/v1/releases/r0001").json()):
            assert "stats" not in meta and "n_samples" not in meta["coverage"], meta["coverage"]


def test_carriers_sharing_a_family_are_not_given_by_difference() -> None:
    from variantdb.api.auth import shape_record

    rec = {
        "seen": True,
        "state": "seen",
        "ac": 40,
        "an": 1000,
        "af": 0.04,
        "n_carriers": 30,
        "homozygote_count": 10,
        "hemizygote_count": 0,
        "n_fail": 0,
        "n_carrier_families": 28,
    }
    shown = shape_record(dict(rec), "registered", T)
    assert shown["n_carriers"] == 30 and shown["n_carrier_families"] is None
    _check_record(shown, "constructed")
    apart = shape_record({**rec, "n_carrier_families": 30}, "registered", T)
    assert apart["n_carrier_families"] == 30
