"""The budgets' pyrate-limiter buckets, one per account: a PostgreSQL table (the database's clock,
shared by every process) or a list in memory, each permit stamped when granted and re-stampable
when its request was counted late; and the factory routing each budget's name to its bucket."""

import bisect
import functools
import hashlib
import re
import threading
import time
from typing import Any

import psycopg
from psycopg import sql
from psycopg_pool import ConnectionPool, PoolClosed
from pyrate_limiter import (
    AbstractBucket,
    BucketFactory,
    Decision,
    InMemoryBucket,
    PostgresBucket,
    Rate,
    RateItem,
)
from pyrate_limiter.buckets.postgres import advisory_lock_id

_SLUG = re.compile(r"[^a-z0-9]+")


def budget_key(base_url: str, client_id: str) -> str:
    """The name of one budget: the platform it is spent on and the client it belongs to."""
    return f"{base_url.rstrip('/')}#{client_id}"


def budget_table(key: str) -> str:
    """A readable, unique table name for budget ``key`` (``<base url>#<client id>``)."""
    slug = _SLUG.sub("_", key.rsplit("#", 1)[-1].lower()).strip("_")[:24] or "client"
    return f"adp_{slug}_{hashlib.sha256(key.encode()).hexdigest()[:12]}"


def _budget_session(conn: Any) -> None:
    conn.execute("SET TIME ZONE 'UTC'")  # the bucket's TIMESTAMP column: one zone everywhere
    # Permits' commits do not wait for the WAL (they queued on its lock at a thousand accounts);
    # a crash may forget the last moment's permits (docs/deploy.md).
    conn.execute("SET synchronous_commit = off")
    conn.commit()
    conn.autocommit = True  # each statement, or message of them (_under_lock), commits


last_permit = threading.local()  # this thread's last permit: its item, its bucket, when stamped


def note_permit(item: RateItem, bucket: AbstractBucket) -> None:
    # Before the clock is read: a pause after reading it counts as late (RateLimiter.left).
    last_permit.item, last_permit.bucket, last_permit.at = item, bucket, time.monotonic()
    last_permit.full_for_s = 0.0  # how long the window this permit filled stays full, if known


# Under the budget's lock (:func:`_under_lock`): stamp with the database's clock (milliseconds,
# as pyrate-limiter stores them) and say when the window's oldest permit leaves it.
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
    "UPDATE {0} SET item_timestamp = item_timestamp + %(late_ms)s * INTERVAL '1 millisecond' "
    "WHERE ctid = (SELECT ctid FROM {0} WHERE item_timestamp = TO_TIMESTAMP(%(stamp)s) LIMIT 1)"
)
_LEAK = "DELETE FROM {0} WHERE item_timestamp < clock_timestamp()::timestamp - %s * INTERVAL '1 ms'"
_LOCK_CLASS = 0x6D69786F  # the first key of the budgets' advisory locks ("mixo")
_LOCKED = "SELECT pg_advisory_xact_lock(%(lock_class)s, hashtext(%(table)s)); "


@functools.cache
def _statement(query: str, table: str) -> str:
    """``query`` on ``table``, rendered once (only plain strings hit psycopg's query cache)."""
    return sql.SQL(query).format(sql.Identifier(table)).as_string(None)


def _under_lock(conn: Any, table: str, query: str, params: dict[str, Any]) -> psycopg.Cursor:
    """Run ``query`` after a transaction-level advisory lock on the budget (a table lock queues
    behind autovacuum), both in one message the server runs as one transaction: no connection
    sits idle in a transaction while its thread waits for the GIL (docs/performance.md)."""
    cursor = psycopg.ClientCursor(conn)
    params = {**params, "lock_class": _LOCK_CLASS, "table": table}
    cursor.execute(_statement(_LOCKED + query, table), params)
    cursor.nextset()
    return cursor


class PostgresBudgetBucket(PostgresBucket):
    def put(self, item: RateItem) -> bool:
        """One round trip where pyrate-limiter's bucket takes six (docs/performance.md)."""
        note_permit(item, self)
        rate = self.rates[0]
        params = {"interval_ms": rate.interval, "limit": rate.limit, "name": item.name}
        with self._get_conn() as conn:
            answer = _under_lock(conn, self._full_tbl, _PERMIT, params)
        admitted, item.timestamp, oldest, counted = answer.fetchone()  # type: ignore[misc]
        wait = 0 if oldest is None else oldest + rate.interval - item.timestamp
        last_permit.full_for_s = wait / 1000 if admitted and counted + 1 >= rate.limit else 0.0
        return self._record(item, Decision() if admitted else Decision(rate, wait))

    def now(self) -> int:
        """Local: :meth:`leak` reads the database's clock itself, so no round trip for it."""
        return time.time_ns() // 1_000_000

    def leak(self, current_timestamp: int | None = None) -> int:
        """Drop permits older than the window by the database's clock (pyrate-limiter's leaker,
        once a window per budget); nothing once the budgets are closed mid-leak."""
        try:
            with self._get_conn() as conn:
                deleted = conn.execute(_statement(_LEAK, self._full_tbl), (self.rates[0].interval,))
        except PoolClosed:
            return 0
        return deleted.rowcount

    def restamp(self, item: RateItem, late_ms: int) -> None:
        params = {"late_ms": late_ms, "stamp": item.timestamp / 1000}
        with self._get_conn() as conn:
            _under_lock(conn, self._full_tbl, _RESTAMP, params)

    def _create_table(self) -> None:
        """pyrate-limiter's, in a transaction of its own: the pool's sessions autocommit."""
        with self._get_conn() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (advisory_lock_id(self._full_tbl),))
            conn.execute(self._q_create_table)
            conn.execute(self._q_create_index)


class MemoryBudgetBucket(InMemoryBucket):
    def put(self, item: RateItem) -> Any:
        """pyrate-limiter stamps a permit when first asked, not when granted: stamped here."""
        note_permit(item, self)
        item.timestamp = self.now()
        return super().put(item)

    def restamp(self, item: RateItem, late_ms: int) -> None:
        with self._lock:
            if item in self.items:  # by identity (no __eq__); gone if it outlived a short window
                self.items.remove(item)
            item.timestamp += late_ms
            bisect.insort(self.items, item, key=lambda kept: kept.timestamp)


class AccountBuckets(BucketFactory):
    """Routes each budget name to a bucket of its own, created on first use."""

    def __init__(self, rate: Rate, conninfo: str | None) -> None:
        self._rate = rate
        self._pool: Any = None
        if conninfo is not None:
            self._pool = ConnectionPool(conninfo, configure=_budget_session, max_size=8, open=True)
        self._buckets: dict[str, AbstractBucket] = {}
        self._lock = threading.Lock()
        self.leak_interval = rate.interval  # expired permits are dropped once a window

    def get(self, item: RateItem) -> AbstractBucket:
        with self._lock:
            if item.name not in self._buckets:
                self._buckets[item.name] = (
                    self.create(MemoryBudgetBucket, [self._rate])
                    if self._pool is None
                    else self.create(
                        PostgresBudgetBucket, self._pool, budget_table(item.name), [self._rate]
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
