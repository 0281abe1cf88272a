"""Fetch one account's whole campaign listing and store it under the sync cycle chosen for it,
alone or overlapped with the sync of its campaigns."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import sqlalchemy as sa

from mixo_pipeline.ad_platform.client import AdPlatformClient
from mixo_pipeline.ad_platform.models import CampaignPage
from mixo_pipeline.storage.raw_pages import Cycle, replace_raw_pages
from mixo_pipeline.sync.campaign_sync import SyncOutcome, sync_listed


@dataclass(frozen=True)
class PagesOutcome:
    """What one listing produced, for the asset's metadata."""

    pages: int
    campaigns: int
    total: int
    duplicate_ids: int
    stored: Cycle
    """The listing as stored: what the step merges and checks."""


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
    return _outcome(pages, replace_raw_pages(engine, client_id, cycle_id, pages, run_id=run_id))


def list_and_sync(
    engine: sa.Engine, client: AdPlatformClient, client_id: str, cycle_id: str, run_id: str
) -> tuple[PagesOutcome, SyncOutcome]:
    """List the account and sync each page's campaigns as soon as the page arrives.

    Listing is sequential (a page at a time) while syncs run ten at once; run one after the
    other, the account's rate budget sat idle whenever a page hung or backed off, and again
    between the last page and the first sync, which delays every later window of the account.
    Overlapped, the syncs use those permits.

    The pages are stored exactly as :func:`fetch_pages` stores them: in one transaction, once
    the listing is complete and checked. A listing that fails part-way raises after the syncs
    already started have finished and been recorded in ``cycle_id``: the stored listing, its
    cycle and the ``campaigns`` table stay as they were, and a retry of this run reuses those
    sync records (it chooses the same cycle).
    """
    pages: list[CampaignPage] = []
    stored: list[Cycle] = []

    def listed() -> Iterator[str]:
        for page in client.iter_campaign_pages():
            pages.append(page)
            yield from (campaign.id for campaign in page.campaigns)
        stored.append(replace_raw_pages(engine, client_id, cycle_id, pages, run_id=run_id))

    synced = sync_listed(engine, client, client_id, cycle_id, run_id, listed())
    # sync_listed returns only after the listing completed (else it raised), so it was stored.
    return _outcome(pages, stored[0]), synced


def _outcome(pages: Sequence[CampaignPage], stored: Cycle) -> PagesOutcome:
    ids = Counter(campaign.id for page in pages for campaign in page.campaigns)
    return PagesOutcome(
        pages=len(pages),
        campaigns=sum(ids.values()),
        total=pages[-1].total if pages else 0,
        duplicate_ids=sum(n - 1 for n in ids.values() if n > 1),
        stored=stored,
    )
