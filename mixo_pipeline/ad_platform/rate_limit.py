"""The client's side of the platform's rate limit: a permit before every rate-limited request.

The platform keeps a sliding log per client (N requests per window, counted when a request
*arrives*); we keep the same log on our side (pyrate-limiter's default ``SlidingWindowLog``),
recorded when we *take the permit*, just before sending. A permit is recorded earlier than the
server's entry by the send delay ``d`` (milliseconds on a LAN), so the server sees two requests
one client-window apart as ``window + margin + d_late - d_early`` apart: the margin covers the
variation of that delay, not the delay itself. Measured on one machine, ``d`` stayed under 15 ms
in bursts of 30, so the default 0.1 s margin covers it several times over (GC pauses included)
while costing 0.2% of a 60 s window. It bounds normal operation, not overload: on a 2-core
machine loaded on purpose (load average 5 to 11), the mock's own delay in reading a request
reached 175 ms and the in-memory budget was served 429s too, which the client then honours.

Budgets are keyed by (base URL, client id), the unit the platform counts:

- ``memory``: one budget per process, shared by every client object in it (Dagster may build
  several clients in one step process; they must not each spend the full budget).
- ``postgres``: pyrate-limiter's ``PostgresBucket``, one table per budget, timestamps from the
  database clock, so processes on different machines share one budget and one clock.

Two pyrate-limiter 4.5 details shape this module:

- While blocking, ``Limiter`` advances the waiting item's timestamp by the time it *meant* to
  sleep, not by the time that passed; over several wake-ups the recorded permit drifts earlier
  than the real send and eats the margin. The buckets here stamp every ``put`` afresh.
- ``PostgresBucket.put`` stamps the permit with the database clock in a query of its own, then
  takes ``LOCK TABLE ... NOWAIT``, counts, inserts and commits (a synchronous, fsynced commit):
  about seven round trips between the stamp and the send. Measured on a loaded 2-core machine
  that stretch alone reached 89 ms of the 100 ms margin. :class:`_StampedPostgresBucket` stamps
  the permit with ``clock_timestamp()`` in the statement that counts and inserts it, under the
  table lock, so only that statement's reply and an asynchronous commit lie between stamp and
  send.
"""

from __future__ import annotations

import atexit
import hashlib
import heapq
import itertools
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from pyrate_limiter import (
    AbstractBucket,
    BucketFactory,
    InMemoryBucket,
    Limiter,
    PostgresBucket,
    Rate,
    RateItem,
)
from pyrate_limiter.abstracts.algorithm import Decision

from mixo_pipeline.ad_platform.errors import AdPlatformError
from mixo_pipeline.ad_platform.settings import ClientSettings
from mixo_pipeline.local_postgres import libpq_conninfo

# Added by the limiter to every computed wait. The sliding-log wait is already exact (+1 ms),
# so this only spaces out retries after Postgres lock contention.
LIMITER_BUFFER_MS = 3
_POOL_MAX_SIZE = 4
_SLUG = re.compile(r"[^a-z0-9]+")
# Session settings of the budget's connections, set once per connection (_configure_session):
# - TimeZone UTC: the bucket's column is a TIMESTAMP without time zone, and pyrate-limiter's own
#   queries convert it through the session's zone, so every process must use the same zone
#   (PGTZ may differ between machines, and libpq's PGTZ overrides startup options) and one
#   without DST (an ambiguous hour would reorder the log).
# - synchronous_commit off: the commit sits between the permit's stamp and the send, and an
#   fsync under I/O load takes tens of milliseconds. The commit is still atomic and visible to
#   other sessions at once; a database crash could lose the last permits of a fraction of a
#   second, which at worst costs one 429 (handled) after the crash.
# - lock_timeout: the table lock is waited for (no busy retries); a holder stuck longer than this
#   is reported as contention and retried.
_SESSION_SETUP = (
    "SET TIME ZONE 'UTC'",
    "SET synchronous_commit = off",
    "SET lock_timeout = '10s'",
)


def _configure_session(conn: Any) -> None:
    """Pool ``configure`` hook: the session settings above, committed so the connection idles."""
    for statement in _SESSION_SETUP:
        conn.execute(statement)
    conn.commit()


class _FreshTimestamps:
    """Bucket mixin: sane waits for the limiter.

    ``waiting()`` may compute a negative wait from a stale entry, and the limiter reads exactly
    ``-1`` as "can never fit" and gives up. A weight that fits the rate can always fit later, so
    any negative wait means "try again now".
    """

    def waiting(self, item: RateItem) -> Any:
        wait = super().waiting(item)  # type: ignore[misc]
        return max(0, wait)


