"""Fetch one account's whole campaign listing and store it under the sync cycle chosen for it."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import sqlalchemy as sa

from mixo_pipeline.ad_platform.client import AdPlatformClient
from mixo_pipeline.storage.raw_pages import replace_raw_pages


@dataclass(frozen=True)
class PagesOutcome:
    """What one listing produced, for the asset's metadata."""

    pages: int
    campaigns: int
    total: int
    duplicate_ids: int


def fetch_pages(
    engine: sa.Engine, client: AdPlatformClient, client_id: str, cycle_id: str, run_id: str
) -> PagesOutcome:
    """List every page through ``client``, then replace the stored listing in one transaction.

    All pages are fetched before anything is written, so a listing that fails part-way (the
    client raises on malformed pages, changing totals or repeated ids) leaves the previous
    listing and its cycle untouched. The stored pages belong to ``cycle_id``
    (:func:`~mixo_pipeline.sync.cycle.choose_cycle`): this run's own for a new cycle, an earlier
    run's when this run continues that cycle and lists the account anew.
    """
    pages = list(client.iter_campaign_pages())
    replace_raw_pages(engine, client_id, cycle_id, pages, run_id=run_id)
    ids = Counter(campaign.id for page in pages for campaign in page.campaigns)
    return PagesOutcome(
        pages=len(pages),
        campaigns=sum(ids.values()),
        total=pages[-1].total if pages else 0,
        duplicate_ids=sum(n - 1 for n in ids.values() if n > 1),
    )
