"""Validate documents against the official Beacon v2 schemas in ``tests/data/beacon-v2`` (offline).

References are resolved as the shared ``validate_beacon.py`` resolves them: every schema
is registered under its file URI and its raw.githubusercontent.com address, the dangling
``models/.../common/info.json`` of upstream v2.1.1 is aliased to the framework's, and VRS 1.3
(draft-07) is registered under its w3id address.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7, DRAFT202012

__all__ = ["SCHEMAS", "errors", "validator"]

SCHEMAS = Path(__file__).parent / "data" / "beacon-v2"
_RAW = "https://raw.githubusercontent.com/ga4gh-beacon/beacon-v2/main/"
_MODEL = "models/json/beacon-v2-default-model"


@cache
def _registry() -> Registry:
    pairs: list[tuple[str, Resource[Any]]] = []
    for sub in ("framework/json", "models/json"):
        for p in sorted((SCHEMAS / sub).rglob("*.json")):
            res = Resource.from_contents(json.loads(p.read_text()), default_specification=DRAFT202012)
            rel = p.relative_to(SCHEMAS).as_posix()
            pairs += [(p.as_uri(), res), (_RAW + rel, res)]
    info = Resource.from_contents(
        json.loads((SCHEMAS / "framework/json/common/info.json").read_text()),
        default_specification=DRAFT202012,
    )
    alias = SCHEMAS / _MODEL / "common/info.json"
    pairs += [(alias.as_uri(), info), (_RAW + alias.relative_to(SCHEMAS).as_posix(), info)]
    vrs = json.loads((SCHEMAS / "vrs-1.3/vrs.json").read_text())
    pairs.append(
        (
            "https://w3id.org/ga4gh/schema/vrs/1.3/vrs.json",
            Resource.from_contents(vrs, default_specification=DRAFT7),
        )
    )
    return Registry().with_resources(pairs)


@cache
def validator(schema: str) -> Draft202012Validator:
    """Return a validator of a schema named by its path under ``tests/data/beacon-v2``.

    ``responses/X.json`` is short for ``framework/json/responses/X.json``, ``genomicVariation``
    for the default model's genomic variation schema.
    """
    if schema == "genomicVariation":
        path = SCHEMAS / _MODEL / "genomicVariations/defaultSchema.json"
    elif schema.startswith(("responses/", "requests/", "configuration/")):
        path = SCHEMAS / "framework/json" / schema
    else:
        path = SCHEMAS / schema
    assert path.exists(), path
    return Draft202012Validator(
        {"$ref": path.resolve().as_uri()},
        registry=_registry(),
        format_checker=Draft202012Validator.FORMAT_CHECKER,
    )


def errors(schema: str, doc: Any) -> list[str]:
    """Return the validation errors of a document (``path: message``), empty when it is valid."""
    out = sorted(validator(schema).iter_errors(doc), key=lambda e: list(e.absolute_path))
    return [f"/{'/'.join(map(str, e.absolute_path))}: {e.message[:300]}" for e in out]
