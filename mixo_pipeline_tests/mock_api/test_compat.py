"""``compat="original"``: every quirk of the original server that the spec lists."""

from __future__ import annotations

import time

import pytest

from mock_api.accounts import DEFAULT_EMAIL, DEFAULT_PASSWORD

ORIGINAL = {"compat": "original"}


def test_429_carries_retry_after_only_in_the_body(start_mock, api_for):
    api = api_for(start_mock(rate_limit=1, **ORIGINAL))
    api.login()
    assert api.list().status_code == 200
    refused = api.list()
    assert refused.status_code == 429
    assert "retry-after" not in refused.headers
    assert refused.json()["retry_after"] == pytest.approx(0.6)  # the whole (scaled) window


def test_refused_requests_are_not_recorded(start_mock, api_for):
    api = api_for(start_mock(rate_limit=1, rate_window=20, **ORIGINAL))  # 0.2 s window
    api.login()
    assert api.list().status_code == 200
    admitted_at = time.monotonic()
    for _ in range(5):
        assert api.list().status_code == 429
    time.sleep(max(0.0, admitted_at + 0.21 - time.monotonic()))
    # Only the admitted request counted, so the slot is free once it leaves the window.
    assert api.list().status_code == 200


def test_503_on_every_fifth_admitted_list_request_only(start_mock, api_for):
    server = start_mock(rate_limit=100, error_rate=1.0, hang_rate=0.0, **ORIGINAL)
    api = api_for(server)
    api.login()
    codes = [api.list().status_code for _ in range(10)]
    assert codes == [200, 200, 200, 200, 503, 200, 200, 200, 200, 503]
    assert [api.sync(f"campaign_{n}").status_code for n in range(1, 6)] == [200] * 5
    assert server.stats()["totals"]["errors_503"] == 2


def test_never_hangs(start_mock, api_for):
    server = start_mock(rate_limit=100, error_rate=0.0, hang_rate=1.0, **ORIGINAL)
    api = api_for(server, timeout=2)
    api.login()
    assert [api.list().status_code for _ in range(4)] == [200] * 4
    assert api.sync("campaign_1").status_code == 200
    assert server.stats()["totals"]["hangs"] == 0


def _issue(api) -> float:
    body = api.http.post("/auth/token", auth=(DEFAULT_EMAIL, DEFAULT_PASSWORD)).json()
    return body["issued_at"]


def _sleep_until(moment: float) -> None:
    time.sleep(max(0.0, moment - time.time()))


def test_any_bearer_accepted_while_the_last_token_is_fresh(start_mock, api_for):
    api = api_for(start_mock(token_ttl=30, **ORIGINAL))  # 0.3 s
    assert api.list(token="anything").status_code == 401  # no token issued yet
    first = _issue(api)
    assert api.list(token="anything").status_code == 200
    _sleep_until(first + 0.15)
    second = _issue(api)  # restarts the clock for every bearer string
    _sleep_until(first + 0.31)
    assert api.list(token="something-else").status_code == 200  # the first token's life is over
    _sleep_until(second + 0.31)
    expired = api.list(token="something-else")
    assert expired.status_code == 401
    assert expired.json()["error"] == "Token expired"
    assert api.http.get("/api/campaigns").status_code == 401  # a bearer is still required


def test_pagination_quirks(start_mock, api_for):
    api = api_for(start_mock(rate_limit=100, **ORIGINAL))
    api.login()
    big = api.list(page=5, limit=20).json()
    assert [c["id"] for c in big["data"]] == [f"campaign_{n}" for n in range(81, 101)]
    assert big["pagination"] == {"page": 5, "limit": 20, "total": 100, "has_more": True}
    invented = api.list(page=6, limit=20).json()
    assert [c["id"] for c in invented["data"]] == [f"campaign_{n}" for n in range(101, 121)]
    assert invented["pagination"] == {"page": 6, "limit": 20, "total": 100, "has_more": True}
    last = api.list(page=10, limit=10).json()
    assert last["pagination"]["has_more"] is False
    assert len(api.list(limit=150).json()["data"]) == 150  # no max page size
    assert api.sync("campaign_120").status_code == 200  # invented ids sync too


def test_figures_are_random_so_clicks_can_exceed_impressions(start_mock, api_for):
    api = api_for(start_mock(rate_limit=100, seed=3, **ORIGINAL))
    api.login()
    campaigns = api.list(limit=100).json()["data"]
    assert any(c["clicks"] > c["impressions"] for c in campaigns)
    again = api.list(limit=100).json()["data"]
    assert any(a["impressions"] > b["impressions"] for a, b in zip(campaigns, again, strict=True))


def test_without_x_client_id_all_accounts_share_one_window(start_mock, api_for):
    server = start_mock(rate_limit=1, accounts=1, **ORIGINAL)
    api = api_for(server)
    default_token = api.login()
    client_token = api.login("client_1@mixoads.com", "client_1-password")
    assert api.list(token=default_token).status_code == 200
    assert api.list(token=client_token).status_code == 429
    assert list(server.stats()["clients"]) == ["default"]
