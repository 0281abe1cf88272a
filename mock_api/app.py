"""The platform's endpoints, and ``create_app`` assembling them with the admin ones.

Every rate-limited call passes the same gate, in the order the platform uses: outage, then
authentication (a 401 never counts against the window), then the rate limit, then the injected
fate of the admitted request (503 or hang), and only then the endpoint's own validation.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hmac
import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from mock_api.accounts import DEFAULT_CLIENT_ID, MockAccount
from mock_api.admin import admin_routes
from mock_api.campaigns import iso_ms
from mock_api.config import MockConfig
from mock_api.faults import Fate
from mock_api.request_log import SCOPE_CLIENT_KEY, RequestLogMiddleware
from mock_api.responses import (
    Denied,
    answer_denied,
    bad_credentials,
    bad_request,
    error_response,
    unavailable,
)
from mock_api.state import MockState
from mock_api.tokens import TokenVerdict

CLIENT_HEADER = "x-client-id"
COMPAT_LIMIT_CEILING = 1000
"""The original accepts any limit; the mock refuses absurd ones so it cannot be knocked over."""


class MockApi:
    """Request handlers bound to one ``MockState``."""

    def __init__(self, state: MockState) -> None:
        self.state = state
        self.config: MockConfig = state.config

    # -- who is calling ---------------------------------------------------------------------
    def _basic_account(self, request: Request) -> MockAccount | None:
        scheme, _, payload = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "basic" or not payload.strip():
            return None
        try:
            decoded = base64.b64decode(payload.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        email, sep, password = decoded.partition(":")
        account = self.state.by_email.get(email)
        if not sep or account is None:
            return None
        same = hmac.compare_digest(account.password.encode(), password.encode())
        return account if same else None

    @staticmethod
    def _bearer(request: Request) -> str | None:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer":
            return None
        return token.strip() or None

    def _client_id(self, request: Request, account: MockAccount | None) -> str:
        """``X-Client-ID``, else (strict) the account, else the shared ``default`` client."""
        header = request.headers.get(CLIENT_HEADER, "").strip()
        if header:
            client = header
        elif self.config.strict and account is not None:
            client = account.client_id
        else:
            client = DEFAULT_CLIENT_ID
        request.scope[SCOPE_CLIENT_KEY] = client
        return client

    def _attributed_client(self, request: Request) -> str:
        """Best guess of the caller before authentication, for counting outage answers."""
        token = self.state.tokens.peek(self._bearer(request))
        account = token.account if token else self._basic_account(request)
        return self._client_id(request, account)

    # -- shared steps -----------------------------------------------------------------------
    async def _outage(self, request: Request, endpoint: str | None) -> None:
        mode = self.state.outages.active(time.monotonic())
        if mode is None:
            return
        client = self._attributed_client(request)
        if mode == "hang":
            if endpoint:
                self.state.stats.count(client, endpoint, "hangs")
            await self.state.hang(request.receive)
        elif endpoint:
            self.state.stats.count(client, endpoint, "errors_503")
        raise Denied(unavailable())

    def _authenticate(self, request: Request, endpoint: str) -> tuple[MockAccount, str]:
        check = self.state.tokens.check(self._bearer(request), time.time())
        account = check.token.account if check.token else None
        client = self._client_id(request, account)
        if check.verdict is TokenVerdict.VALID and account is not None:
            return account, client
        self.state.stats.count(client, endpoint, "unauthorized_401")
        if check.verdict is TokenVerdict.EXPIRED and check.token is not None:
            expired_at = iso_ms(datetime.fromtimestamp(check.token.expires_at, UTC))
            raise Denied(
                error_response(401, "Token expired", "Request a new token", expired_at=expired_at)
            )
        if check.verdict is TokenVerdict.MISSING:
            raise Denied(error_response(401, "Unauthorized", "Missing bearer token"))
        raise Denied(error_response(401, "Invalid token", "The bearer token is not recognised"))

    def _rate_limit(self, client: str, endpoint: str) -> None:
        decision = self.state.limiter.try_admit(client, time.monotonic())
        if decision.admitted:
            self.state.stats.admitted(client, endpoint, time.time(), time.monotonic())
            return
        self.state.stats.count(client, endpoint, "refused_429")
        if self.config.strict:
            retry_after = self.config.seconds(decision.retry_after_s)
            headers = {"Retry-After": str(retry_after)}
        else:  # the original always says "a window" and only in the body
            retry_after = self.config.seconds(self.config.rate_window_s)
            headers = {}
        response = error_response(
            429,
            "Rate limit exceeded",
            f"Too many requests, limit is {self.config.rate_limit} per window",
            retry_after=retry_after,
        )
        response.headers.update(headers)
        raise Denied(response)

    async def _inject_fate(self, request: Request, client: str, endpoint: str) -> None:
        fate = self.state.faults.fate(client, endpoint)
        if fate is Fate.ERROR:
            self.state.stats.count(client, endpoint, "errors_503")
            raise Denied(unavailable())
        if fate is Fate.HANG:
            self.state.stats.count(client, endpoint, "hangs")
            await self.state.hang(request.receive)
            raise Denied(unavailable())

    async def _gate(self, request: Request, endpoint: str) -> tuple[MockAccount, str]:
        await self._outage(request, endpoint)
        account, client = self._authenticate(request, endpoint)
        self._rate_limit(client, endpoint)
        await self._inject_fate(request, client, endpoint)
        return account, client

    # -- platform endpoints -----------------------------------------------------------------
    async def auth_token(self, request: Request) -> Response:
        await self._outage(request, "auth")
        account = self._basic_account(request)
        client = self._client_id(request, account)
        if account is None:
            self.state.stats.count(client, "auth", "unauthorized_401")
            return bad_credentials()
        now = time.time()
        value, token = self.state.tokens.issue(account, now)
        self.state.stats.admitted(client, "auth", now, time.monotonic())
        issued_at = int(now) if self.config.time_scale == 1.0 else round(now, 3)
        return JSONResponse(
            {
                "access_token": value,
                "token_type": "Bearer",
                "expires_in": self.config.seconds(token.expires_at - token.issued_at),
                "issued_at": issued_at,
            }
        )

    async def list_campaigns(self, request: Request) -> Response:
        account, _client = await self._gate(request, "list")
        page = _positive_int(request, "page", 1)
        limit = _positive_int(request, "limit", 10)
        ceiling = self.config.max_page_size if self.config.strict else COMPAT_LIMIT_CEILING
        if limit > ceiling:
            raise Denied(bad_request(f"limit must be at most {ceiling}"))
        catalog = self.state.catalogs[account.client_id]
        return JSONResponse(catalog.page(page, limit, datetime.now(UTC)).as_json())

    async def sync_campaign(self, request: Request) -> Response:
        account, client = await self._gate(request, "sync")
        campaign_id = request.path_params["campaign_id"]
        if self.config.strict:
            await self._check_sync_body(request, campaign_id)
        if not self.state.catalogs[account.client_id].exists(campaign_id):
            raise Denied(error_response(404, "Not found", f"Campaign {campaign_id} not found"))
        if not await self.state.sleep(self.config.sync_latency_s):
            return unavailable()
        self.state.stats.sync_completed(client)
        return JSONResponse(
            {
                "success": True,
                "campaign_id": campaign_id,
                "synced_at": iso_ms(datetime.now(UTC)),
                "message": "Campaign data synced successfully",
            }
        )

    @staticmethod
    async def _check_sync_body(request: Request, campaign_id: str) -> None:
        body = await request.body()
        if not body.strip():
            return
        try:
            payload = json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise Denied(bad_request("Body must be JSON")) from None
        if not isinstance(payload, dict):
            raise Denied(bad_request("Body must be a JSON object"))
        if "campaign_id" in payload and payload["campaign_id"] != campaign_id:
            raise Denied(bad_request("campaign_id in body does not match URL"))

    async def health(self, request: Request) -> Response:
        await self._outage(request, None)
        now = datetime.now(UTC)
        uptime = time.monotonic() - self.state.started_mono
        return JSONResponse({"status": "ok", "timestamp": iso_ms(now), "uptime": round(uptime, 3)})


def _positive_int(request: Request, name: str, default: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise Denied(bad_request(f"{name} must be a positive integer"))
    return int(raw)


async def _not_found(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 404
    message = "Method not allowed" if status == 405 else f"No route {request.url.path}"
    return error_response(status, "Not found" if status == 404 else "Method not allowed", message)


def create_app(config: MockConfig | None = None) -> Starlette:
    """Build the ASGI app; ``app.state.mock`` is its ``MockState`` (used by ``MockServer``)."""
    state = MockState(config or MockConfig())
    api = MockApi(state)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        state.on_startup()
        yield
        state.release_waiters()

    routes = [
        Route("/auth/token", answer_denied(api.auth_token), methods=["POST"]),
        Route("/api/campaigns", answer_denied(api.list_campaigns), methods=["GET"]),
        Route(
            "/api/campaigns/{campaign_id}/sync", answer_denied(api.sync_campaign), methods=["POST"]
        ),
        Route("/health", answer_denied(api.health), methods=["GET"]),
        *admin_routes(state),
    ]
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        middleware=[Middleware(RequestLogMiddleware)],
        exception_handlers={404: _not_found, 405: _not_found},
    )
    app.state.mock = state
    return app
