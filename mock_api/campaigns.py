"""The campaigns each account owns, their moving performance figures, and pagination.

Strict mode keeps the figures believable: they are cumulative counters that only grow between
calls, with conversions <= clicks <= impressions, so a pipeline can check them. Compat mode draws
them at random on every call like the original (clicks can exceed impressions) and copies its
pagination quirks. ``set_raw`` replaces an account's listing by arbitrary JSON objects so the
pipeline's validation can be tested against bad data.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

STATUSES = ("active", "paused", "completed")
ORIGINAL_TOTAL = 100
"""The original server reports 100 campaigns and 10 pages whatever it is asked."""
ORIGINAL_PAGES = 10


def iso_ms(moment: datetime) -> str:
    """ISO-8601 in UTC with milliseconds and ``Z``, the platform's timestamp format."""
    return (
        moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    )


@dataclass
class _Figures:
    impressions: int
    clicks: int
    conversions: int


@dataclass(frozen=True)
class Page:
    data: list[dict[str, Any]]
    page: int
    limit: int
    total: int
    has_more: bool

    def as_json(self) -> dict[str, Any]:
        return {
            "data": self.data,
            "pagination": {
                "page": self.page,
                "limit": self.limit,
                "total": self.total,
                "has_more": self.has_more,
            },
        }


class CampaignCatalog:
    """The campaigns of one account."""

    def __init__(self, count: int, rng: random.Random, *, strict: bool) -> None:
        self._count = count
        self._rng = rng
        self._strict = strict
        self._figures: dict[int, _Figures] = {}
        self._raw: list[Any] | None = None

    def set_raw(self, items: list[Any]) -> None:
        """Serve exactly these JSON values (any shape) from now on."""
        self._raw = list(items)

    def exists(self, campaign_id: str) -> bool:
        if self._raw is not None:
            return any(isinstance(i, dict) and i.get("id") == campaign_id for i in self._raw)
        n = _number(campaign_id)
        if n is None:
            return False
        # The original invents ids past its 100 for large pages, so it syncs any of them.
        return not self._strict or n <= self._count

    def page(self, page: int, limit: int, now: datetime) -> Page:
        start = (page - 1) * limit
        if self._raw is not None:
            items = self._raw[start : start + limit]
            return Page(items, page, limit, len(self._raw), start + limit < len(self._raw))
        if self._strict:
            numbers = range(start + 1, min(start + limit, self._count) + 1)
            has_more = start + limit < self._count
            return Page(
                [self._campaign(n, now) for n in numbers], page, limit, self._count, has_more
            )
        numbers = range(start + 1, start + limit + 1)
        data = [self._campaign(n, now) for n in numbers]
        return Page(data, page, limit, ORIGINAL_TOTAL, page < ORIGINAL_PAGES)

    def _campaign(self, n: int, now: datetime) -> dict[str, Any]:
        figures = self._next_figures(n)
        return {
            "id": f"campaign_{n}",
            "name": f"Campaign {n}",
            "status": STATUSES[(n - 1) % len(STATUSES)],
            "budget": 1000 + 100 * n,
            "impressions": figures.impressions,
            "clicks": figures.clicks,
            "conversions": figures.conversions,
            "created_at": iso_ms(now - timedelta(days=n)),
        }

    def _next_figures(self, n: int) -> _Figures:
        rng = self._rng
        if not self._strict:
            return _Figures(rng.randint(0, 10_000), rng.randint(0, 1_000), rng.randint(0, 100))
        current = self._figures.get(n)
        if current is None:
            impressions = rng.randint(1_000, 10_000)
            clicks = rng.randint(0, impressions // 20)
            current = _Figures(impressions, clicks, rng.randint(0, clicks // 10))
        else:
            # Growth since the last call keeps the funnel consistent step by step.
            new_impressions = rng.randint(1, 500)
            new_clicks = rng.randint(0, new_impressions // 20)
            current = _Figures(
                current.impressions + new_impressions,
                current.clicks + new_clicks,
                current.conversions + rng.randint(0, new_clicks // 10),
            )
        self._figures[n] = current
        return current


def _number(campaign_id: str) -> int | None:
    prefix, _, digits = campaign_id.partition("_")
    if prefix != "campaign" or not digits.isdigit() or digits.startswith("0"):
        return None
    return int(digits)
