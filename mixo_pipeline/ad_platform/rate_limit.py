"""The client's side of the platform's rate limit: a permit before every rate-limited request.

The platform keeps a sliding log per client (N requests per window, counted when a request
*arrives*); we keep the same log on our side (pyrate-limiter's default ``SlidingWindowLog``),
recorded when we *take the permit*, just before sending. A permit is recorded earlier than the
server's entry by the send delay ``d`` (milliseconds on a LAN), so the server sees two requests
one client-window apart as ``window + margin + d_late - d_early`` apart: the margin covers the
variation of that delay, not the delay itself. Measured on one machine, ``d`` stayed under 15 ms
in bursts of 30, so the default 0.1 s margin covers it several times over (GC pauses included)
while costing 0.2% of a 60 s window.

Budgets are keyed by (base URL, client id), the unit the platform counts:

- ``memory``: one budget per process, shared by every client object in it (Dagster may build
  several clients in one step process; they must not each spend the full budget).
- ``postgres``: pyrate-limiter's ``PostgresBucket``, one table per budget, timestamps from the
  database clock, so processes on different machines share one budget and one clock.

Two pyrate-limiter 4.5 details shape this module:

- While blocking, ``Limiter`` advances the waiting item's timestamp by the time it *meant* to
  sleep, not by the time that passed; over several wake-ups the recorded permit drifts earlier
  than the real send and eats the margin. The buckets here re-read their clock on every ``put``.
- ``PostgresBucket.put`` takes ``LOCK TABLE ... NOWAIT`` and reports contention as "full", so
  permits are taken with ``blocking=True`` and a small ``buffer_ms`` paces the contention retries
  (the default 50 ms would be added to every window).
"""

from __future__ import annotations

import hashlib
import re
import threading
import time
from dataclasses import dataclass
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

from mixo_pipeline.ad_platform.errors import AdPlatformError
from mixo_pipeline.ad_platform.settings import ClientSettings
from mixo_pipeline.local_postgres import libpq_conninfo

# Added by the limiter to every computed wait. The sliding-log wait is already exact (+1 ms),
# so this only spaces out retries after Postgres lock contention.
LIMITER_BUFFER_MS = 3
_POOL_MAX_SIZE = 4
_SLUG = re.compile(r"[^a-z0-9]+")


class _FreshTimestamps:
    """Bucket mixin: stamp each put with the bucket clock's current time; sane waits.

    ``waiting()`` may compute a negative wait from a stale entry (after lock contention), and
    the limiter reads exactly ``-1`` as "can never fit" and gives up. A weight that fits the
    rate can always fit later, so any negative wait means "try again now".
    """

    def put(self, item: RateItem) -> Any:
        item.timestamp = self.now()  # type: ignore[attr-defined]
        return super().put(item)  # type: ignore[misc]

    def waiting(self, item: RateItem) -> Any:
        wait = super().waiting(item)  # type: ignore[misc]
        return max(0, wait)


class _FreshInMemoryBucket(_FreshTimestamps, InMemoryBucket):
    """``InMemoryBucket`` stamping puts with the monotonic clock."""


class _FreshPostgresBucket(_FreshTimestamps, PostgresBucket):
    """``PostgresBucket`` stamping puts with the database's clock."""


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
        self._pool = None
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
                        _FreshPostgresBucket, self._open_pool(), budget_table(name), [self._rate]
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
                min_size=1,
                max_size=_POOL_MAX_SIZE,
                open=True,
                name="ad_platform_rate_limit",
            )
        return self._pool

    def wrap_item(self, name: str, weight: int = 1) -> RateItem:
        return RateItem(name, self._bucket(name).now(), weight=weight)

    def get(self, item: RateItem) -> AbstractBucket:
        return self._bucket(item.name)

    def owned_buckets(self) -> list[AbstractBucket]:
        with self._lock:
            return list(self._buckets.values())


@dataclass(frozen=True)
class _LimiterKey:
    conninfo: str | None
    limit: int
    interval_ms: int


_limiters: dict[_LimiterKey, Limiter] = {}
_limiters_lock = threading.Lock()


def _shared_limiter(key: _LimiterKey) -> Limiter:
    """One limiter per backend and rate per process: its lock orders this process's threads."""
    with _limiters_lock:
        limiter = _limiters.get(key)
        if limiter is None:
            factory = ClientBucketFactory(Rate(key.limit, key.interval_ms), key.conninfo)
            limiter = _limiters[key] = Limiter(factory, buffer_ms=LIMITER_BUFFER_MS)
        return limiter


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
        self._limiter = _shared_limiter(_LimiterKey(conninfo, self.limit, interval_ms))

    def acquire(self) -> float:
        """Block until a request may be sent; return the seconds spent waiting."""
        started = time.monotonic()
        while (pause := _pauses.remaining(self.name)) > 0:
            time.sleep(pause)
        try:
            admitted = self._limiter.try_acquire(self.name, blocking=True)
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
