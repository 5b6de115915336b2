"""What "seen" means (variantdb/seen.py), and that every route says it in the same words (issue 13).

One small release holds a variant of each state: seen by adj founders, seen only
in relatives, seen only in calls failing the adj thresholds (once with AN > 0,
once with AN 0), plus an absent variant among called alleles and one where no
allele was called. Each is asked through the JSON routes, the pages, Beacon and
annotate, for a public and a controlled caller.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from fastapi.testclient import TestClient

from tests.conftest_api import full_row, make_an_track
from variantdb.annotate import annotate_vcf
from variantdb.api.main import create_app
from variantdb.release.files import write_release
from variantdb.schema import GROUPS, variants_schema
from variantdb.seen import SEEN_STATES, describe_state, seen_state, seen_states
from variantdb.settings import Settings

OPEN = Settings(reload_interval=0.0, public_requests_per_minute=0, public_daily_queries=0)
GAP = (5000, 6000)  # chr1, 1-based inclusive: AN 0 for every group


def _row(pos: int, ac: int, an: int, raw: int, all_: int) -> dict[str, Any]:
    """A chr1 row with the given adj founder, raw founder and adj all-sample AC (no homozygotes)."""
    row = full_row("chr1", pos, "A", "G", ac, an)
    for g, gac in zip(GROUPS, (ac, raw, all_), strict=True):
        row |= {f"ac{g}": gac, f"homozygote_count{g}": 0, f"n_carriers{g}": gac}
        row |= {f"af{g}": gac / row[f"an{g}"] if row[f"an{g}"] else None}
    if ac == 0:
        for k in list(row):
            if k.startswith(("ac_", "homozygote_count_")) and k not in ("ac_raw", "ac_all"):
                row[k] = 0
        row["faf95_max_region"] = 0.0 if an else None
        row["faf95_max_region_code"] = None
        row["n_carrier_families"] = 0 if all_ == 0 else 1
    if an == 0:
        for k in list(row):
            if k.startswith(("an", "af", "faf9")) and not k.startswith(
                ("an_raw", "af_raw", "faf95_raw", "faf99_raw")
            ):
                row[k] = 0 if k.startswith("an") else None
    return row


#: id -> expected state
CASES = {
    "1-1000-A-G": "seen",
    "1-2000-A-G": "seen_relatives_only",
    "1-3000-A-G": "seen_low_quality",
    "1-5500-A-G": "seen_low_quality",  # in the AN-0 gap
    "1-4000-A-G": "not_seen",
    "1-5600-A-G": "no_data",
}


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("seen_db")
    rows = [
        _row(1000, 7, 200, 8, 9),
        _row(2000, 0, 200, 0, 2),
        _row(3000, 0, 200, 3, 0),
        _row(5500, 0, 0, 2, 0),
    ]
    table = pa.Table.from_pylist(rows, schema=variants_schema())
    meta = {"created": "2026-11-22T00:00:00Z", "reference": None, "n_samples": 100, "batches": ["b1"]}
    write_release(path, "r0001", [table], make_an_track(["chr1"], gaps={"chr1": GAP}), meta)
    return path


@pytest.fixture(scope="module")
def clients(db: Path) -> Iterator[dict[str, TestClient]]:
    with (
        TestClient(create_app(db, OPEN, anonymous_role="public")) as public,
        TestClient(create_app(db, OPEN, anonymous_role="registered")) as registered,
        TestClient(create_app(db, OPEN, anonymous_role="controlled")) as controlled,
    ):
        yield {"public": public, "registered": registered, "controlled": controlled}


def test_seen_state_and_its_numpy_form_agree_on_every_combination() -> None:
    combos = list(itertools.product((False, True), (0, 3), (0, 200), (0, 2)))
    scalar = [seen_state(r, ac, an, ac_all) for r, ac, an, ac_all in combos]
    arrays = [np.array(x) for x in zip(*combos, strict=True)]
    vector = [SEEN_STATES[c] for c in seen_states(*arrays).tolist()]
    assert scalar == vector
    assert seen_state(True, 0, 0, 0) == "seen_low_quality"
    assert seen_state(False, 0, 0, 0) == "no_data"
    assert seen_state(False, 0, 10, 0) == "not_seen"


def test_words_never_say_seen_of_zero_called_alleles() -> None:
    for state in SEEN_STATES:
        for ac, an in ((0, 0), (0, 200), (None, None)):
            words = describe_state(state, ac, an)
            assert "0 of 0" not in words
            assert not (words.startswith("seen") and state not in ("seen",) and "only" not in words), words


@pytest.mark.parametrize("role", ["public", "registered", "controlled"])
def test_every_json_route_names_the_state(clients: dict[str, TestClient], role: str) -> None:
    client = clients[role]
    batch = client.post("/v1/variants", json={"variants": list(CASES)}).json()["data"]
    for (vid, want), rec in zip(CASES.items(), batch, strict=True):
        one = client.get(f"/v1/variants/{vid}").json()
        assert one["state"] == rec["state"] == want, (role, vid)
        assert one["message"] == rec["message"]
        assert "0 of 0" not in one["message"]
        if want != "seen":
            assert not one["message"].startswith("seen:") and one["message"] != "seen in this release", one
        if role == "public":
            assert one["message"] == describe_state(want)
    if role != "public":
        region = client.get("/v1/regions/chr1:1-10000").json()["data"]
        got = {r["variant_id"]: r["state"] for r in region}
        assert got == {k: v for k, v in CASES.items() if v.startswith("seen")}


def test_low_quality_only_in_an_uncalled_position_is_said_so(clients: dict[str, TestClient]) -> None:
    rec = clients["controlled"].get("/v1/variants/1-5500-A-G").json()
    assert rec["seen"] is True and rec["an"] == 0 and rec["state"] == "seen_low_quality"
    assert rec["message"].endswith("no alleles passing them were called here")


def test_pages_use_the_same_words(clients: dict[str, TestClient]) -> None:
    for role in ("public", "controlled"):
        for vid, want in CASES.items():
            html = clients[role].get(f"/variant/{vid}").text
            headline = {
                "seen": "Seen",
                "seen_relatives_only": "Seen only in relatives",
                "seen_low_quality": "Seen only in low-quality calls",
                "not_seen": "Not seen",
                "no_data": "No data here",
            }[want]
            assert f'<h2 id="verdict">{headline}</h2>' in html, (role, vid)
            assert "0 of 0" not in html
    html = clients["controlled"].get("/region/chr1:1-10000").text
    assert 'data-state="seen_low_quality">Seen only in low-quality calls<' in html


def test_beacon_exists_follows_adj_genotypes(clients: dict[str, TestClient]) -> None:
    for vid, want in CASES.items():
        _, pos, ref, alt = vid.split("-")
        r = clients["public"].get(
            "/beacon/v2/g_variants",
            params={
                "referenceName": "1",
                "start": int(pos) - 1,
                "referenceBases": ref,
                "alternateBases": alt,
            },
        )
        assert r.json()["responseSummary"]["exists"] is (want in ("seen", "seen_relatives_only")), vid
    r = clients["controlled"].get(
        "/beacon/v2/g_variants",
        params={"referenceName": "1", "start": 0, "end": 10000, "requestedGranularity": "record"},
    )
    ids = [x["variantInternalId"] for x in r.json()["response"]["resultSets"][0]["results"]]
    assert ids == ["1-1000-A-G", "1-2000-A-G"]


def _vcf(path: Path) -> Path:
    lines = [
        "##fileformat=VCFv4.2",
        "##contig=<ID=chr1,length=248956422>",
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO",
    ]
    for vid in CASES:
        _, pos, ref, alt = vid.split("-")
        lines.append(f"chr1\t{pos}\t.\t{ref}\t{alt}\t.\t.\t.")
    lines.sort(key=lambda x: (not x.startswith("#"), int(x.split("\t")[1]) if not x.startswith("#") else 0))
    path.write_text("\n".join(lines) + "\n")
    return path


def test_annotate_summary_counts_each_state(db: Path, clients: dict[str, TestClient], tmp_path: Path) -> None:
    want = {s: list(CASES.values()).count(s) for s in SEEN_STATES}
    src = _vcf(tmp_path / "in.vcf")
    report = annotate_vcf(db, src, tmp_path / "out.vcf")
    assert report.as_dict()["states"] == want
    r = clients["controlled"].post("/v1/annotate", content=src.read_bytes())
    assert r.status_code == 200, r.text[:300]
    summary = dict(p.split("=") for p in r.headers["x-variantdb-summary"].split("; "))
    assert {s: int(summary[s]) for s in SEEN_STATES} == want
