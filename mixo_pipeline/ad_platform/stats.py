"""Counters of what one client did, published by the assets as run metadata (thread-safe)."""

import threading
from collections import Counter

from mixo_pipeline.ad_platform.retry import CONNECTION_ERROR, TIMEOUT

_BY_STATUS = {429: "rate_limited_429", TIMEOUT: "timeouts", CONNECTION_ERROR: "connection_errors"}
COUNTERS = (*_BY_STATUS.values(), "retries", "token_refreshes", "syncs_succeeded", "syncs_failed")


class ClientStats:
    """Requests by endpoint and status, retries, logins, syncs and seconds spent waiting."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: Counter[tuple[str, str]] = Counter()
        self._counters: Counter[str] = Counter(dict.fromkeys(COUNTERS, 0))
        self._seconds = {"limiter_wait_s": 0.0, "backoff_wait_s": 0.0}

    def record_response(self, endpoint: str, status: int | str) -> None:
        with self._lock:
            self._requests[(endpoint, str(status))] += 1
            if status in _BY_STATUS:
                self._counters[_BY_STATUS[status]] += 1

    def record(self, counter: str) -> None:
        """Count one ``retries``, ``token_refreshes``, ``syncs_succeeded`` or ``syncs_failed``."""
        with self._lock:
            self._counters[counter] += 1

    def add_wait(self, kind: str, seconds: float) -> None:
        """Add to ``limiter_wait_s`` (429 pauses included) or ``backoff_wait_s``."""
        with self._lock:
            self._seconds[kind] += seconds

    def as_metadata(self) -> dict[str, int | float]:
        """Flat numeric figures for Dagster metadata, keys sorted."""
        with self._lock:
            figures: dict[str, int | float] = {"requests_total": sum(self._requests.values())}
            figures |= {f"requests.{e}.{status}": n for (e, status), n in self._requests.items()}
            figures |= {**self._counters, **{k: round(s, 3) for k, s in self._seconds.items()}}
            return dict(sorted(figures.items()))
