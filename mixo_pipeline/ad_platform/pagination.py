"""Guards for following ``has_more``: the original server invents rows at any page size but 10."""

import math

from mixo_pipeline.ad_platform.errors import PaginationError
from mixo_pipeline.ad_platform.models import CampaignPage


class PageGuard:
    """Checks pages in order; raises :class:`PaginationError` on the first contradiction."""

    def __init__(self) -> None:
        self._first: CampaignPage | None = None
        self._seen: dict[str, int] = {}  # campaign id: the page that listed it

    def check(self, page: CampaignPage) -> CampaignPage:
        """``page``, validated against the pages before it."""
        first = self._first = self._first or page
        if problem := self._problem(first, page):
            raise PaginationError(f"campaigns page {page.page}: {problem}")
        return page

    def _problem(self, first: CampaignPage, page: CampaignPage) -> str | None:
        for name in ("limit", "total"):
            was, now = getattr(first, name), getattr(page, name)
            if now != was:
                return f"{name} changed from {was} to {now} during the listing"
        if len(page.campaigns) > page.limit:
            return f"{len(page.campaigns)} campaigns exceed the page limit {page.limit}"
        if not page.campaigns and page.has_more:
            return "empty page with has_more=true"
        for campaign in page.campaigns:
            if (listed_on := self._seen.get(campaign.id)) is not None:
                return f"campaign {campaign.id!r} already listed on page {listed_on}"
            self._seen[campaign.id] = page.page
        last = math.ceil(first.total / first.limit)
        if page.has_more and page.page + 1 > last:
            return (
                f"has_more=true, but total {first.total} at limit {first.limit} ends at page {last}"
            )
        if not page.has_more and len(self._seen) != first.total:
            return f"listing ended with {len(self._seen)} campaigns, but total says {first.total}"
        return None
