"""The one place that talks to the ad platform: auth, rate limiting, retries, pagination."""

from mixo_pipeline.ad_platform.client import AdPlatformClient
from mixo_pipeline.ad_platform.errors import (
    AdPlatformError,
    AuthenticationError,
    PaginationError,
    ResponseValidationError,
    RetriesExhaustedError,
)
from mixo_pipeline.ad_platform.models import (
    KNOWN_STATUSES,
    Account,
    Campaign,
    CampaignPage,
    SyncResult,
)
from mixo_pipeline.ad_platform.settings import ClientSettings
from mixo_pipeline.ad_platform.stats import ClientStats

__all__ = [
    "KNOWN_STATUSES",
    "Account",
    "AdPlatformClient",
    "AdPlatformError",
    "AuthenticationError",
    "Campaign",
    "CampaignPage",
    "ClientSettings",
    "ClientStats",
    "PaginationError",
    "ResponseValidationError",
    "RetriesExhaustedError",
    "SyncResult",
]
