"""``raw_campaign_pages``: an account's last listing, verbatim, and the sync cycle it belongs to."""

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert

from mixo_pipeline.ad_platform.models import Campaign, CampaignPage, parse_campaign_page
from mixo_pipeline.ad_platform.pagination import PageGuard
from mixo_pipeline.storage.schema import raw_campaign_pages as table


class NoCycleError(LookupError):
    """The account has no stored pages: ``raw_campaign_pages`` was never materialized for it."""


@dataclass(frozen=True)
class Cycle:
    """An account's stored listing: its cycle, the run that fetched it, the API's ``total`` and
    each (page number, body); ``validated``: its campaigns, when this process listed them."""

    cycle_id: str
    run_id: str
    total: int
    pages: tuple[tuple[int, Any], ...]
    validated: tuple[Campaign, ...] | None = field(default=None, repr=False, compare=False)

    def listed_ids(self) -> list[str]:
        """Every id listed, in order, repeats kept; malformed items skipped (checks count ids)."""
        bodies = [body for _, body in self.pages if isinstance(body, dict)]
        pages = [body["data"] for body in bodies if isinstance(body.get("data"), list)]
        items = [item for page in pages for item in page if isinstance(item, dict)]
        return [item["id"] for item in items if isinstance(item.get("id"), str)]

    def campaigns(self) -> tuple[Campaign, ...]:
        """The listing's campaigns: as the client validated them, or else the stored bodies
        parsed and guarded as the client does (errors name page, campaign and field)."""
        if self.validated is not None:
            return self.validated
        guard = PageGuard()
        pages = [guard.check(parse_campaign_page(body, number)) for number, body in self.pages]
        return tuple(campaign for page in pages for campaign in page.campaigns)


def replace_raw_pages(
    engine: sa.Engine, client_id: str, cycle_id: str, run_id: str, pages: Sequence[CampaignPage]
) -> Cycle:
    """Replace the account's stored pages with ``pages`` in one transaction (readers see one whole
    listing), taking turns with other runs on a per-account advisory lock."""
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
    stored = tuple((page.page, page.raw) for page in pages)
    validated = tuple(campaign for page in pages for campaign in page.campaigns)
    return Cycle(cycle_id, run_id, pages[-1].total if pages else 0, stored, validated)


def find_cycle(engine: sa.Engine, client_id: str) -> Cycle | None:
    """The account's stored listing; ``None`` if it has none."""
    t = table.c
    query = sa.select(t.cycle_id, t.run_id, t.page, t.total, t.body).where(t.client_id == client_id)
    with engine.connect() as conn:
        rows = conn.execute(query.order_by(t.page)).all()
    if not rows:
        return None
    pages = tuple((row.page, row.body) for row in rows)
    return Cycle(rows[0].cycle_id, rows[0].run_id, rows[-1].total, pages)


def load_cycle(engine: sa.Engine, client_id: str) -> Cycle:
    """The account's stored listing, which must exist."""
    if (cycle := find_cycle(engine, client_id)) is None:
        raise NoCycleError(
            f"account {client_id!r} has no stored campaign pages; materialize "
            "raw_campaign_pages for it first"
        )
    return cycle
