"""``AdPlatformClient``: every HTTP call to the ad platform for one account. Each attempt takes a
permit (except the login), attaches a valid token, sends with finite timeouts and classifies the
outcome; :class:`~.retry.RetryRule` decides whether and when to try again. Nothing secret is
logged or raised: headers are built per request, errors quote statuses and the ``error`` field."""

import base64
import itertools
import logging
import threading
import time
from collections.abc import Generator, Iterable, Iterator
from typing import Any, Self
from urllib.parse import quote

import requests
from tenacity import RetryCallState

from mixo_pipeline.ad_platform.auth import Token, TokenCache, token_from_response
from mixo_pipeline.ad_platform.errors import (
    AdPlatformError,
    AuthenticationError,
    ResponseValidationError,
    RetriesExhaustedError,
)
from mixo_pipeline.ad_platform.fanout import fan_out
from mixo_pipeline.ad_platform.models import (
    Account,
    CampaignPage,
    SyncResult,
    parse_campaign_page,
    parse_sync_response,
)
from mixo_pipeline.ad_platform.pagination import PageGuard
from mixo_pipeline.ad_platform.rate_limit import RateLimiter
from mixo_pipeline.ad_platform.retry import (
    Retryable,
    RetryRule,
    Verdict,
    classify,
    failure_of,
    retry_after_seconds,
)
from mixo_pipeline.ad_platform.settings import ClientSettings
from mixo_pipeline.ad_platform.stats import ClientStats
from mixo_pipeline.ad_platform.transport import Call, Transport, body, body_or_none, error_field

_log = logging.getLogger(__name__)


class ClientStopped(RuntimeError):
    """The call was abandoned, not failed: its client was stopped (the run was interrupted)."""


