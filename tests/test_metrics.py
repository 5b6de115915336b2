"""/metrics through prometheus_client: one process, and several workers summed (multiprocess mode)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from variantdb.api.metrics import Metrics


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_counts_and_histogram_of_one_process() -> None:
    m = Metrics()
    assert not m.multiprocess
    for seconds in (0.0002, 0.003, 2.0):
        m.observe("/v1/variants/{variant_id}", "GET", 200, seconds)
    m.observe("/v1/variants/{variant_id}", "GET", 404, 0.0001)
    text = m.render(
        {"variantdb_release_info": ("The release being served.", 1, {"release": "r0001"})}
    ).decode()
    got = _samples(text)
    route = ("route", "/v1/variants/{variant_id}")
    assert got[("variantdb_requests_total", (("method", "GET"), route, ("status", "200")))] == 3
    assert got[("variantdb_requests_total", (("method", "GET"), route, ("status", "404")))] == 1
    assert got[("variantdb_request_duration_seconds_count", (route,))] == 4
    assert got[("variantdb_request_duration_seconds_bucket", (("le", "0.00025"), route))] == 2
    assert got[("variantdb_request_duration_seconds_bucket", (("le", "1.0"), route))] == 3
    assert got[("variantdb_request_duration_seconds_bucket", (("le", "+Inf"), route))] == 4
    assert got[("variantdb_release_info", (("release", "r0001"),))] == 1
    assert ("variantdb_process_start_time_seconds", ()) in got
    assert "_created" not in text
    # a second app in the same process counts on its own
    assert "variantdb_requests_total{" not in Metrics().render({}).decode()


_WORKER = """
import sys
from variantdb.api.metrics import Metrics
m = Metrics()
assert m.multiprocess
for _ in range(int(sys.argv[1])):
    m.observe("/v1/variants/{variant_id}", "GET", 200, 0.001)
if sys.argv[2] == "render":
    sys.stdout.write(m.render({}).decode())
"""


def test_several_workers_are_summed_in_multiprocess_mode(tmp_path: Path) -> None:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    for n in (3, 4):
        subprocess.run([sys.executable, "-c", _WORKER, str(n), "-"], env=env, check=True)
    done = subprocess.run(
        [sys.executable, "-c", _WORKER, "5", "render"], env=env, check=True, capture_output=True, text=True
    )
    got = _samples(done.stdout)
    route = ("route", "/v1/variants/{variant_id}")
    assert got[("variantdb_requests_total", (("method", "GET"), route, ("status", "200")))] == 12
    assert got[("variantdb_request_duration_seconds_count", (route,))] == 12
    assert ("variantdb_process_start_time_seconds", ()) in got
