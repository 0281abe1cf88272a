"""The one place that talks to the ad platform: auth, rate limiting, retries, pagination."""

from mixo_pipeline.ad_platform.client import AdPlatformClient
from mixo_pipeline.ad_platform.errors import (
    AuthenticationError,
    PaginationError,
    ResponseValidationError,
    RetriesExhaustedError,
)
from mixo_pipeline.ad_platform.models import Account
from mixo_pipeline.ad_platform.settings import ClientSettings

__all__ = [
    "Account",
    "AdPlatformClient",
    "AuthenticationError",
    "ClientSettings",
    "PaginationError",
    "ResponseValidationError",
    "RetriesExhaustedError",
]
