"""The Bearer token: lazy login, cached until shortly before it expires, one refresh at a time.

The token's lifetime comes from the login response (``issued_at`` + ``expires_in``, the server's
clock) when that agrees with our clock; otherwise we count ``expires_in`` from when we asked,
which can only err towards refreshing early. It is then kept as a *monotonic* deadline so wall
clock jumps cannot make an expired token look fresh.

The login itself (HTTP, retries on transient failures) is passed in as a callable, so this module
holds only the caching and locking rules.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mixo_pipeline.ad_platform.errors import AuthenticationError, ResponseValidationError

# How far the server's issued_at may be from our clock before we stop trusting it.
CLOCK_SKEW_TOLERANCE_S = 300.0


@dataclass(frozen=True)
class Token:
    value: str = ""
    refresh_at: float = 0.0
    """Monotonic time after which the token is refreshed before use."""
    expires_at: float = 0.0
    """Monotonic time at which the server stops accepting it (our estimate)."""

    def __repr__(self) -> str:  # never show the value
        return f"Token(refresh_at={self.refresh_at:.3f}, expires_at={self.expires_at:.3f})"


def token_from_response(
    body: Any,
    *,
    requested_wall: float,
    requested_mono: float,
    refresh_margin_s: float,
    fallback_ttl_s: float,
) -> Token:
    """Validate a login response body and turn it into a cached :class:`Token`.

    ``requested_*`` are our clocks when the login request was sent: a lifetime counted from then
    ends no later than the server's.
    """
    if not isinstance(body, dict):
        raise ResponseValidationError("POST /auth/token: body is not a JSON object")
    value = body.get("access_token")
    if not isinstance(value, str) or not value:
        raise ResponseValidationError("POST /auth/token: field 'access_token' missing or empty")
    token_type = body.get("token_type", "Bearer")
    if not isinstance(token_type, str) or token_type.lower() != "bearer":
        raise ResponseValidationError(
            f"POST /auth/token: field 'token_type' is {token_type!r}, expected 'Bearer'"
        )
    ttl = _finite_number(body.get("expires_in"))
    if ttl is None or ttl <= 0:
        ttl = fallback_ttl_s
    issued_at = _finite_number(body.get("issued_at"))
    if issued_at is not None and abs(issued_at - requested_wall) <= CLOCK_SKEW_TOLERANCE_S:
        # The server's expiry, on our clock; never later than counting from our request.
        remaining = min(issued_at + ttl - requested_wall, ttl)
    else:
        remaining = ttl
    expires_at = requested_mono + remaining
    # A margin longer than the token's life would refresh on every call; keep half of it usable.
    margin = min(refresh_margin_s, remaining / 2)
    return Token(value=value, refresh_at=expires_at - margin, expires_at=expires_at)


def _finite_number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


class TokenProvider:
    """Hands out a valid token; concurrent callers that find it stale share one login.

    Refused credentials are remembered: an account's password does not change under a client, so
    every later caller fails at once instead of asking the platform again.
    """

    def __init__(self, login: Callable[[], Token], on_refresh: Callable[[], None]) -> None:
        self._login = login
        self._on_refresh = on_refresh
        self._token = Token()
        self._refused: AuthenticationError | None = None
        self._lock = threading.Lock()

    def get(self) -> str:
        """A token that is not inside its refresh margin, logging in if needed."""
        token = self._token
        if token.value and time.monotonic() < token.refresh_at:
            return token.value
        with self._lock:
            token = self._token
            if token.value and time.monotonic() < token.refresh_at:
                return token.value  # another thread refreshed while we waited for the lock
            return self._refresh()

    def replace(self, rejected: str) -> str:
        """The server answered 401 to ``rejected``: return a fresh token.

        If another thread already replaced it, that token is returned without a new login, so a
        burst of 401s from concurrent requests costs one login, not one each.
        """
        with self._lock:
            token = self._token
            if token.value and token.value != rejected and time.monotonic() < token.refresh_at:
                return token.value
            return self._refresh()

    def _refresh(self) -> str:
        if self._refused is not None:
            raise AuthenticationError(str(self._refused))
        try:
            self._token = self._login()
        except AuthenticationError as exc:
            self._refused = exc
            raise
        self._on_refresh()
        return self._token.value
