"""What the server saw, per client and endpoint, so tests and benchmarks can judge a client.

``admitted`` and the admission timestamps cover the rate-limited endpoints (list and sync) only,
because that is what the rate limit governs; auth appears as its own endpoint. The largest number
of requests admitted in any window is measured with the same sliding window the limiter uses.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

ENDPOINTS = ("list", "sync", "auth")
RATE_LIMITED = ("list", "sync")
COUNTERS = ("admitted", "refused_429", "errors_503", "hangs", "unauthorized_401")


@dataclass
class _ClientStats:
    endpoints: dict[str, dict[str, int]] = field(
        default_factory=lambda: {e: dict.fromkeys(COUNTERS, 0) for e in ENDPOINTS}
    )
    syncs_completed: int = 0
    first_admitted_at: float | None = None
    last_admitted_at: float | None = None
    max_admitted_in_window: int = 0
    window: deque[float] = field(default_factory=deque)

    def as_json(self) -> dict[str, Any]:
        totals = {
            c: sum(
                counts[c]
                for name, counts in self.endpoints.items()
                if c != "admitted" or name in RATE_LIMITED
            )
            for c in COUNTERS
        }
        return {
            **totals,
            "syncs_completed": self.syncs_completed,
            "first_admitted_at": self.first_admitted_at,
            "last_admitted_at": self.last_admitted_at,
            "max_admitted_in_window": self.max_admitted_in_window,
            "endpoints": {name: dict(counts) for name, counts in self.endpoints.items()},
        }


class Stats:
    """Counters per client; all calls happen on the server's event loop, so no locking."""

    def __init__(self, window_s: float) -> None:
        self._window_s = window_s
        self._clients: dict[str, _ClientStats] = {}

    def _client(self, client_id: str) -> _ClientStats:
        stats = self._clients.get(client_id)
        if stats is None:
            stats = self._clients[client_id] = _ClientStats()
        return stats

    def count(self, client_id: str, endpoint: str, counter: str) -> None:
        self._client(client_id).endpoints[endpoint][counter] += 1

    def admitted(self, client_id: str, endpoint: str, wall: float, mono: float) -> None:
        """Record an admission at unix time ``wall`` / monotonic time ``mono``."""
        stats = self._client(client_id)
        stats.endpoints[endpoint]["admitted"] += 1
        if endpoint not in RATE_LIMITED:
            return
        if stats.first_admitted_at is None:
            stats.first_admitted_at = wall
        stats.last_admitted_at = wall
        stats.window.append(mono)
        while stats.window[0] <= mono - self._window_s:
            stats.window.popleft()
        stats.max_admitted_in_window = max(stats.max_admitted_in_window, len(stats.window))

    def sync_completed(self, client_id: str) -> None:
        self._client(client_id).syncs_completed += 1

    def reset(self) -> None:
        self._clients.clear()

    def as_json(self, config: dict[str, Any]) -> dict[str, Any]:
        clients = {cid: stats.as_json() for cid, stats in sorted(self._clients.items())}
        keys = (*COUNTERS, "syncs_completed")
        totals = {k: sum(c[k] for c in clients.values()) for k in keys}
        return {"config": config, "clients": clients, "totals": totals}
