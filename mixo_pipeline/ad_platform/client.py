"""``AdPlatformClient``: every HTTP call the pipeline makes to the ad platform.

One request goes through the same steps whatever the endpoint: wait for a rate-limit permit,
attach a valid token, send with finite timeouts, then classify the outcome:

- 2xx: validated by the caller;
- 401: log in again once and replay (a second 401 is an :class:`AuthenticationError`);
- 429: wait what the server asks (capped), on a deadline of its own, and replay;
- 5xx / timeout / connection error: back off (exponential, full jitter) and replay, up to
  ``max_attempts``, then :class:`RetriesExhaustedError` naming endpoint, status and attempts;
- any other status: an :class:`AdPlatformError` at once (retrying a 404 cannot help).

Nothing here logs or raises the password, the Basic header or a token: headers are built per
request and never stored on the session, and errors quote statuses and the server's ``error``
field, not requests.
"""

from __future__ import annotations

import base64
import logging
import math
import queue
import threading
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import requests
from requests.adapters import HTTPAdapter

from mixo_pipeline.ad_platform.auth import Token, TokenProvider, token_from_response
from mixo_pipeline.ad_platform.errors import (
    AdPlatformError,
    AuthenticationError,
    ResponseValidationError,
    RetriesExhaustedError,
)
from mixo_pipeline.ad_platform.models import Account, CampaignPage, SyncResult
from mixo_pipeline.ad_platform.pagination import PageGuard
from mixo_pipeline.ad_platform.rate_limit import RequestRateLimiter
from mixo_pipeline.ad_platform.retry import (
    RATE_LIMITED_STATUS,
    RETRYABLE_STATUSES,
    BackoffPolicy,
    retry_after_seconds,
)
from mixo_pipeline.ad_platform.settings import ClientSettings
from mixo_pipeline.ad_platform.stats import CONNECTION_ERROR, TIMEOUT, ClientStats
from mixo_pipeline.ad_platform.validation import parse_campaign_page, parse_sync_response

_default_log = logging.getLogger(__name__)


@dataclass
class _Call:
    """One logical call (possibly several HTTP attempts) and how many requests it has sent."""

    endpoint: str
    """``list``, ``sync`` or ``auth``: the name used in stats."""
    method: str
    path: str
    describe: str
    """How errors and logs name the call, e.g. ``GET /api/campaigns page 3``."""
    read_timeout: float
    params: dict[str, Any] | None = None
    json: Any = None
    sends: int = 0


@dataclass
class _FeedDone:
    submitted: int
    error: BaseException | None


@dataclass
class _WorkerCrashed:
    error: BaseException


