"""Campaign listing per contract, pagination, figures, bad input, sync, and raw bad-data serving."""

from __future__ import annotations

import re
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest

ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
FIELDS = {"id", "name", "status", "budget", "impressions", "clicks", "conversions", "created_at"}


def test_default_listing_is_ten_pages_of_documented_campaigns(start_mock, api_for):
    api = api_for(start_mock(rate_limit=100))
    api.login()
    seen = []
    for page in range(1, 11):
        body = api.list(page=page).json()
        assert body["pagination"] == {
            "page": page,
            "limit": 10,
            "total": 100,
            "has_more": page < 10,
        }
        seen += body["data"]
    now = datetime.now(UTC)
    assert [c["id"] for c in seen] == [f"campaign_{n}" for n in range(1, 101)]
    for n, campaign in enumerate(seen, start=1):
        assert set(campaign) == FIELDS
        assert campaign["name"] == f"Campaign {n}"
        assert campaign["budget"] == 1000 + 100 * n
        assert campaign["status"] in {"active", "paused", "completed"}
        assert ISO_MS.match(campaign["created_at"])
        created = datetime.strptime(campaign["created_at"], "%Y-%m-%dT%H:%M:%S.%f%z")
        assert abs(created - (now - timedelta(days=n))) < timedelta(seconds=5)
        assert 0 <= campaign["conversions"] <= campaign["clicks"] <= campaign["impressions"]
    assert {c["status"] for c in seen} == {"active", "paused", "completed"}
    beyond = api.list(page=11).json()
    assert beyond["data"] == [] and beyond["pagination"]["has_more"] is False


def test_figures_grow_between_calls_and_stay_consistent(start_mock, api_for):
    api = api_for(start_mock())
    api.login()
    first = api.list(limit=5).json()["data"]
    second = api.list(limit=5).json()["data"]
    for a, b in zip(first, second, strict=True):
        assert b["impressions"] > a["impressions"]
        assert b["clicks"] >= a["clicks"] and b["conversions"] >= a["conversions"]
        assert 0 <= b["conversions"] <= b["clicks"] <= b["impressions"]


def test_campaigns_knob_and_partial_last_page(start_mock, api_for):
    api = api_for(start_mock(campaigns=25))
    api.login()
    pages = [api.list(page=p, limit=10).json() for p in (1, 2, 3)]
    assert [len(p["data"]) for p in pages] == [10, 10, 5]
    assert [p["pagination"]["has_more"] for p in pages] == [True, True, False]
    assert {p["pagination"]["total"] for p in pages} == {25}
    assert pages[2]["data"][-1]["id"] == "campaign_25"


def test_max_page_size_knob(start_mock, api_for):
    api = api_for(start_mock(max_page_size=20))
    api.login()
    assert len(api.list(limit=20).json()["data"]) == 20
    response = api.list(limit=21)
    assert response.status_code == 400
    assert response.json() == {"error": "Bad request", "message": "limit must be at most 20"}


@pytest.mark.parametrize(
    ("page", "limit", "named"),
    [("0", None, "page"), ("abc", None, "page"), ("-1", None, "page"), ("", None, "page"),
     (None, "0", "limit"), (None, "1.5", "limit"), (None, "ten", "limit")],
)  # fmt: skip
def test_bad_page_or_limit_get_400_naming_the_parameter(start_mock, api_for, page, limit, named):
    api = api_for(start_mock())
    api.login()
    response = api.list(page=page, limit=limit)
    assert response.status_code == 400
    assert response.json() == {
        "error": "Bad request",
        "message": f"{named} must be a positive integer",
    }
    assert api.list().status_code == 200  # still serving


def test_unknown_campaign_sync_is_404(start_mock, api_for):
    server = start_mock()
    api = api_for(server)
    api.login()
    for campaign_id in ("campaign_101", "campaign_0", "nope", "campaign_01"):
        response = api.sync(campaign_id)
        assert response.status_code == 404
        assert response.json() == {
            "error": "Not found",
            "message": f"Campaign {campaign_id} not found",
        }
    assert server.stats()["totals"]["syncs_completed"] == 0


