"""Errors the ad platform client raises. None of their messages carries a secret."""


class AdPlatformError(Exception):
    """Base class of every error the client raises."""


class AuthenticationError(AdPlatformError):
    """The platform refused the account's credentials (names the email, never the password)."""


class RetriesExhaustedError(AdPlatformError):
    """A request kept failing after every allowed attempt."""


class PaginationError(AdPlatformError):
    """The listing contradicted itself (empty page with has_more, changing total, repeats...)."""


class ResponseValidationError(AdPlatformError):
    """A response body was not what the contract promises; the message names where and what."""
