"""The shared PostgreSQL budget: permits live in the database, on the database's UTC clock."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
import sqlalchemy as sa

from mixo_pipeline.ad_platform import rate_limit
from mixo_pipeline.ad_platform.rate_limit import RateLimiter, budget_table

WINDOW_S = 0.6
FRESH_S = 10.0  # no thread here is held up that long: every permit is used


@pytest.fixture(scope="module")
def budget_url(embedded_postgres: Any) -> str:
    return embedded_postgres.create_database("mixo_client_pg_budget")


def _stamps(db_url: str, key: str) -> list[float]:
    table = "ratelimit___" + budget_table(key)
    engine = sa.create_engine(db_url)
    try:
        with engine.connect() as conn:
            query = f"SELECT extract(epoch FROM item_timestamp AT TIME ZONE 'UTC') FROM \"{table}\""
            return sorted(float(v) for v in conn.execute(sa.text(query)).scalars())
    finally:
        engine.dispose()


def test_permits_outlive_the_process_pools_and_still_count(budget_url: str) -> None:
    base_url = f"http://pool-{uuid.uuid4().hex}.invalid"
    window_s = 30.0  # far longer than the test, so both permits are still in it at the end
    first = RateLimiter(2, window_s, base_url, "default", budget_url, FRESH_S)
    first.acquire()
    first.acquire()
    rate_limit.close_budgets()  # as at the end of a worker process

    second = RateLimiter(2, window_s, base_url, "default", budget_url, FRESH_S)
    # The two permits spent before the pools closed were read back from the table: it is full.
    assert not second._budget.limiter.try_acquire(second.name, blocking=False)
    assert len(_stamps(budget_url, second.name)) == 2
    rate_limit.close_budgets()


def test_stamps_read_back_as_utc_whatever_the_client_machines_zone(
    budget_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # libpq sends PGTZ as the session's zone; the bucket's column has no zone, and pyrate-
    # limiter's peek and leak convert through the session's, so a machine in another zone
    # would read every permit as hours old (and leak the shared budget away).
    rate_limit.close_budgets()
    monkeypatch.setenv("PGTZ", "Asia/Tokyo")
    base_url = f"http://zone-{uuid.uuid4().hex}.invalid"
    limiter = RateLimiter(7, WINDOW_S, base_url, "default", budget_url, FRESH_S)
    limiter.acquire()
    bucket = limiter._budget.limiter.bucket_factory.get(rate_limit.RateItem(limiter.name, 0))
    newest = bucket.peek(0)
    assert newest is not None
    assert abs(newest.timestamp / 1000 - time.time()) < 5
    assert abs(_stamps(budget_url, limiter.name)[-1] - time.time()) < 5
    rate_limit.close_budgets()


@pytest.mark.parametrize("backend", ["postgres", "memory"])
def test_a_permit_is_stamped_when_granted_not_when_its_wait_was_planned(
    backend: str, budget_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A waiter that wakes late (a loaded machine) must be recorded at its real grant time:
    # stamped at its planned wake, the next window would open early and the platform say 429.
    import pyrate_limiter.limiter

    late_s = 0.4
    real_sleep = time.sleep
    monkeypatch.setattr(pyrate_limiter.limiter, "sleep", lambda s: real_sleep(s + late_s))
    url = budget_url if backend == "postgres" else None
    limiter = RateLimiter(1, WINDOW_S, f"http://late-{uuid.uuid4().hex}.invalid", "c", url, 1.0)
    bucket = limiter._budget.limiter.bucket_factory.get(rate_limit.RateItem(limiter.name, 0))
    stamps: list[float] = []
    put = bucket.put

    def recording_put(item: rate_limit.RateItem) -> Any:
        admitted = put(item)
        if admitted:
            stamps.append(item.timestamp / 1000)
        return admitted

    monkeypatch.setattr(bucket, "put", recording_put)
    limiter.acquire()
    limiter.acquire()
    first, second = stamps
    assert second - first >= WINDOW_S + late_s - 0.05
    rate_limit.close_budgets()


@pytest.mark.parametrize("backend", ["postgres", "memory"])
def test_a_permit_held_up_after_its_stamp_is_spent_unused(
    backend: str, budget_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A thread paused between its permit's stamp and its request (a full garbage collection)
    # would send late; the permit 10 after it, counted from the early stamp, would draw a 429.
    url = budget_url if backend == "postgres" else None
    fresh_s = 1.0  # far above a put on a loaded machine, far below the pause
    base_url = f"http://held-{uuid.uuid4().hex}.invalid"
    limiter = RateLimiter(5, 30.0, base_url, "c", url, fresh_s)  # both permits stay in the window
    bucket = limiter._budget.limiter.bucket_factory.get(rate_limit.RateItem(limiter.name, 0))
    put = bucket.put
    puts: list[bool] = []

    def put_then_pause_once(item: rate_limit.RateItem) -> Any:
        admitted = put(item)
        puts.append(admitted)
        if len(puts) == 1:
            time.sleep(2 * fresh_s)  # the pause: twice what a permit may wait before it is used
        return admitted

    monkeypatch.setattr(bucket, "put", put_then_pause_once)
    limiter.acquire()
    assert puts == [True, True]  # the held-up permit was spent unused, a fresh one taken
    assert bucket.count() == 2
    rate_limit.close_budgets()
