"""Nothing of a full run with failures (logs at DEBUG, errors, results, stats) holds a secret."""

from __future__ import annotations

import base64
import logging
import traceback
from typing import Any

import pytest

from mixo_pipeline.ad_platform import AuthenticationError, RetriesExhaustedError
from mixo_pipeline.ad_platform import client as client_module
from mixo_pipeline.ad_platform.auth import Token
from mixo_pipeline.ad_platform.models import parse_token
from mock_api.accounts import DEFAULT_EMAIL, DEFAULT_PASSWORD

from .conftest import default_account

WRONG_PASSWORD = "Wr0ng-Pa55word!"


def basic(password: str) -> str:
    return base64.b64encode(f"{DEFAULT_EMAIL}:{password}".encode()).decode()


def test_no_secret_reaches_logs_errors_or_metadata(
    start_mock, make_client, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    caplog.set_level(logging.DEBUG)  # every logger: ours, urllib3's, the mock's
    tokens: list[str] = []
    real = client_module.token_from_response

    def record(body: Any, *args: Any) -> Token:
        tokens.append(body["access_token"])
        token = real(body, *args)
        texts.extend([repr(parse_token(body)), repr(token)])  # the parsed body, what is kept
        return token

    texts: list[str] = []
    monkeypatch.setattr(client_module, "token_from_response", record)
    # Faults everywhere and a token that expires every 0.4 s.
    mock = start_mock(error_rate=0.3, hang_rate=0.1, token_ttl=40, campaigns=20)

    wrong = make_client(mock.url, account=default_account(mock.url, password=WRONG_PASSWORD))
    with pytest.raises(AuthenticationError) as refused:
        list(wrong.iter_campaign_pages())
    texts.append("".join(traceback.format_exception(refused.value)))

    client = make_client(mock.url, max_attempts=3)
    results = list(
        client.sync_campaigns(c.id for p in client.iter_campaign_pages() for c in p.campaigns)
    )
    texts += [r.error for r in results if r.error]

    mock.start_outage("error")
    with pytest.raises(RetriesExhaustedError) as exhausted:
        list(client.iter_campaign_pages())
    mock.stop_outage()
    texts.append("".join(traceback.format_exception(exhausted.value)))
    texts += [repr(client.account), repr(client.settings), repr(client.stats.as_metadata())]

    # The run really went through the paths that could leak.
    assert len(tokens) >= 2 and client.stats.as_metadata()["token_refreshes"] >= 2
    assert client.stats.as_metadata()["retries"] >= 3
    assert caplog.records and "retrying" in caplog.text
    haystack = caplog.text + "\n".join(texts)
    secrets = [
        DEFAULT_PASSWORD,
        WRONG_PASSWORD,
        basic(DEFAULT_PASSWORD),
        basic(WRONG_PASSWORD),
        *tokens,
    ]
    leaked = [s for s in secrets if s in haystack]
    assert leaked == []
    assert DEFAULT_EMAIL in haystack  # the account is named, so errors stay actionable
