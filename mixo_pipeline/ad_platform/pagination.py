"""Guards that make following ``has_more`` safe against a listing that contradicts itself
(the original server answers ``has_more: true`` at any page size but 10, inventing rows)."""

import math

from mixo_pipeline.ad_platform.errors import PaginationError
from mixo_pipeline.ad_platform.models import CampaignPage


class PageGuard:
    """Checks pages in order; raises :class:`PaginationError` on the first contradiction."""

    def __init__(self) -> None:
        self._total: int | None = None
        self._limit: int | None = None
        self._seen: dict[str, int] = {}

    def check(self, page: CampaignPage) -> None:
        """Validate ``page`` against the pages before it."""
        if self._total is None:
            self._total, self._limit = page.total, page.limit
        elif page.limit != self._limit:
            raise PaginationError(
                f"campaigns page {page.page}: limit changed from {self._limit} to {page.limit} "
                "during the listing"
            )
        elif page.total != self._total:
            raise PaginationError(
                f"campaigns page {page.page}: total changed from {self._total} to {page.total} "
                "during the listing"
            )
        if len(page.campaigns) > page.limit:
            raise PaginationError(
                f"campaigns page {page.page}: {len(page.campaigns)} campaigns exceed the page "
                f"limit {page.limit}"
            )
        if not page.campaigns and page.has_more:
            raise PaginationError(f"campaigns page {page.page}: empty page with has_more=true")
        on_page: set[str] = set()
        for campaign in page.campaigns:
            first = page.page if campaign.id in on_page else self._seen.get(campaign.id)
            if first is not None:
                raise PaginationError(
                    f"campaigns page {page.page}: campaign {campaign.id!r} already listed on "
                    f"page {first}"
                )
            on_page.add(campaign.id)
        self._seen.update(dict.fromkeys(on_page, page.page))
        if page.has_more:
            assert self._limit is not None
            last_page = math.ceil(self._total / self._limit)
            if page.page + 1 > last_page:
                raise PaginationError(
                    f"campaigns page {page.page}: has_more=true, but total {self._total} at "
                    f"limit {self._limit} ends at page {last_page}"
                )
        elif len(self._seen) != self._total:
            raise PaginationError(
                f"campaigns page {page.page}: listing ended with {len(self._seen)} campaigns, "
                f"but total says {self._total}"
            )
