"""The sliding-log rate limit: 429 bodies and headers, Retry-After accuracy, per-client windows."""

from __future__ import annotations

import time

import pytest

from mock_api.rate_window import SlidingLog

# rate_window 60 s at scale 0.01 = 0.6 s.
WINDOW_S = 0.6


def test_429_after_the_limit_with_retry_after_in_header_and_body(start_mock, api_for):
    server = start_mock(rate_limit=3)
    api = api_for(server)
    api.login()
    first_admitted = time.monotonic()
    assert [api.list().status_code for _ in range(3)] == [200, 200, 200]
    refused = api.list()
    elapsed = time.monotonic() - first_admitted
    body = refused.json()
    assert refused.status_code == 429
    assert body["error"] == "Rate limit exceeded" and body["message"]
    retry_after = float(refused.headers["Retry-After"])
    assert body["retry_after"] == retry_after
    # A slot frees when the first admission leaves the window.
    assert WINDOW_S - elapsed - 0.05 <= retry_after <= WINDOW_S
    time.sleep(retry_after)
    assert api.list().status_code == 200


def test_retry_after_is_whole_seconds_at_scale_one(start_mock, api_for):
    api = api_for(start_mock(time_scale=1.0, rate_limit=1))
    api.login()
    assert api.list().status_code == 200
    refused = api.list()
    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == "60"
    assert refused.json()["retry_after"] == 60


def test_retry_after_never_exceeds_the_window_whatever_the_clock_reads():
    # At this monotonic reading (now + 60) - now is 60.000000000007: the whole-second
    # Retry-After of the test above read 61 in one suite run.
    log = SlidingLog(1, 60.0)
    now = 65527.12403275968
    assert log.try_admit(now, record_refused=True).admitted
    assert log.try_admit(now, record_refused=True).retry_after_s == 60.0


def test_strict_mode_records_refused_requests(start_mock, api_for):
    """Hammering through 429s pushes the next free slot back (the original does not)."""
    api = api_for(start_mock(rate_limit=2))
    api.login()
    assert api.list().status_code == 200
    time.sleep(0.2)
    second_sent = time.monotonic()
    assert api.list().status_code == 200
    second_answered = time.monotonic()
    time.sleep(0.2)
    # The refusal is recorded, so a slot frees only when the second admission leaves the window
    # (about 0.4 s from now), not when the first one does (about 0.2 s from now).
    refused_sent = time.monotonic()
    refused = api.list()
    refused_answered = time.monotonic()
    assert refused.status_code == 429
    retry_after = float(refused.headers["Retry-After"])
    assert second_sent + WINDOW_S - refused_answered <= retry_after
    assert retry_after <= second_answered + WINDOW_S - refused_sent + 0.001
    # A second refusal right away needs three entries to leave: the first refusal's plus a window.
    again = api.list()
    assert again.status_code == 429
    assert refused_sent + WINDOW_S - time.monotonic() <= float(again.headers["Retry-After"])


def test_each_x_client_id_has_its_own_window(start_mock, api_for):
    server = start_mock(rate_limit=2)
    api = api_for(server)
    api.login()
    codes = {c: [api.list(client_id=c).status_code for _ in range(3)] for c in ("a", "b")}
    assert codes == {"a": [200, 200, 429], "b": [200, 200, 429]}
    clients = server.stats()["clients"]
    assert {c: (s["admitted"], s["refused_429"]) for c, s in clients.items()} == {
        "a": (2, 1),
        "b": (2, 1),
        "default": (0, 0),  # the login, which is not rate limited
    }


def test_without_x_client_id_each_account_has_its_own_window(start_mock, api_for):
    server = start_mock(rate_limit=1, accounts=1)
    api = api_for(server)
    default_token = api.login()
    client_token = api.login("client_1@mixoads.com", "client_1-password")
    assert api.list(token=default_token).status_code == 200
    assert api.list(token=client_token).status_code == 200
    assert api.list(token=default_token).status_code == 429
    assert api.list(token=client_token).status_code == 429
    clients = server.stats()["clients"]
    assert (clients["default"]["admitted"], clients["client_1"]["admitted"]) == (1, 1)


def test_sync_shares_the_window_with_list(start_mock, api_for):
    api = api_for(start_mock(rate_limit=2))
    api.login()
    assert api.sync("campaign_1").status_code == 200
    assert api.list().status_code == 200
    assert api.sync("campaign_2").status_code == 429


def test_admitted_requests_that_fail_still_count(start_mock, api_for):
    server = start_mock(rate_limit=3, error_rate=1.0)
    api = api_for(server)
    api.login()
    assert [api.list().status_code for _ in range(4)] == [503, 503, 503, 429]
    stats = server.stats()["clients"]["default"]
    assert (stats["admitted"], stats["errors_503"], stats["refused_429"]) == (3, 3, 1)


@pytest.mark.parametrize("rate_limit", [1, 4])
def test_rate_limit_knob_sets_the_admissions_per_window(start_mock, api_for, rate_limit):
    server = start_mock(rate_limit=rate_limit, rate_window=1000)
    api = api_for(server)
    api.login()
    codes = [api.list().status_code for _ in range(rate_limit + 2)]
    assert codes == [200] * rate_limit + [429, 429]
    assert server.stats()["config"]["rate_limit"] == rate_limit


def test_rate_window_knob_sets_the_window_length(start_mock, api_for):
    # 20 s at scale 0.01 = 0.2 s.
    server = start_mock(rate_limit=1, rate_window=20)
    api = api_for(server)
    api.login()
    assert api.list().status_code == 200
    refused = api.list()
    assert refused.status_code == 429 and float(refused.headers["Retry-After"]) <= 0.2
    time.sleep(0.21)
    assert api.list().status_code == 200
    assert server.stats()["config"]["rate_window_s"] == pytest.approx(0.2)


def test_max_admitted_in_window_follows_the_sliding_window(start_mock, api_for):
    server = start_mock(rate_limit=3, rate_window=20)
    api = api_for(server)
    api.login()
    for _ in range(2):
        assert [api.list().status_code for _ in range(3)] == [200, 200, 200]
        time.sleep(0.21)
    stats = server.stats()["clients"]["default"]
    assert (stats["admitted"], stats["max_admitted_in_window"]) == (6, 3)
