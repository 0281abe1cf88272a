"""The shared PostgreSQL budget: permits live in the database, on the database's UTC clock."""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa
from psycopg import sql
from psycopg_pool import PoolTimeout
from pyrate_limiter import RateItem

from mixo_pipeline.ad_platform import rate_limit
from mixo_pipeline.ad_platform.buckets import _LOCK_CLASS, budget_table
from mixo_pipeline.ad_platform.errors import AdPlatformError
from mixo_pipeline.ad_platform.rate_limit import RateLimiter
from mixo_pipeline.database import libpq_conninfo

WINDOW_S = 0.6
LATE_S = 0.4


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
    first = RateLimiter(2, window_s, base_url, "default", budget_url)
    first.acquire()
    first.acquire()
    rate_limit.close_budgets()  # as at the end of a worker process

    second = RateLimiter(2, window_s, base_url, "default", budget_url)
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
    limiter = RateLimiter(7, WINDOW_S, base_url, "default", budget_url)
    limiter.acquire()
    bucket = limiter._budget.limiter.bucket_factory.get(RateItem(limiter.name, 0))
    newest = bucket.peek(0)
    assert newest is not None
    assert abs(newest.timestamp / 1000 - time.time()) < 5
    assert abs(_stamps(budget_url, limiter.name)[-1] - time.time()) < 5
    rate_limit.close_budgets()


class _WakesLate(threading.Event):
    """A stop never set, whose waits end late (a loaded machine)."""

    def wait(self, timeout: float | None = None) -> bool:
        return super().wait(None if timeout is None else timeout + LATE_S)


