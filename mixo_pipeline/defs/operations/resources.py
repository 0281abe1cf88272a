"""The alert webhook, as a resource bound under the key ``alert_webhook``.

The webhook URL is a secret (anyone holding a Slack incoming-webhook URL can post to the
channel), so it is bound with ``dg.EnvVar("MIXO_ALERT_WEBHOOK_URL")`` and never appears in logs,
metadata or errors. Without it, alerts are still logged by the sensor (and visible in its tick
history in the UI), only not posted.
"""

from __future__ import annotations

import os

import dagster as dg
from pydantic import Field

from mixo_pipeline.alerting.alerts import Alert, slack_payload
from mixo_pipeline.alerting.webhook import DEFAULT_WEBHOOK_TIMEOUT_S, post_webhook

WEBHOOK_URL_ENV = "MIXO_ALERT_WEBHOOK_URL"
UI_URL_ENV = "MIXO_DAGSTER_UI_URL"
DEFAULT_UI_URL = "http://localhost:3000"


class AlertWebhookResource(dg.ConfigurableResource):
    """Where data-quality alerts go, and how run links in them are built."""

    url: str | None = Field(
        default=None,
        description=f"Slack-compatible incoming webhook URL (secret: bind {WEBHOOK_URL_ENV}). "
        "Unset: alerts are logged only.",
    )
    ui_base_url: str = Field(
        default=DEFAULT_UI_URL,
        description="Base URL of the Dagster UI, for the run links in alerts.",
    )
    timeout_s: float = Field(
        default=DEFAULT_WEBHOOK_TIMEOUT_S, description="Connect and read timeout of one POST."
    )

    @property
    def enabled(self) -> bool:
        return bool(self.url)

    def run_url(self, run_id: str) -> str:
        return f"{self.ui_base_url.rstrip('/')}/runs/{run_id}"

    def send(self, alert: Alert) -> None:
        """Post ``alert``; raises ``WebhookDeliveryError`` (without the URL) when not accepted."""
        if self.url:
            post_webhook(self.url, slack_payload(alert), timeout_s=self.timeout_s)


def alert_webhook_from_env() -> AlertWebhookResource:
    """The resource as this deployment configures it: the URL bound as an ``EnvVar`` when set."""
    return AlertWebhookResource(
        url=dg.EnvVar(WEBHOOK_URL_ENV) if os.environ.get(WEBHOOK_URL_ENV) else None,
        ui_base_url=os.environ.get(UI_URL_ENV, "").strip() or DEFAULT_UI_URL,
    )


@dg.definitions
def alert_resources() -> dg.Definitions:
    return dg.Definitions(resources={"alert_webhook": alert_webhook_from_env()})
