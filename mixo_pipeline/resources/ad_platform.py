"""``AdPlatformResource``: the ad platform client's whole configuration, as Dagster config.

Dagster builds a resource once per step process and may serialize its config, so the resource
holds only values; the HTTP session, token cache and rate limiter live in the plain
:class:`~mixo_pipeline.ad_platform.AdPlatformClient` that :meth:`AdPlatformResource.get_client`
returns. Anything that must be shared between processes (the rate-limit budget) lives in
PostgreSQL when ``rate_limit_backend`` is ``postgres``.

Secrets have no defaults here: bind ``email``, ``password`` (and usually ``base_url`` and
``client_id``) with ``dg.EnvVar`` from ``AD_PLATFORM_EMAIL``, ``AD_PLATFORM_PASSWORD``,
``AD_PLATFORM_API_URL`` and ``AD_PLATFORM_CLIENT_ID``.
"""

from __future__ import annotations

import logging

import dagster as dg
from pydantic import Field

from mixo_pipeline.ad_platform import Account, AdPlatformClient, ClientSettings

_DEFAULTS = ClientSettings()


class AdPlatformResource(dg.ConfigurableResource):
    """Talks to the ad platform for one default account; bound under the key ``ad_platform``."""

    base_url: str = Field(
        default="http://localhost:3001",
        description="Base URL of the platform's API (env AD_PLATFORM_API_URL).",
    )
    email: str = Field(description="Login email of the account (env AD_PLATFORM_EMAIL).")
    password: str = Field(description="Login password of the account (env AD_PLATFORM_PASSWORD).")
    client_id: str = Field(
        default="default",
        description="Sent as X-Client-ID; the unit of the rate limit (env AD_PLATFORM_CLIENT_ID).",
    )
    page_size: int = Field(
        default=_DEFAULTS.page_size,
        description="Campaigns per listing page (10 is the only "
        "size the original server lists consistently).",
    )
    rate_limit_requests: int = Field(
        default=_DEFAULTS.rate_limit_requests,
        description="Requests the platform admits per client per window.",
    )
    rate_limit_period_s: float = Field(
        default=_DEFAULTS.rate_limit_period_s,
        description="The platform's sliding window in seconds (scaled by time_scale).",
    )
    rate_limit_margin_s: float = Field(
        default=_DEFAULTS.rate_limit_margin_s,
        description="Seconds added to the window against network delay and jitter (not scaled).",
    )
    rate_limit_backend: str = Field(
        default=_DEFAULTS.rate_limit_backend,
        description="'memory' (budget shared within one process) or 'postgres' (shared by every "
        "process using the same database).",
    )
    rate_limit_postgres_url: str | None = Field(
        default=None,
        description="Database of the shared budget when the backend is 'postgres' (env "
        "DATABASE_URL).",
    )
    connect_timeout_s: float = Field(
        default=_DEFAULTS.connect_timeout_s, description="TCP connect timeout (scaled)."
    )
    list_read_timeout_s: float = Field(
        default=_DEFAULTS.list_read_timeout_s,
        description="Read timeout of a listing page (scaled).",
    )
    sync_read_timeout_s: float = Field(
        default=_DEFAULTS.sync_read_timeout_s,
        description="Read timeout of a sync call, which takes about 2 s (scaled).",
    )
    auth_read_timeout_s: float = Field(
        default=_DEFAULTS.auth_read_timeout_s, description="Read timeout of the login (scaled)."
    )
    health_timeout_s: float = Field(
        default=_DEFAULTS.health_timeout_s, description="Timeout of the health probe (scaled)."
    )
    max_attempts: int = Field(
        default=_DEFAULTS.max_attempts,
        description="Attempts per call against 5xx, timeouts and connection errors.",
    )
    backoff_base_s: float = Field(
        default=_DEFAULTS.backoff_base_s,
        description="Bound of the first backoff, doubled per attempt (scaled).",
    )
    backoff_cap_s: float = Field(
        default=_DEFAULTS.backoff_cap_s, description="Largest backoff (scaled)."
    )
    backoff_jitter: bool = Field(
        default=_DEFAULTS.backoff_jitter,
        description="Full jitter: wait a uniform random share of the backoff bound.",
    )
    retry_after_cap_s: float = Field(
        default=_DEFAULTS.retry_after_cap_s,
        description="Longest Retry-After honoured on a 429 (scaled).",
    )
    rate_limited_deadline_s: float = Field(
        default=_DEFAULTS.rate_limited_deadline_s,
        description="How long one call may keep getting 429 before it fails (scaled).",
    )
    sync_concurrency: int = Field(
        default=_DEFAULTS.sync_concurrency, description="Sync calls in flight at once."
    )
    token_refresh_margin_s: float = Field(
        default=_DEFAULTS.token_refresh_margin_s,
        description="Refresh the token this long before it expires (scaled).",
    )
    time_scale: float = Field(
        default=_DEFAULTS.time_scale,
        description="Multiplies every duration but the margin; set it to the mock's "
        "--time-scale (env AD_PLATFORM_TIME_SCALE), 1 against a real platform.",
    )

    def settings(self) -> ClientSettings:
        """The non-secret settings as the plain client takes them (validated there)."""
        return ClientSettings(
            page_size=self.page_size,
            rate_limit_requests=self.rate_limit_requests,
            rate_limit_period_s=self.rate_limit_period_s,
            rate_limit_margin_s=self.rate_limit_margin_s,
            rate_limit_backend=self.rate_limit_backend,  # type: ignore[arg-type]
            rate_limit_postgres_url=self.rate_limit_postgres_url,
            connect_timeout_s=self.connect_timeout_s,
            list_read_timeout_s=self.list_read_timeout_s,
            sync_read_timeout_s=self.sync_read_timeout_s,
            auth_read_timeout_s=self.auth_read_timeout_s,
            health_timeout_s=self.health_timeout_s,
            max_attempts=self.max_attempts,
            backoff_base_s=self.backoff_base_s,
            backoff_cap_s=self.backoff_cap_s,
            backoff_jitter=self.backoff_jitter,
            retry_after_cap_s=self.retry_after_cap_s,
            rate_limited_deadline_s=self.rate_limited_deadline_s,
            sync_concurrency=self.sync_concurrency,
            token_refresh_margin_s=self.token_refresh_margin_s,
            time_scale=self.time_scale,
        )

    def account(self) -> Account:
        """The account named by this resource's own fields."""
        return Account(
            client_id=self.client_id,
            base_url=self.base_url,
            email=self.email,
            password=self.password,
        )

    def get_client(
        self, account: Account | None = None, logger: logging.Logger | None = None
    ) -> AdPlatformClient:
        """A new client for ``account`` (default: :meth:`account`); close it when done.

        Pass ``context.log`` as ``logger`` inside an asset so the client's logs land in the
        run's event log.
        """
        return AdPlatformClient(self.settings(), account or self.account(), logger=logger)
