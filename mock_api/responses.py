"""The platform's error bodies, and a way to answer with one from deep inside a handler.

A handler step raises ``Denied(response)``; ``answer_denied`` around the endpoint turns it into
the response, so each step can refuse without threading return values through the others.

Every error the platform documents has the same shape, ``{"error": ..., "message": ...}`` plus
endpoint-specific fields, so they are built in one place.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response


def error_response(status: int, error: str, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": error, "message": message, **extra}, status_code=status)


def unavailable() -> JSONResponse:
    return error_response(503, "Service temporarily unavailable", "Please retry with backoff")


def bad_request(message: str) -> JSONResponse:
    return error_response(400, "Bad request", message)


def bad_credentials() -> JSONResponse:
    return error_response(401, "Invalid credentials", "Email or password is incorrect")


class Denied(Exception):
    """Raised inside a handler to answer with ``response`` at once."""

    def __init__(self, response: Response) -> None:
        self.response = response


async def json_body(request: Request, default: Any) -> Any:
    body = await request.body()
    if not body.strip():
        return default
    try:
        return json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise Denied(bad_request("Body must be JSON")) from None


def answer_denied(
    method: Callable[[Request], Awaitable[Response]],
) -> Callable[[Request], Awaitable[Response]]:
    """Wrap an endpoint so a ``Denied`` raised anywhere in a handler into its response."""

    async def endpoint(request: Request) -> Response:
        try:
            return await method(request)
        except Denied as denied:
            return denied.response

    return endpoint
