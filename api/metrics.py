"""Prometheus metrics of the service (``prometheus_client``), and the ASGI middleware that counts requests.

One process: the counters live in the app's own registry. Several uvicorn
workers: when ``PROMETHEUS_MULTIPROC_DIR`` is set (before the workers start;
``variantdb serve --workers N`` sets it to a fresh directory), each worker writes
its counts to files there and ``/metrics``, whichever worker answers, reports
the sum over all of them (prometheus_client's multiprocess mode). The gauges of
the served release and the process start are those of the answering worker.

The middleware is pure ASGI (no BaseHTTPMiddleware) and keeps the labelled
children of each route, method and status, so a request costs one dictionary
look-up, one counter increment and one histogram observation.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from functools import lru_cache
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, disable_created_metrics, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["CONTENT_TYPE", "Metrics", "MetricsMiddleware", "multiprocess_dir", "route_label"]

_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)

# No ``*_created`` series: they double the series of every label set and nothing here reads them.
disable_created_metrics()  # type: ignore[no-untyped-call]

#: The media type of the text exposition ``generate_latest`` writes.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

#: Gauges added at scrape time: ``{name: (help, value, labels)}``.
Extra = dict[str, tuple[str, float, dict[str, str]]]


def multiprocess_dir() -> str | None:
    """Return prometheus_client's multiprocess directory (``PROMETHEUS_MULTIPROC_DIR``), or None."""
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or os.environ.get("prometheus_multiproc_dir") or None


_CONVERTOR = re.compile(r":\w+\}")


@lru_cache(maxsize=256)
def route_label(path: str) -> str:
    """Return the label of a route template: without convertors (``/v1/variants/{variant_id}``, not ``:path``)."""
    return _CONVERTOR.sub("}", path)


class _Gauges(Collector):
    """The gauges known only when scraped: the served release, release switches, the process start."""

    def __init__(self, extra: Extra, started: float) -> None:
        self.extra = extra
        self.started = started

    def collect(self) -> Iterator[Metric]:
        for name, (doc, value, labels) in sorted(self.extra.items()):
            g = GaugeMetricFamily(name, doc, labels=list(labels))
            g.add_metric(list(labels.values()), value)
            yield g
        yield GaugeMetricFamily(
            "variantdb_process_start_time_seconds", "Start of this process.", value=self.started
        )


class Metrics:
    """Request counts and latencies by route template, method and status."""

    def __init__(self) -> None:
        self.started = time.time()
        self.multiprocess = multiprocess_dir() is not None
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "variantdb_requests",
            "HTTP requests by route template, method and status.",
            ("route", "method", "status"),
            registry=self.registry,
        )
        self.duration = Histogram(
            "variantdb_request_duration_seconds",
            "Time to answer a request, by route template.",
            ("route",),
            buckets=_BUCKETS,
            registry=self.registry,
        )
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        """Record one finished request."""
        key = (route, method, status)
        child = self._children.get(key)
        if child is None:
            child = (self.requests.labels(route, method, str(status)), self.duration.labels(route))
            self._children[key] = child
        child[0].inc()
        child[1].observe(seconds)

    def render(self, extra: Extra) -> bytes:
        """Return the Prometheus text exposition; ``extra`` adds gauges ``{name: (help, value, labels)}``."""
        if self.multiprocess:
            counted = CollectorRegistry()
            MultiProcessCollector(counted)  # type: ignore[no-untyped-call]
        else:
            counted = self.registry
        gauges = CollectorRegistry()
        gauges.register(_Gauges(extra, self.started))
        return generate_latest(counted) + generate_latest(gauges)


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

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            # The router sets the matched route in this same scope.
            route: Any = scope.get("route")
            path = route_label(route.path) if route is not None else "unmatched"
            self.metrics.observe(path, scope.get("method", ""), status, time.perf_counter() - t0)