class _FreshInMemoryBucket(_FreshTimestamps, InMemoryBucket):
    """``InMemoryBucket`` stamping each put with the monotonic clock's current time."""

    def put(self, item: RateItem) -> Any:
        item.timestamp = self.now()
        return super().put(item)


class _StampedPostgresBucket(_FreshTimestamps, PostgresBucket):
    """``PostgresBucket`` whose permit is stamped in the statement that admits it.

    One transaction: wait for the table lock, then one statement reads ``clock_timestamp()``,
    counts the window ending there and inserts the permit with that stamp if it fits, then an
    (asynchronous) commit. The stamp is as close to the send as a shared log allows, and its
    distance from the send no longer depends on how long the lock, count and commit took.
    Stamps are stored as UTC wall time, the convention pyrate-limiter's peek and leak read.
    """

    def __init__(self, pool: Any, table: str, rates: list[Rate]) -> None:
        if len(rates) != 1:
            raise ValueError("a budget bucket holds exactly one rate")
        super().__init__(pool, table, rates)
        from psycopg import sql

        table_id = sql.Identifier(self._full_tbl)
        self._q_wait_lock = sql.SQL("LOCK TABLE {table} IN EXCLUSIVE MODE").format(table=table_id)
        self._q_admit = sql.SQL(
            """
            WITH clock AS (SELECT clock_timestamp() AT TIME ZONE 'UTC' AS ts),
            admitted AS (
                INSERT INTO {table} (name, weight, item_timestamp)
                SELECT %(name)s, %(weight)s, clock.ts FROM clock, generate_series(1, %(weight)s)
                WHERE %(weight)s + (
                    SELECT count(*) FROM {table}, clock
                    WHERE item_timestamp >= clock.ts - %(interval_ms)s * INTERVAL '1 millisecond'
                ) <= %(limit)s
                RETURNING 1
            )
            SELECT EXISTS (SELECT 1 FROM admitted),
                   round(extract(epoch FROM clock.ts) * 1000)::bigint
            FROM clock
            """
        ).format(table=table_id)

    def leak(self, current_timestamp: int | None = None) -> Any:
        """Drop expired permits; nothing to do once the budget's pool is closed.

        pyrate-limiter's leaker thread only checks its stop flag between passes, so it can
        still be in a pass when the last client of the budget closes the pool; that pass has
        nothing left to clean up for this process and must not die with a traceback.
        """
        from psycopg_pool import PoolClosed

        try:
            return super().leak(current_timestamp)
        except PoolClosed:
            return 0

    def put(self, item: RateItem) -> Any:
        from psycopg.errors import LockNotAvailable

        rate = self.rates[0]
        if item.weight == 0:
            return self._record(item, Decision())
        if item.weight > rate.limit:  # can never fit: waiting() reports -1
            return self._record(item, Decision(failing_rate=rate))
        with self._get_conn() as conn:
            try:
                conn.execute(self._q_wait_lock)
            except LockNotAvailable:
                # Held past lock_timeout by another session: try again at once.
                conn.rollback()
                return self._record(item, Decision(failing_rate=rate, retry_after_ms=0))
            params = {
                "name": item.name,
                "weight": item.weight,
                "interval_ms": rate.interval,
                "limit": rate.limit,
            }
            row = conn.execute(self._q_admit, params).fetchone()
            assert row is not None
            admitted, item.timestamp = bool(row[0]), int(row[1])
            if admitted:
                return self._record(item, Decision())
            # Full: the entry whose expiry makes room, read under the same lock.
            peeked = conn.execute(self._q_peek, (rate.limit - item.weight,)).fetchone()
        blocking = None if peeked is None else int(peeked[2])
        wait = self._algorithm.retry_after(rate, item.timestamp, blocking)
        return self._record(item, Decision(failing_rate=rate, retry_after_ms=wait))


def budget_key(base_url: str, client_id: str) -> str:
    """The name of one budget: the platform it is spent on and the client it belongs to."""
    return f"{base_url.rstrip('/')}#{client_id}"


