"""Accounts' rate-limit budgets do not hold each other up inside one process.

A run syncs many accounts in threads of one process. A slow permit for one account must not
stall the permits of the others (one limiter lock around every account's ``put`` would).
"""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

import pytest
from pyrate_limiter import InMemoryBucket, RateItem

from mixo_pipeline.ad_platform import rate_limit
from mixo_pipeline.ad_platform.rate_limit import RateLimiter

# Bounds how long a broken implementation can hang the test; a correct one never waits on it.
STUCK_S = 10.0
WINDOW_S = 0.6


def _limiter(base_url: str, client_id: str, limit: int = 3) -> RateLimiter:
    return RateLimiter(limit, WINDOW_S, base_url, client_id, None)


def test_a_stalled_permit_of_one_account_does_not_block_another(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    base_url = f"http://isolation-{uuid.uuid4().hex}.invalid"
    stalled = _limiter(base_url, "stalled")
    others = [_limiter(base_url, f"other_{i}") for i in range(3)]

    inside_put, release = threading.Event(), threading.Event()
    original_put = InMemoryBucket.put

    def put(self: Any, item: Any) -> Any:
        if item.name == stalled.name:
            inside_put.set()
            release.wait(6 * STUCK_S)
        return original_put(self, item)

    monkeypatch.setattr(InMemoryBucket, "put", put)

    stalled_thread = threading.Thread(target=stalled.acquire)
    stalled_thread.start()
    admitted: list[str] = []

    def take_all() -> None:
        for limiter in others:
            for _ in range(3):
                limiter.acquire()
            admitted.append(limiter.name)

    others_thread = threading.Thread(target=take_all)
    try:
        assert inside_put.wait(STUCK_S)
        others_thread.start()
        others_thread.join(STUCK_S)
        # Each other account's full budget was granted while "stalled" was still inside put.
        assert admitted == [limiter.name for limiter in others]
        assert stalled_thread.is_alive()
    finally:
        release.set()
        stalled_thread.join()
        others_thread.join()


def test_clients_of_one_account_share_its_budget_and_others_do_not() -> None:
    base_url = f"http://isolation-{uuid.uuid4().hex}.invalid"
    first = _limiter(base_url, "acct", limit=2)
    second = _limiter(base_url, "acct", limit=2)
    other = _limiter(base_url, "other", limit=2)

    first.acquire()
    second.acquire()
    # Both permits of "acct" are spent across its two clients: a third must wait a window.
    assert not first._budget.limiter.try_acquire(first.name, blocking=False)
    assert other._budget.limiter.try_acquire(other.name, blocking=False)


def test_a_waiting_listing_call_takes_the_next_turn_before_waiting_syncs() -> None:
    turn = rate_limit._Turn()
    order: list[str] = []
    holder_in, release = threading.Event(), threading.Event()

    def holder() -> None:
        with turn.take(urgent=False):
            holder_in.set()
            release.wait(STUCK_S)

    def waiter(name: str, urgent: bool) -> None:
        with turn.take(urgent=urgent):
            order.append(name)

    first = threading.Thread(target=holder)
    first.start()
    assert holder_in.wait(STUCK_S)
    waiters = []
    # The syncs queue first, then the page: arrival order alone would serve a sync first.
    for name, urgent in [("sync-1", False), ("sync-2", False), ("page", True)]:
        waiters.append(threading.Thread(target=waiter, args=(name, urgent)))
        waiters[-1].start()
        for _ in range(int(STUCK_S / 0.001)):
            if _waiting(turn) == len(waiters):
                break
            time.sleep(0.001)
        assert _waiting(turn) == len(waiters)
    release.set()
    for thread in [first, *waiters]:
        thread.join(STUCK_S)
    assert order[0] == "page" and sorted(order[1:]) == ["sync-1", "sync-2"]


def _waiting(turn: rate_limit._Turn) -> int:
    return sum(len(c._waiters) for c in (turn._free, turn._urgent_free))  # type: ignore[attr-defined]


def test_a_stop_releases_every_waiting_thread_without_a_permit() -> None:
    # An interrupted run must not wait out the window (a minute at the real pace) before its
    # threads end: the one waiting on the limiter and those queued for their turn all return.
    limiter = RateLimiter(1, 600.0, f"http://stop-{uuid.uuid4().hex}.invalid", "c", None)
    limiter.acquire()
    stop = threading.Event()
    turn = limiter._budget.turn
    threads = [
        threading.Thread(
            target=limiter.acquire, kwargs={"urgent": urgent, "stop": stop}, daemon=True
        )
        for urgent in (False, False, True)
    ]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + STUCK_S
    while _waiting(turn) < 2:
        assert time.monotonic() < deadline, "the threads never queued for their turn"
        time.sleep(0.001)
    stop.set()
    for thread in threads:
        thread.join(STUCK_S)
        assert not thread.is_alive(), "a waiting thread ignored the stop"
    bucket = limiter._budget.limiter.bucket_factory.get(RateItem(limiter.name, 0))
    assert bucket.count() == 1
    rate_limit.close_budgets()
