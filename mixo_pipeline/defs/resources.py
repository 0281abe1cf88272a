"""The Dagster resources (serializable configuration in front of plain client classes) and their
bindings. Secrets are bound with ``dg.EnvVar`` (read on the worker at run time, never shown in run
config or the UI); the other knobs come from ``load_settings()`` as the code location loads."""

import os

import dagster as dg
import sqlalchemy as sa
from pydantic import Field

from mixo_pipeline.ad_platform import Account, AdPlatformClient, ClientSettings
from mixo_pipeline.alerting import AlertWebhookResource
from mixo_pipeline.database import engine_for
from mixo_pipeline.settings import load_settings

WEBHOOK_VARIABLE = "MIXO_ALERT_WEBHOOK_URL"


class AdPlatformResource(dg.ConfigurableResource):
    """The platform and the default account (the only one without an accounts file), as values only:
    the HTTP session, token cache and rate limiter live in the ``AdPlatformClient`` it builds."""

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

    def get_client(self, account: Account | None = None) -> AdPlatformClient:
        """A new client for ``account`` (default: this resource's own); close it when done."""
        return AdPlatformClient(self.client, account or self.account(), budget_url=self.budget_url)


class PostgresResource(dg.ConfigurableResource):
    """The PostgreSQL database holding the campaign tables (bound from ``DATABASE_URL``)."""

    database_url: str = Field(
        description="SQLAlchemy/libpq URL of the database (env DATABASE_URL); `make run` starts "
        "the embedded server and sets it when unset."
    )

    def get_engine(self) -> sa.Engine:
        """The process's shared engine; open one transaction per write with ``engine.begin()``."""
        return engine_for(self.database_url)


@dg.definitions
def resources() -> dg.Definitions:
    settings = load_settings()
    # An EnvVar must be set when bound: the webhook's is bound only when there is one.
    webhook_url = dg.EnvVar(WEBHOOK_VARIABLE) if os.environ.get(WEBHOOK_VARIABLE) else None
    return dg.Definitions(
        resources={
            "ad_platform": AdPlatformResource(
                base_url=dg.EnvVar("AD_PLATFORM_API_URL"),
                email=dg.EnvVar("AD_PLATFORM_EMAIL"),
                password=dg.EnvVar("AD_PLATFORM_PASSWORD"),
                client_id=settings.client_id,
                budget_url=dg.EnvVar("DATABASE_URL"),
                client=settings.client,
            ),
            "postgres": PostgresResource(database_url=dg.EnvVar("DATABASE_URL")),
            "alert_webhook": AlertWebhookResource(
                url=webhook_url, ui_base_url=settings.dagster_ui_url
            ),
        }
    )
