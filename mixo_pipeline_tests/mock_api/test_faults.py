"""Injected 503s and hangs: seeded determinism, real hangs, and a clean stop with hangs open."""

from __future__ import annotations

import threading
import time

import httpx

from mock_api.faults import client_rng

HANG_TIMEOUT_S = 0.25


def _outcomes(server, api, n: int, client_id: str | None = None) -> list[str]:
    """The server-side fate of each of ``n`` list calls: ``"200"``, ``"503"`` or ``"hang"``.

    The fate is read from the server's stats, so a slow answer on a busy machine is never
    mistaken for a hang; the client's view is checked against it.
    """
    outcomes = []
    for _ in range(n):
        before = server.stats()["totals"]
        try:
            status = str(api.list(client_id=client_id, timeout=HANG_TIMEOUT_S).status_code)
        except httpx.ReadTimeout:
            status = "timeout"
        after = server.stats()["totals"]
        if after["hangs"] > before["hangs"]:
            assert status == "timeout"
            outcomes.append("hang")
        else:
            outcomes.append("503" if after["errors_503"] > before["errors_503"] else "200")
            assert status == outcomes[-1]
    return outcomes


def _expected(seed: int, client_id: str, n: int, error_rate: float, hang_rate: float) -> list[str]:
    rng = client_rng(seed, "faults", client_id)
    draws = [rng.random() for _ in range(n)]
    return [
        "503" if d < error_rate else "hang" if d < error_rate + hang_rate else "200" for d in draws
    ]


FAULTY = {"error_rate": 0.3, "hang_rate": 0.2, "rate_limit": 1000}


def test_same_seed_gives_the_same_503_and_hang_sequence(start_mock, api_for):
    runs = []
    for _ in range(2):
        server = start_mock(seed=42, **FAULTY)
        api = api_for(server)
        api.login()
        runs.append(_outcomes(server, api, 16))
        stats = server.stats()["clients"]["default"]
        assert stats["errors_503"] == runs[-1].count("503")
        assert stats["hangs"] == runs[-1].count("hang")
    assert runs[0] == runs[1] == _expected(42, "default", 16, 0.3, 0.2)
    assert {"200", "503", "hang"} <= set(runs[0])
    assert _expected(43, "default", 16, 0.3, 0.2) != runs[0]


def test_concurrent_clients_do_not_perturb_each_others_sequence(start_mock, api_for):
    server = start_mock(seed=5, **FAULTY)
    api = api_for(server)
    api.login()
    interleaved: dict[str, list[str]] = {"a": [], "b": []}
    for _ in range(8):
        for client in ("a", "b"):
            interleaved[client] += _outcomes(server, api, 1, client)
    assert interleaved["a"] == _expected(5, "a", 8, 0.3, 0.2)
    assert interleaved["b"] == _expected(5, "b", 8, 0.3, 0.2)


def test_error_rate_knob(start_mock, api_for):
    server = start_mock(error_rate=1.0)
    api = api_for(server)
    api.login()
    response = api.list()
    assert response.status_code == 503
    assert response.json()["error"] == "Service temporarily unavailable"
    assert api.sync("campaign_1").status_code == 503
    endpoints = server.stats()["clients"]["default"]["endpoints"]
    assert (endpoints["list"]["errors_503"], endpoints["sync"]["errors_503"]) == (1, 1)


def test_a_hang_really_hangs_until_the_client_gives_up(start_mock, api_for):
    server = start_mock(hang_rate=1.0)
    api = api_for(server)
    api.login()
    started = time.monotonic()
    try:
        api.list(timeout=0.4)
        raise AssertionError("the hanging request was answered")
    except httpx.ReadTimeout:
        pass
    assert time.monotonic() - started >= 0.4
    # Other requests are served while a hang is open.
    assert api.http.get("/health").status_code == 200
    assert server.stats()["clients"]["default"]["hangs"] == 1


def test_server_stops_promptly_with_hanging_requests_open(start_mock, api_for):
    server = start_mock(hang_rate=1.0)
    api = api_for(server, timeout=30)
    api.login()
    results: list[object] = []
    threads = [threading.Thread(target=lambda: results.append(_try(api.list))) for _ in range(3)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 5
    while server.stats()["totals"]["hangs"] < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert server.stats()["totals"]["hangs"] == 3
    started = time.monotonic()
    server.stop()
    for thread in threads:
        thread.join(timeout=5)
    assert time.monotonic() - started < 2.0
    assert len(results) == 3  # every client got an answer or a closed connection, none waits


def _try(call) -> object:
    try:
        return call().status_code
    except httpx.HTTPError as exc:
        return type(exc).__name__


def test_same_seed_gives_the_same_figures(start_mock, api_for):
    figures = []
    for _ in range(2):
        server = start_mock(seed=11)
        api = api_for(server)
        api.login()
        data = api.list(limit=5).json()["data"]
        figures.append([(c["impressions"], c["clicks"], c["conversions"]) for c in data])
    assert figures[0] == figures[1]
    other = start_mock(seed=12)
    api = api_for(other)
    api.login()
    data = api.list(limit=5).json()["data"]
    assert [(c["impressions"], c["clicks"], c["conversions"]) for c in data] != figures[0]
