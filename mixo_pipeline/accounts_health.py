"""Is the ad platform behind each account answering? A cheap probe for the recovery sensor.

``GET /health`` is unauthenticated and outside the rate limit, so probing it costs no account any
of its request budget; during an outage the platform answers it with 503 or not at all, exactly
like the API calls the runs need. Probes run concurrently with a short timeout, so a hanging
platform costs a sensor tick at most one timeout, not one per account.
"""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import requests

DEFAULT_PROBE_TIMEOUT_S = 3.0


@dataclass(frozen=True)
class HealthProbe:
    """The outcome of one ``/health`` probe; ``detail`` says why it is down, for the tick log."""

    base_url: str
    up: bool
    detail: str


def probe_health(base_url: str, timeout_s: float = DEFAULT_PROBE_TIMEOUT_S) -> HealthProbe:
    """Probe ``{base_url}/health``: up only on HTTP 200 with ``{"status": "ok"}``."""
    url = f"{base_url.rstrip('/')}/health"
    try:
        response = requests.get(url, timeout=(timeout_s, timeout_s))
    except requests.Timeout:
        return HealthProbe(base_url, False, f"no answer within {timeout_s:g} s")
    except requests.RequestException as exc:
        return HealthProbe(base_url, False, f"unreachable ({type(exc).__name__})")
    if response.status_code != 200:
        return HealthProbe(base_url, False, f"HTTP {response.status_code}")
    try:
        status = response.json().get("status")
    except (ValueError, AttributeError):
        return HealthProbe(base_url, False, "HTTP 200 without a JSON health body")
    if status != "ok":
        return HealthProbe(base_url, False, f"status {status!r}")
    return HealthProbe(base_url, True, "ok")


def probe_all(
    base_urls: Iterable[str], timeout_s: float = DEFAULT_PROBE_TIMEOUT_S
) -> dict[str, HealthProbe]:
    """Probe each distinct base URL once, concurrently; keyed by base URL."""
    unique = sorted(set(base_urls))
    if not unique:
        return {}
    with ThreadPoolExecutor(max_workers=min(16, len(unique))) as pool:
        probes = pool.map(lambda url: probe_health(url, timeout_s), unique)
        return {probe.base_url: probe for probe in probes}