def test_sync_body_is_checked_in_strict_mode(start_mock, api_for):
    api = api_for(start_mock())
    api.login()
    url = "/api/campaigns/campaign_3/sync"
    mismatch = api.http.post(url, json={"campaign_id": "campaign_4"}, headers=api.headers())
    assert mismatch.status_code == 400
    garbage = api.http.post(url, content=b"{not json", headers=api.headers())
    assert (garbage.status_code, garbage.json()["message"]) == (400, "Body must be JSON")
    listed = api.http.post(url, json=[1], headers=api.headers())
    assert (listed.status_code, listed.json()["message"]) == (400, "Body must be a JSON object")
    assert api.http.post(url, headers=api.headers()).status_code == 200  # the body is optional


def test_sync_answers_after_the_scaled_latency(start_mock, api_for):
    # 10 s at scale 0.01 = 0.1 s.
    server = start_mock(sync_latency=10)
    api = api_for(server)
    api.login()
    started = time.monotonic()
    response = api.sync("campaign_7")
    elapsed = time.monotonic() - started
    body = response.json()
    assert response.status_code == 200
    assert body["success"] is True and body["campaign_id"] == "campaign_7"
    assert body["message"] == "Campaign data synced successfully"
    assert ISO_MS.match(body["synced_at"])
    assert 0.1 <= elapsed < 1.0
    assert server.stats()["clients"]["default"]["syncs_completed"] == 1


def test_slow_syncs_run_concurrently(start_mock, api_for):
    server = start_mock(sync_latency=40)  # 0.4 s each
    api = api_for(server)
    api.login()
    codes: list[int] = []
    threads = [
        threading.Thread(target=lambda n=n: codes.append(api.sync(f"campaign_{n}").status_code))
        for n in range(1, 6)
    ]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert codes == [200] * 5
    assert time.monotonic() - started < 1.5  # five in a row would take 2 s
    assert server.stats()["totals"]["syncs_completed"] == 5


def test_set_campaigns_serves_raw_objects_and_paginates_over_them(start_mock, api_for):
    server = start_mock()
    raw = [{"id": "campaign_1", "budget": "lots"}, {"unexpected": True}, None, 42, {"id": "x"}]
    server.set_campaigns("default", raw)
    api = api_for(server)
    api.login()
    first = api.list(page=1, limit=2).json()
    last = api.list(page=3, limit=2).json()
    assert first["data"] == raw[:2]
    assert first["pagination"] == {"page": 1, "limit": 2, "total": 5, "has_more": True}
    assert last["data"] == raw[4:]
    assert last["pagination"]["has_more"] is False
    assert api.sync("x").status_code == 200
    assert api.sync("campaign_2").status_code == 404


def test_set_campaigns_admin_endpoint_rejects_bad_input(start_mock, api_for):
    api = api_for(start_mock())
    unknown = api.http.put("/__admin/accounts/nobody/campaigns", json=[])
    assert (unknown.status_code, unknown.json()["message"]) == (404, "No account nobody")
    not_list = api.http.put("/__admin/accounts/default/campaigns", json={"id": 1})
    assert (not_list.status_code, not_list.json()["message"]) == (400, "Body must be a JSON list")
    ok = api.http.put("/__admin/accounts/default/campaigns", json=[{"id": "a"}])
    assert ok.json() == {"client_id": "default", "campaigns": 1}


def test_unknown_route_and_method_get_json_errors(start_mock, api_for):
    api = api_for(start_mock())
    missing = api.http.get("/api/nothing")
    assert (missing.status_code, missing.json()["error"]) == (404, "Not found")
    wrong = api.http.delete("/api/campaigns")
    assert (wrong.status_code, wrong.json()["error"]) == (405, "Method not allowed")
