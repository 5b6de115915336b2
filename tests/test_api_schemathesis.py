"""A schemathesis run against the OpenAPI spec: no input may produce a 5xx."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings

schemathesis = pytest.importorskip("schemathesis")


def _run_operation(op: Any, failures: list[str], calls: list[int]) -> None:
    @settings(
        max_examples=80,
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(op.as_strategy())
    def run(case: Any) -> None:
        response = case.call()
        calls.append(response.status_code)
        if response.status_code >= 500:
            failures.append(
                f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text[:200]}"
            )

    run()


@pytest.mark.slow
def test_no_input_produces_a_server_error(api_db: Path) -> None:
    from variantdb.api.main import create_app

    schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(api_db))
    failures: list[str] = []
    calls: list[int] = []
    n = 0
    for operation in schema.get_all_operations():
        _run_operation(operation.ok(), failures, calls)
        n += 1
    assert n >= 9 and len(calls) > 300
    assert not failures, "\n".join(failures[:20])
