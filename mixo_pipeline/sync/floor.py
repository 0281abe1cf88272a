"""The rate-limit floor: the fastest a run could have been, given the requests it needed.

With N requests per window admitted, ``R`` admitted requests need at least
``floor((R - 1) / N)`` full windows before the last one starts, and the last sync call still
takes its latency: ``floor((R - 1) / N) * window + sync_latency``. Efficiency is floor / wall.
The same formula as ``benchmarks/resource_sync.py``, so the UI's figures and the benchmark's
can be compared directly.
"""

from __future__ import annotations

from collections.abc import Mapping

DOCUMENTED_SYNC_LATENCY_S = 2.0
"""The platform documents about 2 s per sync call (platform time, scaled by ``time_scale``)."""

_RATE_LIMITED_ENDPOINTS = ("list", "sync")
_NOT_COUNTED = ("401", "429")


def admitted_requests(stats: Mapping[str, int | float]) -> int:
    """Requests the platform counted against the window, from the client's own stats.

    Every list and sync request counts, except those answered 429 (refused, not recorded) or
    401 (auth is checked before the limit). Requests that then failed with 503 or timed out
    were admitted and do count.
    """
    admitted = 0
    for endpoint in _RATE_LIMITED_ENDPOINTS:
        admitted += int(stats.get(f"requests_by_endpoint.{endpoint}", 0))
        for status in _NOT_COUNTED:
            admitted -= int(stats.get(f"requests.{endpoint}.{status}", 0))
    return admitted


def rate_limit_floor(admitted: int, limit: int, window_s: float, sync_latency_s: float) -> float:
    """Seconds the platform's limit forces ``admitted`` requests to take at minimum."""
    if admitted <= 0:
        return 0.0
    return (admitted - 1) // limit * window_s + sync_latency_s
