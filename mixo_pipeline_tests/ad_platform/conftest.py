"""Fixtures for the client's tests: the mock at compressed time, and a scripted stub server.

Time scale 0.01 turns the documented 60 s window into 0.6 s and the 2 s sync into 20 ms. Read
timeouts are raised to 0.2 s (20 s of platform time) so a busy CI machine's scheduling jitter is
never mistaken for a hang; a hang still costs only 0.2 s.

No hang of the stub outlives the mock's bound (``HANG_BOUND_S``, see the top conftest): a
client that lost a read timeout then fails its test instead of waiting forever.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from mixo_pipeline.ad_platform import Account, AdPlatformClient, ClientSettings
from mixo_pipeline_tests.conftest import HANG_BOUND_S
from mock_api import MockConfig, MockServer
from mock_api.accounts import DEFAULT_CLIENT_ID, DEFAULT_EMAIL, DEFAULT_PASSWORD

FAST = 0.01


CAMPAIGN = {  # one campaign as the API documents it, for hand-written servers
    "id": "c1",
    "name": "Spring",
    "status": "active",
    "budget": 100,
    "impressions": 10,
    "clicks": 1,
    "conversions": 0,
    "created_at": "2026-01-01T00:00:00Z",
}


class JsonHandler(BaseHTTPRequestHandler):
    """A hand-written platform's handler: JSON answers, no access log."""

    def answer(self, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        pass


def fast_settings(**overrides: Any) -> ClientSettings:
    """Client settings matched to a mock at ``FAST`` time scale."""
    values: dict[str, Any] = {
        "time_scale": FAST,
        "connect_timeout_s": 100.0,
        "list_read_timeout_s": 20.0,
        "sync_read_timeout_s": 20.0,
        "auth_read_timeout_s": 100.0,
        "backoff_base_s": 2.0,
        "backoff_cap_s": 20.0,
        "rate_limit_backend": "memory",
        "rate_limit_margin_s": 0.1,
    }
    values.update(overrides)
    return ClientSettings(**values)


def mock_config(**overrides: Any) -> MockConfig:
    values: dict[str, Any] = {"time_scale": FAST, "seed": 11}
    values.update(overrides)
    return MockConfig(**values)


def default_account(url: str, password: str = DEFAULT_PASSWORD) -> Account:
    return Account(DEFAULT_CLIENT_ID, url, DEFAULT_EMAIL, password)


@pytest.fixture
def start_mock() -> Iterator[Callable[..., MockServer]]:
    """Start a ``MockServer`` with ``mock_config(**overrides)``; stopped after the test."""
    servers: list[MockServer] = []

    def start(**overrides: Any) -> MockServer:
        server = MockServer(mock_config(**overrides)).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def make_client() -> Iterator[Callable[..., AdPlatformClient]]:
    """``make_client(url, **settings)`` for the default account; closed after the test."""
    clients: list[AdPlatformClient] = []

    def make(url: str, *, account: Account | None = None, **overrides: Any) -> AdPlatformClient:
        client = AdPlatformClient(fast_settings(**overrides), account or default_account(url))
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


# ------------------------------------------------------------------ scripted stub server


@dataclass
class Reply:
    status: int = 200
    body: Any = None
    """A JSON value, or ``bytes`` sent as they are."""
    headers: dict[str, str] = field(default_factory=dict)
    hang: bool = False


@dataclass
class Stub:
    """A tiny HTTP server answering from per-path scripts, for what the mock cannot do.

    ``routes[(method, path)]`` is a list of replies used in turn (the last one repeats). Every
    request is recorded as ``(method, path, monotonic time)``.
    """

    routes: dict[tuple[str, str], list[Reply]]
    url: str = ""
    requests: list[tuple[str, str, float]] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)


TOKEN_REPLY = Reply(body={"access_token": "stub-token", "token_type": "Bearer", "expires_in": 3600})


@pytest.fixture
def start_stub() -> Iterator[Callable[[dict[tuple[str, str], list[Reply]]], Stub]]:
    servers: list[tuple[ThreadingHTTPServer, Stub]] = []

    def start(routes: dict[tuple[str, str], list[Reply]]) -> Stub:
        import time

        stub = Stub(routes={("POST", "/auth/token"): [TOKEN_REPLY], **routes})
        lock = threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                path = self.path.split("?", 1)[0]
                with lock:
                    stub.requests.append((self.command, path, time.monotonic()))
                    script = stub.routes.get((self.command, path))
                    if not script:
                        reply = Reply(404, {"error": "Not found"})
                    else:
                        reply = script.pop(0) if len(script) > 1 else script[0]
                if reply.hang:
                    # Released at teardown, or by the bound; closing the connection without
                    # an answer ends the request even for a client with no read timeout.
                    stub.release.wait(HANG_BOUND_S * FAST)
                    self.close_connection = True
                    return
                payload = (
                    reply.body if isinstance(reply.body, bytes) else json.dumps(reply.body).encode()
                )
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                if "Content-Type" not in reply.headers:
                    self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = _answer
            do_POST = _answer

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        stub.url = f"http://127.0.0.1:{server.server_address[1]}"
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append((server, stub))
        return stub

    yield start
    for server, stub in servers:
        stub.release.set()
        server.shutdown()
        server.server_close()
