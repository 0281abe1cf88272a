"""One HTTP request to the platform, with finite timeouts and counted in the client's stats."""

import ipaddress
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from requests.exceptions import ChunkedEncodingError
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from mixo_pipeline.ad_platform.errors import AdPlatformError, ResponseValidationError
from mixo_pipeline.ad_platform.models import Account
from mixo_pipeline.ad_platform.retry import CONNECTION_ERROR, TIMEOUT
from mixo_pipeline.ad_platform.settings import ClientSettings
from mixo_pipeline.ad_platform.stats import ClientStats

_written = threading.local()  # when this thread last handed a request to its socket (monotonic)


class _NotingWhenWritten:  # a connection noting, on the caller's thread, when it wrote a request
    def request(self, *args: Any, **kwargs: Any) -> None:
        super().request(*args, **kwargs)  # type: ignore[misc]
        _written.at = time.monotonic()  # a pause before this only makes the note later: safe


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = type("_HTTPConnection", (_NotingWhenWritten, HTTPConnection), {})


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = type("_HTTPSConnection", (_NotingWhenWritten, HTTPSConnection), {})


@dataclass
class Call:
    """One logical call (possibly several attempts) and how many requests it has sent."""

    endpoint: str  # list, sync or auth: the name used in stats
    method: str
    path: str
    describe: str  # how errors and logs name the call, e.g. "GET /api/campaigns page 3"
    read_timeout: float
    params: dict[str, Any] | None = None
    json: Any = None
    sends: int = 0
    written_at: float | None = None  # when its last request was written (monotonic; else None)
    ended_at: float | None = None  # when its answer arrived, or the client gave up waiting


class Transport:
    """A pooled HTTP session for one account's base URL: a connection per sync in flight, plus
    the listing's and the login's."""

    def __init__(self, account: Account, settings: ClientSettings, stats: ClientStats) -> None:
        refuse_clear_text(account, settings.allow_plain_http)
        self._base_url = account.base_url.rstrip("/")
        self._client_id = account.client_id
        self._connect_timeout = settings.connect_timeout_s
        self._max_bytes = settings.max_response_bytes
        self._stats = stats
        self._session = requests.Session()
        adapter = HTTPAdapter(pool_maxsize=settings.syncs_in_flight + 2, max_retries=0)
        self._session.mount("http://", adapter)
        self._session.mount("https://", adapter)
        adapter.poolmanager.pool_classes_by_scheme = {"http": _HTTPPool, "https": _HTTPSPool}
        # Proxy and CA settings from the environment, read once rather than on every request
        # (which also keeps a ~/.netrc entry from replacing the Bearer header).
        self._env = self._session.merge_environment_settings(self._base_url, {}, None, None, None)
        self._env["verify"] = settings.ca_bundle or self._env["verify"]
        self._env["stream"] = True  # bodies are read by _bounded_body
        self._session.trust_env = False

    def close(self) -> None:
        self._session.close()

    def send(self, call: Call, auth: str) -> tuple[requests.Response | None, int | str]:
        """One request; a transport failure comes back as the status TIMEOUT or CONNECTION_ERROR."""
        _written.at = call.written_at = call.ended_at = None
        try:
            response = self._session.request(
                call.method,
                f"{self._base_url}{call.path}",
                params=call.params,
                json=call.json,
                headers={"Authorization": auth, "X-Client-ID": self._client_id},
                timeout=(self._connect_timeout, call.read_timeout),
                **self._env,
            )
            call.written_at, call.ended_at = _written.at, time.monotonic()
            # requests has no public bound on a body: read it here, then fill its cache
            response._content = self._bounded_body(response, call)
        except (requests.Timeout, requests.ConnectionError, ChunkedEncodingError) as exc:
            # A timeout (a hang) was written, and maybe counted; a refused connect was not.
            call.written_at, call.ended_at = _written.at, time.monotonic()
            # ConnectTimeout is both a Timeout and a ConnectionError: it is a timeout.
            status = TIMEOUT if isinstance(exc, requests.Timeout) else CONNECTION_ERROR
            self._stats.record_response(call.endpoint, status)
            return None, status
        except requests.RequestException as exc:
            raise AdPlatformError(f"{call.describe}: {type(exc).__name__}") from None
        self._stats.record_response(call.endpoint, response.status_code)
        return response, response.status_code

    def _bounded_body(self, response: requests.Response, call: Call) -> bytes:
        """The body, or an error once it is declared or read past ``max_response_bytes``."""
        declared = response.headers.get("Content-Length", "")
        chunks, size = [], 0
        if not (declared.isdigit() and int(declared) > self._max_bytes):
            for chunk in response.iter_content(64 << 10):
                chunks.append(chunk)
                if (size := size + len(chunk)) > self._max_bytes:
                    break
            else:
                return b"".join(chunks)
        response.close()
        self._stats.record_response(call.endpoint, response.status_code)
        raise ResponseValidationError(
            f"{call.describe}: response body of {declared or f'over {size}'} bytes exceeds "
            f"the {self._max_bytes}-byte limit (AD_PLATFORM_MAX_RESPONSE_BYTES); abandoned unread"
        )


def refuse_clear_text(account: Account, allowed: bool) -> None:
    """Credentials travel over https://, or http:// to this machine (a local mock) or if allowed."""
    url = urlsplit(account.base_url)
    host = url.hostname or ""
    try:
        local = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name
        local = False
    if url.scheme != "https" and not (url.scheme == "http" and (local or allowed)):
        raise AdPlatformError(
            f"account {account.client_id!r}: its {url.scheme}:// base URL to {host!r} would carry "
            "its password and tokens in clear text; use https:// (or AD_PLATFORM_ALLOW_PLAIN_HTTP)"
        )


def body(response: requests.Response, where: str) -> Any:
    """The response's JSON body, or an error saying what came instead."""
    try:
        return response.json()
    except ValueError:
        raise ResponseValidationError(
            f"{where}: body is not JSON (HTTP {response.status_code}, content-type "
            f"{response.headers.get('Content-Type', 'unknown')!r}, {len(response.content)} bytes)"
        ) from None


def body_or_none(response: requests.Response | None) -> Any:
    try:
        return None if response is None else response.json()
    except ValueError:
        return None


def error_field(response: requests.Response | None) -> str:
    """The server's short ``error`` text, clipped; bodies are never quoted whole."""
    parsed = body_or_none(response)
    if isinstance(parsed, dict) and isinstance(parsed.get("error"), str):
        return repr(parsed["error"][:100])
    return "no error message"