def budget_table(key: str) -> str:
    """A Postgres table name for budget ``key``: readable, unique, within identifier limits.

    ``PostgresBucket`` lower-cases names and prefixes ``ratelimit___``; a hash keeps ids that
    differ only in case or punctuation apart, the slug keeps the table recognisable.
    """
    client_id = key.rsplit("#", 1)[-1]
    slug = _SLUG.sub("_", client_id.lower()).strip("_")[:24] or "client"
    digest = hashlib.sha256(key.encode()).hexdigest()[:12]
    return f"adp_{slug}_{digest}"


class ClientBucketFactory(BucketFactory):
    """Routes each budget name to its own bucket, created on first use.

    A ``PostgresBucket`` is one budget per table whatever the item names, so per-client budgets
    need one bucket (table) per name; the in-memory backend follows the same shape.
    """

    def __init__(self, rate: Rate, conninfo: str | None) -> None:
        self._rate = rate
        self._conninfo = conninfo
        self._pool: Any = None
        self._buckets: dict[str, AbstractBucket] = {}
        self._lock = threading.Lock()

    def _bucket(self, name: str) -> AbstractBucket:
        with self._lock:
            bucket = self._buckets.get(name)
            if bucket is None:
                if self._conninfo is None:
                    bucket = self.create(_FreshInMemoryBucket, [self._rate])
                else:
                    bucket = self.create(
                        _StampedPostgresBucket, self._open_pool(), budget_table(name), [self._rate]
                    )
                self._buckets[name] = bucket
            return bucket

    def _open_pool(self) -> Any:
        # psycopg_pool is imported here: only the postgres backend needs it.
        if self._pool is None:
            from psycopg_pool import ConnectionPool

            assert self._conninfo is not None
            self._pool = ConnectionPool(
                self._conninfo,
                configure=_configure_session,
                min_size=1,
                max_size=_POOL_MAX_SIZE,
                open=True,
                name="ad_platform_rate_limit",
            )
        return self._pool

    def wrap_item(self, name: str, weight: int = 1) -> RateItem:
        # Every put stamps the item with its bucket's clock, so the stamp given here is never
        # read (and the Postgres bucket saves a round trip for it).
        self._bucket(name)
        return RateItem(name, 0, weight=weight)

    def get(self, item: RateItem) -> AbstractBucket:
        return self._bucket(item.name)

    def owned_buckets(self) -> list[AbstractBucket]:
        with self._lock:
            return list(self._buckets.values())

    def close(self) -> None:
        """Stop leaking and close the connection pool (shared by this factory's buckets)."""
        super().close()
        if self._pool is not None and not self._pool.closed:
            self._pool.close()


@dataclass(frozen=True)
class _BackendKey:
    """Where budgets live and at which rate: one bucket factory (and pool) per key."""

    conninfo: str | None
    limit: int
    interval_ms: int


