"""Issue 3 benchmark: lookups in-process, over HTTP, and by the peers (DuckDB, tabix, afquery).

Stages (each prints JSON and appends it to ``--out``)::

    python benchmarks/bench_lookup.py inproc  --db /tmp/bench1m --db /tmp/bench10m --db /tmp/bench100m
    python benchmarks/bench_lookup.py http    --db /tmp/bench100m
    python benchmarks/bench_lookup.py duckdb  --db /tmp/bench100m
    python benchmarks/bench_lookup.py tabix   --db /tmp/bench10m
    python benchmarks/bench_lookup.py afquery --work /tmp/bench_afq
    python benchmarks/bench_lookup.py batch   --db /tmp/bench10m --compare-tree /tmp/before

Releases come from ``benchmarks/synthetic_release.py`` (frequency table built
directly) except for the afquery stage, which needs genotypes: it generates a
cohort with ``benchmarks.cohort``, loads it with the real loader and with
``afquery create-db``, and times both on the same variants. All network traffic
stays on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import csv
import http.client
import json
import os
import platform
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from variantdb.release.files import read_current
from variantdb.release.index import ReleaseIndex
from variantdb.store.layout import release_path, variants_file
from variantdb.variant import Variant, format_variant_id

PY = sys.executable
HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


# ---------------------------------------------------------------- helpers


def machine() -> dict[str, Any]:
    cpu = "?"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem = int(Path("/proc/meminfo").read_text().split()[1]) // 1024
    # Other work on the machine skews every figure; the 1-minute load average says how much.
    load1 = float(Path("/proc/loadavg").read_text().split()[0])
    return {
        "load_avg_1min": load1,
        "cpu": cpu,
        "cores": os.cpu_count(),
        "ram_mb": mem,
        "python": platform.python_version(),
        "kernel": platform.release(),
    }


def _rss(pid: int | str = "self") -> dict[str, int]:
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key = line.split(":")[0]
        if key in ("VmRSS", "RssAnon", "RssFile"):
            out[key] = int(line.split()[1]) // 1024
    return out


def _current(db: Path) -> Path:
    rid = read_current(db)
    if rid is None:
        raise SystemExit(f"{db}: no current release")
    return release_path(db, rid)


def _du(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def probes(db: Path, n: int, seed: int = 7) -> tuple[list[Variant], list[Variant]]:
    """Return ``n`` present variants (random rows) and ``n`` absent ones (same sites, an unused SNV allele)."""
    ix = ReleaseIndex.open(_current(db))
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.integers(0, len(ix), n))
    present = [ix.variant_at(int(r)) for r in rows]
    absent = []
    for v in present:
        for b in "ACGT":
            w = Variant(v.chrom, v.pos, v.ref[0], b)
            if b != v.ref[0] and ix.lookup(w) is None:
                absent.append(w)
                break
    random.Random(seed).shuffle(present)
    return present, absent


def _pct(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(q * len(s)))]


def emit(out: Path, record: dict[str, Any]) -> None:
    record = {"machine": machine(), "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **record}
    print(json.dumps(record, indent=1))
    with open(out, "a") as fh:
        fh.write(json.dumps(record) + "\n")


# ---------------------------------------------------------------- in-process


def _inproc_child(db: Path, probe_file: Path) -> dict[str, Any]:
    """Run in a fresh process so RSS counts only what the lookups touch."""
    from variantdb.api.deps import _open_release
    from variantdb.api.lookup import record_for_variant

    data = json.loads(probe_file.read_text())
    present = [Variant(*v) for v in data["present"]]
    absent = [Variant(*v) for v in data["absent"]]
    rss0 = _rss()
    rel_dir = _current(db)
    ix = ReleaseIndex.open(rel_dir)
    rss_open = _rss()
    find = ix.find
    out: dict[str, Any] = {"n_variants": len(ix), "probes": len(present)}
    for label, vs in (("present", present), ("absent", absent)):
        args = [(v.chrom, v.pos, v.ref, v.alt) for v in vs]
        best = float("inf")
        for _ in range(3):
            t0 = time.perf_counter()
            hits = 0
            for a in args:
                if find(*a) is not None:
                    hits += 1
            best = min(best, (time.perf_counter() - t0) / len(args))
        out[f"find_{label}_us"] = best * 1e6
        out[f"hits_{label}"] = hits
    # find + counts tuple: what the service needs from the index. The first pass
    # faults the count pages in (cold for this process, page cache warm); then warm.
    passes = []
    for _ in range(3):
        t0 = time.perf_counter()
        for v in present:
            r = find(v.chrom, v.pos, v.ref, v.alt)
            if r is not None:
                ix.count_tuple(r)
        passes.append((time.perf_counter() - t0) / len(present) * 1e6)
    out["find_and_counts_first_pass_us"] = passes[0]
    out["find_and_counts_us"] = min(passes[1:])
    rss_after = _rss()
    rel = _open_release(db, rel_dir.name)
    t0 = time.perf_counter()
    for v in present[:20000]:
        record_for_variant(rel, v, "")
    out["full_record_dict_us"] = (time.perf_counter() - t0) / min(20000, len(present)) * 1e6
    out["rss_mb"] = {"before_open": rss0, "after_open": rss_open, "after_lookups": rss_after}
    index_dir = rel_dir / "index"
    out["index_bytes"] = {p.name: p.stat().st_size for p in index_dir.iterdir()}
    out["index_total_gb"] = _du(index_dir) / 1e9
    out["parquet_gb"] = _du(rel_dir / "variants") / 1e9
    return out


def stage_inproc(dbs: list[Path], n: int, out: Path) -> None:
    results = []
    for db in dbs:
        present, absent = probes(db, n)
        pf = db / "probes.json"
        pf.write_text(json.dumps({"present": present, "absent": absent}))
        res = subprocess.run(
            [PY, __file__, "_inproc_child", "--db", str(db), "--probes", str(pf)],
            check=True,
            capture_output=True,
            text=True,
        )
        results.append({"db": str(db), **json.loads(res.stdout.strip().splitlines()[-1])})
    emit(out, {"stage": "inproc", "results": results})


# ---------------------------------------------------------------- HTTP


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def bare_app() -> Any:
    """A bare FastAPI app with one endpoint returning a constant: the yardstick."""
    from fastapi import FastAPI

    app = FastAPI()

    @app.get("/const")
    async def const() -> dict[str, bool]:
        return {"ok": True}

    return app


class Server:
    def __init__(self, target: str, env: dict[str, str], workers: int = 1, cwd: Path = ROOT) -> None:
        self.port = _free_port()
        cmd = [
            PY,
            "-m",
            "uvicorn",
            target,
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--no-access-log",
            "--log-level",
            "warning",
            "--workers",
            str(workers),
        ]
        self.proc = subprocess.Popen(cmd, env={**os.environ, **env}, cwd=cwd)
        deadline = time.time() + 120
        while time.time() < deadline:
            try:
                c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                c.request("GET", "/openapi.json")
                if c.getresponse().status == 200:
                    return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"{target} did not start")

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def keepalive(port: int, paths: list[str], n: int, headers: dict[str, str] | None = None) -> dict[str, float]:
    headers = headers or {}
    c = http.client.HTTPConnection("127.0.0.1", port)
    for p in paths[:200]:  # warm-up
        c.request("GET", p, headers=headers)
        c.getresponse().read()
    lat = []
    for i in range(n):
        p = paths[i % len(paths)]
        t0 = time.perf_counter()
        c.request("GET", p, headers=headers)
        r = c.getresponse()
        r.read()
        lat.append(time.perf_counter() - t0)
        if r.status != 200:
            raise RuntimeError(f"{p}: {r.status}")
    return {
        "p50_ms": _pct(lat, 0.5) * 1e3,
        "p99_ms": _pct(lat, 0.99) * 1e3,
        "mean_ms": statistics.fmean(lat) * 1e3,
        "n": n,
    }


def wrk(
    port: int, paths: list[str], seconds: int, work: Path, headers: dict[str, str] | None = None
) -> dict[str, Any]:
    if shutil.which("wrk") is None:
        # The keep-alive figures stand alone; throughput needs wrk.
        return {"rps": None, "non2xx": 0, "wrk_p50": None, "wrk_p99": None, "skipped": "wrk is not on PATH"}
    script = work / "paths.lua"
    quoted = ",".join(json.dumps(p) for p in paths[:2000])
    lua_headers = (
        "{" + ", ".join(f"[{json.dumps(k)}] = {json.dumps(v)}" for k, v in (headers or {}).items()) + "}"
    )
    script.write_text(
        "local paths = {" + quoted + "}\nlocal i = 0\n"
        f"local headers = {lua_headers}\n"
        "request = function()\n  i = i + 1\n  return wrk.format('GET', paths[(i % #paths) + 1], headers)\nend\n"
    )
    res = subprocess.run(
        ["wrk", "-t2", "-c32", f"-d{seconds}s", "--latency", "-s", str(script), f"http://127.0.0.1:{port}"],
        capture_output=True,
        text=True,
        check=True,
    )
    m = re.search(r"Requests/sec:\s+([\d.]+)", res.stdout)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", res.stdout)
    lat = dict(re.findall(r"^\s+(50|99)%\s+(\S+)", res.stdout, re.M))
    return {
        "rps": float(m.group(1)) if m else None,
        "non2xx": int(non2xx.group(1)) if non2xx else 0,
        "wrk_p50": lat.get("50"),
        "wrk_p99": lat.get("99"),
    }


def _bench_key(db: Path) -> dict[str, str]:
    """Return the header of a new controlled key of ``db`` (none with code from before API keys)."""
    try:
        from variantdb.keys import KeyStore
    except ImportError:
        return {}
    key, _ = KeyStore(db).create("controlled", "bench_lookup")
    return {"Authorization": f"Bearer {key}"}


def stage_http(db: Path, out: Path, seconds: int, n: int) -> None:
    from urllib.parse import quote

    present, absent = probes(db, 20000, seed=11)
    paths = ["/v1/variants/" + quote(format_variant_id(v)) for v in present[:5000]]
    mixed = [
        p
        for pair in zip(
            paths, ["/v1/variants/" + quote(format_variant_id(v)) for v in absent[:5000]], strict=False
        )
        for p in pair
    ]
    work = db / "bench_http"
    work.mkdir(exist_ok=True)
    res: dict[str, Any] = {"db": str(db)}
    bare = Server("benchmarks.bench_lookup:bare_app", {})
    try:
        res["bare_keepalive"] = keepalive(bare.port, ["/const"], n)
        res["bare_wrk"] = wrk(bare.port, ["/const"], seconds, work)
    finally:
        bare.stop()
    # A controlled key, as a lab sends it (access control, issue 6), verified by the service; its
    # rate limit is raised out of the way, but the shared limiter and the audit log still run.
    headers = _bench_key(db)
    srv = Server(
        "variantdb.api.main:create_app_from_env",
        {"VARIANTDB_DB": str(db), "VARIANTDB_CONTROLLED_REQUESTS_PER_MINUTE": str(10**9)},
    )
    res["key"] = bool(headers)
    try:
        res["variant_keepalive"] = keepalive(srv.port, mixed, n, headers)
        res["variant_wrk"] = wrk(srv.port, mixed, seconds, work, headers)
        res["server_rss_mb"] = _rss(srv.proc.pid)
        # 10,000-variant batch: half present, half absent
        ids = [format_variant_id(v) for v in present[10000:15000]] + [
            format_variant_id(v) for v in absent[10000:15000]
        ]
        random.Random(3).shuffle(ids)
        body = json.dumps({"variants": ids}).encode()
        c = http.client.HTTPConnection("127.0.0.1", srv.port)
        for label, query in (("batch_10000", ""), ("batch_10000_no_strata", "?strata=false")):
            times = []
            size = 0
            for _ in range(7):
                t0 = time.perf_counter()
                c.request(
                    "POST",
                    "/v1/variants" + query,
                    body=body,
                    headers={"content-type": "application/json", **headers},
                )
                r = c.getresponse()
                payload = r.read()
                times.append(time.perf_counter() - t0)
                assert r.status == 200, payload[:300]
                size = len(payload)
            res[label] = {
                "median_ms": statistics.median(times) * 1e3,
                "min_ms": min(times) * 1e3,
                "response_mb": size / 1e6,
                "runs": len(times),
            }
    finally:
        srv.stop()
    res["ratios"] = {
        "p50_vs_bare": res["variant_keepalive"]["p50_ms"] / res["bare_keepalive"]["p50_ms"],
        "rps_vs_bare": (res["variant_wrk"]["rps"] or 0) / res["bare_wrk"]["rps"]
        if res["bare_wrk"]["rps"]
        else None,
    }
    emit(out, {"stage": "http", **res})


def _batch_body(db: Path) -> bytes:
    """The 10,000-id batch of the http stage: 5,000 present and 5,000 absent ids, shuffled."""
    present, absent = probes(db, 20000, seed=11)
    ids = [format_variant_id(v) for v in present[10000:15000]] + [
        format_variant_id(v) for v in absent[10000:15000]
    ]
    random.Random(3).shuffle(ids)
    return json.dumps({"variants": ids}).encode()


def stage_batch(db: Path, out: Path, runs: int, compare_tree: Path | None) -> None:
    """Time the 10,000-id ``POST /v1/variants``, this tree against another (``before``) in one run.

    Both servers run at once and the requests alternate between them, so load
    from elsewhere on the machine falls on both alike. ``compare_tree`` is a
    source tree of variantdb (e.g. ``git archive`` of an earlier commit) with
    ``variantdb/api`` and ``variantdb/loaders`` linked to its ``api/`` and
    ``loaders/``; its server runs with that tree first on ``sys.path``.
    """
    body = _batch_body(db)
    headers = {"content-type": "application/json", **_bench_key(db)}
    env = {"VARIANTDB_DB": str(db), "VARIANTDB_CONTROLLED_REQUESTS_PER_MINUTE": str(10**9)}
    trees = {"after": ROOT} if compare_tree is None else {"before": compare_tree, "after": ROOT}
    servers = {
        label: Server("variantdb.api.main:create_app_from_env", {**env, "PYTHONPATH": str(tree)}, cwd=tree)
        for label, tree in trees.items()
    }
    res: dict[str, Any] = {"db": str(db), "n_variants": len(ReleaseIndex.open(_current(db))), "runs": runs}
    try:
        conns = {label: http.client.HTTPConnection("127.0.0.1", srv.port) for label, srv in servers.items()}
        for query in ("", "?strata=false"):
            times: dict[str, list[float]] = {label: [] for label in servers}
            sizes: dict[str, int] = {}
            bodies: dict[str, Any] = {}
            for i in range(runs + 1):
                for label, c in conns.items():
                    t0 = time.perf_counter()
                    c.request("POST", "/v1/variants" + query, body=body, headers=headers)
                    r = c.getresponse()
                    payload = r.read()
                    dt = time.perf_counter() - t0
                    assert r.status == 200, payload[:300]
                    if i:  # the first request of each server warms it
                        times[label].append(dt)
                    sizes[label] = len(payload)
                    if i == 1:
                        bodies[label] = json.loads(payload)
            if len(bodies) == 2:
                assert bodies["before"] == bodies["after"], "the two trees answer differently"
            for label in servers:
                res[f"{label}{query.replace('?', '_').replace('=', '_')}"] = {
                    "p50_ms": statistics.median(times[label]) * 1e3,
                    "min_ms": min(times[label]) * 1e3,
                    "response_mb": sizes[label] / 1e6,
                }
        res["server_pythonpath"] = {label: str(tree) for label, tree in trees.items()}
    finally:
        for srv in servers.values():
            srv.stop()
    res["load_avg_1min"] = os.getloadavg()[0]
    emit(out, {"stage": "batch", **res})


def _index_warm_us(rel: Path, vs: list[Variant]) -> float:
    """Mean µs of find + counts over ``vs``, best of three passes (page cache warm, like the peers)."""
    ix = ReleaseIndex.open(rel)
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        for v in vs:
            r = ix.find(v.chrom, v.pos, v.ref, v.alt)
            assert r is not None
            ix.count_tuple(r)
        best = min(best, (time.perf_counter() - t0) / len(vs))
    return best * 1e6


# ---------------------------------------------------------------- DuckDB


def stage_duckdb(db: Path, out: Path, n: int) -> None:
    import duckdb

    rel = _current(db)
    present, _ = probes(db, n, seed=13)
    con = duckdb.connect()
    glob = str(rel / "variants" / "*.parquet")
    sql = "SELECT * FROM read_parquet($5) WHERE chrom = $1 AND pos = $2 AND ref = $3 AND alt = $4"
    con.execute(sql, ["chr1", 1, "A", "G", glob]).fetchall()  # warm-up: metadata
    for v in present:  # first pass warms the page cache; the second is timed
        con.execute(sql, [v.chrom, v.pos, v.ref, v.alt, glob]).fetchall()
    times = []
    for v in present:
        t0 = time.perf_counter()
        rows = con.execute(sql, [v.chrom, v.pos, v.ref, v.alt, glob]).fetchall()
        times.append(time.perf_counter() - t0)
        assert len(rows) == 1, v
    ours = _index_warm_us(rel, present) / 1e6
    ix = ReleaseIndex.open(rel)
    emit(
        out,
        {
            "stage": "duckdb",
            "db": str(db),
            "n_variants": len(ix),
            "queries": len(present),
            "duckdb_p50_ms": _pct(times, 0.5) * 1e3,
            "duckdb_mean_ms": statistics.fmean(times) * 1e3,
            "index_mean_us": ours * 1e6,
            "ratio_mean": statistics.fmean(times) / ours,
        },
    )


# ---------------------------------------------------------------- tabix


def write_sites_vcf(rel: Path, out_vcf: Path) -> float:
    """Write a bgzipped, tabix-indexed sites VCF (AC, AN, AF, nhomalt, nhemi) of a release; return seconds."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from variantdb.genome import CONTIG_LENGTHS, CONTIGS

    t0 = time.perf_counter()
    bg = subprocess.Popen(["bgzip", "-@", "2", "-c"], stdin=subprocess.PIPE, stdout=open(out_vcf, "wb"))
    assert bg.stdin is not None
    head = ["##fileformat=VCFv4.2"]
    head += [f"##contig=<ID={c},length={CONTIG_LENGTHS[c]}>" for c in CONTIGS]
    head += [
        f'##INFO=<ID={k},Number={num},Type={t},Description="{k}">'
        for k, num, t in (
            ("AC", "A", "Integer"),
            ("AN", "1", "Integer"),
            ("AF", "A", "Float"),
            ("nhomalt", "A", "Integer"),
            ("nhemi", "A", "Integer"),
        )
    ]
    head.append("#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO")
    bg.stdin.write(("\n".join(head) + "\n").encode())
    for chrom in CONTIGS:
        part = variants_file(rel, chrom)
        if not part.exists():
            continue
        for b in pq.ParquetFile(part).iter_batches(
            batch_size=1 << 20,
            columns=["chrom", "pos", "ref", "alt", "ac", "an", "af", "homozygote_count", "hemizygote_count"],
        ):

            def s(name: str, b: Any = b) -> Any:
                return pc.cast(b.column(name), "string")

            af = pc.cast(pc.round(pc.fill_null(b.column("af"), 0.0), 6), "string")
            info = pc.binary_join_element_wise(
                "AC=" + "",
                s("ac"),
                ";AN=",
                s("an"),
                ";AF=",
                af,
                ";nhomalt=",
                s("homozygote_count"),
                ";nhemi=",
                s("hemizygote_count"),
                "",
            )
            line = pc.binary_join_element_wise(
                b.column("chrom"), s("pos"), ".", b.column("ref"), b.column("alt"), ".", "PASS", info, "\t"
            )
            bg.stdin.write(("\n".join(line.to_pylist()) + "\n").encode())
    bg.stdin.close()
    bg.wait()
    subprocess.run(["tabix", "-p", "vcf", "-f", str(out_vcf)], check=True)
    return time.perf_counter() - t0


