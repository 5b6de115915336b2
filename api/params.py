"""The hot endpoints: their route class, and their parameters and bodies, each declared once.

FastAPI's parameter validation, dependency solving and response serialization
cost more than a lookup, so the hot routes (``/v1/variants``, ``GET
/v1/subcohort/variants/{id}``) are :class:`RequestRoute` s: documented like any
FastAPI route (``response_model``, ``responses``, ``openapi_extra``), answered by
their endpoint alone, which takes the request and returns the response. The
endpoint reads its few parameters through the declarations here; the same
declaration gives the route's OpenAPI entry, so what is documented and what is
parsed cannot drift. A bad value is a 422 in the one
error shape with FastAPI's wording and locations (``query.strata``,
``path.variant_id``, ``body.variants.0``), as on every other route, every
problem of a request listed at once.

A route reads its parameters into one list of problems and then calls
:func:`check`::

    problems: list[Problem] = []
    strata = STRATA.read(request, problems)
    release = RELEASE.read(request, problems)
    check(problems)
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from fastapi import FastAPI
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field, TypeAdapter, ValidationError
from starlette.requests import Request
from starlette.responses import Response

from variantdb.api.errors import APIError, invalid_request

__all__ = [
    "RELEASE",
    "Flag",
    "PathText",
    "Problem",
    "RequestRoute",
    "Text",
    "Texts",
    "check",
    "document_bodies",
    "json_body",
    "parameters",
    "read_body",
]


class RequestRoute(APIRoute):
    """A FastAPI route answered by its endpoint alone: ``async def endpoint(request) -> Response``.

    Documented as any route (``response_model``, ``responses``, ``openapi_extra``
    from :func:`parameters` and :func:`json_body`); at request time the endpoint is
    called as a Starlette endpoint, without dependency solving, validation or
    response serialization (about 25 us a request: as much as the lookup itself).
    """

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        names = list(inspect.signature(endpoint).parameters)
        if names != ["request"] or not inspect.iscoroutinefunction(endpoint):
            raise TypeError(
                f"{endpoint.__qualname__}: a RequestRoute endpoint is `async def f(request)`, "
                f"not one taking {names}; declare its parameters with variantdb.api.params"
            )
        super().__init__(path, endpoint, **kwargs)

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """Return the endpoint itself (FastAPI's documented hook for a custom route class)."""
        handler: Callable[[Request], Coroutine[Any, Any, Response]] = self.endpoint
        return handler


Problem = dict[str, Any]
"""One problem of a request: ``{"location", "message", "type"}`` (the ``details`` of the error shape)."""

Model = TypeVar("Model", bound=BaseModel)

_TRUE = frozenset(("1", "on", "t", "true", "y", "yes"))
_FALSE = frozenset(("0", "off", "f", "false", "n", "no"))
# Pydantic's messages, as FastAPI gives them on the other routes.
_NOT_BOOL = "Input should be a valid boolean, unable to interpret input"
_TOO_LONG = "String should have at most {} characters"


@dataclass(frozen=True)
class _Param:
    """What every parameter declares: its name, where it is sent, its description and limits."""

    name: str
    description: str
    max_length: int | None = None

    where = "query"

    def _annotation(self) -> Any:
        raise NotImplementedError

    def _default(self) -> Any:
        return None

    def openapi(self) -> dict[str, Any]:
        """Return the OpenAPI parameter object, as FastAPI writes it for an equivalent declaration."""
        title = self.name.replace("_", " ").title()
        field = Field(description=self.description, max_length=self.max_length, title=title)
        schema = TypeAdapter(Annotated[self._annotation(), field]).json_schema()
        if self._default() is not None:
            schema = {"default": self._default(), **schema}
        return {
            "name": self.name,
            "in": self.where,
            "required": self.where == "path",
            "schema": schema,
            "description": self.description,
        }

    def _check_length(self, value: str, problems: list[Problem]) -> None:
        if self.max_length is not None and len(value) > self.max_length:
            problems.append(
                {
                    "location": f"{self.where}.{self.name}",
                    "message": _TOO_LONG.format(self.max_length),
                    "type": "string_too_long",
                }
            )


@dataclass(frozen=True)
class PathText(_Param):
    """A required string in the path (the route's path says where, e.g. ``{variant_id:path}``)."""

    where = "path"

    def _annotation(self) -> Any:
        return str

    def read(self, request: Request, problems: list[Problem]) -> str:
        """Return the value; a problem is noted if it is too long."""
        value: str = request.path_params[self.name]
        self._check_length(value, problems)
        return value


@dataclass(frozen=True)
class Text(_Param):
    """An optional query string; sent twice, the last value counts (as in FastAPI)."""

    def _annotation(self) -> Any:
        return str | None

    def read(self, request: Request, problems: list[Problem]) -> str | None:
        """Return the value or None when absent; a problem is noted if it is too long."""
        value = request.query_params.get(self.name)
        if value is not None:
            self._check_length(value, problems)
        return value


@dataclass(frozen=True)
class Texts(_Param):
    """An optional repeatable query string (``?sex=XX&sex=XY``)."""

    def _annotation(self) -> Any:
        return list[str] | None

    def read(self, request: Request, problems: list[Problem]) -> list[str] | None:
        """Return every value given, or None when absent."""
        return request.query_params.getlist(self.name) or None


@dataclass(frozen=True)
class Flag(_Param):
    """A query boolean: true/false, 1/0, yes/no, on/off, t/f, y/n in any case (pydantic's words)."""

    default: bool = False

    def _annotation(self) -> Any:
        return bool

    def _default(self) -> Any:
        return self.default

    def read(self, request: Request, problems: list[Problem]) -> bool:
        """Return the value, or the default when absent; a problem is noted if it is not a boolean."""
        raw = request.query_params.get(self.name)
        if raw is None:
            return self.default
        low = raw.lower()
        if low in _TRUE:
            return True
        if low not in _FALSE:
            problems.append({"location": f"query.{self.name}", "message": _NOT_BOOL, "type": "bool_parsing"})
        return False


RELEASE = Text("release", "pin a release id (e.g. r0001); default: the current release", max_length=64)
"""``?release=``: the release to read; shared by every route (see :func:`variantdb.api.deps.get_release`)."""


def check(problems: list[Problem]) -> None:
    """Raise the 422 of a request's problems, if it has any.

    Raises
    ------
    APIError
        422 ``invalid_request`` listing every problem.
    """
    if problems:
        raise invalid_request(problems)


def parameters(*params: PathText | Text | Texts | Flag) -> dict[str, Any]:
    """Return ``openapi_extra`` documenting ``params`` in order."""
    return {"parameters": [p.openapi() for p in params]}


# --- JSON bodies ---------------------------------------------------------------------------------

_BODIES: dict[str, type[BaseModel]] = {}


def json_body(model: type[BaseModel], examples: dict[str, Any] | None = None) -> dict[str, Any]:
    """Return ``openapi_extra`` documenting a required JSON body of ``model``.

    The model's schema is added to the document's components by :func:`document_bodies`.
    """
    _BODIES[model.__name__] = model
    content: dict[str, Any] = {"schema": {"$ref": f"#/components/schemas/{model.__name__}"}}
    if examples:
        content["examples"] = examples
    return {"requestBody": {"content": {"application/json": content}, "required": True}}


async def read_body(
    request: Request, model: type[Model], limit: int, problems: list[Problem]
) -> Model | None:
    """Return the body validated by ``model``, or None with the problems noted.

    Raises
    ------
    APIError
        413 ``payload_too_large`` beyond ``limit`` bytes, however the body is sent (chunked too).
    """
    parts: list[bytes] = []
    size = 0
    async for part in request.stream():
        size += len(part)
        if size > limit:
            raise APIError(
                413,
                "payload_too_large",
                f"the request body is over {limit:,} bytes (setting max_request_bytes); split the batch",
            )
        parts.append(part)
    try:
        return model.model_validate_json(b"".join(parts))
    except ValidationError as e:
        for err in e.errors(include_url=False, include_input=False, include_context=False):
            loc = ".".join(["body", *(str(x) for x in err["loc"])])
            problems.append({"location": loc, "message": err["msg"], "type": err["type"]})
        return None


def document_bodies(app: FastAPI) -> None:
    """Add the models of :func:`json_body` bodies to the app's OpenAPI components."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        schema = build()
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        for name, model in _BODIES.items():
            if name in components:
                continue
            body = model.model_json_schema(ref_template="#/components/schemas/{model}")
            components.update(body.pop("$defs", {}))
            components[name] = body
        return schema

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented way to extend the schema
