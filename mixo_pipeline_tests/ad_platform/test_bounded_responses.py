"""A response past ``max_response_bytes``, or a page with more campaigns than asked for, is
abandoned with an error naming the call and the size, without being read into memory."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import ThreadingHTTPServer

import pytest

from mixo_pipeline.ad_platform import Account, AdPlatformClient, ResponseValidationError

from .conftest import CAMPAIGN, JsonHandler, fast_settings

LIMIT = 64 << 10  # the test's AD_PLATFORM_MAX_RESPONSE_BYTES
ENDLESS = 1 << 30  # what an abandoned stream would have sent in all: 1 GiB


class Platform(JsonHandler):
    """Logs in; then answers every call the way ``server.mode`` says, counting the bytes sent."""

    server: PlatformServer

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path == "/auth/token":
            self.answer({"access_token": "t0ken", "token_type": "Bearer", "expires_in": 3600})
        elif self.server.mode == "sync-endless":
            self._endless(declare=False)
        else:
            self.answer({"success": True, "campaign_id": "c1", "synced_at": "2026-01-01T00:00:00Z"})

    def do_GET(self) -> None:
        if self.server.mode == "many-items":
            items = [{**CAMPAIGN, "id": f"c{n}"} for n in range(5000)]
            pagination = {"page": 1, "limit": 5000, "total": 5000, "has_more": False}
            self.answer({"data": items, "pagination": pagination})
        else:
            self._endless(declare=self.server.mode == "declared")

    def _endless(self, declare: bool) -> None:
        """A JSON-looking body of ENDLESS bytes, streamed until the client hangs up."""
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        if declare:
            self.send_header("Content-Length", str(ENDLESS))
        self.end_headers()
        chunk = b" " * (64 << 10)
        try:
            while self.server.sent < ENDLESS:
                self.wfile.write(chunk)
                self.server.sent += len(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass  # abandoned, as it should be


class PlatformServer(ThreadingHTTPServer):
    mode = ""
    sent = 0


@pytest.fixture
def platform() -> Iterator[PlatformServer]:
    server = PlatformServer(("127.0.0.1", 0), Platform)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def _client(server: PlatformServer) -> AdPlatformClient:
    account = Account("client_9", f"http://127.0.0.1:{server.server_address[1]}", "a@b.test", "pw")
    return AdPlatformClient(fast_settings(max_response_bytes=LIMIT), account)


@pytest.mark.parametrize("mode", ["declared", "streamed"])
def test_a_huge_page_is_abandoned_unread_naming_the_call_and_the_size(
    platform: PlatformServer, mode: str
) -> None:
    platform.mode = mode
    with _client(platform) as client, pytest.raises(ResponseValidationError) as abandoned:
        list(client.iter_campaign_pages())
    message = str(abandoned.value)
    assert message.startswith("GET /api/campaigns page 1: response body of ")
    assert f"the {LIMIT}-byte limit" in message and "abandoned unread" in message
    assert (f"of {ENDLESS} bytes" in message) == (mode == "declared")
    # It stopped reading near the limit: the rest of the gigabyte was never sent.
    assert platform.sent < 64 << 20
    assert client.stats.as_metadata().get("requests.list.200") == 1  # one try: not retried


def test_a_huge_sync_answer_fails_that_campaign_only(platform: PlatformServer) -> None:
    platform.mode = "sync-endless"
    with _client(platform) as client:
        result = client.sync_campaign("c1")
    assert not result.success and result.attempts == 1
    assert result.error is not None
    assert result.error.startswith("POST /api/campaigns/c1/sync: response body of over ")
    assert platform.sent < 64 << 20


def test_a_page_with_an_absurd_number_of_campaigns_is_refused_before_parsing(
    platform: PlatformServer,
) -> None:
    platform.mode = "many-items"  # 5000 campaigns, about 0.7 MB: under a 1 MiB limit
    account = Account("client_9", f"http://127.0.0.1:{platform.server_address[1]}", "a@b", "pw")
    refused = pytest.raises(ResponseValidationError, match="5000 campaigns on a page of 10")
    with AdPlatformClient(fast_settings(), account) as client, refused:
        list(client.iter_campaign_pages())
