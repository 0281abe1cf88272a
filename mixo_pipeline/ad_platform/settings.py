"""Every non-secret knob of the ad platform client, in one frozen value.

Durations are stored as the platform's *documented* seconds and read through properties that
multiply them by ``time_scale``. The mock's ``--time-scale`` compresses the platform's clock by
the same factor, so setting one knob to the same value keeps the client matched to the server
(a 60 s window becomes 6 s at 0.1, and so do the timeouts, backoff and token margin).

The one exception is ``rate_limit_margin_s``: it covers network delay and scheduling jitter
between taking a permit and the server counting the request, which are physical and do not
shrink when the mock compresses time, so it is used as given.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

RateLimitBackend = Literal["memory", "postgres"]
RATE_LIMIT_BACKENDS: tuple[RateLimitBackend, ...] = ("memory", "postgres")

# The platform documents a one-hour token; used only when a login response omits expires_in.
DOCUMENTED_TOKEN_TTL_S = 3600.0


@dataclass(frozen=True)
class ClientSettings:
    """Configuration of :class:`~mixo_pipeline.ad_platform.client.AdPlatformClient`.

    Defaults match the platform's documented contract (10 requests per 60 s per client, a sync
    endpoint that takes about 2 s, one-hour tokens).
    """

    page_size: int = 10
    """Campaigns per listing page; the original server is only consistent at 10."""
    rate_limit_requests: int = 10
    """Requests the platform admits per client per window."""
    rate_limit_period_s: float = 60.0
    """Length of the platform's sliding window (scaled)."""
    rate_limit_margin_s: float = 0.1
    """Added to the window for network delay and clock jitter (NOT scaled: it is physical)."""
    rate_limit_backend: RateLimitBackend = "memory"
    """Where the budget lives: ``memory`` (one process) or ``postgres`` (shared)."""
    rate_limit_postgres_url: str | None = field(default=None, repr=False)
    """Database holding the shared budget when the backend is ``postgres`` (may hold a password)."""
    connect_timeout_s: float = 5.0
    """TCP connect timeout of every request (scaled)."""
    list_read_timeout_s: float = 10.0
    """Read timeout of a listing page, which normally answers at once (scaled)."""
    sync_read_timeout_s: float = 5.0
    """Read timeout of a sync call, which takes about 2 s (scaled)."""
    auth_read_timeout_s: float = 10.0
    """Read timeout of the login call (scaled)."""
    health_timeout_s: float = 2.0
    """Connect and read timeout of the health probe (scaled)."""
    max_attempts: int = 10
    """Attempts per call against errors (5xx, timeouts, connection errors), the first included.

    Against the documented 30% of failing requests (20% 503s, 10% hangs) a campaign exhausts 10
    attempts with probability 0.3**10 ~ 6e-6: about one in 1,700 syncs of 100 campaigns, where 8
    attempts left one in 150. The extra attempts cost nothing unless the failures happen."""
    backoff_base_s: float = 0.5
    """Upper bound of the first backoff; doubles every attempt (scaled)."""
    backoff_cap_s: float = 30.0
    """Largest backoff between attempts (scaled)."""
    backoff_jitter: bool = True
    """Full jitter: sleep a uniform random share of the exponential bound (else the bound)."""
    retry_after_cap_s: float = 120.0
    """Longest wait honoured from a 429's Retry-After (scaled)."""
    rate_limited_deadline_s: float = 600.0
    """How long one call may keep being answered 429 before it fails (scaled)."""
    sync_concurrency: int = 10
    """Sync calls in flight at once (also sizes the HTTP connection pool)."""
    token_refresh_margin_s: float = 60.0
    """Refresh the token this long before it expires (scaled)."""
    time_scale: float = 1.0
    """Multiplies every duration above except the rate-limit margin; match the mock's."""

    def __post_init__(self) -> None:
        problems: list[str] = []
        for name in ("page_size", "rate_limit_requests", "max_attempts", "sync_concurrency"):
            if getattr(self, name) < 1:
                problems.append(f"{name} must be >= 1")
        positive = (
            "rate_limit_period_s",
            "connect_timeout_s",
            "list_read_timeout_s",
            "sync_read_timeout_s",
            "auth_read_timeout_s",
            "health_timeout_s",
            "time_scale",
        )
        for name in positive:
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                problems.append(f"{name} must be a finite number > 0")
        non_negative = (
            "rate_limit_margin_s",
            "backoff_base_s",
            "backoff_cap_s",
            "retry_after_cap_s",
            "rate_limited_deadline_s",
            "token_refresh_margin_s",
        )
        for name in non_negative:
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                problems.append(f"{name} must be a finite number >= 0")
        if self.rate_limit_backend not in RATE_LIMIT_BACKENDS:
            problems.append(
                f"rate_limit_backend must be one of {', '.join(RATE_LIMIT_BACKENDS)}, "
                f"got {self.rate_limit_backend!r}"
            )
        if self.rate_limit_backend == "postgres" and not self.rate_limit_postgres_url:
            problems.append("rate_limit_backend 'postgres' needs rate_limit_postgres_url")
        if problems:
            raise ValueError("invalid ad platform client settings: " + "; ".join(problems))

    def scaled(self, seconds: float) -> float:
        """``seconds`` of platform time in real seconds."""
        return seconds * self.time_scale

    @property
    def rate_period(self) -> float:
        return self.scaled(self.rate_limit_period_s)

    @property
    def connect_timeout(self) -> float:
        return self.scaled(self.connect_timeout_s)

    @property
    def list_read_timeout(self) -> float:
        return self.scaled(self.list_read_timeout_s)

    @property
    def sync_read_timeout(self) -> float:
        return self.scaled(self.sync_read_timeout_s)

    @property
    def auth_read_timeout(self) -> float:
        return self.scaled(self.auth_read_timeout_s)

    @property
    def health_timeout(self) -> float:
        return self.scaled(self.health_timeout_s)

    @property
    def backoff_base(self) -> float:
        return self.scaled(self.backoff_base_s)

    @property
    def backoff_cap(self) -> float:
        return self.scaled(self.backoff_cap_s)

    @property
    def retry_after_cap(self) -> float:
        return self.scaled(self.retry_after_cap_s)

    @property
    def rate_limited_deadline(self) -> float:
        return self.scaled(self.rate_limited_deadline_s)

    @property
    def token_refresh_margin(self) -> float:
        return self.scaled(self.token_refresh_margin_s)

    @property
    def documented_token_ttl(self) -> float:
        return self.scaled(DOCUMENTED_TOKEN_TTL_S)
