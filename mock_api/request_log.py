"""One log line per request, written by an ASGI middleware around the whole app.

The line carries method, path (with query), status, client and latency, and never headers or
bodies, so credentials and tokens cannot leak into logs. Handlers name the client by storing it
in the ASGI scope under ``SCOPE_CLIENT_KEY``.
"""

from __future__ import annotations

import logging
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

logger = logging.getLogger("mock_api")

SCOPE_CLIENT_KEY = "mock_api.client_id"


class RequestLogMiddleware:
    """One log line per request: method, path, status, client and latency; never credentials."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status: int | None = None

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            path = scope["path"] + (
                f"?{scope['query_string'].decode()}" if scope["query_string"] else ""
            )
            logger.info(
                "%s %s %s client=%s latency_ms=%.1f",
                scope["method"],
                path,
                status if status is not None else "-",
                scope.get(SCOPE_CLIENT_KEY, "-"),
                (time.perf_counter() - started) * 1000,
            )
