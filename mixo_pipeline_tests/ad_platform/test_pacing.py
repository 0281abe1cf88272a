"""How the client spreads an account's requests in time: syncs in flight, 429 pauses.

Each test fails on one breakage that the rest of the suite would let through: syncs sent one
at a time (or more at once than ``sync_concurrency``), and a 429 that holds back only the call
that got it while the account's other calls keep knocking.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from mixo_pipeline_tests.ad_platform.conftest import Reply

from .test_client import server_stats

SYNCED = {"success": True, "synced_at": "2026-01-01T00:00:00Z"}


def test_sync_concurrency_syncs_are_in_flight_at_once(start_mock, make_client) -> None:
    # Each sync takes 30 s of platform time (0.3 s here), far longer than sending a request,
    # so every worker's sync overlaps the others': exactly sync_concurrency are in flight.
    mock = start_mock(sync_latency=30, error_rate=0, hang_rate=0, campaigns=12, rate_limit=30)
    client = make_client(
        mock.url, rate_limit_requests=30, sync_concurrency=4, sync_read_timeout_s=100.0
    )
    in_flight, most = 0, 0
    lock = threading.Lock()
    send = client._transport.send

    def counting_send(call: Any, auth: str) -> Any:
        nonlocal in_flight, most
        with lock:
            in_flight += 1
            most = max(most, in_flight)
        try:
            return send(call, auth)
        finally:
            with lock:
                in_flight -= 1

    client._transport.send = counting_send  # type: ignore[method-assign]

    results = list(client.sync_campaigns(f"campaign_{n}" for n in range(1, 13)))

    assert len(results) == 12 and all(r.success for r in results)
    assert most == 4
    assert server_stats(mock)["syncs_completed"] == 12


def test_a_429_holds_the_accounts_other_requests_for_its_retry_after(
    start_stub, make_client
) -> None:
    # campaign_1's sync is answered 429 asking for 1 s. A sync of campaign_2 started while that
    # pause runs must not reach the platform before the pause ends: it would be refused too.
    stub = start_stub(
        {
            ("POST", "/api/campaigns/campaign_1/sync"): [
                Reply(429, {"retry_after": 1.0}),
                Reply(body={**SYNCED, "campaign_id": "campaign_1"}),
            ],
            ("POST", "/api/campaigns/campaign_2/sync"): [
                Reply(body={**SYNCED, "campaign_id": "campaign_2"})
            ],
        }
    )
    client = make_client(stub.url, retry_after_cap_s=500.0)
    first: list[Any] = []
    waiting = threading.Thread(target=lambda: first.append(client.sync_campaign("campaign_1")))
    waiting.start()
    deadline = time.monotonic() + 5.0
    # The 429's wait is counted right after the pause is set.
    while client.stats.as_metadata()["limiter_wait_s"] < 1.0 and time.monotonic() < deadline:
        time.sleep(0.005)

    second = client.sync_campaign("campaign_2")
    waiting.join(5.0)

    assert second.success and first and first[0].success
    sent = {path.split("/")[3]: t for _, path, t in stub.requests if path.endswith("/sync")}
    refused_at = min(t for _, path, t in stub.requests if "campaign_1" in path)
    assert sent["campaign_2"] - refused_at >= 1.0
    assert sent["campaign_1"] - refused_at >= 1.0  # the replay waited as well
    assert client.stats.as_metadata()["rate_limited_429"] == 1
