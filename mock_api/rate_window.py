"""Sliding-log rate limiting, one log per client.

A sliding log (not a fixed bucket) is what the platform documents: a request is refused while
``limit`` entries are recorded in the last ``window`` seconds. Strict mode also records refused
requests, so a client that hammers through 429s keeps itself locked out; compat mode records only
admitted requests, like the original.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True)
class Decision:
    admitted: bool
    retry_after_s: float = 0.0
    """Seconds until a request from this client would be admitted (0 when admitted)."""


class SlidingLog:
    """Timestamps (monotonic seconds) of the requests that count against one client."""

    def __init__(self, limit: int, window_s: float) -> None:
        self._limit = limit
        self._window_s = window_s
        self._log: deque[float] = deque()

    def _prune(self, now: float) -> None:
        while self._log and self._log[0] <= now - self._window_s:
            self._log.popleft()

    def try_admit(self, now: float, *, record_refused: bool) -> Decision:
        self._prune(now)
        if len(self._log) < self._limit:
            self._log.append(now)
            return Decision(admitted=True)
        if record_refused:
            self._log.append(now)
        # A slot frees when enough of the oldest entries leave the window that fewer than
        # ``limit`` remain.
        blocking = self._log[len(self._log) - self._limit]
        # now - blocking first: (blocking + window) - now can round to above the window, and a
        # whole-second Retry-After to 61.
        return Decision(admitted=False, retry_after_s=max(0.0, self._window_s - (now - blocking)))


class RateLimiter:
    """One sliding log per client id."""

    def __init__(self, limit: int, window_s: float, *, record_refused: bool) -> None:
        self._limit = limit
        self._window_s = window_s
        self._record_refused = record_refused
        self._logs: dict[str, SlidingLog] = {}

    def try_admit(self, client_id: str, now: float) -> Decision:
        log = self._logs.get(client_id)
        if log is None:
            log = self._logs[client_id] = SlidingLog(self._limit, self._window_s)
        return log.try_admit(now, record_refused=self._record_refused)
