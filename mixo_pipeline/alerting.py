"""Data-quality alerts: a Slack incoming-webhook message (Mattermost, Rocket.Chat and Discord's
``/slack`` accept it too) saying what on-call needs without opening anything else, and the resource
posting it. The URL is a secret: bound with ``dg.EnvVar``; errors say what went wrong, not where."""

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import dagster as dg
import requests
from pydantic import Field

# Slack's limits: 150 characters in a header, 3000 in a section; long metadata is cut shorter.
HEADER_MAX = 150
SECTION_MAX = 3000
METADATA_ENTRIES_MAX = 12
METADATA_VALUE_MAX = 300
ICONS = {"ERROR": ":red_circle:", "FAIL": ":red_circle:", "WARN": ":warning:"}


@dataclass(frozen=True)
class Alert:
    asset: str
    severity: str  # ERROR or WARN for checks; FAIL or WARN for freshness
    title: str
    description: str
    partition: str | None = None
    check: str | None = None
    run_id: str | None = None
    run_url: str | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)  # Dagster metadata or plain values

    def summary(self) -> str:
        """One line for logs and the notification text."""
        where = f" [{self.partition}]" if self.partition else ""
        return f"{self.severity}: {self.title} on {self.asset}{where}"


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": _clip(text, SECTION_MAX)}}


def slack_payload(alert: Alert) -> dict[str, Any]:
    """The webhook body for ``alert``."""
    fields = {
        "Asset": alert.asset,
        "Partition": alert.partition or "(unpartitioned)",
        "Check": alert.check,
        "Severity": alert.severity,
        "Run": alert.run_id,
    }
    header = _clip(f"{alert.severity}: {alert.title}", HEADER_MAX)
    facts = [f"*{name}*\n{value}" for name, value in fields.items() if value]
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": header}},
        {"type": "section", "fields": [{"type": "mrkdwn", "text": fact} for fact in facts]},
        _section(alert.description or "-"),
    ]
    if alert.metadata:  # the first entries (the key figures), each cut short
        items = list(alert.metadata.items())[:METADATA_ENTRIES_MAX]
        shown = {k: _clip(str(getattr(v, "value", v)), METADATA_VALUE_MAX) for k, v in items}
        blocks.append(_section("\n".join(f"• *{k}*: `{v}`" for k, v in shown.items())))
    text = f"{ICONS.get(alert.severity, ':grey_question:')} {alert.summary()}"
    if alert.run_url:
        blocks.append(_section(f"<{alert.run_url}|Open the run in Dagster>"))
        text += f" <{alert.run_url}|run>"
    return {"text": text, "blocks": blocks}


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
