"""Beacon v2 g_variants against /v1/variants, in-process (ASGI through TestClient), on one release.

Times each request form on the same probe variants (half in the release, half not), and range
queries of several widths, reporting p50 / p99 per request in microseconds:

    python benchmarks/synthetic_release.py --db /tmp/beacon/bench1m --n 1000000
    python benchmarks/bench_beacon.py --db /tmp/beacon/bench1m --n 2000
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from variantdb.api.main import create_app
from variantdb.release.files import read_current
from variantdb.release.index import ReleaseIndex
from variantdb.store.layout import release_path


def _pct(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(q * len(s)))]


def _time(client: TestClient, calls: list[tuple[str, str, Any]]) -> dict[str, float]:
    out = []
    for method, url, body in calls:
        t = time.perf_counter()
        r = client.get(url) if method == "GET" else client.post(url, json=body)
        out.append((time.perf_counter() - t) * 1e6)
        assert r.status_code == 200, r.text
    return {"n": len(out), "p50_us": round(_pct(out, 0.5), 1), "p99_us": round(_pct(out, 0.99), 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--db", type=Path, required=True)
    ap.add_argument("--n", type=int, default=2000)
    args = ap.parse_args()
    rid = read_current(args.db)
    assert rid is not None
    index = ReleaseIndex.open(release_path(args.db, rid))
    rng = random.Random(7)
    probes = []
    for row in rng.sample(range(len(index)), args.n // 2):
        v = index.variant_at(row)
        probes.append(v)
        probes.append(v._replace(pos=v.pos + 1))  # mostly absent
    results: dict[str, Any] = {"release": rid, "variants": len(index)}
    with TestClient(create_app(args.db)) as client:
        forms: dict[str, list[tuple[str, str, Any]]] = {
            "v1 GET /v1/variants/{id}": [
                ("GET", f"/v1/variants/{v.chrom}-{v.pos}-{v.ref}-{v.alt}", None) for v in probes
            ],
        }
        for g in ("boolean", "record"):
            forms[f"beacon GET g_variants sequence {g}"] = [
                (
                    "GET",
                    f"/beacon/v2/g_variants?referenceName={v.chrom}&start={v.pos - 1}&referenceBases={v.ref}"
                    f"&alternateBases={v.alt}&requestedGranularity={g}",
                    None,
                )
                for v in probes
            ]
        forms["beacon POST g_variants sequence boolean"] = [
            (
                "POST",
                "/beacon/v2/g_variants",
                {
                    "meta": {"apiVersion": "v2.0.0"},
                    "query": {
                        "requestParameters": {
                            "referenceName": v.chrom,
                            "start": [v.pos - 1],
                            "referenceBases": v.ref,
                            "alternateBases": v.alt,
                        }
                    },
                },
            )
            for v in probes
        ]
        t = time.perf_counter()
        client.get(
            f"/beacon/v2/g_variants?referenceName={probes[0].chrom}&start=0&end=10&requestedGranularity=count"
        )
        results["first range query (look-back width scan) ms"] = round((time.perf_counter() - t) * 1e3, 1)
        for width in (1_000, 100_000, 1_000_000):
            forms[f"beacon GET g_variants range {width:,} bp count"] = [
                (
                    "GET",
                    f"/beacon/v2/g_variants?referenceName={v.chrom}&start={max(0, v.pos - width // 2)}"
                    f"&end={max(0, v.pos - width // 2) + width}&requestedGranularity=count",
                    None,
                )
                for v in probes[: min(len(probes), 200)]
            ]
        for name, calls in forms.items():
            _time(client, calls[:20])  # warm
            results[name] = _time(client, calls)
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
