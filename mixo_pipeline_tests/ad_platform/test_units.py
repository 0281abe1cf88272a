"""Pure unit tests of the client's building blocks: no server, no sleeping."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from mixo_pipeline.ad_platform import ClientSettings, PaginationError, ResponseValidationError
from mixo_pipeline.ad_platform.auth import Token, TokenCache, token_from_response
from mixo_pipeline.ad_platform.buckets import budget_key, budget_table
from mixo_pipeline.ad_platform.client import AdPlatformClient
from mixo_pipeline.ad_platform.models import (
    Account,
    Campaign,
    parse_campaign_page,
    parse_sync_response,
)
from mixo_pipeline.ad_platform.pagination import PageGuard
from mixo_pipeline.ad_platform.retry import (
    Retryable,
    RetryRule,
    Verdict,
    classify,
    retry_after_seconds,
)
from mixo_pipeline.ad_platform.stats import ClientStats


def raw_campaign(n: int, **overrides: Any) -> dict[str, Any]:
    campaign = {
        "id": f"campaign_{n}",
        "name": f"Campaign {n}",
        "status": "active",
        "budget": 1000 + 100 * n,
        "impressions": 8432,
        "clicks": 234,
        "conversions": 12,
        "created_at": "2024-12-11T10:30:00.000Z",
    }
    campaign.update(overrides)
    return campaign


def raw_page(page: int, ids: list[int], *, total: int, limit: int = 10, has_more: bool) -> dict:
    return {
        "data": [raw_campaign(n) for n in ids],
        "pagination": {"page": page, "limit": limit, "total": total, "has_more": has_more},
    }


# ------------------------------------------------------------------ settings


def test_settings_scale_every_duration_but_the_margin() -> None:
    settings = ClientSettings(time_scale=0.1, rate_limit_margin_s=0.25).in_real_time()
    assert settings.rate_limit_period_s == pytest.approx(6.0)
    assert settings.sync_read_timeout_s == pytest.approx(0.4)
    assert settings.connect_timeout_s == pytest.approx(0.5)
    assert settings.backoff_cap_s == pytest.approx(3.0)
    assert settings.token_refresh_margin_s == pytest.approx(6.0)
    assert settings.token_ttl_s == pytest.approx(360.0)
    assert settings.rate_limit_margin_s == 0.25
    assert settings.window_s == pytest.approx(6.25)
    assert settings.time_scale == 1.0


def test_settings_defaults_match_the_documented_platform() -> None:
    settings = ClientSettings()
    assert (settings.rate_limit_requests, settings.rate_limit_period_s) == (10, 60.0)
    # The sync endpoint takes about 2 s: its read timeout must be well above that.
    assert settings.sync_read_timeout_s >= 2 * settings.sync_latency_s


def test_syncs_in_flight_keep_the_window_spent_even_if_every_sync_hangs() -> None:
    # A thread per sync: no more than a window's permits need if each took its read timeout.
    assert ClientSettings().syncs_in_flight == 3  # 10 a minute, 4 s timeouts: 0.67 needed, + 2
    faster = ClientSettings(rate_limit_requests=100, sync_read_timeout_s=6.0)
    assert faster.syncs_in_flight == 12  # 10 needed, + 2
    scaled = ClientSettings(time_scale=0.01).in_real_time()  # the ratio does not scale
    assert scaled.syncs_in_flight == 3
    assert ClientSettings(sync_concurrency=10).syncs_in_flight == 10


def test_settings_reject_bad_values_naming_each() -> None:
    with pytest.raises(ValueError) as excinfo:
        ClientSettings(page_size=0, sync_read_timeout_s=-1.0, rate_limit_backend="redis")
    message = str(excinfo.value)
    assert "page_size" in message
    assert "sync_read_timeout_s" in message
    assert "rate_limit_backend" in message


def test_postgres_backend_needs_a_database() -> None:
    account = Account("default", "http://127.0.0.1:9", "a@example.com", "pw")
    with pytest.raises(ValueError, match="budget_url"):
        AdPlatformClient(ClientSettings(rate_limit_backend="postgres"), account)


# ------------------------------------------------------------------ retry policy


@pytest.mark.parametrize(
    ("status", "verdict"),
    [
        (200, Verdict.OK),
        (204, Verdict.OK),
        (401, Verdict.RELOGIN),
        (429, Verdict.RATE_LIMITED),
        (503, Verdict.RETRY),
        (500, Verdict.RETRY),
        ("timeout", Verdict.RETRY),
        ("connection_error", Verdict.RETRY),
        (404, Verdict.FATAL),
        (400, Verdict.FATAL),
    ],
)
def test_every_outcome_is_classified(status: int | str, verdict: Verdict) -> None:
    assert classify(status) is verdict


class _State:
    """The part of tenacity's RetryCallState the rule reads."""

    def __init__(self, failure: Retryable) -> None:
        self.outcome = self
        self._failure = failure
        self.upcoming_sleep = 0.0

    def exception(self) -> Retryable:
        return self._failure


