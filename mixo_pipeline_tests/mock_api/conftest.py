"""Fixtures for the mock's own tests: servers at compressed time, and an HTTP helper.

Time scale 0.01 makes the documented 60 s window 0.6 s, so rate-window tests wait fractions of
a second instead of minutes.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from mock_api import MockConfig, MockServer
from mock_api.accounts import DEFAULT_EMAIL, DEFAULT_PASSWORD

FAST = 0.01
"""Time scale for most tests: 60 s window -> 0.6 s, 2 s sync -> 20 ms, 3600 s TTL -> 36 s."""

QUIET: dict[str, Any] = {"error_rate": 0.0, "hang_rate": 0.0, "seed": 7, "time_scale": FAST}
"""No injected faults, so a test sees only the behaviour it provokes."""


class Api:
    """A thin httpx wrapper that knows the mock's endpoints and can log in."""

    def __init__(self, url: str, timeout: float = 5.0) -> None:
        self.http = httpx.Client(base_url=url, timeout=timeout, trust_env=False)
        self.token: str | None = None

    def login(self, email: str = DEFAULT_EMAIL, password: str = DEFAULT_PASSWORD) -> str:
        response = self.http.post("/auth/token", auth=(email, password))
        assert response.status_code == 200, response.text
        self.token = response.json()["access_token"]
        return self.token

    def headers(self, client_id: str | None = None, token: str | None = None) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {token or self.token}"}
        if client_id:
            headers["X-Client-ID"] = client_id
        return headers

    def list(
        self, page: int | str | None = None, limit: int | str | None = None, **kw: Any
    ) -> httpx.Response:
        params = {k: v for k, v in (("page", page), ("limit", limit)) if v is not None}
        timeout = kw.pop("timeout", None)
        extra = {"timeout": timeout} if timeout is not None else {}
        return self.http.get("/api/campaigns", params=params, headers=self.headers(**kw), **extra)

    def sync(self, campaign_id: str, **kw: Any) -> httpx.Response:
        timeout = kw.pop("timeout", None)
        extra = {"timeout": timeout} if timeout is not None else {}
        return self.http.post(
            f"/api/campaigns/{campaign_id}/sync",
            json={"campaign_id": campaign_id},
            headers=self.headers(**kw),
            **extra,
        )

    def close(self) -> None:
        self.http.close()


@pytest.fixture(scope="session")
def _stoppers() -> Iterator[list[threading.Thread]]:
    """Servers stop in the background (uvicorn needs ~0.15 s each); all are joined at the end."""
    threads: list[threading.Thread] = []
    yield threads
    for thread in threads:
        thread.join(timeout=10)
    assert not any(thread.is_alive() for thread in threads), "a mock server did not stop"


@pytest.fixture
def start_mock(_stoppers: list[threading.Thread]) -> Iterator[Callable[..., MockServer]]:
    """Start ``MockServer``s with ``QUIET`` defaults overridden by keyword; all stop at teardown."""
    servers: list[MockServer] = []

    def start(**overrides: Any) -> MockServer:
        server = MockServer(MockConfig(**{**QUIET, **overrides})).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        thread = threading.Thread(target=server.stop, name=f"stop {server.url}")
        thread.start()
        _stoppers.append(thread)


@pytest.fixture
def api_for() -> Iterator[Callable[[MockServer], Api]]:
    clients: list[Api] = []

    def make(server: MockServer, timeout: float = 5.0) -> Api:
        api = Api(server.url, timeout)
        clients.append(api)
        return api

    yield make
    for api in clients:
        api.close()
