"""A permit before every rate-limited request, from one budget per account (pyrate-limiter). One
pyrate-limiter bucket per account, a sliding log like the platform's: a ``PostgresBucket`` table (on
the database's clock, shared by every process) or an ``InMemoryBucket`` (this process only), over
the platform's window plus a margin. Each account has its own ``Limiter`` and lets one of its
threads wait at a time; a PostgreSQL permit costs one round trip (docs/performance.md)."""

import atexit
import bisect
import hashlib
import logging
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from psycopg import sql
from psycopg_pool import ConnectionPool, PoolTimeout
from pyrate_limiter import (
    AbstractBucket,
    BucketFactory,
    Decision,
    InMemoryBucket,
    Limiter,
    PostgresBucket,
    Rate,
    RateItem,
)

from mixo_pipeline.ad_platform.errors import AdPlatformError
from mixo_pipeline.database import libpq_conninfo

_log = logging.getLogger(__name__)
LIMITER_BUFFER_S = 0.01  # added to each computed wait, so a waiter wakes just after a slot frees
RESTAMP_AFTER_S = 0.05  # a request leaving later than this after its stamp moves the stamp
_SLUG = re.compile(r"[^a-z0-9]+")


def budget_key(base_url: str, client_id: str) -> str:
    """The name of one budget: the platform it is spent on and the client it belongs to."""
    return f"{base_url.rstrip('/')}#{client_id}"


def budget_table(key: str) -> str:
    """A readable, unique table name for budget ``key`` (``<base url>#<client id>``)."""
    slug = _SLUG.sub("_", key.rsplit("#", 1)[-1].lower()).strip("_")[:24] or "client"
    return f"adp_{slug}_{hashlib.sha256(key.encode()).hexdigest()[:12]}"


def _utc_session(conn: Any) -> None:
    # The bucket's column is a TIMESTAMP read through the session's zone: one zone everywhere.
    conn.execute("SET TIME ZONE 'UTC'")
    conn.commit()


_permit = threading.local()  # this thread's last permit: its item, its bucket, when stamped


def _note_permit(item: RateItem, bucket: AbstractBucket) -> None:
    # Before the clock is read: a pause after reading it counts as late (RateLimiter.left).
    _permit.item, _permit.bucket, _permit.at = item, bucket, time.monotonic()
    _permit.full_for_s = 0.0  # how long the window this permit filled stays full, if known


# Run after an exclusive lock on the table, in the same pipelined transaction: the stamp is the
# database's clock at admission (to the millisecond, as pyrate-limiter stores them), and when the
# oldest of the window's permits leaves it (the wait, for a denial or the window this fills).
_PERMIT = """
WITH now AS (SELECT date_trunc('milliseconds', clock_timestamp())::timestamp AS ts),
recent AS (
    SELECT item_timestamp FROM {0}, now
    WHERE item_timestamp >= now.ts - %(interval_ms)s * INTERVAL '1 millisecond'
    ORDER BY item_timestamp DESC LIMIT %(limit)s
),
put AS (
    INSERT INTO {0} (name, weight, item_timestamp)
    SELECT %(name)s, 1, now.ts FROM now WHERE (SELECT count(*) FROM recent) < %(limit)s
    RETURNING item_timestamp
)
SELECT EXISTS (SELECT FROM put),
    (extract(epoch FROM now.ts) * 1000)::bigint,
    (extract(epoch FROM (SELECT min(item_timestamp) FROM recent)) * 1000)::bigint,
    (SELECT count(*) FROM recent)
FROM now
"""

_RESTAMP = (  # one row of the stamp: permits stamped in the same millisecond are alike
    "UPDATE {0} SET item_timestamp = item_timestamp + %s * INTERVAL '1 millisecond' "
    "WHERE ctid = (SELECT ctid FROM {0} WHERE item_timestamp = TO_TIMESTAMP(%s) LIMIT 1)"
)


class _PostgresBucket(PostgresBucket):
    def put(self, item: RateItem) -> bool:
        """One round trip where pyrate-limiter's bucket takes six (a clock query, a lock that
        fails when busy, a count, a peek, an insert, a commit): at a thousand accounts those
        round trips were most of the CPU (docs/performance.md)."""
        _note_permit(item, self)
        table = sql.Identifier(self._full_tbl)
        rate = self.rates[0]
        params = {"interval_ms": rate.interval, "limit": rate.limit, "name": item.name}
        with self._get_conn() as conn, conn.pipeline():
            conn.execute(sql.SQL("LOCK TABLE {0} IN EXCLUSIVE MODE").format(table))
            answer = conn.execute(sql.SQL(_PERMIT).format(table), params)
            conn.commit()
        admitted, item.timestamp, oldest, counted = answer.fetchone()  # type: ignore[misc]
        wait = 0 if oldest is None else oldest + rate.interval - item.timestamp
        _permit.full_for_s = wait / 1000 if admitted and counted + 1 >= rate.limit else 0.0
        return self._record(item, Decision() if admitted else Decision(rate, wait))

    def restamp(self, item: RateItem, late_ms: int) -> None:
        with self._get_conn() as conn:
            query = sql.SQL(_RESTAMP).format(sql.Identifier(self._full_tbl))
            conn.execute(query, (late_ms, item.timestamp / 1000))


