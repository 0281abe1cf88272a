"""The merge of one account's synced campaigns into the ``campaigns`` table, and its preview."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert

from mixo_pipeline.ad_platform.models import Campaign
from mixo_pipeline.storage.schema import campaigns

_insert = insert(campaigns)
_UPSERT = _insert.on_conflict_do_update(
    index_elements=[campaigns.c.client_id, campaigns.c.id],
    set_={
        column.name: _insert.excluded[column.name]
        for column in campaigns.columns
        if column.name not in ("client_id", "id", "first_seen_at")
    },
    # A row never goes back in time: two runs overlapping on an account sync its campaigns at
    # interleaved moments, and the later merge may carry the older sync.
    where=_insert.excluded.synced_at >= campaigns.c.synced_at,
).returning(sa.literal_column("xmax = 0", sa.Boolean))
# Campaign-number order (campaign_2 before campaign_10) for ids sharing a prefix.
NUMBER_ORDER = (sa.func.length(campaigns.c.id), campaigns.c.id)
PREVIEW = ("id", "name", "status", "budget", "impressions", "clicks", "conversions", "synced_at")


@dataclass(frozen=True)
class Merged:
    cycle_id: str
    listed: int
    written: int
    inserted: int
    updated: int
    kept_newer: int
    """Rows already holding a newer sync (another run's, merged first), left as they were."""
    removed: int
    live_rows: int


def merge_campaigns(
    engine: sa.Engine,
    client_id: str,
    cycle_id: str,
    synced: Sequence[tuple[Campaign, datetime]],
    listed_ids: Sequence[str],
) -> Merged:
    """Upsert each synced campaign with its ``synced_at`` and soft-delete the unlisted ones, in
    one transaction (an error leaves the table as it was). A listed campaign whose sync failed
    keeps its row; one that reappears has ``removed_at`` cleared."""
    now = datetime.now(UTC)
    ours = {"client_id": client_id, "cycle_id": cycle_id, "first_seen_at": now, "removed_at": None}
    rows = [
        {**campaign.model_dump(), **ours, "synced_at": synced_at, "last_seen_at": now}
        for campaign, synced_at in synced
    ]
    live = sa.and_(campaigns.c.client_id == client_id, campaigns.c.removed_at.is_(None))
    with engine.begin() as conn:
        flags = conn.execute(_UPSERT, rows).scalars().all() if rows else []
        removed = conn.execute(
            sa.update(campaigns)
            .where(live, campaigns.c.id.not_in(sorted(set(listed_ids))))
            .values(removed_at=now)
        ).rowcount
        live_rows = conn.scalar(sa.select(sa.func.count()).where(live)) or 0
    return Merged(
        cycle_id=cycle_id,
        listed=len(listed_ids),
        written=len(rows),
        inserted=sum(flags),
        updated=len(flags) - sum(flags),
        kept_newer=len(rows) - len(flags),
        removed=removed,
        live_rows=live_rows,
    )


def preview(engine: sa.Engine, client_id: str, limit: int = 10) -> list[sa.RowMapping]:
    """The account's first live rows, for the asset's metadata."""
    c = campaigns.c
    query = (
        sa.select(*(c[name] for name in PREVIEW))
        .where(c.client_id == client_id, c.removed_at.is_(None))
        .order_by(*NUMBER_ORDER)
        .limit(limit)
    )
    with engine.connect() as conn:
        return list(conn.execute(query).mappings())