class AdPlatformClient:
    """A thread-safe client for one account; use as a context manager or call :meth:`close`."""

    def __init__(
        self, settings: ClientSettings, account: Account, *, logger: logging.Logger | None = None
    ) -> None:
        self.settings = settings
        self.account = account
        self.stats = ClientStats()
        self._log = logger or _default_log
        self._base_url = account.base_url.rstrip("/")
        self._session = requests.Session()
        # One connection per concurrent sync, plus the listing and the login.
        pool = settings.sync_concurrency + 2
        adapter = HTTPAdapter(pool_connections=1, pool_maxsize=pool, max_retries=0)
        self._session.mount("http://", adapter)
        self._session.mount("https://", adapter)
        # Proxies and CA bundle come from the environment (HTTPS_PROXY, NO_PROXY,
        # REQUESTS_CA_BUNDLE...) once, here, for the account's host. Left to requests, every
        # request re-read the environment and probed the file system (CA bundle, ~/.netrc): a
        # tenth of a busy worker's CPU. It also keeps a ~/.netrc entry for the platform's host
        # from replacing the Bearer header.
        self._transport: dict[str, Any] = self._session.merge_environment_settings(
            self._base_url, {}, None, None, None
        )
        self._session.trust_env = False
        self._limiter = RequestRateLimiter(settings, account.base_url, account.client_id)
        self._tokens = TokenProvider(self._login, self.stats.record_token_refresh)
        self._backoff = BackoffPolicy(
            settings.backoff_base, settings.backoff_cap, settings.backoff_jitter
        )

    def __enter__(self) -> AdPlatformClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close pooled connections and let go of the rate-limit budget (which is shared, so it
        outlives this client; only a Postgres backend's pool closes, with its last client)."""
        self._session.close()
        self._limiter.close()

    # ---------------------------------------------------------------- public calls

    def health(self) -> bool:
        """Whether ``GET /health`` answers ``ok``: no auth, no permit, short timeout, no retry."""
        timeout = self.settings.health_timeout
        try:
            response = self._session.get(
                f"{self._base_url}/health", timeout=(timeout, timeout), **self._transport
            )
        except requests.RequestException as exc:
            self.stats.record_response("health", _transport_status(exc))
            return False
        self.stats.record_response("health", response.status_code)
        try:
            return response.status_code == 200 and response.json().get("status") == "ok"
        except (ValueError, AttributeError):
            return False

    def iter_campaign_pages(self) -> Iterator[CampaignPage]:
        """Every page of the campaign listing, in order, checked by :class:`PageGuard`."""
        guard = PageGuard()
        page_no = 1
        while True:
            call = _Call(
                endpoint="list",
                method="GET",
                path="/api/campaigns",
                describe=f"GET /api/campaigns page {page_no}",
                read_timeout=self.settings.list_read_timeout,
                params={"page": page_no, "limit": self.settings.page_size},
            )
            body = self._json(self._request(call), f"campaigns page {page_no}")
            page = parse_campaign_page(body, page_no)
            guard.check(page)
            self._log.debug(
                "ad platform %s: campaigns page %d: %d campaigns (total %d, has_more %s)",
                self.account.client_id,
                page_no,
                len(page.campaigns),
                page.total,
                page.has_more,
            )
            yield page
            if not page.has_more:
                return
            page_no += 1

    def sync_campaign(self, campaign_id: str) -> SyncResult:
        """Sync one campaign. Failures come back as results; only bad credentials raise."""
        call = _Call(
            endpoint="sync",
            method="POST",
            path=f"/api/campaigns/{quote(campaign_id, safe='')}/sync",
            describe=f"POST /api/campaigns/{campaign_id}/sync",
            read_timeout=self.settings.sync_read_timeout,
            json={"campaign_id": campaign_id},
        )
        try:
            response = self._request(call)
            synced_at = parse_sync_response(
                self._json(response, f"sync of campaign {campaign_id!r}"), campaign_id
            )
        except AuthenticationError:
            raise
        except AdPlatformError as exc:
            self.stats.record_sync(success=False)
            self._log.warning(
                "ad platform %s: sync of %s failed after %d attempts: %s",
                self.account.client_id,
                campaign_id,
                call.sends,
                exc,
            )
            return SyncResult(campaign_id, success=False, attempts=call.sends, error=str(exc))
        self.stats.record_sync(success=True)
        return SyncResult(campaign_id, success=True, attempts=call.sends, synced_at=synced_at)

    def sync_campaigns(self, ids: Iterable[str]) -> Iterator[SyncResult]:
        """Sync ``ids`` concurrently, yielding each result as soon as it is known.

        ``ids`` is consumed lazily on a feeder thread, so a generator that lists pages can feed
        it and syncing starts with the first page. If ``ids`` raises, the syncs already started
        are still yielded, then the error is raised. An :class:`AuthenticationError` is raised at
        once (every other call would fail the same way); pending syncs are cancelled.
        """
        results: queue.SimpleQueue[SyncResult | _FeedDone | _WorkerCrashed] = queue.SimpleQueue()
        stop = threading.Event()
        executor = ThreadPoolExecutor(
            max_workers=self.settings.sync_concurrency, thread_name_prefix="ad-platform-sync"
        )

        def run(campaign_id: str) -> None:
            try:
                results.put(self.sync_campaign(campaign_id))
            except BaseException as exc:  # handed to the consuming thread, which re-raises
                results.put(_WorkerCrashed(exc))

        def feed() -> None:
            submitted = 0
            try:
                for campaign_id in ids:
                    if stop.is_set():
                        break
                    executor.submit(run, campaign_id)
                    submitted += 1
            except BaseException as exc:  # handed to the consuming thread, which re-raises
                results.put(_FeedDone(submitted, exc))
            else:
                results.put(_FeedDone(submitted, None))

        threading.Thread(target=feed, name="ad-platform-sync-feed", daemon=True).start()
        received, expected, feed_error = 0, math.inf, None
        try:
            while received < expected:
                item = results.get()
                if isinstance(item, _FeedDone):
                    expected, feed_error = item.submitted, item.error
                elif isinstance(item, _WorkerCrashed):
                    raise item.error
                else:
                    received += 1
                    yield item
            if feed_error is not None:
                raise feed_error
        finally:
            stop.set()
            executor.shutdown(wait=True, cancel_futures=True)

    # ---------------------------------------------------------------- plumbing

    def _request(self, call: _Call) -> requests.Response:
        """Send ``call`` until it succeeds or fails for good (see the module docstring)."""
        failures = 0
        replayed_after_401 = False
        rate_limited_since: float | None = None
        while True:
            # Log in before taking the permit: the permit's timestamp must stay close to the
            # moment the server counts the request, so nothing slow may come between them.
            self._tokens.get()
            # The listing gates what can be synced: its pages take the next permit.
            urgent = call.endpoint == "list"
            self.stats.add_wait("limiter_wait_s", self._limiter.acquire(urgent=urgent))
            token = self._tokens.get()  # the same token unless the wait outlived it
            call.sends += 1
            response, status = self._send(
                call, {"Authorization": f"Bearer {token}", "X-Client-ID": self.account.client_id}
            )
            self.stats.record_response(call.endpoint, status)
            if response is not None and 200 <= response.status_code < 300:
                return response
            if status == 401:
                if replayed_after_401:
                    raise AuthenticationError(
                        f"{call.describe}: the platform rejected a freshly issued token for "
                        f"{self.account.email} (HTTP 401 twice)"
                    )
                replayed_after_401 = True
                self._log.info(
                    "ad platform %s: %s answered 401 (%s); logging in again and replaying",
                    self.account.client_id,
                    call.describe,
                    _error_field(response),
                )
                self._tokens.replace(token)
                continue
            if status == RATE_LIMITED_STATUS:
                assert response is not None
                now = time.monotonic()
                rate_limited_since = rate_limited_since or now
                self._wait_for_rate_limit(call, response, now - rate_limited_since)
                continue
            if status in RETRYABLE_STATUSES or status in (TIMEOUT, CONNECTION_ERROR):
                failures += 1
                self._back_off(call, status, failures)
                continue
            raise AdPlatformError(
                f"{call.describe} answered HTTP {status} ({_error_field(response)}); not retried"
            )

    def _back_off(self, call: _Call, status: int | str, failures: int) -> None:
        """Sleep a jittered backoff before the next attempt, or raise once attempts run out."""
        if failures >= self.settings.max_attempts:
            raise RetriesExhaustedError(call.describe, call.sends, status)
        delay = self._backoff.delay(failures)
        self._log.warning(
            "ad platform %s: %s: %s (attempt %d of %d); retrying in %.2f s",
            self.account.client_id,
            call.describe,
            status,
            failures,
            self.settings.max_attempts,
            delay,
        )
        self.stats.record_retry()
        self.stats.add_wait("backoff_wait_s", delay)
        time.sleep(delay)

    def _wait_for_rate_limit(self, call: _Call, response: requests.Response, spent: float) -> None:
        """Pause this budget for what the 429 asks, or give up once past the 429 deadline."""
        asked = retry_after_seconds(response.headers, _json_or_none(response))
        # No usable hint: a whole window is the longest the platform can make us wait.
        wait = min(
            asked if asked is not None else self._limiter.window_s, self.settings.retry_after_cap
        )
        if spent + wait > self.settings.rate_limited_deadline:
            raise RetriesExhaustedError(call.describe, call.sends, RATE_LIMITED_STATUS)
        self._log.warning(
            "ad platform %s: %s: rate limited (429); waiting %.2f s as asked",
            self.account.client_id,
            call.describe,
            wait,
        )
        self.stats.record_retry()
        self._limiter.pause(wait)

    def _send(
        self, call: _Call, headers: dict[str, str]
    ) -> tuple[requests.Response | None, int | str]:
        """One HTTP request; transport failures become the statuses ``timeout`` etc."""
        try:
            response = self._session.request(
                call.method,
                f"{self._base_url}{call.path}",
                params=call.params,
                json=call.json,
                headers=headers,
                timeout=(self.settings.connect_timeout, call.read_timeout),
                **self._transport,
            )
        except (
            requests.Timeout,
            requests.ConnectionError,
            requests.exceptions.ChunkedEncodingError,
        ) as exc:
            status = _transport_status(exc)
            self._log.debug(
                "ad platform %s: %s: %s (%s)",
                self.account.client_id,
                call.describe,
                status,
                type(exc).__name__,
            )
            return None, status
        except requests.RequestException as exc:
            raise AdPlatformError(f"{call.describe}: {type(exc).__name__}: {exc}") from None
        return response, response.status_code

    def _login(self) -> Token:
        """``POST /auth/token`` with Basic credentials; retried only on transient failures."""
        credentials = f"{self.account.email}:{self.account.password}".encode()
        headers = {
            "Authorization": "Basic " + base64.b64encode(credentials).decode("ascii"),
            "X-Client-ID": self.account.client_id,
        }
        call = _Call(
            endpoint="auth",
            method="POST",
            path="/auth/token",
            describe="POST /auth/token",
            read_timeout=self.settings.auth_read_timeout,
        )
        failures = 0
        while True:
            requested_wall, requested_mono = time.time(), time.monotonic()
            call.sends += 1
            response, status = self._send(call, headers)
            self.stats.record_response("auth", status)
            if response is not None and response.status_code == 200:
                token = token_from_response(
                    self._json(response, "POST /auth/token"),
                    requested_wall=requested_wall,
                    requested_mono=requested_mono,
                    refresh_margin_s=self.settings.token_refresh_margin,
                    fallback_ttl_s=self.settings.documented_token_ttl,
                )
                self._log.info(
                    "ad platform %s: logged in as %s; token valid for %.1f s",
                    self.account.client_id,
                    self.account.email,
                    token.expires_at - requested_mono,
                )
                return token
            if status in (401, 403):
                raise AuthenticationError(
                    f"the ad platform refused the credentials for {self.account.email} "
                    f"(HTTP {status} from POST /auth/token: {_error_field(response)})"
                )
            if status in RETRYABLE_STATUSES or status in (TIMEOUT, CONNECTION_ERROR, 429):
                failures += 1
                self._back_off(call, status, failures)
                continue
            raise AdPlatformError(
                f"POST /auth/token answered HTTP {status} ({_error_field(response)})"
            )

    @staticmethod
    def _json(response: requests.Response, where: str) -> Any:
        try:
            return response.json()
        except ValueError:
            raise ResponseValidationError(
                f"{where}: body is not JSON (HTTP {response.status_code}, content-type "
                f"{response.headers.get('Content-Type', 'unknown')!r}, "
                f"{len(response.content)} bytes)"
            ) from None


def _transport_status(exc: requests.RequestException) -> str:
    # ConnectTimeout is both a Timeout and a ConnectionError; it is a timeout.
    return TIMEOUT if isinstance(exc, requests.Timeout) else CONNECTION_ERROR


def _json_or_none(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _error_field(response: requests.Response | None) -> str:
    """The server's short ``error`` text, clipped; bodies are not quoted whole."""
    body = _json_or_none(response) if response is not None else None
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        return repr(body["error"][:100])
    return "no error message"
