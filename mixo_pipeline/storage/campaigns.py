"""The merge of one account's synced campaigns into the ``campaigns`` table, and its preview."""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert

from mixo_pipeline.storage.raw_pages import Cycle, load_cycle
from mixo_pipeline.storage.schema import campaign_history, campaigns
from mixo_pipeline.storage.sync_records import successful_syncs

_insert = insert(campaigns)
_UPSERT = _insert.on_conflict_do_update(
    index_elements=[campaigns.c.client_id, campaigns.c.id],
    set_={
        column.name: _insert.excluded[column.name]
        for column in campaigns.columns
        if column.name not in ("client_id", "id", "first_seen_at")
    },
    # Never back in time: of two overlapping runs, the later merge may carry the older sync.
    where=_insert.excluded.synced_at >= campaigns.c.synced_at,
).returning(sa.literal_column("xmax = 0", sa.Boolean))
_SNAPSHOT = insert(campaign_history).on_conflict_do_nothing()  # once per campaign and cycle
PREVIEW = ("id", "name", "status", "budget", "impressions", "clicks", "conversions", "synced_at")
TOTALS = ("impressions", "clicks", "conversions", "budget")  # summed over the live rows


@dataclass(frozen=True)
class Merged:
    cycle_id: str
    listed: int
    written: int
    inserted: int
    updated: int
    kept_newer: int  # rows already holding a newer sync (another run's), left as they were
    removed: int
    live_rows: int
    totals: dict[str, float]  # TOTALS of the live rows: a collapse in an account shows at once


def merge_campaigns(
    engine: sa.Engine, client_id: str, cycle: Cycle | None = None, history_days: float = 400
) -> Merged:
    """In one transaction: upsert the synced campaigns of ``cycle`` (the step's listing, even if a
    newer one was stored since; default: the stored one), snapshot them in ``campaign_history``
    (pruned to ``history_days``) and soft-delete the unlisted ones (a failed sync keeps its row)."""
    cycle = cycle or load_cycle(engine, client_id)
    listed = cycle.campaigns()
    synced_at = successful_syncs(engine, client_id, cycle.cycle_id)
    now = datetime.now(UTC)
    ours = dict(client_id=client_id, cycle_id=cycle.cycle_id, first_seen_at=now, removed_at=None)
    rows = [
        {**c.model_dump(), **ours, "synced_at": synced_at[c.id], "last_seen_at": now}
        for c in listed
        if c.id in synced_at
    ]
    live = sa.and_(campaigns.c.client_id == client_id, campaigns.c.removed_at.is_(None))
    h = campaign_history.c
    old = sa.and_(h.client_id == client_id, h.synced_at < now - timedelta(days=history_days))
    with engine.begin() as conn:
        flags = conn.execute(_UPSERT, rows).scalars().all() if rows else []
        if rows:
            conn.execute(_SNAPSHOT, [{"campaign_id": r["id"], **r} for r in rows])
        conn.execute(sa.delete(campaign_history).where(old))
        removed = conn.execute(
            sa.update(campaigns)
            .where(live, campaigns.c.id.not_in(sorted({c.id for c in listed})))
            .values(removed_at=now)
        ).rowcount
        sums = (sa.func.coalesce(sa.func.sum(campaigns.c[name]), 0) for name in TOTALS)
        live_rows, *totals = conn.execute(sa.select(sa.func.count(), *sums).where(live)).one()
    return Merged(
        cycle_id=cycle.cycle_id,
        listed=len(listed),
        written=len(rows),
        inserted=sum(flags),
        updated=len(flags) - sum(flags),
        kept_newer=len(rows) - len(flags),
        removed=removed,
        live_rows=live_rows,
        totals={name: float(total) for name, total in zip(TOTALS, totals, strict=True)},
    )


def preview(engine: sa.Engine, client_id: str, limit: int = 10) -> list[sa.RowMapping]:
    """The account's first live rows, in campaign-number order (campaign_2 before campaign_10)."""
    c = campaigns.c
    query = (
        sa.select(*(c[name] for name in PREVIEW))
        .where(c.client_id == client_id, c.removed_at.is_(None))
        .order_by(sa.func.length(c.id), c.id)
        .limit(limit)
    )
    with engine.connect() as conn:
        return list(conn.execute(query).mappings())
