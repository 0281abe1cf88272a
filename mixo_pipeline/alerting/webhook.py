"""Delivering a JSON message to an incoming webhook, without ever revealing its URL.

A Slack-style webhook URL is a bearer secret (anyone holding it can post), so errors here say
what went wrong (status, timeout, connection failure) but never include the URL.
"""

from __future__ import annotations

from typing import Any

import requests

DEFAULT_WEBHOOK_TIMEOUT_S = 5.0


class WebhookDeliveryError(RuntimeError):
    """The webhook did not accept the message; the alert stays pending and is retried later."""


def post_webhook(
    url: str,
    payload: dict[str, Any],
    *,
    timeout_s: float = DEFAULT_WEBHOOK_TIMEOUT_S,
    session: requests.Session | None = None,
) -> None:
    """POST ``payload`` as JSON; return on a 2xx answer, else raise WebhookDeliveryError."""
    poster = session or requests
    try:
        response = poster.post(url, json=payload, timeout=(timeout_s, timeout_s))
    except requests.Timeout:
        raise WebhookDeliveryError(f"webhook did not answer within {timeout_s:g} s") from None
    except requests.RequestException as exc:
        raise WebhookDeliveryError(f"webhook unreachable ({type(exc).__name__})") from None
    if not 200 <= response.status_code < 300:
        raise WebhookDeliveryError(f"webhook answered HTTP {response.status_code}")