def _decide(rule: RetryRule, failure: Retryable) -> tuple[float, bool]:
    state: Any = _State(failure)
    state.upcoming_sleep = rule._wait(state)
    return state.upcoming_sleep, rule._stop(state)


def test_backoff_is_exponential_capped_and_stops_after_max_attempts() -> None:
    settings = ClientSettings(
        backoff_base_s=0.5, backoff_cap_s=4.0, backoff_jitter=False, max_attempts=7
    )
    rule = RetryRule(settings)
    decisions = [_decide(rule, Retryable(Verdict.RETRY, 503)) for _ in range(7)]
    assert [wait for wait, _ in decisions] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0, 4.0]
    assert [stop for _, stop in decisions] == [False] * 6 + [True]


def test_backoff_is_fully_jittered() -> None:
    settings = ClientSettings(backoff_base_s=0.5, backoff_cap_s=4.0, max_attempts=1000)
    draws = []
    for _ in range(300):
        rule = RetryRule(settings)
        draws.append([_decide(rule, Retryable(Verdict.RETRY, 503))[0] for _ in range(3)][-1])
    assert all(0.0 <= d <= 2.0 for d in draws)
    assert min(draws) < 0.2 and max(draws) > 1.8  # spread over the whole interval


def test_a_first_401_is_replayed_at_once_and_counts_as_an_attempt() -> None:
    settings = ClientSettings(backoff_base_s=1.0, backoff_jitter=False, max_attempts=3)
    rule = RetryRule(settings)
    first, second, third = (_decide(rule, Retryable(Verdict.RELOGIN, 401)) for _ in range(3))
    assert first == (0.0, False)
    assert second == (2.0, False)
    assert third[1] is True


def test_429_waits_what_it_asks_capped_and_has_its_own_deadline() -> None:
    settings = ClientSettings(retry_after_cap_s=30.0, rate_limited_deadline_s=70.0, max_attempts=1)
    rule = RetryRule(settings)
    assert _decide(rule, Retryable(Verdict.RATE_LIMITED, 429, 12.5)) == (12.5, False)
    assert _decide(rule, Retryable(Verdict.RATE_LIMITED, 429, None)) == (30.0, False)  # capped
    assert _decide(rule, Retryable(Verdict.RATE_LIMITED, 429, 30.0)) == (30.0, True)  # 72.5 > 70
    assert rule.failures == 0  # 429s do not spend the attempts of errors


def test_retry_after_prefers_header_then_body() -> None:
    assert retry_after_seconds({"Retry-After": "1.5"}, {"retry_after": 60}) == 1.5
    assert retry_after_seconds({}, {"retry_after": 0.25}) == 0.25
    assert retry_after_seconds({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}, {}) is None
    assert retry_after_seconds({"Retry-After": "-3"}, {"retry_after": 2}) == 2.0
    assert retry_after_seconds({}, {"retry_after": True}) is None
    assert retry_after_seconds({}, "not json") is None


# ------------------------------------------------------------------ tokens


def test_token_expiry_comes_from_issued_at_and_expires_in() -> None:
    wall, mono = 1_000_000.0, 50.0
    body = {
        "access_token": "t",
        "token_type": "Bearer",
        "expires_in": 36.0,
        "issued_at": wall - 1.0,
    }
    token = token_from_response(
        body,
        asked_wall=wall,
        asked_mono=mono,
        settings=ClientSettings(token_refresh_margin_s=0.6, token_ttl_s=36),
    )
    assert token.expires_at == pytest.approx(mono + 35.0)  # server issued 1 s before our clock
    assert token.refresh_at == pytest.approx(mono + 34.4)


@pytest.mark.parametrize("issued_at", [None, "yesterday", 0, 1e12])
def test_token_falls_back_to_local_clock_when_issued_at_is_implausible(issued_at: Any) -> None:
    body = {"access_token": "t", "expires_in": 360.0}
    if issued_at is not None:
        body["issued_at"] = issued_at
    token = token_from_response(
        body,
        asked_wall=time.time(),
        asked_mono=10.0,
        settings=ClientSettings(token_refresh_margin_s=6.0, token_ttl_s=3600),
    )
    assert token.expires_at == pytest.approx(370.0)


