"""What a data-quality alert says, rendered as a Slack-compatible webhook message.

An :class:`Alert` is built from a failed asset check evaluation or a freshness state change; the
message carries everything an on-call person needs without opening anything else (asset,
partition, check, severity, description, the key metadata) plus a link to the run in the UI.
The JSON is Slack's incoming-webhook format (``text`` as the notification fallback, ``blocks`` for
layout), which Mattermost, Rocket.Chat, Discord's ``/slack`` endpoint and most chat tools accept.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# Slack's documented limits: 150 characters for a header, 3000 for a section's text, 10 fields.
_HEADER_MAX = 150
_SECTION_MAX = 3000
_METADATA_ENTRIES_MAX = 12
_METADATA_VALUE_MAX = 300

_SEVERITY_ICON = {"ERROR": ":red_circle:", "FAIL": ":red_circle:", "WARN": ":warning:"}


@dataclass(frozen=True)
class Alert:
    """One alert. ``key`` identifies the evaluation it reports, so it is never sent twice."""

    key: str
    kind: str  # "check" or "freshness"
    asset: str
    severity: str  # ERROR or WARN for checks; FAIL or WARN for freshness
    title: str
    description: str
    partition: str | None = None
    check: str | None = None
    run_id: str | None = None
    run_url: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)

    def summary(self) -> str:
        """One line for logs and the notification text."""
        where = f" [{self.partition}]" if self.partition else ""
        return f"{self.severity}: {self.title} on {self.asset}{where}"


def metadata_as_text(metadata: Mapping[str, Any]) -> dict[str, str]:
    """Dagster metadata values as short strings, keeping the first entries (the key figures)."""
    rendered: dict[str, str] = {}
    for name, value in list(metadata.items())[:_METADATA_ENTRIES_MAX]:
        raw = getattr(value, "value", value)
        if hasattr(raw, "records"):  # TableMetadataValue: say how big it is, not the whole table
            raw = f"table with {len(raw.records)} row(s)"
        text = str(raw)
        if len(text) > _METADATA_VALUE_MAX:
            text = text[: _METADATA_VALUE_MAX - 1] + "…"
        rendered[str(name)] = text
    return rendered


def slack_payload(alert: Alert) -> dict[str, Any]:
    """The webhook body for ``alert``."""
    icon = _SEVERITY_ICON.get(alert.severity, ":grey_question:")
    header = _clip(f"{alert.severity}: {alert.title}", _HEADER_MAX)
    fields = [("Asset", alert.asset), ("Partition", alert.partition or "(unpartitioned)")]
    if alert.check:
        fields.append(("Check", alert.check))
    fields.append(("Severity", alert.severity))
    if alert.run_id:
        fields.append(("Run", alert.run_id))
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": header}},
        {
            "type": "section",
            "fields": [{"type": "mrkdwn", "text": f"*{name}*\n{value}"} for name, value in fields],
        },
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": _clip(alert.description or "-", _SECTION_MAX)},
        },
    ]
    if alert.metadata:
        lines = "\n".join(f"• *{name}*: `{value}`" for name, value in alert.metadata.items())
        blocks.append(
            {"type": "section", "text": {"type": "mrkdwn", "text": _clip(lines, _SECTION_MAX)}}
        )
    if alert.run_url:
        blocks.append(
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": f"<{alert.run_url}|Open the run in Dagster>"},
            }
        )
    text = f"{icon} {alert.summary()}"
    if alert.run_url:
        text += f" <{alert.run_url}|run>"
    return {"text": text, "blocks": blocks}


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
