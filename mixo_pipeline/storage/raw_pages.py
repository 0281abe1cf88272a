"""``raw_campaign_pages``: an account's last listing, verbatim, and the sync cycle it belongs to."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert

from mixo_pipeline.ad_platform.errors import PaginationError
from mixo_pipeline.ad_platform.models import Campaign, CampaignPage, parse_campaign_page
from mixo_pipeline.storage.schema import raw_campaign_pages as table


class NoCycleError(LookupError):
    """The account has no stored pages: ``raw_campaign_pages`` was never materialized for it."""


@dataclass(frozen=True)
class Cycle:
    """An account's stored listing: the cycle it belongs to (named after the run that started
    it), the run that fetched it, the ``total`` the API reported and each (page number, body)."""

    client_id: str
    cycle_id: str
    run_id: str
    total: int
    pages: tuple[tuple[int, Any], ...]
    validated: tuple[Campaign, ...] | None = field(default=None, repr=False, compare=False)
    """The campaigns as the client validated them, when this process listed the pages."""

    def listed_ids(self) -> list[str]:
        """Every id listed, in order, repeats kept; malformed items skipped (the checks count
        ids; :meth:`campaigns` judges the data)."""
        ids: list[str] = []
        for _, body in self.pages:
            data = body.get("data") if isinstance(body, dict) else None
            for item in data if isinstance(data, list) else ():
                if isinstance(item, dict) and isinstance(item.get("id"), str):
                    ids.append(item["id"])
        return ids

    def campaigns(self) -> tuple[Campaign, ...]:
        """The listing's campaigns: as the client validated them, or else the stored bodies
        parsed by the same parser (errors name page, campaign and field). An id listed twice is
        refused, not guessed at (the client's page guard does it for live listings)."""
        if self.validated is not None:
            return self.validated
        first_page: dict[str, int] = {}
        campaigns: list[Campaign] = []
        for number, body in self.pages:
            for campaign in parse_campaign_page(body, number).campaigns:
                if campaign.id in first_page:
                    raise PaginationError(
                        f"stored campaigns page {number}: campaign {campaign.id!r} already "
                        f"listed on page {first_page[campaign.id]}; refusing to guess"
                    )
                first_page[campaign.id] = number
                campaigns.append(campaign)
        return tuple(campaigns)


def replace_raw_pages(
    engine: sa.Engine,
    client_id: str,
    cycle_id: str,
    pages: Sequence[CampaignPage],
    *,
    run_id: str | None = None,
) -> Cycle:
    """Replace the account's stored pages with ``pages`` (fetched by ``run_id``, by default the
    cycle's own run) in one transaction: readers see the whole previous listing or the whole
    new one. Runs listing one account at once take turns on a per-account advisory lock."""
    run_id = run_id or cycle_id
    rows = [
        {
            "client_id": client_id,
            "page": page.page,
            "cycle_id": cycle_id,
            "run_id": run_id,
            "fetched_at": page.fetched_at,
            "page_limit": page.limit,
            "total": page.total,
            "has_more": page.has_more,
            "body": page.raw,
        }
        for page in pages
    ]
    lock_key = sa.func.hashtextextended(f"raw_campaign_pages:{client_id}", 0)
    with engine.begin() as conn:
        conn.execute(sa.select(sa.func.pg_advisory_xact_lock(lock_key)))
        conn.execute(sa.delete(table).where(table.c.client_id == client_id))
        if rows:
            conn.execute(insert(table), rows)
    total = pages[-1].total if pages else 0
    validated = tuple(campaign for page in pages for campaign in page.campaigns)
    stored = tuple((page.page, page.raw) for page in pages)
    return Cycle(client_id, cycle_id, run_id, total, stored, validated)


def load_cycle(engine: sa.Engine, client_id: str) -> Cycle:
    """The account's stored listing."""
    t = table.c
    query = sa.select(t.cycle_id, t.run_id, t.page, t.total, t.body).where(t.client_id == client_id)
    with engine.connect() as conn:
        rows = conn.execute(query.order_by(t.page)).all()
    if not rows:
        raise NoCycleError(
            f"account {client_id!r} has no stored campaign pages; materialize "
            "raw_campaign_pages for it first"
        )
    pages = tuple((row.page, row.body) for row in rows)
    return Cycle(client_id, rows[0].cycle_id, rows[0].run_id, rows[-1].total, pages)
