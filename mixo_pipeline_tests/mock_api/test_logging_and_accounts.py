"""Request log lines (what they carry, what they never carry) and account loading."""

from __future__ import annotations

import base64
import json
import logging

import pytest

from mock_api.accounts import DEFAULT_EMAIL, DEFAULT_PASSWORD, load_accounts


def test_request_log_lines_carry_method_path_status_client_latency_and_no_secrets(
    start_mock, api_for, caplog
):
    api = api_for(start_mock())
    with caplog.at_level(logging.INFO, logger="mock_api"):
        token = api.login()
        api.list(page=2, client_id="acme")
        api.http.post("/auth/token", auth=(DEFAULT_EMAIL, "not-the-password"))
    lines = [r.getMessage() for r in caplog.records if r.name == "mock_api"]
    assert lines[0].startswith("POST /auth/token 200 client=default latency_ms=")
    assert lines[1].startswith("GET /api/campaigns?page=2 200 client=acme latency_ms=")
    assert lines[2].startswith("POST /auth/token 401 client=default latency_ms=")
    basic = base64.b64encode(f"{DEFAULT_EMAIL}:{DEFAULT_PASSWORD}".encode()).decode()
    for secret in (token, DEFAULT_PASSWORD, "not-the-password", basic, "Bearer", "Basic"):
        assert all(secret not in line for line in lines)


def test_generated_accounts_have_documented_credentials():
    accounts = load_accounts(3, campaigns=4)
    assert sorted(accounts) == ["client_1", "client_2", "client_3", "default"]
    assert accounts["client_2"].email == "client_2@mixoads.com"
    assert accounts["client_2"].password == "client_2-password"
    assert accounts["default"].email == DEFAULT_EMAIL
    assert {a.campaigns for a in accounts.values()} == {4}
    assert "password" not in repr(accounts["client_2"])


def test_accounts_file_json(tmp_path):
    path = tmp_path / "accounts.json"
    path.write_text(json.dumps([{"client_id": "x", "email": "x@x.test", "password": "p"}]))
    accounts = load_accounts(str(path), campaigns=9)
    assert (accounts["x"].email, accounts["x"].campaigns) == ("x@x.test", 9)
    assert "default" in accounts


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not: [valid", "not valid JSON/YAML"),
        ("client_id: x", "must hold a list"),
        ("- just-a-string", "entry 0: must be a mapping"),
        ("- {client_id: x, email: e}", "entry 0: missing password"),
        ("- {client_id: x, email: e, password: p, campaigns: -1}", "campaigns must be"),
        (f"- {{client_id: x, email: '{DEFAULT_EMAIL}', password: p}}", "share an email"),
    ],
)
def test_bad_accounts_file_is_named_with_what_is_wrong(tmp_path, content, message):
    path = tmp_path / "accounts.yaml"
    path.write_text(content)
    with pytest.raises(ValueError, match=message):
        load_accounts(path, campaigns=1)