def test_token_without_expires_in_uses_the_documented_ttl_and_bad_body_fails() -> None:
    token = token_from_response(
        {"access_token": "t"},
        asked_wall=0.0,
        asked_mono=0.0,
        settings=ClientSettings(token_refresh_margin_s=1.0, token_ttl_s=36.0),
    )
    assert token.expires_at == 36.0
    with pytest.raises(ResponseValidationError, match="access_token"):
        token_from_response(
            {"token_type": "Bearer"},
            asked_wall=0,
            asked_mono=0,
            settings=ClientSettings(token_refresh_margin_s=0, token_ttl_s=1),
        )
    assert "secret-value" not in repr(Token(value="secret-value"))


def test_a_margin_longer_than_the_token_still_leaves_it_usable() -> None:
    token = token_from_response(
        {"access_token": "t", "expires_in": 10},
        asked_wall=0.0,
        asked_mono=0.0,
        settings=ClientSettings(token_refresh_margin_s=60.0, token_ttl_s=10),
    )
    assert token.refresh_at == pytest.approx(5.0)


def test_concurrent_callers_share_one_login() -> None:
    logins: list[int] = []
    gate = threading.Barrier(8)

    def login() -> Token:
        time.sleep(0.05)  # a slow login, so the other threads pile up on the lock
        logins.append(1)
        return Token(f"token-{len(logins)}", time.monotonic() + 60, time.monotonic() + 120)

    provider = TokenCache(login)
    seen: list[str] = []

    def worker() -> None:
        gate.wait()
        seen.append(provider.get())

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert seen == ["token-1"] * 8
    assert len(logins) == 1
    # Eight 401s for the same token: one new login between them.
    for _ in range(8):
        provider.reject("token-1")
    assert {provider.get() for _ in range(8)} == {"token-2"} and len(logins) == 2


# ------------------------------------------------------------------ validation


def test_campaign_parses_exactly_and_keeps_awkward_names() -> None:
    name = 'O\'Brien "Spring"; DROP TABLE campaigns; -- café ☕ 日本'
    campaign = Campaign.model_validate(raw_campaign(3, name=name, budget=1100.1))
    assert campaign.name == name
    assert campaign.budget == Decimal("1100.1")
    assert campaign.created_at == datetime(2024, 12, 11, 10, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"budget": "1100"}, "budget"),
        ({"clicks": 2.5}, "clicks"),
        ({"impressions": True}, "impressions"),
        ({"status": None}, "status"),
        ({"created_at": "yesterday"}, "created_at"),
        ({"created_at": "2024-12-11T10:30:00"}, "created_at"),
        ({"id": 7}, "id"),
        ({"name": "nul \x00 inside"}, "name"),
        ({"clicks": -1}, "clicks"),
    ],
)
def test_bad_campaign_fields_name_the_page_campaign_and_field(override: dict, field: str) -> None:
    body = raw_page(2, [11, 12], total=20, has_more=False)
    body["data"][1].update(override)
    with pytest.raises(ResponseValidationError) as excinfo:
        parse_campaign_page(body, 2)
    message = str(excinfo.value)
    assert "campaigns page 2" in message and "item 1" in message and repr(field) in message


def test_missing_campaign_field_is_named() -> None:
    body = raw_page(1, [1], total=1, has_more=False)
    del body["data"][0]["conversions"]
    with pytest.raises(ResponseValidationError, match=r"'campaign_1'.*'conversions' is missing"):
        parse_campaign_page(body, 1)


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ([], "got list"),
        ({"data": []}, "'pagination' is missing"),
        ({"data": {}, "pagination": {}}, "'data'"),
        (
            {"data": [], "pagination": {"page": 1, "limit": 10, "total": "1", "has_more": False}},
            "'pagination.total'",
        ),
        (
            {"data": [], "pagination": {"page": 1, "limit": 10, "total": 0, "has_more": "no"}},
            "'pagination.has_more'",
        ),
        (
            {"data": [], "pagination": {"page": 3, "limit": 10, "total": 0, "has_more": False}},
            "'pagination.page' is 3, expected 1",
        ),
    ],
)
def test_bad_page_envelopes_are_named(body: Any, fragment: str) -> None:
    with pytest.raises(ResponseValidationError, match="campaigns page 1") as excinfo:
        parse_campaign_page(body, 1)
    assert fragment in str(excinfo.value)


def test_sync_response_is_validated() -> None:
    body = {"success": True, "campaign_id": "campaign_1", "synced_at": "2026-01-01T00:00:00Z"}
    assert parse_sync_response(body, "campaign_1") == datetime(2026, 1, 1, tzinfo=UTC)
    with pytest.raises(ResponseValidationError, match=r"campaign_2.*'campaign_id'"):
        parse_sync_response(body, "campaign_2")
    with pytest.raises(ResponseValidationError, match="'synced_at' is missing"):
        parse_sync_response({"success": True}, "campaign_1")
    with pytest.raises(ResponseValidationError, match="'success'"):
        parse_sync_response({"success": False, "synced_at": "x"}, "campaign_1")


