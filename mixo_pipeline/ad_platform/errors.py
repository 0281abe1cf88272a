class AdPlatformError(Exception):
    """Base of every error the ad platform client raises; no message of theirs carries a secret."""


class AuthenticationError(AdPlatformError):
    """The platform refused the account's credentials (names the email, never the password)."""


class RetriesExhaustedError(AdPlatformError):
    """A request kept failing after every allowed attempt."""


class PaginationError(AdPlatformError):
    """The listing contradicted itself (empty page with has_more, changing total, repeats...)."""


class ResponseValidationError(AdPlatformError):
    """A response body was not what the contract promises; the message names where and what."""
