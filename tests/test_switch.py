"""Serving through a release switch: a real server under steady load while releases are published.

``variantdb serve`` runs in a subprocess (two uvicorn workers); a second process
asks for the same variants in a loop over keep-alive connections and writes
every answer down; meanwhile this process loads a second batch and then
withdraws a sample (two new releases). Every answer must be a 200 that names
its release, with the counts that release's own variant table holds: no failed
request, no answer mixing one release's name with another's counts.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from variantdb.lifecycle import withdraw
from variantdb.load import load_batch
from variantdb.release.files import read_current
from variantdb.store.layout import release_path

ROOT = Path(__file__).resolve().parents[1]

CLIENT = r"""
import http.client, json, sys, time
port, ids, stop, out = int(sys.argv[1]), json.loads(sys.argv[2]), sys.argv[3], sys.argv[4]
import os
conns = [http.client.HTTPConnection("127.0.0.1", port, timeout=10) for _ in range(2)]
with open(out, "w") as fh:
    i = 0
    while not os.path.exists(stop):
        vid = ids[i % len(ids)]
        conn = conns[i % 2]
        try:
            conn.request("GET", "/v1/variants/" + vid + "?strata=false")
            resp = conn.getresponse()
            body = resp.read()
            status = resp.status
        except Exception as e:  # a dropped connection is a failure too
            fh.write(json.dumps({"id": vid, "status": -1, "error": repr(e)}) + "\n")
            conns[i % 2] = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            i += 1
            continue
        rec = json.loads(body) if status == 200 else {}
        fh.write(json.dumps({"id": vid, "status": status, "release": rec.get("release"),
                             "seen": rec.get("seen"), "ac": rec.get("ac"), "an": rec.get("an")}) + "\n")
        i += 1
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _table(db: Path, release: str) -> dict[str, tuple[int, int]]:
    files = sorted((release_path(db, release) / "variants").glob("*.parquet"))
    t = pa.concat_tables(pq.read_table(f, columns=["chrom", "pos", "ref", "alt", "ac", "an"]) for f in files)
    return {f"{r['chrom']}-{r['pos']}-{r['ref']}-{r['alt']}": (r["ac"], r["an"]) for r in t.to_pylist()}


@pytest.mark.slow
def test_no_failed_or_mixed_response_through_two_switches(tmp_path: Path) -> None:
    from benchmarks.cohort import generate_cohort

    manifest = generate_cohort(tmp_path / "cohort", 16, 200, 21, layout="single")
    lines = manifest.read_text().splitlines()
    (manifest.parent / "b1.tsv").write_text("\n".join(lines[:9]) + "\n")
    (manifest.parent / "b2.tsv").write_text("\n".join([lines[0], *lines[9:]]) + "\n")
    ref = manifest.parent / "ref.fa"
    db = tmp_path / "db"
    load_batch(db, manifest.parent / "b1.tsv", ref, "b1", workers=1)
    # Ask for variants of the first release and of the whole cohort (some appear only later).
    full = tmp_path / "full"
    load_batch(full, manifest, ref, "all", workers=1)
    ids = (
        sorted(_table(db, "r0001"))[::7][:30]
        + sorted(set(_table(full, "r0001")) - set(_table(db, "r0001")))[:10]
    )
    port = _free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
        "VARIANTDB_RELOAD_INTERVAL": "0.05",
    }
    log = open(tmp_path / "server.log", "wb")  # closed below
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "variantdb.loaders.cli",
            "serve",
            "--db",
            str(db),
            "--port",
            str(port),
            "--workers",
            "2",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log,
        start_new_session=True,
    )
    stop, out = tmp_path / "stop", tmp_path / "answers.jsonl"
    client = None
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert server.poll() is None, (tmp_path / "server.log").read_text()
                assert time.monotonic() < deadline, "the server did not start in 60 s"
                time.sleep(0.2)
        client = subprocess.Popen(
            [sys.executable, "-c", CLIENT, str(port), json.dumps(ids), str(stop), str(out)]
        )
        time.sleep(2)
        load_batch(db, manifest.parent / "b2.tsv", ref, "b2", workers=1)
        time.sleep(1.5)
        withdraw(db, [lines[1].split("\t")[0]], reason="switch test")
        assert read_current(db) == "r0003"
        time.sleep(2)
    finally:
        stop.touch()
        if client is not None:
            client.wait(timeout=30)
        os.killpg(server.pid, 15)
        server.wait(timeout=30)
        log.close()
    answers = [json.loads(line) for line in out.read_text().splitlines()]
    tables = {r: _table(db, r) for r in ("r0001", "r0002", "r0003")}
    failed = [a for a in answers if a["status"] != 200]
    assert not failed, failed[:5]
    mixed = []
    for a in answers:
        table = tables[a["release"]]
        if a["seen"] != (a["id"] in table) or (a["seen"] and (a["ac"], a["an"]) != table[a["id"]]):
            mixed.append(a)
    assert not mixed, mixed[:5]
    seen_releases = {a["release"] for a in answers}
    assert seen_releases == {"r0001", "r0002", "r0003"}, seen_releases
    # The counts did change between releases, so a mixed answer could have shown.
    changed = [i for i in ids if len({tables[r].get(i) for r in tables}) > 1]
    assert changed
    assert len(answers) > 100
