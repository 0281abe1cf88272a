"""The Bearer token: logged in lazily, once at a time, refreshed before a monotonic deadline counted
from ``issued_at`` if the server's clock agrees with ours, else from our request (erring early)."""

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from mixo_pipeline.ad_platform.errors import AuthenticationError
from mixo_pipeline.ad_platform.models import parse_token
from mixo_pipeline.ad_platform.settings import ClientSettings

CLOCK_SKEW_TOLERANCE_S = 300.0  # the server's issued_at is trusted this close to our clock


@dataclass(frozen=True)
class Token:
    value: str = field(default="", repr=False)
    refresh_at: float = 0.0  # monotonic
    expires_at: float = 0.0  # monotonic, our estimate of the server's

    def fresh(self) -> bool:
        return bool(self.value) and time.monotonic() < self.refresh_at


def token_from_response(
    body: object, asked_wall: float, asked_mono: float, settings: ClientSettings
) -> Token:
    """A validated login response as a :class:`Token`; ``asked_*`` are our clocks at the request."""
    parsed = parse_token(body)
    ttl = parsed.expires_in if (parsed.expires_in or 0) > 0 else settings.token_ttl_s
    remaining, issued_at = ttl, parsed.issued_at
    if issued_at is not None and abs(issued_at - asked_wall) <= CLOCK_SKEW_TOLERANCE_S:
        remaining = min(issued_at + ttl - asked_wall, ttl)
    expires_at = asked_mono + remaining
    # A margin longer than the token's life would refresh on every call: keep half of it usable.
    margin = min(settings.token_refresh_margin_s, remaining / 2)
    return Token(parsed.access_token, refresh_at=expires_at - margin, expires_at=expires_at)


class TokenCache:
    """Hands out a fresh token, one login shared by callers finding it stale; a refusal is final."""

    def __init__(self, login: Callable[[], Token]) -> None:
        self._login = login
        self._token = Token()
        self._refused: AuthenticationError | None = None
        self._lock = threading.Lock()

    def get(self) -> str:
        token = self._token
        if token.fresh():
            return token.value
        with self._lock:
            if not self._token.fresh():  # another thread may have logged in meanwhile
                if self._refused is not None:
                    raise AuthenticationError(str(self._refused))
                try:
                    self._token = self._login()
                except AuthenticationError as refused:
                    self._refused = refused
                    raise
            return self._token.value

    def reject(self, value: str) -> None:
        """The platform answered 401 to ``value``: the next :meth:`get` logs in again."""
        with self._lock:
            if self._token.value == value:
                self._token = Token()
