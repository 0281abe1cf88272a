"""Every non-secret knob of the ad platform client, as one typed, validated model."""

import math
from typing import Literal, Self

import dagster as dg
from pydantic import Field


class ClientSettings(dg.Config, allow_inf_nan=False):
    """Each field settable as ``AD_PLATFORM_<FIELD>``; durations (``*_s``) are platform seconds."""

    page_size: int = Field(10, ge=1, description="Campaigns per page; 10 lists consistently.")
    rate_limit_requests: int = Field(10, ge=1, description="Requests admitted per window.")
    rate_limit_period_s: float = Field(60.0, gt=0, description="The platform's sliding window.")
    rate_limit_margin_s: float = Field(0.25, ge=0, description="Real seconds added to the window.")
    rate_limit_backend: Literal["memory", "postgres"] = Field(
        "postgres", description="Budget shared by all processes ('postgres') or this one's."
    )
    allow_plain_http: bool = Field(False, description="Credentials over http:// off loopback.")
    ca_bundle: str | None = Field(None, description="PEM CA bundle; default: certifi's.")
    max_response_bytes: int = Field(1 << 20, ge=1024, description="Largest body (a page: 3 kB).")
    connect_timeout_s: float = Field(5.0, gt=0, description="TCP connect timeout.")
    list_read_timeout_s: float = Field(10.0, gt=0, description="Read timeout of a page.")
    sync_read_timeout_s: float = Field(4.0, gt=0, description="Read timeout of a ~2 s sync.")
    auth_read_timeout_s: float = Field(10.0, gt=0, description="Read timeout of the login.")
    max_attempts: int = Field(20, ge=1, description="Attempts per call: 5xx, timeouts, 401s.")
    backoff_base_s: float = Field(0.1, ge=0, description="First backoff bound, doubled per try.")
    backoff_cap_s: float = Field(30.0, ge=0, description="Largest backoff.")
    backoff_jitter: bool = Field(True, description="Wait a uniform share of the backoff bound.")
    retry_after_cap_s: float = Field(120.0, ge=0, description="Longest 429 Retry-After honoured.")
    rate_limited_deadline_s: float = Field(600.0, ge=0, description="Longest 429 streak of a call.")
    token_refresh_margin_s: float = Field(60.0, ge=0, description="Refresh before expiry.")
    token_ttl_s: float = Field(3600.0, gt=0, description="Token life when the login omits it.")
    sync_latency_s: float = Field(2.0, ge=0, description="The documented sync duration (floor).")
    sync_concurrency: int | None = Field(
        None, ge=1, description="Sync calls in flight per account; default: syncs_in_flight."
    )
    time_scale: float = Field(1.0, gt=0, description="The mock's --time-scale; 1 for real.")

    def in_real_time(self) -> Self:
        """These settings with every platform duration converted to real seconds."""
        scaled = {name: value * self.time_scale for name, value in self if name.endswith("_s")}
        scaled["rate_limit_margin_s"] = self.rate_limit_margin_s  # real seconds, never scaled
        return self.model_copy(update={**scaled, "time_scale": 1.0})

    @property
    def window_s(self) -> float:
        """The window our budget keeps: the platform's, plus the margin."""
        return self.rate_limit_period_s * self.time_scale + self.rate_limit_margin_s

    @property
    def syncs_in_flight(self) -> int:
        """``sync_concurrency``, else enough to spend a window's permits if all hung, plus two."""
        needed = self.rate_limit_requests * self.sync_read_timeout_s / self.rate_limit_period_s
        return self.sync_concurrency or math.ceil(needed) + 2
