"""Bearer tokens: issuing them and deciding whether a request carries a valid one.

Strict mode only accepts tokens it issued, each bound to its account and its own expiry, so a
client that mixes up accounts or ignores expiry is caught. Compat mode copies the original
server: any string is accepted while the most recently issued token is fresh, and issuing a new
token restarts that clock for everyone.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from enum import Enum

from mock_api.accounts import MockAccount


@dataclass(frozen=True)
class IssuedToken:
    account: MockAccount
    issued_at: float
    """Unix time of issue."""
    expires_at: float
    """Unix time after which the token is refused."""


class TokenVerdict(Enum):
    VALID = "valid"
    MISSING = "missing"
    INVALID = "invalid"
    EXPIRED = "expired"


@dataclass(frozen=True)
class TokenCheck:
    verdict: TokenVerdict
    token: IssuedToken | None = None
    """The token that decided the verdict (for EXPIRED: the one whose ``expires_at`` passed)."""


class TokenStore:
    """Tokens issued so far; ``strict`` selects the validation rules."""

    def __init__(self, ttl_s: float, *, strict: bool) -> None:
        self._ttl_s = ttl_s
        self._strict = strict
        self._tokens: dict[str, IssuedToken] = {}
        self._last: IssuedToken | None = None

    def issue(self, account: MockAccount, now: float) -> tuple[str, IssuedToken]:
        value = secrets.token_urlsafe(32)
        token = IssuedToken(account=account, issued_at=now, expires_at=now + self._ttl_s)
        self._tokens[value] = token
        self._last = token
        return value, token

    def peek(self, value: str | None) -> IssuedToken | None:
        """The token a bearer string names, without judging it (to attribute a request)."""
        return self._tokens.get(value) if value else None

    def check(self, value: str | None, now: float) -> TokenCheck:
        if not value:
            return TokenCheck(TokenVerdict.MISSING)
        if self._strict:
            token = self._tokens.get(value)
            if token is None:
                return TokenCheck(TokenVerdict.INVALID)
        else:
            if self._last is None:
                return TokenCheck(TokenVerdict.INVALID)
            # Any bearer string rides on the newest token; a known one keeps its account.
            known = self._tokens.get(value)
            token = IssuedToken(
                account=(known or self._last).account,
                issued_at=self._last.issued_at,
                expires_at=self._last.expires_at,
            )
        if now >= token.expires_at:
            return TokenCheck(TokenVerdict.EXPIRED, token)
        return TokenCheck(TokenVerdict.VALID, token)