def stage_tabix(db: Path, out: Path, n: int) -> None:
    import pysam

    rel = _current(db)
    vcf = db / "sites.vcf.gz"
    build_s = None
    if not (vcf.exists() and Path(str(vcf) + ".tbi").exists()):
        build_s = write_sites_vcf(rel, vcf)
    present, _ = probes(db, n, seed=17)
    tbx = pysam.TabixFile(str(vcf))
    for _ in range(2):  # the first pass warms the page cache; the second is kept
        times = []
        for v in present:
            t0 = time.perf_counter()
            found = None
            for line in tbx.fetch(v.chrom, v.pos - 1, v.pos):
                f = line.split("\t", 8)
                if int(f[1]) == v.pos and f[3] == v.ref and f[4] == v.alt:
                    found = dict(kv.split("=") for kv in f[7].split(";"))
                    break
            times.append(time.perf_counter() - t0)
            assert found is not None, v
    ours = _index_warm_us(rel, present) / 1e6
    ix = ReleaseIndex.open(rel)
    emit(
        out,
        {
            "stage": "tabix",
            "db": str(db),
            "n_variants": len(ix),
            "queries": len(present),
            "vcf_gb": vcf.stat().st_size / 1e9,
            "vcf_build_s": build_s,
            "tabix_p50_us": _pct(times, 0.5) * 1e6,
            "tabix_mean_us": statistics.fmean(times) * 1e6,
            "index_mean_us": ours * 1e6,
            "ratio_mean": statistics.fmean(times) / ours,
        },
    )


