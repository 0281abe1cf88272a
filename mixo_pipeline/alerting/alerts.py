"""What a data-quality alert says: what on-call needs without opening anything else, as a
Slack incoming-webhook message (``text`` for the notification, ``blocks`` for layout), a format
Mattermost, Rocket.Chat and Discord's ``/slack`` endpoint accept too."""

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

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