# ------------------------------------------------------------------ pagination guards


def pages(*bodies: dict) -> list:
    return [parse_campaign_page(body, body["pagination"]["page"]) for body in bodies]


def run_guard(*bodies: dict) -> PageGuard:
    guard = PageGuard()
    for page in pages(*bodies):
        guard.check(page)
    return guard


def test_consistent_listing_passes() -> None:
    guard = run_guard(
        raw_page(1, list(range(1, 11)), total=15, has_more=True),
        raw_page(2, list(range(11, 16)), total=15, has_more=False),
    )
    assert len(guard._seen) == 15


def test_empty_page_with_has_more_is_an_error() -> None:
    with pytest.raises(PaginationError, match="page 2: empty page with has_more=true"):
        run_guard(
            raw_page(1, list(range(1, 11)), total=30, has_more=True),
            raw_page(2, [], total=30, has_more=True),
        )


def test_total_changing_midway_is_an_error() -> None:
    with pytest.raises(PaginationError, match="total changed from 30 to 31"):
        run_guard(
            raw_page(1, list(range(1, 11)), total=30, has_more=True),
            raw_page(2, list(range(11, 21)), total=31, has_more=True),
        )


def test_more_pages_than_total_allows_is_an_error() -> None:
    # The original server's has_more is `page < 10` whatever the limit: at 20 per page it
    # promises a 6th page that total=100 rules out.
    bodies = [
        raw_page(p, list(range(20 * p - 19, 20 * p + 1)), total=100, limit=20, has_more=True)
        for p in range(1, 6)
    ]
    with pytest.raises(PaginationError, match=r"page 5: has_more=true, but total 100 .* page 5"):
        run_guard(*bodies)


def test_repeated_campaign_id_is_an_error_across_and_within_pages() -> None:
    with pytest.raises(PaginationError, match="'campaign_10' already listed on page 1"):
        run_guard(
            raw_page(1, list(range(1, 11)), total=20, has_more=True),
            raw_page(2, [10, *range(12, 21)], total=20, has_more=False),
        )
    with pytest.raises(PaginationError, match="'campaign_3' already listed on page 1"):
        run_guard(raw_page(1, [1, 2, 3, 3], total=4, has_more=False))


def test_listing_that_ends_short_of_total_is_an_error() -> None:
    with pytest.raises(PaginationError, match="ended with 10 campaigns, but total says 12"):
        run_guard(raw_page(1, list(range(1, 11)), total=12, has_more=False))


# ------------------------------------------------------------------ stats and budget names


def test_stats_are_numeric_and_thread_safe() -> None:
    stats = ClientStats()

    def hammer() -> None:
        for _ in range(1000):
            stats.record_response("sync", 503)
            stats.record("retries")

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stats.record_response("sync", "timeout")
    stats.record_response("list", 429)
    stats.add_wait("limiter_wait_s", 1.25)
    meta = stats.as_metadata()
    assert meta["requests.sync.503"] == 4000
    assert meta["requests.sync.timeout"] == 1 and meta["requests.list.429"] == 1
    assert not any(key.startswith("requests_by_") for key in meta)  # one key per figure
    assert meta["requests_total"] == 4002
    assert meta["retries"] == 4000
    assert meta["timeouts"] == 1 and meta["rate_limited_429"] == 1
    assert meta["limiter_wait_s"] == 1.25
    assert all(isinstance(v, int | float) for v in meta.values())


def test_budget_tables_are_distinct_valid_identifiers() -> None:
    names = {
        budget_table(budget_key("http://a:1", cid))
        for cid in ["client_1", "Client_1", "client-1", "x" * 200, "ünï cödé"]
    }
    assert len(names) == 5
    assert all(len("ratelimit___" + n) <= 63 and n == n.lower() for n in names)
    assert budget_key("http://a:1/", "c") == budget_key("http://a:1", "c")
    assert budget_table(budget_key("http://a:1", "c")) != budget_table(
        budget_key("http://b:1", "c")
    )


def test_proxy_settings_are_read_from_the_environment_once_per_client(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.test:3128")
    monkeypatch.setenv("NO_PROXY", "bypassed.test")
    account = Account("acme", "http://api.test", "ops@acme.test", "pw")
    memory = ClientSettings(rate_limit_backend="memory", allow_plain_http=True)
    with AdPlatformClient(memory, account) as client:
        assert client._transport._env["proxies"]["http"] == "http://proxy.test:3128"
        # Later changes of the environment are not re-read per request.
        assert client._transport._session.trust_env is False
    bypassed = Account("acme", "http://bypassed.test", "ops@acme.test", "pw")
    with AdPlatformClient(memory, bypassed) as client:
        assert "http" not in client._transport._env["proxies"]