# ---------------------------------------------------------------- afquery


def stage_afquery(work: Path, out: Path, n_samples: int, n_sites: int, n_cli: int) -> None:
    from benchmarks.cohort import generate_cohort
    from variantdb.load import load_batch
    from variantdb.schema import load_vocabulary

    work.mkdir(parents=True, exist_ok=True)
    cohort = work / "cohort"
    if not (cohort / "manifest.tsv").exists():
        generate_cohort(cohort, n_samples, n_sites, 5, layout="single")
    db = work / "vdb"
    if read_current(db) is None:
        shutil.rmtree(db, ignore_errors=True)
        t0 = time.perf_counter()
        load_batch(db, cohort / "manifest.tsv", reference=cohort / "ref.fa", batch_name="b1")
        vdb_load_s: float | None = time.perf_counter() - t0
    else:
        vdb_load_s = None
    codes = load_vocabulary("patient_groups")
    afq_manifest = work / "afquery_manifest.tsv"
    with open(cohort / "manifest.tsv") as fh, open(afq_manifest, "w") as w:
        w.write("sample_name\tsex\ttech_name\tvcf_path\tphenotype_codes\n")
        for row in csv.DictReader(fh, delimiter="\t"):
            # afquery knows only male/female; unknown sex is written as female (noted in RESULTS.md).
            sex = "male" if row["sex"] == "XY" else "female"
            w.write(
                f"{row['sample_id']}\t{sex}\tWGS\t{(cohort / row['vcf']).resolve()}\t{codes[row['patient_group']]}\n"
            )
    afq_db = work / "afq"
    afq_build_s = None
    if not (afq_db / "manifest.json").exists():
        shutil.rmtree(afq_db, ignore_errors=True)
        t0 = time.perf_counter()
        res = subprocess.run(
            [
                str(Path(PY).parent / "afquery"),
                "create-db",
                "--manifest",
                str(afq_manifest),
                "--output-dir",
                str(afq_db),
                "--genome-build",
                "GRCh38",
                "--threads",
                "2",
            ],
            capture_output=True,
            text=True,
        )
        afq_build_s = time.perf_counter() - t0
        if res.returncode != 0:
            emit(
                out,
                {
                    "stage": "afquery",
                    "error": "create-db failed",
                    "stderr": res.stderr[-3000:],
                    "stdout": res.stdout[-2000:],
                },
            )
            return
    present, _ = probes(db, 2000, seed=19)
    # afquery CLI: one process per query, as a lab script would run it
    cli_times = []
    cli_out = []
    for v in present[:n_cli]:
        t0 = time.perf_counter()
        r = subprocess.run(
            [
                str(Path(PY).parent / "afquery"),
                "query",
                "--db",
                str(afq_db),
                "--locus",
                f"{v.chrom}:{v.pos}",
                "--ref",
                v.ref,
                "--alt",
                v.alt,
                "--format",
                "json",
            ],
            capture_output=True,
            text=True,
        )
        cli_times.append(time.perf_counter() - t0)
        cli_out.append(r.stdout.strip()[:300] if r.returncode == 0 else "ERR " + r.stderr[-300:])
    # afquery Python API in-process (its fastest path)
    from afquery.database import Database

    adb = Database(str(afq_db))
    adb.query(present[0].chrom, present[0].pos, ref=present[0].ref, alt=present[0].alt)
    t0 = time.perf_counter()
    api_found = 0
    for v in present:
        if adb.query(v.chrom, v.pos, ref=v.ref, alt=v.alt):
            api_found += 1
    afq_api = (time.perf_counter() - t0) / len(present)
    ix = ReleaseIndex.open(_current(db))
    ours = _index_warm_us(_current(db), present) / 1e6
    # and over HTTP, one keep-alive client
    from urllib.parse import quote

    headers = _bench_key(db)
    srv = Server(
        "variantdb.api.main:create_app_from_env",
        {"VARIANTDB_DB": str(db), "VARIANTDB_CONTROLLED_REQUESTS_PER_MINUTE": str(10**9)},
    )
    try:
        http_lat = keepalive(
            srv.port, ["/v1/variants/" + quote(format_variant_id(v)) for v in present], 2000, headers
        )
    finally:
        srv.stop()
    emit(
        out,
        {
            "stage": "afquery",
            "samples": n_samples,
            "sites": n_sites,
            "variantdb_variants": len(ix),
            "variantdb_load_s": vdb_load_s,
            "afquery_create_db_s": afq_build_s,
            "afquery_cli_mean_ms": statistics.fmean(cli_times) * 1e3,
            "afquery_cli_queries": len(cli_times),
            "afquery_cli_sample_output": cli_out[:2],
            "afquery_python_api_mean_us": afq_api * 1e6,
            "afquery_api_found": api_found,
            "queries": len(present),
            "variantdb_index_mean_us": ours * 1e6,
            "variantdb_http_p50_ms": http_lat["p50_ms"],
            "ratio_cli_vs_http_p50": statistics.fmean(cli_times) / (http_lat["p50_ms"] / 1e3),
            "ratio_api_vs_index": afq_api / ours,
        },
    )