class _Turnstile:
    """Lets one thread at a time wait for a budget's next permit: urgent calls first, then in
    order of arrival.

    A plain lock hands the next permit to whichever waiting thread the OS wakes. An account
    lists its pages one at a time while its sync threads queue ten deep, so the listing would
    wait behind a window of syncs per page. Listing calls are urgent: when they are waiting they
    get the next permit, and the syncs take every permit the listing leaves. The turn is handed
    directly to the next waiter (its own event), so a release wakes one thread, not the queue.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiting: list[tuple[int, int, threading.Event]] = []
        self._tickets = itertools.count()
        self._busy = False

    @contextmanager
    def turn(self, urgent: bool) -> Iterator[None]:
        gate: threading.Event | None = None
        with self._lock:
            if self._busy:
                gate = threading.Event()
                heapq.heappush(self._waiting, (0 if urgent else 1, next(self._tickets), gate))
            else:
                self._busy = True
        if gate is not None:
            gate.wait()  # the releasing thread handed the turn to this one
        try:
            yield
        finally:
            with self._lock:
                if self._waiting:
                    heapq.heappop(self._waiting)[2].set()
                else:
                    self._busy = False


@dataclass
class _Budget:
    """One account's budget in this process: its own limiter, so a slow permit of one account
    never holds up another's, and a turnstile that queues this account's threads."""

    limiter: Limiter
    turnstile: _Turnstile = field(default_factory=_Turnstile)


class _Budgets:
    """The process's budgets, per backend key and budget name, with their bucket factories.

    An in-memory budget *is* its log, so it lives as long as the process. A Postgres backend
    holds only a connection pool (the log is in the database), so it is closed when its last
    client closes and reopened on demand; whatever is still open at exit is closed by an
    ``atexit`` hook, so no pool thread outlives the interpreter's orderly shutdown.
    """

    def __init__(self) -> None:
        self._factories: dict[_BackendKey, ClientBucketFactory] = {}
        self._budgets: dict[tuple[_BackendKey, str], _Budget] = {}
        self._users: dict[_BackendKey, int] = {}
        self._lock = threading.Lock()

    def acquire(self, key: _BackendKey, name: str) -> _Budget:
        with self._lock:
            factory = self._factories.get(key)
            if factory is None:
                rate = Rate(key.limit, key.interval_ms)
                factory = self._factories[key] = ClientBucketFactory(rate, key.conninfo)
            budget = self._budgets.get((key, name))
            if budget is None:
                limiter = Limiter(factory, buffer_ms=LIMITER_BUFFER_MS)
                budget = self._budgets[(key, name)] = _Budget(limiter)
            self._users[key] = self._users.get(key, 0) + 1
            return budget

    def release(self, key: _BackendKey) -> None:
        with self._lock:
            self._users[key] -= 1
            if self._users[key] > 0 or key.conninfo is None:
                return
            factory = self._drop(key)
        factory.close()

    def close_all(self) -> None:
        """Close every Postgres backend (at exit; in-memory ones hold nothing to release)."""
        with self._lock:
            factories = [self._drop(k) for k in list(self._factories) if k.conninfo is not None]
        for factory in factories:
            factory.close()

    def _drop(self, key: _BackendKey) -> ClientBucketFactory:
        self._users.pop(key, None)
        for budget_key_ in [k for k in self._budgets if k[0] == key]:
            del self._budgets[budget_key_]
        return self._factories.pop(key)


_budgets = _Budgets()
atexit.register(_budgets.close_all)


class _Pause:
    """A process-wide "send nothing before" time per budget, set when the server says 429."""

    def __init__(self) -> None:
        self._until: dict[str, float] = {}
        self._lock = threading.Lock()

    def extend(self, name: str, seconds: float) -> None:
        with self._lock:
            self._until[name] = max(self._until.get(name, 0.0), time.monotonic() + seconds)

    def remaining(self, name: str) -> float:
        with self._lock:
            return max(0.0, self._until.get(name, 0.0) - time.monotonic())


_pauses = _Pause()


class RequestRateLimiter:
    """Permits for one account's rate-limited requests."""

    def __init__(self, settings: ClientSettings, base_url: str, client_id: str) -> None:
        conninfo = None
        if settings.rate_limit_backend == "postgres":
            assert settings.rate_limit_postgres_url is not None
            conninfo = libpq_conninfo(settings.rate_limit_postgres_url)
        interval_ms = round((settings.rate_period + settings.rate_limit_margin_s) * 1000)
        self.window_s = interval_ms / 1000
        self.limit = settings.rate_limit_requests
        self.name = budget_key(base_url, client_id)
        self.backend = settings.rate_limit_backend
        self._key = _BackendKey(conninfo, self.limit, interval_ms)
        self._budget = _budgets.acquire(self._key, self.name)
        self._closed = False

    def acquire(self, *, urgent: bool = False) -> float:
        """Block until a request may be sent; return the seconds spent waiting.

        ``urgent`` calls take the next permit before every non-urgent call waiting in this
        process (see :class:`_Turnstile`)."""
        started = time.monotonic()
        try:
            # The pause is checked inside the turnstile, so threads queued behind a 429 see it.
            with self._budget.turnstile.turn(urgent):
                while (pause := _pauses.remaining(self.name)) > 0:
                    time.sleep(pause)
                admitted = self._budget.limiter.try_acquire(self.name, blocking=True)
        except Exception as exc:  # the Postgres backend's database is unreachable or broken
            raise AdPlatformError(
                f"rate-limit budget ({self.backend} backend) unavailable: {type(exc).__name__}: "
                f"{exc}"
            ) from exc
        if not admitted:  # weight 1 always fits a limit >= 1; nothing else makes this False
            raise AdPlatformError(f"rate limiter refused a permit for {self.name}")
        return time.monotonic() - started

    def pause(self, seconds: float) -> None:
        """Hold every request of this budget in this process for ``seconds`` (after a 429)."""
        _pauses.extend(self.name, seconds)

    def close(self) -> None:
        """Stop using the budget; the last user of a Postgres backend closes its pool."""
        if not self._closed:
            self._closed = True
            _budgets.release(self._key)