@pytest.mark.parametrize("backend", ["postgres", "memory"])
def test_a_permit_is_stamped_when_granted_not_when_its_wait_was_planned(
    backend: str, budget_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A waiter that wakes late must be recorded at its real grant time: stamped at its planned
    # wake (as pyrate-limiter's own wait does), the next window would open early: 429.
    url = budget_url if backend == "postgres" else None
    limiter = RateLimiter(1, WINDOW_S, f"http://late-{uuid.uuid4().hex}.invalid", "c", url)
    bucket = limiter._budget.limiter.bucket_factory.get(RateItem(limiter.name, 0))
    stamps: list[float] = []
    put = bucket.put

    def recording_put(item: RateItem) -> Any:
        admitted = put(item)
        if admitted:
            stamps.append(item.timestamp / 1000)
        return admitted

    monkeypatch.setattr(bucket, "put", recording_put)
    limiter.acquire(stop=_WakesLate())
    limiter.acquire(stop=_WakesLate())
    first, second = stamps
    assert second - first >= WINDOW_S + LATE_S - 0.05
    rate_limit.close_budgets()


@pytest.mark.parametrize("backend", ["postgres", "memory"])
def test_a_request_that_left_late_moves_its_permit_so_the_next_keeps_a_window_after_it(
    backend: str, budget_url: str
) -> None:
    # A thread paused between its permit's stamp and its request (a full garbage collection)
    # sends late; the permit one window after the early stamp would then draw a 429.
    url = budget_url if backend == "postgres" else None
    limiter = RateLimiter(1, WINDOW_S, f"http://left-{uuid.uuid4().hex}.invalid", "c", url)
    bucket = limiter._budget.limiter.bucket_factory.get(RateItem(limiter.name, 0))
    pause_s = 0.4
    limiter.acquire()
    stamped = bucket.peek(0).timestamp / 1000
    time.sleep(pause_s)
    limiter.left(time.monotonic())  # the request leaves after the pause
    limiter.acquire()
    assert bucket.peek(0).timestamp / 1000 - stamped >= WINDOW_S + pause_s - 0.02
    limiter.left(time.monotonic())  # on time: the stamp stays where it is
    assert bucket.peek(0).timestamp / 1000 - stamped < WINDOW_S + pause_s + 1.0
    rate_limit.close_budgets()


@pytest.mark.parametrize("backend", ["postgres", "memory"])
def test_a_pause_right_after_the_clock_is_read_counts_as_late(
    backend: str, budget_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A busy machine can stop the thread between the clock's answer and the permit's note of
    # it; measured from after the pause, the request looked on time and kept its early stamp.
    url = budget_url if backend == "postgres" else None
    limiter = RateLimiter(1, WINDOW_S, f"http://clock-{uuid.uuid4().hex}.invalid", "c", url)
    bucket = limiter._budget.limiter.bucket_factory.get(RateItem(limiter.name, 0))
    pause_s = 0.3
    # The memory budget reads its clock in Python; the shared one in the permit's statement.
    owner, name = (psycopg.Cursor, "fetchone") if url else (type(bucket), "now")
    read_clock = getattr(owner, name)

    def slow_after_reading(self: Any) -> Any:
        answer = read_clock(self)
        time.sleep(pause_s)
        return answer

    monkeypatch.setattr(owner, name, slow_after_reading)
    limiter.acquire()
    monkeypatch.setattr(owner, name, read_clock)
    stamped = bucket.peek(0).timestamp / 1000
    limiter.left(time.monotonic())  # the request leaves at once after the grant
    assert bucket.peek(0).timestamp / 1000 - stamped >= pause_s - 0.02
    rate_limit.close_budgets()


def test_a_budget_too_busy_to_restamp_does_not_fail_the_request_already_sent(
    budget_url: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # At 1,000 accounts on 2 cores a connection of the budget's pool was 30 s away
    # (PoolTimeout); the request had already been answered, and failing it lost a campaign.
    limiter = RateLimiter(1, WINDOW_S, f"http://busy-{uuid.uuid4().hex}.invalid", "c", budget_url)
    limiter.acquire()
    bucket = limiter._budget.limiter.bucket_factory.get(RateItem(limiter.name, 0))

    def busy(*args: Any) -> None:
        raise TimeoutError("couldn't get a connection after 30.00 sec")

    monkeypatch.setattr(bucket, "restamp", busy)
    limiter.left(time.monotonic() + 1.0)  # late: a re-stamp is attempted, and fails
    assert "late request not re-stamped: TimeoutError" in caplog.text
    rate_limit.close_budgets()


def test_a_pause_inside_the_http_library_moves_the_permit_by_what_the_pause_exceeds_the_margin(
    start_mock: Any, make_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The departure is noted once the request is on its socket: a thread paused after the
    # client handed the call to requests (a collection while it builds the request) is covered.
    import requests.adapters

    pause_s = 0.4
    written: list[float] = []
    real_send = requests.adapters.HTTPAdapter.send

    def paused_send(self: Any, request: Any, *args: Any, **kwargs: Any) -> Any:
        if "/sync" in request.url and not written:
            time.sleep(pause_s)
            written.append(time.monotonic())  # the memory budget's clock
        return real_send(self, request, *args, **kwargs)

    monkeypatch.setattr(requests.adapters.HTTPAdapter, "send", paused_send)
    mock = start_mock(campaigns=1, error_rate=0, hang_rate=0)
    client = make_client(mock.url, rate_limit_margin_s=0.2)
    assert client.sync_campaign("campaign_1").success
    bucket = client._limiter._budget.limiter.bucket_factory.get(RateItem(client._limiter.name, 0))
    stamp = bucket.peek(0).timestamp / 1000  # the sync's permit, the newest
    covered_s = client.settings.rate_limit_margin_s  # the budget's window covers this much
    assert abs(stamp - (written[0] - covered_s)) < 0.1, "the stamp is still from before the pause"


@pytest.mark.parametrize(
    ("endpoint", "lag_s"),
    [("list", 0.4), ("sync", 0.4), ("sync", 0.15), ("sync", 0.0)],
    ids=["list", "sync", "sync-within-the-margin", "sync-on-time"],
)
def test_an_answer_that_comes_back_late_moves_the_permit_by_what_its_lateness_exceeds_the_margin(
    endpoint: str, lag_s: float, start_mock: Any, make_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A platform short of CPU counts a request late, after our write, and answers as late: at
    # 1,000 accounts on 2 cores the mock's handlers did, and the permits one window after the
    # writes drew 429s. A successful sync's own 0.5 s here (2 s at the real pace) is not lateness,
    # and a count within the margin is covered by the window as it is.
    import requests.adapters

    sent: list[float] = []
    real_send = requests.adapters.HTTPAdapter.send

    def lagging_send(self: Any, request: Any, *args: Any, **kwargs: Any) -> Any:
        if "/auth/" in request.url:
            return real_send(self, request, *args, **kwargs)
        sent.append(time.monotonic())  # the memory budget's clock
        response = real_send(self, request, *args, **kwargs)
        time.sleep(lag_s)  # to the client, a platform that took the request late
        return response

    monkeypatch.setattr(requests.adapters.HTTPAdapter, "send", lagging_send)
    mock = start_mock(campaigns=1, error_rate=0, hang_rate=0, time_scale=0.25)
    client = make_client(mock.url, time_scale=0.25, rate_limit_margin_s=0.2)
    if endpoint == "list":
        next(client.iter_campaign_pages())
    else:
        assert client.sync_campaign("campaign_1").success
    bucket = client._limiter._budget.limiter.bucket_factory.get(RateItem(client._limiter.name, 0))
    moved_s = bucket.peek(0).timestamp / 1000 - sent[0]
    expected_s = max(0.0, lag_s - client.settings.rate_limit_margin_s)  # past the margin only
    assert expected_s - 0.05 <= moved_s < expected_s + 0.1, f"the permit moved {moved_s:.3f} s"


def test_a_timeout_holds_its_permit_until_the_client_stopped_waiting(
    start_mock: Any, make_client: Any
) -> None:
    # A hung request shows nothing of when the platform counted it, only that it was by the time
    # the client gave up. At 1,000 accounts on 2 cores every 429 left followed a timeout: the
    # mock, short of CPU, had counted the hung request later than its neighbours' answers showed.
    mock = start_mock(campaigns=1, error_rate=0, hang_rate=1.0, time_scale=0.25)
    client = make_client(
        mock.url, time_scale=0.25, max_attempts=1, sync_read_timeout_s=2.0, rate_limit_margin_s=0.2
    )
    assert not client.sync_campaign("campaign_1").success
    settings = client.settings  # at this pace: a 0.5 s read timeout
    bucket = client._limiter._budget.limiter.bucket_factory.get(RateItem(client._limiter.name, 0))
    moved_s = bucket.peek(0).timestamp / 1000 - rate_limit.last_permit.at
    expected_s = settings.sync_read_timeout_s - settings.rate_limit_margin_s
    assert expected_s - 0.05 <= moved_s < expected_s + 0.1, f"the permit moved {moved_s:.3f} s"


def test_the_leaker_finds_nothing_to_do_once_the_budgets_are_closed(budget_url: str) -> None:
    # pyrate-limiter's leaker thread can be mid-leak when the budgets close (a test's teardown,
    # a worker's exit); it raised PoolClosed in that thread.
    limiter = RateLimiter(1, WINDOW_S, f"http://closed-{uuid.uuid4().hex}.invalid", "c", budget_url)
    bucket = limiter._budget.limiter.bucket_factory.get(RateItem(limiter.name, 0))
    limiter.acquire()
    rate_limit.close_budgets()
    assert bucket.leak(bucket.now() + 10 * round(WINDOW_S * 1000)) == 0


def test_the_leaker_drops_only_the_permits_the_window_has_left(budget_url: str) -> None:
    # By the database's clock: a worker whose own clock runs an hour ahead drops nothing that
    # the window still holds.
    limiter = RateLimiter(2, WINDOW_S, f"http://drop-{uuid.uuid4().hex}.invalid", "c", budget_url)
    bucket = limiter._budget.limiter.bucket_factory.get(RateItem(limiter.name, 0))
    limiter.acquire()
    time.sleep(WINDOW_S + 0.1)
    limiter.acquire()
    bucket.leak(bucket.now() + 3_600_000)  # as pyrate-limiter's leaker thread also does
    assert len(_stamps(budget_url, limiter.name)) == 1  # the second, still in its window
    rate_limit.close_budgets()


def test_a_permit_does_not_queue_behind_a_vacuum_of_its_budget_table(budget_url: str) -> None:
    # Autovacuum visits every busy budget table and holds SHARE UPDATE EXCLUSIVE while it does;
    # a permit that locked the table waited for it, in every process asking for that account.
    limiter = RateLimiter(10, 30.0, f"http://vacuum-{uuid.uuid4().hex}.invalid", "c", budget_url)
    limiter.acquire()  # creates the table
    table = "ratelimit___" + budget_table(limiter.name)
    granted = threading.Event()
    with psycopg.connect(libpq_conninfo(budget_url)) as vacuum:
        vacuum.execute(
            sql.SQL("LOCK TABLE {} IN SHARE UPDATE EXCLUSIVE MODE").format(sql.Identifier(table))
        )
        threading.Thread(target=lambda: (limiter.acquire(), granted.set()), daemon=True).start()
        assert granted.wait(10), "the permit waited for the table's vacuum lock"
        vacuum.rollback()
    assert len(_stamps(budget_url, limiter.name)) == 2
    rate_limit.close_budgets()


def test_a_permit_waits_for_another_process_permit_of_the_account_and_counts_it(
    budget_url: str,
) -> None:
    # Lock, then count: a permit whose count read the window before the other's commit would
    # admit an eleventh request. The other process's permit is played by hand, mid-transaction.
    limiter = RateLimiter(1, 30.0, f"http://race-{uuid.uuid4().hex}.invalid", "c", budget_url)
    bucket = limiter._budget.limiter.bucket_factory.get(RateItem(limiter.name, 0))
    table = bucket._full_tbl
    answers: list[bool] = []
    with psycopg.connect(libpq_conninfo(budget_url)) as other:
        other.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (_LOCK_CLASS, table))
        other.execute(
            sql.SQL("INSERT INTO {} VALUES ('c', 1, now())").format(sql.Identifier(table))
        )
        asking = threading.Thread(
            target=lambda: answers.append(
                limiter._budget.limiter.try_acquire(limiter.name, blocking=False)
            )
        )
        asking.start()
        waiting = "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
        while asking.is_alive() and not other.execute(waiting).fetchone()[0]:  # type: ignore[index]
            asking.join(0.01)
        other.commit()
    asking.join()
    assert answers == [False]
    rate_limit.close_budgets()


def test_the_budget_commits_do_not_wait_for_the_disk(budget_url: str) -> None:
    limiter = RateLimiter(1, 30.0, f"http://wal-{uuid.uuid4().hex}.invalid", "c", budget_url)
    with limiter._budget.limiter.bucket_factory._pool.connection() as conn:
        assert conn.execute("SHOW synchronous_commit").fetchone() == ("off",)
        assert conn.autocommit
    rate_limit.close_budgets()


def test_a_permit_already_leaked_is_put_back_at_its_write(monkeypatch: pytest.MonkeyPatch) -> None:
    # At a compressed pace a request can outlast the window: its permit leaked before the write
    # was noted. Re-stamping must not fail, and the window counts the request from its write.
    limiter = RateLimiter(1, WINDOW_S, f"http://leak-{uuid.uuid4().hex}.invalid", "c", None)
    bucket = limiter._budget.limiter.bucket_factory.get(RateItem(limiter.name, 0))
    limiter.acquire()
    time.sleep(WINDOW_S + 0.1)
    bucket.leak(bucket.now())  # what the library's leaker thread does once a window
    assert bucket.count() == 0
    limiter.left(time.monotonic())
    assert bucket.count() == 1 and bucket.peek(0).timestamp / 1000 == pytest.approx(
        time.monotonic(), abs=0.1
    )
    rate_limit.close_budgets()


@pytest.mark.parametrize("saturated", [True, False], ids=["pool-busy", "database-unreachable"])
def test_a_pool_with_every_connection_lent_is_contention_not_an_outage(
    saturated: bool, budget_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # At 1,000 accounts a worker's account threads held all of its budget connections for
    # 30 s; that failed a campaign as "budget unavailable" although the database was fine.
    limiter = RateLimiter(1, WINDOW_S, f"http://lent-{uuid.uuid4().hex}.invalid", "c", budget_url)
    factory = limiter._budget.limiter.bucket_factory
    bucket = factory.get(RateItem(limiter.name, 0))
    put, asked = bucket.put, []

    def busy_once(item: RateItem) -> Any:
        asked.append(item)
        if len(asked) == 1:
            raise PoolTimeout("couldn't get a connection after 30.00 sec")
        return put(item)

    monkeypatch.setattr(bucket, "put", busy_once)
    monkeypatch.setattr(factory, "saturated", lambda: saturated)
    if saturated:
        limiter.acquire()
        assert (len(asked), bucket.count()) == (2, 1)
    else:
        with pytest.raises(AdPlatformError, match=r"budget \(postgres\) unavailable: PoolTimeout"):
            limiter.acquire()
    rate_limit.close_budgets()


def test_the_pool_is_saturated_only_while_every_connection_is_lent(budget_url: str) -> None:
    limiter = RateLimiter(1, WINDOW_S, f"http://sat-{uuid.uuid4().hex}.invalid", "c", budget_url)
    factory = limiter._budget.limiter.bucket_factory
    lent = [factory._pool.getconn() for _ in range(factory._pool.max_size - 1)]
    assert not factory.saturated()
    lent.append(factory._pool.getconn())
    assert factory.saturated()
    for conn in lent:
        factory._pool.putconn(conn)
    assert not factory.saturated()
    rate_limit.close_budgets()


def test_a_permit_that_fills_the_window_says_when_to_ask_again(
    budget_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Each ask is a locked round trip; at 1,000 accounts the asks denied only to learn the wait
    # were a third of the budget's cost. The permit that fills the window brings the wait.
    limiter = RateLimiter(2, WINDOW_S, f"http://full-{uuid.uuid4().hex}.invalid", "c", budget_url)
    limiter.acquire()
    limiter.acquire()  # the window is now full for WINDOW_S after the first permit
    bucket = limiter._budget.limiter.bucket_factory.get(RateItem(limiter.name, 0))
    put, asked = bucket.put, []

    def counting_put(item: RateItem) -> Any:
        asked.append(put(item))
        return asked[-1]

    monkeypatch.setattr(bucket, "put", counting_put)
    limiter.acquire()
    assert asked == [True], "the third permit was asked for before the window had room"
    rate_limit.close_budgets()