# ---------------------------------------------------------------- main


def main() -> None:
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))  # run as a script: make benchmarks/ and loaders/ importable
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "stage", choices=["inproc", "http", "batch", "duckdb", "tabix", "afquery", "_inproc_child"]
    )
    ap.add_argument("--compare-tree", type=Path, help="batch: another source tree to time beside this one")
    ap.add_argument("--runs", type=int, default=15, help="batch: timed requests per server and form")
    ap.add_argument("--db", type=Path, action="append", default=[])
    ap.add_argument("--probes", type=Path)
    ap.add_argument("--work", type=Path, default=Path("/tmp/bench_afq"))
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--samples", type=int, default=500)
    ap.add_argument("--sites", type=int, default=50_000)
    ap.add_argument("--cli-queries", type=int, default=20)
    ap.add_argument("--out", type=Path, default=HERE / "results_lookup.jsonl")
    a = ap.parse_args()
    if a.stage == "_inproc_child":
        print(json.dumps(_inproc_child(a.db[0], a.probes)))
    elif a.stage == "inproc":
        stage_inproc(a.db, a.n, a.out)
    elif a.stage == "http":
        stage_http(a.db[0], a.out, a.seconds, min(a.n, 20000))
    elif a.stage == "batch":
        stage_batch(a.db[0], a.out, a.runs, a.compare_tree)
    elif a.stage == "duckdb":
        stage_duckdb(a.db[0], a.out, min(a.n, 300))
    elif a.stage == "tabix":
        stage_tabix(a.db[0], a.out, min(a.n, 20000))
    elif a.stage == "afquery":
        stage_afquery(a.work, a.out, a.samples, a.sites, a.cli_queries)


if __name__ == "__main__":
    main()