class _MemoryBucket(InMemoryBucket):
    def put(self, item: RateItem) -> Any:
        """pyrate-limiter stamps a permit when first asked, not when granted: stamped here."""
        _note_permit(item, self)
        item.timestamp = self.now()
        return super().put(item)

    def restamp(self, item: RateItem, late_ms: int) -> None:
        with self._lock:
            if item in self.items:  # by identity (no __eq__); gone if it outlived a short window
                self.items.remove(item)
            item.timestamp += late_ms
            bisect.insort(self.items, item, key=lambda kept: kept.timestamp)


class _AccountBuckets(BucketFactory):
    """Routes each budget name to a bucket of its own, created on first use."""

    def __init__(self, rate: Rate, conninfo: str | None) -> None:
        self._rate = rate
        self._pool: Any = None
        if conninfo is not None:
            self._pool = ConnectionPool(conninfo, configure=_utc_session, max_size=8, open=True)
        self._buckets: dict[str, AbstractBucket] = {}
        self._lock = threading.Lock()
        self.leak_interval = rate.interval  # expired permits are dropped once a window

    def get(self, item: RateItem) -> AbstractBucket:
        with self._lock:
            if item.name not in self._buckets:
                self._buckets[item.name] = (
                    self.create(_MemoryBucket, [self._rate])
                    if self._pool is None
                    else self.create(
                        _PostgresBucket, self._pool, budget_table(item.name), [self._rate]
                    )
                )
            return self._buckets[item.name]

    def saturated(self) -> bool:
        """Every connection of the pool is open and lent: a wait for one is contention."""
        stats = self._pool.get_stats()
        return stats["pool_size"] >= self._pool.max_size and not stats["pool_available"]

    def wrap_item(self, name: str, weight: int = 1) -> RateItem:
        return RateItem(name, 0, weight=weight)  # stamped by the bucket's clock when put

    def close(self) -> None:
        super().close()
        if self._pool is not None and not self._pool.closed:
            self._pool.close()


class _Turn:
    """One waiter at a time for an account's next permit, listing calls first: the pages feed
    the syncs, so a page waiting behind ten syncs would leave the budget idle later on."""

    def __init__(self) -> None:
        lock = threading.Lock()  # one waiter of the right kind is woken, not all ten
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


_factories: dict[tuple[str | None, int, int], _AccountBuckets] = {}
_budgets: dict[tuple[str | None, int, int, str], _Budget] = {}
_registry_lock = threading.Lock()


def _budget(conninfo: str | None, limit: int, interval_ms: int, name: str) -> _Budget:
    with _registry_lock:
        key = (conninfo, limit, interval_ms)
        if key not in _factories:
            _factories[key] = _AccountBuckets(Rate(limit, interval_ms), conninfo)
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
    ) -> None:
        self.window_s = window_s
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
                if not stop.is_set():
                    budget.full_until = _permit.at + _permit.full_for_s
        except Exception as exc:  # the shared budget's database is unreachable or broken
            raise AdPlatformError(
                f"rate-limit budget ({self.backend}) unavailable: {type(exc).__name__}: {exc}"
            ) from exc
        return time.monotonic() - started

    def _ask(self, limiter: Limiter) -> float | None:
        """One ask: ``None`` if granted, else the seconds until the window has room. A pool with
        no free connection is this process's other accounts holding them all (a loaded
        machine): contention, asked again at once, not an unreachable database."""
        try:
            if limiter.try_acquire(self.name, blocking=False):
                return None
        except PoolTimeout:
            if not limiter.bucket_factory.saturated():  # type: ignore[attr-defined]
                raise
            _log.warning("%s: every budget connection busy; asking again", self.name)
            return 0.0
        return max(0, _permit.bucket.waiting(_permit.item)) / 1000 + LIMITER_BUFFER_S

    def left(self, at: float) -> None:
        """This thread's request was written to its socket at monotonic ``at``. Written more than
        RESTAMP_AFTER_S after its permit's stamp (a full garbage collection, a slow commit), the
        stamp moves to ``at``: the slot's next use keeps a whole window after this request."""
        late_s = at - _permit.at
        if late_s > RESTAMP_AFTER_S:
            _log.info("%s: request left %.3f s after its stamp: re-stamped", self.name, late_s)
            try:  # the request is sent: a budget too busy to note it must not fail it
                _permit.bucket.restamp(_permit.item, round(late_s * 1000))
            except Exception as exc:
                _log.warning("%s: late request not re-stamped: %s", self.name, type(exc).__name__)

    def pause(self, seconds: float) -> None:
        """Hold this account's requests in this process for ``seconds`` (after a 429)."""
        until = time.monotonic() + seconds
        self._budget.paused_until = max(self._budget.paused_until, until)
