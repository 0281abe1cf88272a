"""A permit before every rate-limited request, from one budget per account (pyrate-limiter): a
sliding log like the platform's over its window plus a margin (:mod:`.buckets`). One thread per
account waits at a time, asking again only when the window has room."""

import atexit
import logging
import math
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from psycopg_pool import PoolTimeout
from pyrate_limiter import Limiter, Rate

from mixo_pipeline.ad_platform.buckets import AccountBuckets, budget_key, last_permit
from mixo_pipeline.ad_platform.errors import AdPlatformError
from mixo_pipeline.database import libpq_conninfo

_log = logging.getLogger(__name__)
LIMITER_BUFFER_S = 0.01  # added to each computed wait, so a waiter wakes just after a slot frees


class _Turn:
    """One waiter at a time for an account's next permit, listing calls first (pages feed the
    syncs: a page waiting behind them would leave the budget idle later on)."""

    def __init__(self) -> None:
        lock = threading.Lock()  # one waiter of the right kind is woken, not all of them
        self._free, self._urgent_free = threading.Condition(lock), threading.Condition(lock)
        self._busy = False
        self._urgent = 0

    @contextmanager
    def take(self, urgent: bool) -> Iterator[None]:
        with self._free:
            self._urgent += urgent
            while self._busy or (self._urgent and not urgent):
                (self._urgent_free if urgent else self._free).wait()
            self._urgent -= urgent
            self._busy = True
        try:
            yield
        finally:
            with self._free:
                self._busy = False
                (self._urgent_free if self._urgent else self._free).notify()


@dataclass
class _Budget:
    limiter: Limiter
    turn: _Turn = field(default_factory=_Turn)
    paused_until: float = 0.0  # after a 429
    full_until: float = 0.0  # the window the last permit here filled: not asked before


_factories: dict[tuple[str | None, int, int], AccountBuckets] = {}
_budgets: dict[tuple[str | None, int, int, str], _Budget] = {}
_registry_lock = threading.Lock()


def _budget(conninfo: str | None, limit: int, interval_ms: int, name: str) -> _Budget:
    with _registry_lock:
        key = (conninfo, limit, interval_ms)
        if key not in _factories:
            _factories[key] = AccountBuckets(Rate(limit, interval_ms), conninfo)
        if (*key, name) not in _budgets:
            limiter = Limiter(_factories[key])
            _budgets[(*key, name)] = _Budget(limiter)
        return _budgets[(*key, name)]


@atexit.register
def close_budgets() -> None:
    """Close every budget's connections (at exit; tests call it before dropping a database)."""
    with _registry_lock:
        factories = list(_factories.values())
        _factories.clear()
        _budgets.clear()
    for factory in factories:
        factory.close()


class RateLimiter:
    """Permits for one account's rate-limited requests."""

    def __init__(
        self,
        limit: int,
        window_s: float,
        base_url: str,
        client_id: str,
        budget_url: str | None,
        *,
        margin_s: float = 0.0,
    ) -> None:
        self.window_s = window_s  # the platform's window plus ``margin_s``
        self.margin_s = margin_s
        self.name = budget_key(base_url, client_id)
        self.backend = "memory" if budget_url is None else "postgres"
        conninfo = None if budget_url is None else libpq_conninfo(budget_url)
        self._budget = _budget(conninfo, limit, round(window_s * 1000), self.name)

    def acquire(self, *, urgent: bool = False, stop: threading.Event | None = None) -> float:
        """Block until a permit (``urgent`` calls first) or ``stop``; return the seconds waited."""
        stop = stop or threading.Event()
        started, budget = time.monotonic(), self._budget
        try:
            with budget.turn.take(urgent):
                stop.wait(max(budget.paused_until, budget.full_until) - time.monotonic())
                # Asked again when the window's oldest permit leaves it, not polled.
                while not stop.is_set() and (wait_s := self._ask(budget.limiter)) is not None:
                    stop.wait(wait_s)
                if not stop.is_set() and last_permit.full_for_s:  # from now: after the stamp
                    budget.full_until = time.monotonic() + last_permit.full_for_s + LIMITER_BUFFER_S
        except Exception as exc:  # the shared budget's database is unreachable or broken
            raise AdPlatformError(
                f"rate-limit budget ({self.backend}) unavailable: {type(exc).__name__}: {exc}"
            ) from exc
        return time.monotonic() - started

    def _ask(self, limiter: Limiter) -> float | None:
        """One ask: ``None`` if granted, else the seconds until the window has room. A pool
        whose connections are all lent is contention (asked again), not an unreachable database."""
        try:
            if limiter.try_acquire(self.name, blocking=False):
                return None
        except PoolTimeout:
            if not limiter.bucket_factory.saturated():  # type: ignore[attr-defined]
                raise
            _log.warning("%s: every budget connection busy; asking again", self.name)
            return 0.0
        return max(0, last_permit.bucket.waiting(last_permit.item)) / 1000 + LIMITER_BUFFER_S

    def left(self, counted_by: float) -> None:
        """This thread's request was counted by monotonic ``counted_by`` at the latest. A count
        up to ``margin_s`` after the permit's stamp is covered by the budget's longer window; a
        later one (a busy platform, a hang) moves the stamp by the excess, so the slot's next use
        still keeps a whole platform window after the count: no late count draws a 429."""
        late_ms = math.ceil((counted_by - last_permit.at - self.margin_s) * 1000)
        if late_ms > 0:
            _log.info("%s: request counted %d ms past the margin: re-stamped", self.name, late_ms)
            try:  # the request is sent: a budget too busy to note it must not fail it
                last_permit.bucket.restamp(last_permit.item, late_ms)
            except Exception as exc:
                _log.warning("%s: late request not re-stamped: %s", self.name, type(exc).__name__)

    def pause(self, seconds: float) -> None:
        """Hold this account's requests in this process for ``seconds`` (after a 429)."""
        until = time.monotonic() + seconds
        self._budget.paused_until = max(self._budget.paused_until, until)
