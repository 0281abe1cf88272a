"""Credentials never cross the wire in clear text, and TLS is verified (a private CA when set)."""

from __future__ import annotations

import ssl
import threading
from collections.abc import Callable, Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest
import trustme

from mixo_pipeline.ad_platform import Account, AdPlatformClient, RetriesExhaustedError
from mixo_pipeline.ad_platform.errors import AdPlatformError

from .conftest import CAMPAIGN, JsonHandler, fast_settings

SECRET = "S3cret-Pa55"


def _client(base_url: str, **settings: object) -> AdPlatformClient:
    account = Account("client_9", base_url, "ops@example.test", SECRET)
    return AdPlatformClient(fast_settings(**settings), account)


@pytest.mark.parametrize(
    "base_url", ["http://ads.example.invalid", "http://10.0.0.7:3001", "ftp://127.0.0.1"]
)
def test_credentials_are_refused_passage_in_clear_text_before_any_connection(base_url) -> None:
    # The hosts do not exist: the refusal comes before a connection is attempted.
    with pytest.raises(AdPlatformError) as refused:
        _client(base_url)
    message = str(refused.value)
    assert "client_9" in message and f"{base_url.split(':')[0]}://" in message
    assert "clear text" in message and SECRET not in message


@pytest.mark.parametrize(
    "base_url", ["http://127.0.0.1:3001", "http://localhost:3001", "http://[::1]:3001"]
)
def test_plain_http_to_this_machine_is_allowed(base_url) -> None:
    _client(base_url).close()  # a local mock: nothing leaves the machine


def test_plain_http_elsewhere_only_when_explicitly_allowed() -> None:
    _client("http://ads.example.invalid", allow_plain_http=True).close()


@pytest.fixture
def https_platform(tmp_path: Path) -> Iterator[Callable[[], tuple[str, Path]]]:
    """A platform over HTTPS on 127.0.0.1 whose certificate a private CA signed."""
    ca = trustme.CA()
    server_cert = ca.issue_cert("127.0.0.1")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_cert.configure_cert(context)
    ca_file = tmp_path / "private-ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))

    class Platform(JsonHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.answer({"access_token": "t0ken", "token_type": "Bearer", "expires_in": 3600})

        def do_GET(self) -> None:
            pagination = {"page": 1, "limit": 10, "total": 1, "has_more": False}
            self.answer({"data": [CAMPAIGN], "pagination": pagination})

    server = ThreadingHTTPServer(("127.0.0.1", 0), Platform)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield lambda: (f"https://127.0.0.1:{server.server_address[1]}", ca_file)
    finally:
        server.shutdown()
        server.server_close()


def test_tls_is_verified_against_the_private_ca_when_one_is_set(https_platform) -> None:
    url, ca_file = https_platform()
    with _client(url, max_attempts=1) as untrusting, pytest.raises(RetriesExhaustedError) as bad:
        list(untrusting.iter_campaign_pages())
    assert "connection_error" in str(bad.value)  # the certificate was refused: nothing sent
    with _client(url, ca_bundle=str(ca_file)) as trusting:
        (page,) = trusting.iter_campaign_pages()
    assert [c.id for c in page.campaigns] == ["c1"]
