"""``create_app`` is a plain ASGI app: it serves in-process without a socket or a thread."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from mock_api import MockConfig, create_app
from mock_api.accounts import DEFAULT_EMAIL, DEFAULT_PASSWORD


def test_create_app_serves_in_process():
    app = create_app(MockConfig(time_scale=0.01, error_rate=0, hang_rate=0, seed=1))

    async def scenario() -> tuple[int, int, dict]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://mock") as http:
            token = (await http.post("/auth/token", auth=(DEFAULT_EMAIL, DEFAULT_PASSWORD))).json()
            headers = {"Authorization": f"Bearer {token['access_token']}"}
            listing = await http.get("/api/campaigns", params={"limit": 3}, headers=headers)
            synced = await http.post("/api/campaigns/campaign_2/sync", headers=headers)
            stats = (await http.get("/__admin/stats")).json()
        return listing.status_code, synced.status_code, stats

    listed, synced, stats = asyncio.run(scenario())
    assert (listed, synced) == (200, 200)
    assert stats["totals"]["admitted"] == 2 and stats["totals"]["syncs_completed"] == 1


def test_invalid_config_is_refused_with_every_problem_named():
    with pytest.raises(ValueError) as info:
        MockConfig(rate_limit=0, time_scale=0, error_rate=0.9, hang_rate=0.2, compat="loose")  # type: ignore[arg-type]
    message = str(info.value)
    for problem in ("rate_limit", "time_scale", "error_rate + hang_rate", "compat"):
        assert problem in message
