"""Authentication: token issue, refusals for every malformed header, expiry, per-account tokens."""

from __future__ import annotations

import base64
import time
from datetime import datetime

import pytest

from mock_api.accounts import DEFAULT_EMAIL, DEFAULT_PASSWORD

INVALID_CREDENTIALS = {"error": "Invalid credentials", "message": "Email or password is incorrect"}


def test_token_issued_with_documented_fields_at_scale_one(start_mock, api_for):
    api = api_for(start_mock(time_scale=1.0))
    before = int(time.time())
    response = api.http.post("/auth/token", auth=(DEFAULT_EMAIL, DEFAULT_PASSWORD))
    body = response.json()
    assert response.status_code == 200
    assert set(body) == {"access_token", "token_type", "expires_in", "issued_at"}
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600 and isinstance(body["expires_in"], int)
    assert isinstance(body["issued_at"], int) and before <= body["issued_at"] <= time.time()
    assert len(body["access_token"]) >= 32


def test_token_lifetime_is_scaled_and_reported_as_float(start_mock, api_for):
    api = api_for(start_mock(time_scale=0.01, token_ttl=500))
    body = api.http.post("/auth/token", auth=(DEFAULT_EMAIL, DEFAULT_PASSWORD)).json()
    assert body["expires_in"] == pytest.approx(5.0) and isinstance(body["expires_in"], float)
    assert isinstance(body["issued_at"], float)


def _basic(raw: bytes) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Basic"},
        {"Authorization": "Basic !!!not-base64!!!"},
        {"Authorization": "Bearer something"},
        _basic(b"no-colon-here"),
        _basic(b"\xff\xfe:\xff"),
        _basic(DEFAULT_EMAIL.encode() + b":wrong-password"),
        _basic(DEFAULT_EMAIL.encode() + ":pässwörd".encode()),
        _basic(b"nobody@mixoads.com:" + DEFAULT_PASSWORD.encode()),
    ],
    ids=[
        "missing",
        "empty",
        "bad-base64",
        "wrong-scheme",
        "no-colon",
        "not-utf8",
        "wrong-password",
        "non-ascii-password",
        "unknown-email",
    ],
)
def test_bad_credentials_get_documented_401_and_server_keeps_serving(start_mock, api_for, headers):
    server = start_mock()
    api = api_for(server)
    response = api.http.post("/auth/token", headers=headers)
    assert response.status_code == 401
    assert response.json() == INVALID_CREDENTIALS
    assert api.login()  # still serving
    auth = server.stats()["clients"]["default"]["endpoints"]["auth"]
    assert (auth["unauthorized_401"], auth["admitted"]) == (1, 1)


@pytest.mark.parametrize(
    ("authorization", "error"),
    [
        (None, "Unauthorized"),
        ("Bearer", "Unauthorized"),
        ("Bearer made-up-token", "Invalid token"),
        (f"Basic {base64.b64encode(b'admin@mixoads.com:x').decode()}", "Unauthorized"),
    ],
)
def test_api_calls_need_an_issued_bearer_token(start_mock, api_for, authorization, error):
    api = api_for(start_mock())
    api.login()
    headers = {"Authorization": authorization} if authorization else {}
    for response in (
        api.http.get("/api/campaigns", headers=headers),
        api.http.post("/api/campaigns/campaign_1/sync", headers=headers),
    ):
        assert response.status_code == 401
        assert response.json()["error"] == error


def test_expired_token_gets_documented_401_with_expired_at(start_mock, api_for):
    # TTL 100 s at scale 0.01 = 1 s: room for the first request on a loaded machine.
    api = api_for(start_mock(token_ttl=100))
    issued = api.http.post("/auth/token", auth=(DEFAULT_EMAIL, DEFAULT_PASSWORD)).json()
    api.token = issued["access_token"]
    assert api.list().status_code == 200
    time.sleep(max(0.0, issued["issued_at"] + 1.01 - time.time()))
    response = api.list()
    body = response.json()
    assert response.status_code == 401
    assert body["error"] == "Token expired" and body["message"]
    expired_at = datetime.strptime(body["expired_at"], "%Y-%m-%dT%H:%M:%S.%f%z").timestamp()
    assert expired_at == pytest.approx(issued["issued_at"] + 1.0, abs=0.002)
    api.login()  # a fresh token works again
    assert api.list().status_code == 200


def test_tokens_are_bound_to_their_account(start_mock, api_for):
    server = start_mock(accounts=2, campaigns=3)
    server.set_campaigns("client_2", [{"id": "only-for-client-2"}])
    api = api_for(server)
    token_1 = api.login("client_1@mixoads.com", "client_1-password")
    token_2 = api.login("client_2@mixoads.com", "client_2-password")
    ids_1 = [c["id"] for c in api.list(token=token_1).json()["data"]]
    ids_2 = [c["id"] for c in api.list(token=token_2).json()["data"]]
    assert ids_1 == ["campaign_1", "campaign_2", "campaign_3"]
    assert ids_2 == ["only-for-client-2"]
    assert api.sync("campaign_1", token=token_2).status_code == 404
    clients = server.stats()["clients"]
    assert clients["client_1"]["endpoints"]["list"]["admitted"] == 1
    assert clients["client_2"]["endpoints"]["list"]["admitted"] == 1
    assert clients["client_2"]["endpoints"]["sync"]["admitted"] == 1


def test_unauthorized_requests_do_not_count_against_the_window(start_mock, api_for):
    server = start_mock(rate_limit=2)
    api = api_for(server)
    for _ in range(5):
        assert api.list(token="forged").status_code == 401
    api.login()
    assert [api.list().status_code for _ in range(3)] == [200, 200, 429]
    default = server.stats()["clients"]["default"]
    assert (default["unauthorized_401"], default["admitted"], default["refused_429"]) == (5, 2, 1)
