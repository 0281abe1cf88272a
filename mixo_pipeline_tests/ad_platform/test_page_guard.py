"""Page guards the other pagination tests leave unproven: a page's own limit is a promise too."""

from __future__ import annotations

import pytest

from mixo_pipeline.ad_platform import PaginationError

from .test_units import raw_page, run_guard


def test_a_limit_changing_during_the_listing_is_an_error() -> None:
    # Otherwise consistent: total 30 reached, no repeats, the last page says it is the last.
    with pytest.raises(PaginationError, match="page 2: limit changed from 10 to 20"):
        run_guard(
            raw_page(1, list(range(1, 11)), total=30, has_more=True),
            raw_page(2, list(range(11, 31)), total=30, limit=20, has_more=False),
        )


def test_a_page_longer_than_its_limit_is_an_error() -> None:
    with pytest.raises(PaginationError, match="page 1: 12 campaigns exceed the page limit 10"):
        run_guard(raw_page(1, list(range(1, 13)), total=12, has_more=False))
