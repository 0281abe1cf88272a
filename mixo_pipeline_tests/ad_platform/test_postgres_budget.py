"""The Postgres budget's permit stamp and connection pool.

The platform counts a request when it arrives; the budget records a permit at its stamp. Every
moment between the two that varies from request to request eats the rate-limit margin, so the
stamp must be taken after the slow database steps (lock, count, insert), not before them.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa

from mixo_pipeline.ad_platform import Account, AdPlatformClient, rate_limit
from mixo_pipeline.ad_platform.rate_limit import RequestRateLimiter, budget_key, budget_table

from .conftest import fast_settings

# Every statement the budget sends is held this long before it reaches the server: a loaded
# machine's scheduling delays, made large and deterministic.
STATEMENT_DELAY_S = 0.5


@pytest.fixture(scope="module")
def budget_url(embedded_postgres: Any) -> str:
    return embedded_postgres.create_database("mixo_client_pg_budget")


def _newest_stamp(db_url: str, base_url: str) -> float:
    table = "ratelimit___" + budget_table(budget_key(base_url, "default"))
    engine = sa.create_engine(db_url)
    try:
        with engine.connect() as conn:
            return float(
                conn.execute(
                    sa.text(
                        "SELECT extract(epoch FROM max(item_timestamp) AT TIME ZONE 'UTC') "
                        f'FROM "{table}"'
                    )
                ).scalar_one()
            )
    finally:
        engine.dispose()


def test_the_permit_is_stamped_after_the_slow_database_steps(
    budget_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = fast_settings(rate_limit_backend="postgres", rate_limit_postgres_url=budget_url)
    base_url = f"http://stamp-{uuid.uuid4().hex}.invalid"
    limiter = RequestRateLimiter(settings, base_url, "default")
    try:
        limiter.acquire()  # pool open, table created
        original = psycopg.Connection.execute

        def slow_execute(self: psycopg.Connection, *args: Any, **kwargs: Any) -> Any:
            time.sleep(STATEMENT_DELAY_S)
            return original(self, *args, **kwargs)

        with monkeypatch.context() as patch:
            patch.setattr(psycopg.Connection, "execute", slow_execute)
            started = time.time()
            limiter.acquire()
            granted = time.time()
    finally:
        limiter.close()
    stamp = _newest_stamp(budget_url, base_url)
    # The permit waited for the slow statements (lock, then the admitting one) ...
    assert granted - started >= 2 * STATEMENT_DELAY_S
    # ... and was stamped by the last of them: the time from stamp to send is not the sum of
    # the database's delays (with a stamp taken first, it was at least three of them).
    assert granted - stamp < STATEMENT_DELAY_S / 2
    assert stamp >= started + STATEMENT_DELAY_S


def test_the_pool_closes_with_the_last_client_of_the_budget(budget_url: str) -> None:
    settings = fast_settings(rate_limit_backend="postgres", rate_limit_postgres_url=budget_url)
    base_url = f"http://pool-{uuid.uuid4().hex}.invalid"
    account = Account("default", base_url, "nobody@example.com", "unused")
    first = AdPlatformClient(settings, account)
    second = AdPlatformClient(settings, account)
    first._limiter.acquire()
    pool = rate_limit._budgets._factories[first._limiter._key]._pool
    first.close()
    assert not pool.closed  # the other client still spends this budget
    second._limiter.acquire()
    second.close()
    assert pool.closed
    assert first._limiter._key not in rate_limit._budgets._factories

    # Reopened on demand, with the permits already spent still counted (they live in the table).
    with AdPlatformClient(settings, account) as third:
        third._limiter.acquire()
        reopened = rate_limit._budgets._factories[third._limiter._key]._pool
        assert reopened is not pool and not reopened.closed
    assert reopened.closed
    table = "ratelimit___" + budget_table(budget_key(base_url, "default"))
    engine = sa.create_engine(budget_url)
    try:
        with engine.connect() as conn:
            assert conn.execute(sa.text(f'SELECT count(*) FROM "{table}"')).scalar_one() == 3
    finally:
        engine.dispose()


def test_stamps_read_back_as_utc_whatever_the_client_machines_zone(
    budget_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # libpq sends PGTZ as the session's zone; the bucket's column has no zone, and pyrate-
    # limiter's peek and leak convert through the session's, so a machine in another zone
    # would read every permit as hours old (and leak the shared budget away).
    monkeypatch.setenv("PGTZ", "Asia/Tokyo")
    settings = fast_settings(
        rate_limit_backend="postgres", rate_limit_postgres_url=budget_url, rate_limit_requests=7
    )
    base_url = f"http://zone-{uuid.uuid4().hex}.invalid"
    limiter = RequestRateLimiter(settings, base_url, "default")
    try:
        limiter.acquire()
        bucket = rate_limit._budgets._factories[limiter._key]._buckets[limiter.name]
        newest = bucket.peek(0)
        assert newest is not None
        assert abs(newest.timestamp / 1000 - time.time()) < 5
    finally:
        limiter.close()
    assert abs(_newest_stamp(budget_url, base_url) - time.time()) < 5
