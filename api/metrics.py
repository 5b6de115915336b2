"""Prometheus metrics of one service process, and the ASGI middleware that counts requests.

Plain counters and a fixed-bucket histogram rendered in the Prometheus text
format; each worker process reports its own (scrape them per worker or sum).
The middleware is pure ASGI (no BaseHTTPMiddleware) so it adds about a
microsecond to a request.
"""

from __future__ import annotations

import time
from collections import defaultdict
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["Metrics", "MetricsMiddleware", "name_route"]

_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)


def name_route(scope: Scope, template: str) -> None:
    """Label the current request with its route template (for routes outside FastAPI's router)."""
    note = scope.get("variantdb.metrics")
    if note is not None:
        note["route"] = template


class Metrics:
    """Request counts and latencies by route template and status."""

    def __init__(self) -> None:
        self.requests: defaultdict[tuple[str, str, int], int] = defaultdict(int)
        self.hist: defaultdict[str, list[int]] = defaultdict(lambda: [0] * (len(_BUCKETS) + 1))
        self.sums: defaultdict[str, float] = defaultdict(float)
        self.started = time.time()

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        """Record one finished request."""
        self.requests[(route, method, status)] += 1
        counts = self.hist[route]
        for i, b in enumerate(_BUCKETS):
            if seconds <= b:
                counts[i] += 1
                break
        else:
            counts[-1] += 1
        self.sums[route] += seconds

    def render(self, extra: dict[str, tuple[str, float, dict[str, str]]]) -> str:
        """Return the Prometheus text exposition; ``extra`` adds gauges ``{name: (help, value, labels)}``."""
        lines = [
            "# HELP variantdb_requests_total HTTP requests by route template, method and status.",
            "# TYPE variantdb_requests_total counter",
        ]
        for (route, method, status), n in sorted(self.requests.items()):
            lines.append(
                f'variantdb_requests_total{{route="{route}",method="{method}",status="{status}"}} {n}'
            )
        lines += [
            "# HELP variantdb_request_duration_seconds Time to answer a request, by route template.",
            "# TYPE variantdb_request_duration_seconds histogram",
        ]
        for route, counts in sorted(self.hist.items()):
            cum = 0
            for b, c in zip((*_BUCKETS, float("inf")), counts, strict=True):
                cum += c
                le = "+Inf" if b == float("inf") else repr(b)
                lines.append(f'variantdb_request_duration_seconds_bucket{{route="{route}",le="{le}"}} {cum}')
            lines.append(f'variantdb_request_duration_seconds_sum{{route="{route}"}} {self.sums[route]:.6f}')
            lines.append(f'variantdb_request_duration_seconds_count{{route="{route}"}} {cum}')
        for name, (doc, value, labels) in sorted(extra.items()):
            label = ",".join(f'{k}="{v}"' for k, v in labels.items())
            lines += [f"# HELP {name} {doc}", f"# TYPE {name} gauge", f"{name}{{{label}}} {value}"]
        lines.append(
            f"# HELP variantdb_process_start_time_seconds Start of this process.\n"
            f"# TYPE variantdb_process_start_time_seconds gauge\n"
            f"variantdb_process_start_time_seconds {self.started:.3f}"
        )
        return "\n".join(lines) + "\n"


class MetricsMiddleware:
    """Count every HTTP request by route template (never by raw path, to bound label cardinality)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on, noting its status and duration."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        t0 = time.perf_counter()
        status = 500
        # Inner layers may copy the scope; a shared dict lets plain routes name their template.
        note: dict[str, str] = {}
        scope["variantdb.metrics"] = note

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route: Any = scope.get("route")
            path = note.get("route") or getattr(route, "path", None) or "unmatched"
            self.metrics.observe(path, scope.get("method", ""), status, time.perf_counter() - t0)
