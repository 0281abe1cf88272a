"""Counters of what one client did, published by the assets as run metadata.

Sync calls run on worker threads, so every update takes one lock; the numbers are small and the
updates rare (a few per request), so a single lock costs nothing measurable.
"""

from __future__ import annotations

import threading
from collections import Counter

# Transport failures have no HTTP status; they are counted under these names instead.
TIMEOUT = "timeout"
CONNECTION_ERROR = "connection_error"


class ClientStats:
    """Thread-safe counters: requests by endpoint and status, retries, waits."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: Counter[tuple[str, str]] = Counter()
        self._counters: Counter[str] = Counter()
        self._seconds: dict[str, float] = {
            "limiter_wait_s": 0.0,
            "backoff_wait_s": 0.0,
        }

    def record_response(self, endpoint: str, status: int | str) -> None:
        """One request to ``endpoint`` ended with HTTP ``status`` (or ``timeout``...)."""
        with self._lock:
            self._requests[(endpoint, str(status))] += 1
            if status == 429:
                self._counters["rate_limited_429"] += 1
            elif status == TIMEOUT:
                self._counters["timeouts"] += 1
            elif status == CONNECTION_ERROR:
                self._counters["connection_errors"] += 1

    def record_retry(self) -> None:
        with self._lock:
            self._counters["retries"] += 1

    def record_token_refresh(self) -> None:
        with self._lock:
            self._counters["token_refreshes"] += 1

    def record_sync(self, *, success: bool) -> None:
        with self._lock:
            self._counters["syncs_succeeded" if success else "syncs_failed"] += 1

    def add_wait(self, kind: str, seconds: float) -> None:
        """Add ``seconds`` to ``limiter_wait_s`` (429 pauses included) or ``backoff_wait_s``."""
        with self._lock:
            self._seconds[kind] += seconds

    def count(self, name: str) -> int:
        """One of the plain counters (``retries``, ``rate_limited_429``, ``timeouts``...)."""
        with self._lock:
            return self._counters[name]

    def requests(self, endpoint: str | None = None, status: int | str | None = None) -> int:
        """Requests sent, optionally only to ``endpoint`` and/or ending in ``status``."""
        with self._lock:
            return sum(
                n
                for (e, s), n in self._requests.items()
                if (endpoint is None or e == endpoint) and (status is None or s == str(status))
            )

    def as_metadata(self) -> dict[str, int | float]:
        """Flat numeric dict for Dagster metadata, keys stable and sorted."""
        with self._lock:
            out: dict[str, int | float] = {"requests_total": sum(self._requests.values())}
            by_endpoint: Counter[str] = Counter()
            by_status: Counter[str] = Counter()
            for (endpoint, status), n in self._requests.items():
                by_endpoint[endpoint] += n
                by_status[status] += n
                out[f"requests.{endpoint}.{status}"] = n
            for endpoint, n in by_endpoint.items():
                out[f"requests_by_endpoint.{endpoint}"] = n
            for status, n in by_status.items():
                out[f"requests_by_status.{status}"] = n
            for name in (
                "retries",
                "rate_limited_429",
                "timeouts",
                "connection_errors",
                "token_refreshes",
                "syncs_succeeded",
                "syncs_failed",
            ):
                out[name] = self._counters[name]
            for name, seconds in self._seconds.items():
                out[name] = round(seconds, 3)
            return dict(sorted(out.items()))
