"""The rate-limit floor: the fastest a run could have been, given the requests it needed.
Efficiency is floor/wall; ``benchmarks/`` uses the same formula, so the figures compare."""

from collections.abc import Mapping

API_REQUESTS = ("requests.list.", "requests.sync.")  # stats keys of the rate-limited calls


def admitted_requests(stats: Mapping[str, int | float]) -> int:
    """Requests the platform counted against its window, from the client's stats metadata: every
    list and sync request but those answered 429 (refused) or 401 (checked before the limit)."""
    return sum(
        int(n)
        for key, n in stats.items()
        if key.startswith(API_REQUESTS) and key[-4:] not in (".401", ".429")
    )


def rate_limit_floor(admitted: int, limit: int, window_s: float, sync_latency_s: float) -> float:
    """Least seconds the limit forces ``admitted`` requests to take: ``(admitted - 1) // limit``
    full windows pass before the last one starts, which still takes its latency."""
    return (admitted - 1) // limit * window_s + sync_latency_s if admitted > 0 else 0.0
