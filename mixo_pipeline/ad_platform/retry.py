"""What is worth retrying, how long to back off, and how long a 429 asks us to wait.

Kept free of I/O so the policy can be tested exactly: the client feeds it statuses and response
bodies and sleeps for what it returns.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# 429 is retried too, but on its own budget (a deadline), so it is not in this set.
RETRYABLE_STATUSES: frozenset[int] = frozenset({500, 502, 503, 504})
RATE_LIMITED_STATUS = 429


@dataclass(frozen=True)
class BackoffPolicy:
    """Exponential backoff with optional full jitter (AWS architecture blog, 2015).

    Full jitter spreads the retries of threads that failed together over the whole interval, so
    they do not come back as a herd; the limiter paces them anyway, the jitter keeps them from
    queueing at the same instant.
    """

    base_s: float
    cap_s: float
    jitter: bool = True

    def delay(self, failures: int, rng: random.Random | None = None) -> float:
        """Seconds to wait after the ``failures``-th failed attempt (1-based)."""
        if failures < 1:
            raise ValueError("failures is 1-based")
        bound = min(self.cap_s, self.base_s * 2.0 ** min(failures - 1, 62))
        if not self.jitter:
            return bound
        return (rng or random).uniform(0.0, bound)


def retry_after_seconds(headers: Mapping[str, str], body: Any) -> float | None:
    """The wait a 429 asks for: the ``Retry-After`` header, else the body's ``retry_after``.

    The original server sends it only in the body; our mock sends both, as decimal seconds when
    its time is compressed. HTTP-date values are not used by either and are ignored, as are
    negative, non-finite or non-numeric values (the caller then falls back to its own pacing).
    """
    header = headers.get("Retry-After")
    if header is not None:
        seconds = _as_seconds(header.strip())
        if seconds is not None:
            return seconds
    if isinstance(body, dict):
        return _as_seconds(body.get("retry_after"))
    return None


def _as_seconds(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return None
    if isinstance(value, int | float) and math.isfinite(value) and value >= 0:
        return float(value)
    return None
