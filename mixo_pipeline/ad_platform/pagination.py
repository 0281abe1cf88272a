"""Guards that make following ``has_more`` safe against a listing that contradicts itself
(the original server answers ``has_more: true`` at any page size but 10, inventing rows)."""

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
        where = f"campaigns page {page.page}"
        for name in ("limit", "total"):
            was, now = getattr(first, name), getattr(page, name)
            if now != was:
                raise PaginationError(
                    f"{where}: {name} changed from {was} to {now} during the listing"
                )
        if len(page.campaigns) > page.limit:
            raise PaginationError(
                f"{where}: {len(page.campaigns)} campaigns exceed the page limit {page.limit}"
            )
        if not page.campaigns and page.has_more:
            raise PaginationError(f"{where}: empty page with has_more=true")
        for campaign in page.campaigns:
            if (listed_on := self._seen.get(campaign.id)) is not None:
                raise PaginationError(
                    f"{where}: campaign {campaign.id!r} already listed on page {listed_on}"
                )
            self._seen[campaign.id] = page.page
        if page.has_more:
            last_page = math.ceil(first.total / first.limit)
            if page.page + 1 > last_page:
                raise PaginationError(
                    f"{where}: has_more=true, but total {first.total} at limit {first.limit} "
                    f"ends at page {last_page}"
                )
        elif len(self._seen) != first.total:
            raise PaginationError(
                f"{where}: listing ended with {len(self._seen)} campaigns, but total says "
                f"{first.total}"
            )
        return page
