"""Which admitted requests fail with 503 or hang, and when the whole platform is down.

Strict mode draws each admitted API request's fate from a random generator of its own client, so
the same seed and the same request order give the same failures even while other clients run
concurrently. Compat mode copies the original: a 503 on every 5th admitted list request (one
counter for the whole server), nothing else ever fails, nothing hangs.

Outages (scheduled windows or started at runtime by the admin endpoint) take precedence over
everything: every API call answers 503, or hangs, while one is active.
"""

from __future__ import annotations

import random
from enum import Enum

from mock_api.config import MockConfig, OutageMode

ORIGINAL_FAILURE_PERIOD = 5


class Fate(Enum):
    OK = "ok"
    ERROR = "error"
    HANG = "hang"


def client_rng(seed: int | None, purpose: str, key: str) -> random.Random:
    """A generator for one client and one purpose; string seeds hash stably across runs."""
    if seed is None:
        return random.Random()
    return random.Random(f"{seed}:{purpose}:{key}")


class FaultInjector:
    """Decides the fate of each admitted request to a rate-limited endpoint."""

    def __init__(self, config: MockConfig) -> None:
        self._config = config
        self._rngs: dict[str, random.Random] = {}
        self._admitted_lists = 0

    def fate(self, client_id: str, endpoint: str) -> Fate:
        if not self._config.strict:
            if endpoint != "list":
                return Fate.OK
            self._admitted_lists += 1
            return Fate.ERROR if self._admitted_lists % ORIGINAL_FAILURE_PERIOD == 0 else Fate.OK
        rng = self._rngs.get(client_id)
        if rng is None:
            rng = self._rngs[client_id] = client_rng(self._config.seed, "faults", client_id)
        draw = rng.random()
        if draw < self._config.error_rate:
            return Fate.ERROR
        if draw < self._config.error_rate + self._config.hang_rate:
            return Fate.HANG
        return Fate.OK


class Outages:
    """Scheduled outage windows plus one that the admin endpoint can switch on and off."""

    def __init__(self, config: MockConfig, started_at: float) -> None:
        scale = config.time_scale
        self._windows = [
            (started_at + o.start * scale, started_at + o.end * scale, o.mode)
            for o in config.outages
        ]
        self._manual: OutageMode | None = None

    def start(self, mode: OutageMode) -> None:
        self._manual = mode

    def stop(self) -> None:
        self._manual = None

    def active(self, now: float) -> OutageMode | None:
        """The mode of the outage in force at monotonic time ``now``, if any."""
        if self._manual is not None:
            return self._manual
        for start, end, mode in self._windows:
            if start <= now < end:
                return mode
        return None
