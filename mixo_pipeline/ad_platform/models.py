"""What the ad platform returns, validated into typed records.

The client validates every response into these types before anyone else sees it, so the assets
downstream never guess at shapes. Each validation error names the page or campaign and the field.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

# Status values the platform documents or has been seen to send; anything else is flagged by the
# `campaigns_valid` check rather than rejected, since a new status upstream is not lost data.
KNOWN_STATUSES: frozenset[str] = frozenset({"active", "paused", "completed", "archived", "draft"})


@dataclass(frozen=True)
class Account:
    """One client account on the platform: where it lives and how to log in.

    ``client_id`` is sent as ``X-Client-ID`` and is the unit of the platform's rate limit and of
    the ``ad_accounts`` partitions.
    """

    client_id: str
    base_url: str
    email: str
    password: str = field(repr=False)


@dataclass(frozen=True)
class Campaign:
    id: str
    name: str
    status: str
    budget: Decimal
    impressions: int
    clicks: int
    conversions: int
    created_at: datetime


@dataclass(frozen=True)
class CampaignPage:
    """One page of ``GET /api/campaigns`` as validated, with its raw JSON body kept verbatim."""

    page: int
    limit: int
    total: int
    has_more: bool
    campaigns: tuple[Campaign, ...]
    raw: dict[str, Any]
    fetched_at: datetime


@dataclass(frozen=True)
class SyncResult:
    """The outcome of ``POST /api/campaigns/{id}/sync`` for one campaign, after all retries."""

    campaign_id: str
    success: bool
    attempts: int
    synced_at: datetime | None = None
    error: str | None = None
