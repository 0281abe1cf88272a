"""Outages: scheduled windows (scaled) and runtime admin ones, as 503s or hangs on every call."""

from __future__ import annotations

import time

import httpx

from mock_api import Outage
from mock_api.accounts import DEFAULT_EMAIL, DEFAULT_PASSWORD


def _all_calls(api) -> list[int]:
    return [
        api.http.get("/health").status_code,
        api.http.post("/auth/token", auth=(DEFAULT_EMAIL, DEFAULT_PASSWORD)).status_code,
        api.list().status_code,
        api.sync("campaign_1").status_code,
    ]


def test_scheduled_outage_answers_503_on_every_call_then_recovers(start_mock, api_for):
    # 40 s to 80 s after start at scale 0.01 = 0.4 s to 0.8 s.
    server = start_mock(outages=(Outage(40, 80),), rate_limit=100)
    started = server.state.started_mono
    api = api_for(server)
    api.login()
    assert _all_calls(api) == [200, 200, 200, 200]
    time.sleep(max(0.0, started + 0.42 - time.monotonic()))
    assert _all_calls(api) == [503, 503, 503, 503]
    body = api.list().json()
    assert body["error"] == "Service temporarily unavailable"
    time.sleep(max(0.0, started + 0.81 - time.monotonic()))
    assert _all_calls(api) == [200, 200, 200, 200]
    endpoints = server.stats()["clients"]["default"]["endpoints"]
    assert {e: endpoints[e]["errors_503"] for e in ("auth", "list", "sync")} == {
        "auth": 1,
        "list": 2,
        "sync": 1,
    }


def test_scheduled_hang_outage_never_answers(start_mock, api_for):
    server = start_mock(outages=(Outage(0, 50, "hang"),))  # the first 0.5 s
    api = api_for(server, timeout=0.1)
    for call in (lambda: api.http.get("/health"), api.login):
        try:
            call()
            raise AssertionError("answered during a hang outage")
        except httpx.ReadTimeout:
            pass
    time.sleep(max(0.0, server.state.started_mono + 0.51 - time.monotonic()))
    assert api.http.get("/health").status_code == 200
    assert server.stats()["clients"]["default"]["endpoints"]["auth"]["hangs"] == 1


def test_admin_outage_starts_and_stops_at_runtime(start_mock, api_for):
    server = start_mock()
    api = api_for(server, timeout=0.2)
    api.login()
    server.start_outage("error")
    assert _all_calls(api) == [503, 503, 503, 503]
    # Authentication is not even looked at while the platform is down.
    assert api.list(token="forged").status_code == 503
    server.start_outage("hang")
    try:
        api.list()
        raise AssertionError("answered during a hang outage")
    except httpx.ReadTimeout:
        pass
    server.stop_outage()
    assert _all_calls(api) == [200, 200, 200, 200]
    default = server.stats()["clients"]["default"]
    assert (default["errors_503"], default["hangs"], default["unauthorized_401"]) == (4, 1, 0)


def test_admin_outage_rejects_unknown_mode(start_mock, api_for):
    api = api_for(start_mock())
    response = api.http.post("/__admin/outage", json={"mode": "meltdown"})
    assert response.status_code == 400
    assert api.http.get("/health").status_code == 200
    assert api.http.post("/__admin/outage").json() == {"outage": "error"}  # default mode
    assert api.http.delete("/__admin/outage").json() == {"outage": None}


def test_health_reports_status_and_uptime(start_mock, api_for):
    server = start_mock()
    api = api_for(server)
    time.sleep(0.05)
    body = api.http.get("/health").json()
    assert body["status"] == "ok"
    assert body["uptime"] >= 0.05
    assert body["timestamp"].endswith("Z")
