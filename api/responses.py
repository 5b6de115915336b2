"""The JSON response class of the service: orjson, no re-validation of what the routes built."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response

__all__ = ["ORJSONResponse", "json_response"]


class ORJSONResponse(Response):
    """A JSON response rendered by orjson (several times faster than the stdlib for count records)."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        """Serialize ``content`` with orjson."""
        return orjson.dumps(content)


def json_response(content: Any, status_code: int = 200) -> Response:
    """Return a ready JSON response; FastAPI skips response-model validation for Response objects."""
    return Response(orjson.dumps(content), status_code=status_code, media_type="application/json")
