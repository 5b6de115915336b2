"""``variantdb.api.params``: each parameter documented as FastAPI documents it, and read as FastAPI reads it."""

from __future__ import annotations

from typing import Annotated, Any

import pytest
from fastapi import FastAPI, Path, Query
from fastapi.testclient import TestClient
from pydantic import BaseModel, ConfigDict
from starlette.requests import Request
from starlette.responses import Response

from tests.api_helpers import assert_error
from variantdb.api.errors import install_error_handlers
from variantdb.api.params import (
    Flag,
    PathText,
    Problem,
    Text,
    Texts,
    check,
    document_bodies,
    json_body,
    parameters,
    read_body,
)

_ID = PathText("thing_id", "the id", max_length=5)
_FLAG = Flag("flag", "a flag", default=True)
_TEXT = Text("text", "a text", max_length=3)
_TEXTS = Texts("texts", "some texts")


class _Body(BaseModel):
    """A body."""

    model_config = ConfigDict(extra="forbid")
    names: list[str]


def _declared_by_fastapi() -> dict[str, Any]:
    """The same parameters and body declared the usual FastAPI way."""
    app = FastAPI()

    @app.post("/things/{thing_id}")
    async def usual(
        thing_id: Annotated[str, Path(description="the id", max_length=5)],
        body: _Body,
        flag: Annotated[bool, Query(description="a flag")] = True,
        text: Annotated[str | None, Query(description="a text", max_length=3)] = None,
        texts: Annotated[list[str] | None, Query(description="some texts")] = None,
    ) -> None:
        """Do."""

    return app.openapi()


def _app() -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)

    @app.post(
        "/things/{thing_id}", openapi_extra={**parameters(_ID, _FLAG, _TEXT, _TEXTS), **json_body(_Body)}
    )
    async def one(request: Request) -> Response:
        """Do."""
        problems: list[Problem] = []
        values = {p.name: p.read(request, problems) for p in (_ID, _FLAG, _TEXT, _TEXTS)}
        body = await read_body(request, _Body, 100, problems)
        check(problems)
        assert body is not None
        return Response(repr((values, body.names)))

    document_bodies(app)
    return app


def test_parameters_and_body_are_documented_as_fastapi_documents_them() -> None:
    usual = _declared_by_fastapi()
    ours = _app().openapi()
    op_usual, op_ours = (
        usual["paths"]["/things/{thing_id}"]["post"],
        ours["paths"]["/things/{thing_id}"]["post"],
    )
    assert op_ours["parameters"] == op_usual["parameters"]
    assert op_ours["requestBody"] == op_usual["requestBody"]
    assert ours["components"]["schemas"]["_Body"] == usual["components"]["schemas"]["_Body"]


@pytest.mark.parametrize(
    ("query", "body", "values"),
    [
        ("", b'{"names": []}', "({'thing_id': 'ab', 'flag': True, 'text': None, 'texts': None}, [])"),
        (
            "?flag=N&text=x&text=y&texts=a&texts=b,c",
            b'{"names": ["n"]}',
            "({'thing_id': 'ab', 'flag': False, 'text': 'y', 'texts': ['a', 'b,c']}, ['n'])",
        ),
    ],
)
def test_values_are_read_as_fastapi_reads_them(query: str, body: bytes, values: str) -> None:
    with TestClient(_app()) as client:
        assert client.post("/things/ab" + query, content=body).text == values


def test_every_problem_is_named_in_one_422() -> None:
    with TestClient(_app()) as client:
        resp = client.post("/things/abcdef?flag=maybe&text=long", content=b'{"names": [1], "x": 2}')
        err = assert_error(resp, 422, "invalid_request")
        assert [(d["location"], d["type"]) for d in err["details"]] == [
            ("path.thing_id", "string_too_long"),
            ("query.flag", "bool_parsing"),
            ("query.text", "string_too_long"),
            ("body.names.0", "string_type"),
            ("body.x", "extra_forbidden"),
        ]
        assert err["message"].startswith(
            "the request is not valid: path.thing_id: String should have at most 5"
        )
        assert_error(client.post("/things/ab", content=b"x" * 101), 413, "payload_too_large")
        assert_error(client.post("/things/ab", content=b"{nope"), 422, "invalid_request")
