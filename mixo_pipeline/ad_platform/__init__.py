"""The one place that talks to the ad platform: auth, rate limiting, retries, pagination."""

from mixo_pipeline.ad_platform.client import AdPlatformClient as AdPlatformClient
from mixo_pipeline.ad_platform.errors import AuthenticationError as AuthenticationError
from mixo_pipeline.ad_platform.errors import PaginationError as PaginationError
from mixo_pipeline.ad_platform.errors import ResponseValidationError as ResponseValidationError
from mixo_pipeline.ad_platform.errors import RetriesExhaustedError as RetriesExhaustedError
from mixo_pipeline.ad_platform.models import Account as Account
from mixo_pipeline.ad_platform.settings import ClientSettings as ClientSettings
