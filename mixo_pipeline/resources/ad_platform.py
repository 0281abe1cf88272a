"""``AdPlatformResource``: the ad platform client's configuration, as a Dagster resource. It
holds only values (Dagster may serialize it); the HTTP session, token cache and rate limiter live
in the :class:`~mixo_pipeline.ad_platform.AdPlatformClient` it builds. Secrets have no defaults:
bind them with ``dg.EnvVar``."""

import logging
from typing import Any

import dagster as dg
from pydantic import Field

from mixo_pipeline.ad_platform import Account, AdPlatformClient, ClientSettings


class AdPlatformResource(dg.ConfigurableResource):
    """The platform and the default account (the single one when no accounts file is set)."""

    base_url: str = Field(description="Base URL of the platform's API (env AD_PLATFORM_API_URL).")
    email: str = Field(description="Login email of the account (env AD_PLATFORM_EMAIL).")
    password: str = Field(description="Login password of the account (env AD_PLATFORM_PASSWORD).")
    client_id: str = Field("default", description="Sent as X-Client-ID; the rate-limit unit.")
    budget_url: str | None = Field(
        None, description="Database of the shared rate-limit budget (env DATABASE_URL)."
    )
    client: ClientSettings = Field(
        default_factory=ClientSettings, description="The client's knobs (AD_PLATFORM_<FIELD>)."
    )

    def account(self) -> Account:
        return Account(self.client_id, self.base_url, self.email, self.password)

    def get_client(
        self,
        account: Account | None = None,
        logger: logging.Logger | logging.LoggerAdapter[Any] | None = None,
    ) -> AdPlatformClient:
        """A new client for ``account`` (default: this resource's own); close it when done."""
        return AdPlatformClient(
            self.client, account or self.account(), budget_url=self.budget_url, logger=logger
        )
