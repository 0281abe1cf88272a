"""The alert webhook resource. Its URL is a bearer secret (anyone holding it can post): it is
bound with ``dg.EnvVar`` and errors say what went wrong, never where."""

import dagster as dg
import requests
from pydantic import Field

from mixo_pipeline.alerting.alerts import Alert, slack_payload


class WebhookDeliveryError(RuntimeError):
    """The webhook did not accept the message; the alert stays pending and is retried."""


class AlertWebhookResource(dg.ConfigurableResource):
    """Where data-quality alerts go, and how the run links in them are built."""

    url: str | None = Field(
        None, description="Slack-compatible webhook URL (secret); unset: alerts are logged only."
    )
    ui_base_url: str = Field(description="Base URL of the Dagster UI, for run links.")
    timeout_s: float = Field(5.0, gt=0, description="Connect and read timeout of one POST.")

    def send(self, alert: Alert) -> None:
        """Post ``alert``; :class:`WebhookDeliveryError` (without the URL) if not accepted."""
        if not self.url:
            return
        try:
            response = requests.post(self.url, json=slack_payload(alert), timeout=self.timeout_s)
        except requests.Timeout:
            raise WebhookDeliveryError(f"webhook silent for {self.timeout_s:g} s") from None
        except requests.RequestException as error:
            raise WebhookDeliveryError(f"webhook unreachable ({type(error).__name__})") from None
        if not 200 <= response.status_code < 300:
            raise WebhookDeliveryError(f"webhook answered HTTP {response.status_code}")
