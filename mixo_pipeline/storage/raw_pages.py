"""Writes and reads of ``raw_campaign_pages``: an account's last listing, verbatim."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert

from mixo_pipeline.ad_platform.models import CampaignPage
from mixo_pipeline.storage.schema import raw_campaign_pages


@dataclass(frozen=True)
class StoredPage:
    page: int
    total: int
    body: dict[str, Any]


@dataclass(frozen=True)
class Cycle:
    """An account's current sync cycle and its stored pages."""

    client_id: str
    cycle_id: str
    """The run that started the cycle (a later run that resumed the cycle keeps its id)."""
    run_id: str
    """The run that fetched the stored pages: the cycle's latest listing."""
    pages: tuple[StoredPage, ...]

    @property
    def total(self) -> int:
        """The ``total`` the API reported (the last page's, as the listing guards keep it fixed)."""
        return self.pages[-1].total if self.pages else 0

    def listed_ids(self) -> list[str]:
        """Every campaign id of the listing, in listing order, repeats kept.

        Malformed items are skipped, not reported: validation belongs to the sync and merge
        stages (``campaigns_frame``), which name the bad field.
        """
        ids: list[str] = []
        for page in self.pages:
            data = page.body.get("data") if isinstance(page.body, dict) else None
            for item in data if isinstance(data, list) else ():
                if isinstance(item, dict) and isinstance(item.get("id"), str):
                    ids.append(item["id"])
        return ids


class NoCycleError(LookupError):
    """The account has no stored pages: ``raw_campaign_pages`` was never materialized for it."""


def replace_raw_pages(
    engine: sa.Engine,
    client_id: str,
    cycle_id: str,
    pages: Sequence[CampaignPage],
    *,
    run_id: str | None = None,
) -> Cycle:
    """Replace the account's stored pages with ``pages`` in one transaction; return them as the
    cycle they now are (what a step that listed them merges and checks, whatever another run
    stores after it).

    Readers see either the whole previous listing or the whole new one; a failure mid-way
    (including one raised while the pages were being fetched, before this is called) leaves the
    previous listing, and with it the previous cycle, in place. ``run_id`` is the run that
    fetched them (default: the cycle's own run).

    Two runs may list the same account at once (overlapping batches on two workers): a
    transaction-scoped advisory lock per account makes their replacements take turns, so the
    second deletes the first's committed pages instead of colliding with them on the key.
    """
    rows = [
        {
            "client_id": client_id,
            "page": page.page,
            "cycle_id": cycle_id,
            "run_id": run_id or cycle_id,
            "fetched_at": page.fetched_at,
            "page_limit": page.limit,
            "total": page.total,
            "has_more": page.has_more,
            "body": page.raw,
        }
        for page in pages
    ]
    with engine.begin() as conn:
        conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_account_lock_key(client_id))))
        conn.execute(
            sa.delete(raw_campaign_pages).where(raw_campaign_pages.c.client_id == client_id)
        )
        if rows:
            conn.execute(insert(raw_campaign_pages), rows)
    return Cycle(
        client_id=client_id,
        cycle_id=cycle_id,
        run_id=run_id or cycle_id,
        pages=tuple(StoredPage(page=p.page, total=p.total, body=p.raw) for p in pages),
    )


def _account_lock_key(client_id: str) -> sa.ColumnElement[int]:
    """A 64-bit advisory lock key for replacing one account's pages."""
    return sa.func.hashtextextended(f"raw_campaign_pages:{client_id}", 0)


def load_cycle(engine: sa.Engine, client_id: str) -> Cycle:
    """The account's stored pages and the cycle they belong to."""
    query = (
        sa.select(
            raw_campaign_pages.c.cycle_id,
            raw_campaign_pages.c.run_id,
            raw_campaign_pages.c.page,
            raw_campaign_pages.c.total,
            raw_campaign_pages.c.body,
        )
        .where(raw_campaign_pages.c.client_id == client_id)
        .order_by(raw_campaign_pages.c.page)
    )
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    if not rows:
        raise NoCycleError(
            f"account {client_id!r} has no stored campaign pages; materialize "
            "raw_campaign_pages for it first"
        )
    return Cycle(
        client_id=client_id,
        cycle_id=rows[0].cycle_id,
        run_id=rows[0].run_id,
        pages=tuple(StoredPage(page=r.page, total=r.total, body=r.body) for r in rows),
    )
