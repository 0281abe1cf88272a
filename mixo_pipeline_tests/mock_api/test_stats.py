"""``/__admin/stats``: counts per client and endpoint, totals, timestamps, config, reset."""

from __future__ import annotations

import time

import pytest

from mock_api.accounts import DEFAULT_EMAIL


def test_stats_count_every_outcome_per_client_and_endpoint(start_mock, api_for):
    server = start_mock(rate_limit=3, rate_window=1000)
    api = api_for(server)
    before = time.time()
    api.login()
    assert api.http.post("/auth/token", auth=(DEFAULT_EMAIL, "wrong")).status_code == 401
    assert api.list(token="forged").status_code == 401
    assert api.list().status_code == 200
    assert api.sync("campaign_1").status_code == 200
    assert api.sync("campaign_2").status_code == 200
    assert api.list().status_code == 429
    assert api.sync("campaign_3").status_code == 429
    after = time.time()

    stats = server.stats()
    default = stats["clients"]["default"]
    keys = ("admitted", "refused_429", "errors_503", "hangs", "unauthorized_401")
    assert {e: tuple(counts[k] for k in keys) for e, counts in default["endpoints"].items()} == {
        "auth": (1, 0, 0, 0, 1),
        "list": (1, 1, 0, 0, 1),
        "sync": (2, 1, 0, 0, 0),
    }
    assert {k: default[k] for k in ("admitted", "refused_429", "unauthorized_401")} == {
        "admitted": 3,  # rate-limited endpoints only
        "refused_429": 2,
        "unauthorized_401": 2,
    }
    assert default["syncs_completed"] == 2
    assert default["max_admitted_in_window"] == 3
    assert before <= default["first_admitted_at"] <= default["last_admitted_at"] <= after
    assert stats["totals"] == {
        "admitted": 3,
        "refused_429": 2,
        "errors_503": 0,
        "hangs": 0,
        "unauthorized_401": 2,
        "syncs_completed": 2,
    }


def test_stats_report_effective_scaled_config(start_mock):
    server = start_mock(time_scale=0.1, sync_latency=2, rate_window=60, token_ttl=3600, seed=9)
    config = server.stats()["config"]
    assert config["rate_limit"] == 10
    assert config["rate_window_s"] == pytest.approx(6.0)
    assert config["sync_latency_s"] == pytest.approx(0.2)
    assert config["token_ttl_s"] == pytest.approx(360.0)
    assert (config["time_scale"], config["seed"], config["compat"]) == (0.1, 9, "strict")


def test_totals_sum_over_clients_and_reset_clears(start_mock, api_for):
    server = start_mock()
    api = api_for(server)
    api.login()
    for client in ("a", "b", "b"):
        assert api.list(client_id=client).status_code == 200
    stats = server.stats()
    assert {c: s["admitted"] for c, s in stats["clients"].items()} == {"a": 1, "b": 2, "default": 0}
    assert stats["totals"]["admitted"] == 3
    server.reset_stats()
    reset = server.stats()
    assert reset["clients"] == {}
    assert reset["totals"] == dict.fromkeys(reset["totals"], 0)
    # The rate window is not reset with the stats: they only observe it.
    assert reset["config"]["rate_limit"] == 10


def test_no_admissions_means_no_timestamps(start_mock, api_for):
    server = start_mock()
    api = api_for(server)
    api.login()
    default = server.stats()["clients"]["default"]
    assert default["first_admitted_at"] is None and default["last_admitted_at"] is None
    assert default["endpoints"]["auth"]["admitted"] == 1
