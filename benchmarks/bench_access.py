"""Cost of access control on the hot path, in process (no network): what ``AccessMiddleware`` adds.

Two measurements, each interleaved in one process so other load on the machine
hits both sides alike:

``middleware``
    the middleware around an app that answers ``{}``: identify a controlled
    key (cached), spend from the shared limiter, write the audit line.
``app``
    the whole service answering ``GET /v1/variants/{id}`` for a controlled
    key, against the same app with the middleware taken out (the caller put in
    the scope by hand), on a release such as ``benchmarks/synthetic_release.py`` writes.

    python -m benchmarks.bench_access --db /tmp/bench1m
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

_Msg = dict[str, Any]


async def _receive() -> _Msg:
    return {"type": "http.request", "body": b"", "more_body": False}


async def _time(app: Any, scopes: list[_Msg]) -> float:
    async def send(message: _Msg) -> None:
        if message["type"] == "http.response.start" and message["status"] != 200:
            raise RuntimeError(f"status {message['status']}")

    t0 = time.perf_counter()
    for scope in scopes:
        await app(dict(scope), _receive, send)
    return (time.perf_counter() - t0) / len(scopes) * 1e6


async def _ab(a: Any, sa: list[_Msg], b: Any, sb: list[_Msg], rounds: int) -> dict[str, float]:
    for _ in range(2):  # warm-up
        await _time(a, sa)
        await _time(b, sb)
    xs, ys = [], []
    for _ in range(rounds):
        xs.append(await _time(a, sa))
        ys.append(await _time(b, sb))
    return {
        "with_us": statistics.median(xs),
        "without_us": statistics.median(ys),
        "paired_overhead_us": statistics.median([x - y for x, y in zip(xs, ys, strict=True)]),
    }


def main() -> None:
    """Print the median cost per request with and without the middleware."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--db", type=Path, required=True, help="a database with a current release")
    ap.add_argument("--rounds", type=int, default=30)
    a = ap.parse_args()
    os.environ["VARIANTDB_CONTROLLED_REQUESTS_PER_MINUTE"] = str(10**9)  # accounted, never refused

    from variantdb.api.access import Access, AccessMiddleware
    from variantdb.api.auth import Caller
    from variantdb.api.main import create_app
    from variantdb.keys import KeyStore
    from variantdb.release.index import ReleaseIndex
    from variantdb.settings import get_settings
    from variantdb.variant import format_variant_id

    key, _ = KeyStore(a.db).create("controlled", "bench_access")
    headers = [(b"host", b"bench"), (b"authorization", b"Bearer " + key.encode())]

    def scope(path: str, hdrs: list[tuple[bytes, bytes]]) -> _Msg:
        return {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "headers": hdrs,
            "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 8000),
            "root_path": "",
        }

    async def constant(s: _Msg, receive: Callable[[], Awaitable[_Msg]], send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    wrapped = AccessMiddleware(constant, Access(a.db, get_settings(), "public"))
    small = [scope("/v1/variants/1-100-A-G", headers)] * 2000
    res = {"middleware": asyncio.run(_ab(wrapped, small, constant, small, a.rounds))}

    with_mw = create_app(a.db)
    without = create_app(a.db)
    without.user_middleware = [m for m in without.user_middleware if m.cls is not AccessMiddleware]
    rel = a.db / "releases" / (a.db / "CURRENT").read_text().strip()
    idx = ReleaseIndex.open(rel)
    step = max(1, len(idx) // 1000)
    paths = ["/v1/variants/" + format_variant_id(idx.variant_at(i)) for i in range(0, len(idx), step)][:1000]
    sa = [scope(p, headers) for p in paths]
    sb = [{**scope(p, headers[:1]), "variantdb.caller": Caller("controlled")} for p in paths]
    res["app"] = asyncio.run(_ab(with_mw, sa, without, sb, a.rounds))
    load = Path("/proc/loadavg").read_text().split()[0]
    for name, r in res.items():
        print(
            f"{name}: with {r['with_us']:.1f} us, without {r['without_us']:.1f} us, "
            f"overhead {r['paired_overhead_us']:.1f} us ({r['paired_overhead_us'] / r['without_us']:.1%}); "
            f"load {load}"
        )


if __name__ == "__main__":
    main()