class AdPlatformClient:
    """A thread-safe client for one account; ``budget_url`` holds the shared rate-limit budget
    (the ``postgres`` backend). Use as a context manager or call :meth:`close`."""

    def __init__(
        self,
        settings: ClientSettings,
        account: Account,
        *,
        budget_url: str | None = None,
    ) -> None:
        if settings.rate_limit_backend == "postgres" and not budget_url:
            raise ValueError("the postgres rate-limit backend needs budget_url (DATABASE_URL)")
        self.settings = settings.in_real_time()
        self.account = account
        self.stats = ClientStats()
        self._transport = Transport(account, self.settings, self.stats)
        self._limiter = RateLimiter(
            self.settings.rate_limit_requests,
            self.settings.window_s,
            account.base_url,
            account.client_id,
            budget_url if self.settings.rate_limit_backend == "postgres" else None,
            margin_s=self.settings.rate_limit_margin_s,
        )
        self._tokens = TokenCache(self._login)
        # Set from any thread (a step shares one): each call in progress ends at its next step.
        self.stopping = threading.Event()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close pooled connections (the rate-limit budget is shared and outlives the client)."""
        self._transport.close()

    def iter_campaign_pages(self) -> Iterator[CampaignPage]:
        """Every page of the campaign listing, in order, checked by :class:`PageGuard`."""
        guard = PageGuard()
        for page_no in itertools.count(1):
            call = Call(
                "list",
                "GET",
                "/api/campaigns",
                f"GET /api/campaigns page {page_no}",
                self.settings.list_read_timeout_s,
                params={"page": page_no, "limit": self.settings.page_size},
            )
            body = self._request(call)
            items = body.get("data") if isinstance(body, dict) else None
            if isinstance(items, list) and len(items) > self.settings.page_size:  # before parsing
                raise ResponseValidationError(
                    f"{call.describe}: {len(items)} campaigns on a page of "
                    f"{self.settings.page_size}; abandoned unparsed"
                )
            page = guard.check(parse_campaign_page(body, page_no))
            yield page
            if not page.has_more:
                return

    def sync_campaign(self, campaign_id: str) -> SyncResult:
        """Sync one campaign. Failures come back as results; only refused credentials raise."""
        call = Call(
            "sync",
            "POST",
            f"/api/campaigns/{quote(campaign_id, safe='')}/sync",
            f"POST /api/campaigns/{campaign_id}/sync",
            self.settings.sync_read_timeout_s,
            json={"campaign_id": campaign_id},
        )
        try:
            synced_at = parse_sync_response(self._request(call), campaign_id)
        except AuthenticationError:
            raise
        except AdPlatformError as exc:
            self.stats.record("syncs_failed")
            _log.warning("%s: sync of %s failed: %s", self.account.client_id, campaign_id, exc)
            return SyncResult(campaign_id, success=False, attempts=call.sends, error=str(exc))
        self.stats.record("syncs_succeeded")
        return SyncResult(campaign_id, success=True, attempts=call.sends, synced_at=synced_at)

    def sync_campaigns(self, ids: Iterable[str]) -> Generator[SyncResult, None, None]:
        """Sync ``ids`` concurrently, results as they come; ``ids`` may be a listing in progress."""
        return fan_out(self.sync_campaign, ids, self.settings.syncs_in_flight)

    def _request(self, call: Call) -> Any:
        """The JSON body of ``call`` once an attempt succeeds; raises once it fails for good."""
        rule = RetryRule(self.settings)
        retrying = rule.retrying(lambda state: self._before_retry(call, state), self.stopping.wait)
        try:
            response = retrying(self._attempt, call)
        except Retryable as failure:
            if failure.verdict is Verdict.RELOGIN:  # every fresh token refused: the account fails
                raise AuthenticationError(
                    f"{call.describe}: the platform kept refusing fresh tokens for "
                    f"{self.account.email} (HTTP 401 after {call.sends} attempts)"
                ) from None
            raise RetriesExhaustedError(
                f"{call.describe} failed after {call.sends} attempts; last status: {failure.status}"
            ) from None
        return body(response, call.describe)

    def _attempt(self, call: Call) -> requests.Response:
        if self.stopping.is_set():  # before the login and the permit: either may be a long wait
            raise ClientStopped(call.describe)
        token = None
        if call.endpoint == "auth":
            secret = f"{self.account.email}:{self.account.password}".encode()
            auth = "Basic " + base64.b64encode(secret).decode("ascii")
        else:
            self._tokens.get()  # log in before the permit: nothing slow between permit and send
            waited = self._limiter.acquire(urgent=call.endpoint == "list", stop=self.stopping)
            self.stats.add_wait("limiter_wait_s", waited)
            token = self._tokens.get()
            auth = f"Bearer {token}"
        if self.stopping.is_set():  # stopped while it waited for them
            raise ClientStopped(call.describe)
        call.sends += 1
        status: int | str | None = None
        try:
            response, status = self._transport.send(call, auth)
        finally:
            if call.endpoint != "auth" and call.written_at is not None:
                self._limiter.left(self._counted_by(call, status))
        verdict = classify(status)
        if verdict is Verdict.OK and response is not None:
            return response
        if call.endpoint == "auth" and status in (401, 403):
            raise AuthenticationError(
                f"the ad platform refused the credentials for {self.account.email} "
                f"(HTTP {status} from POST /auth/token: {error_field(response)})"
            )
        if verdict is Verdict.FATAL:
            raise AdPlatformError(
                f"{call.describe} answered HTTP {status} ({error_field(response)}); not retried"
            )
        if verdict is Verdict.RELOGIN and token is not None:
            self._tokens.reject(token)
        if verdict is Verdict.RATE_LIMITED and call.endpoint == "auth":
            verdict = Verdict.RETRY  # the login is not rate limited: a 429 there is a fault
        headers = response.headers if response is not None else {}
        asked = retry_after_seconds(headers, body_or_none(response))
        raise Retryable(verdict, status, asked)

    def _counted_by(self, call: Call, status: int | str | None) -> float:
        """The latest moment the platform can have counted the request: when the attempt ended,
        less the ~2 s a successful sync spends after its count, and not before the write (a hung
        request shows no more than that it was written)."""
        assert call.written_at is not None and call.ended_at is not None
        spent = self.settings.sync_latency_s if call.endpoint == "sync" and status == 200 else 0.0
        return max(call.written_at, call.ended_at - spent)

    def _before_retry(self, call: Call, state: RetryCallState) -> None:
        failure, wait = failure_of(state), state.upcoming_sleep
        self.stats.record("retries")
        if failure.verdict is Verdict.RATE_LIMITED:
            self._limiter.pause(wait)
            self.stats.add_wait("limiter_wait_s", wait)
        else:
            self.stats.add_wait("backoff_wait_s", wait)
        what = (self.account.client_id, call.describe, failure.status, call.sends, wait)
        _log.warning("%s: %s: %s (attempt %d); retrying in %.2f s", *what)

    def _login(self) -> Token:
        """``POST /auth/token`` with Basic credentials, under the same retry rule as every call."""
        timeout = self.settings.auth_read_timeout_s
        call = Call("auth", "POST", "/auth/token", "POST /auth/token", timeout)
        asked_wall, asked_mono = time.time(), time.monotonic()
        token = token_from_response(self._request(call), asked_wall, asked_mono, self.settings)
        self.stats.record("token_refreshes")
        who = (self.account.client_id, self.account.email, token.expires_at - asked_mono)
        _log.info("%s: logged in as %s; token valid for %.1f s", *who)
        return token
