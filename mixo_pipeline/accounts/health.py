"""Is the platform behind each account answering? ``GET /health`` costs no login and no rate
budget, and fails in an outage like the calls a run needs. Probes run concurrently: a hanging
platform costs a sensor tick one timeout, not one per account."""

from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor

import requests


def probe_health(base_url: str, timeout_s: float) -> str | None:
    """``None`` when ``{base_url}/health`` answers 200 ``{"status": "ok"}``, else why not."""
    try:
        response = requests.get(f"{base_url.rstrip('/')}/health", timeout=timeout_s)
    except requests.Timeout:
        return f"no answer within {timeout_s:g} s"
    except requests.RequestException as error:
        return f"unreachable ({type(error).__name__})"
    if response.status_code != 200:
        return f"HTTP {response.status_code}"
    try:
        status = response.json().get("status")
    except (ValueError, AttributeError):
        return "HTTP 200 without a JSON health body"
    return None if status == "ok" else f"status {status!r}"


def probe_all(base_urls: Iterable[str], timeout_s: float) -> dict[str, str | None]:
    """Each distinct base URL probed once, concurrently: URL -> ``None`` if up, else why down."""
    unique = sorted(set(base_urls))
    with ThreadPoolExecutor(max_workers=min(16, len(unique)) or 1) as pool:
        futures = {url: pool.submit(probe_health, url, timeout_s) for url in unique}
    return {url: future.result() for url, future in futures.items()}
