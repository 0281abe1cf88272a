"""The set-based merge of one account's synced campaigns into the ``campaigns`` table."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, fields
from datetime import UTC, datetime

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert

from mixo_pipeline.ad_platform.models import Campaign
from mixo_pipeline.storage.schema import campaigns

CAMPAIGN_FIELDS = (*(field.name for field in fields(Campaign)), "synced_at")
_UPDATED_ON_CONFLICT = (
    "name",
    "status",
    "budget",
    "impressions",
    "clicks",
    "conversions",
    "created_at",
    "synced_at",
    "cycle_id",
    "last_seen_at",
    "removed_at",
)


@dataclass(frozen=True)
class MergeCounts:
    inserted: int
    updated: int
    removed: int
    live_rows: int


def merge_campaigns(
    engine: sa.Engine,
    client_id: str,
    cycle_id: str,
    rows: pd.DataFrame,
    listed_ids: Iterable[str],
) -> MergeCounts:
    """Upsert ``rows`` (columns :data:`CAMPAIGN_FIELDS`) and soft-delete what was not listed.

    One transaction for the whole account: if any statement fails, the table keeps exactly its
    previous contents. ``listed_ids`` is every id in the cycle's listing, synced or not: only
    campaigns absent from it get ``removed_at``; a listed campaign whose sync failed keeps its
    previous row untouched. A campaign that reappears has ``removed_at`` cleared.
    """
    now = datetime.now(UTC)
    records = [
        {
            **{name: _plain(row[name]) for name in CAMPAIGN_FIELDS},
            "client_id": client_id,
            "cycle_id": cycle_id,
            "first_seen_at": now,
            "last_seen_at": now,
            "removed_at": None,
        }
        for row in rows.to_dict("records")
    ]
    listed = sorted(set(listed_ids))
    inserted = updated = 0
    with engine.begin() as conn:
        if records:
            statement = insert(campaigns)
            statement = statement.on_conflict_do_update(
                index_elements=[campaigns.c.client_id, campaigns.c.id],
                set_={name: statement.excluded[name] for name in _UPDATED_ON_CONFLICT},
            ).returning(sa.literal_column("(xmax = 0)").label("inserted"))
            flags = conn.execute(statement, records).scalars().all()
            inserted = sum(1 for flag in flags if flag)
            updated = len(flags) - inserted
        removed = conn.execute(
            sa.update(campaigns)
            .where(
                campaigns.c.client_id == client_id,
                campaigns.c.removed_at.is_(None),
                campaigns.c.id.not_in(listed),
            )
            .values(removed_at=now)
        ).rowcount
        live_rows = conn.scalar(
            sa.select(sa.func.count()).where(
                campaigns.c.client_id == client_id, campaigns.c.removed_at.is_(None)
            )
        )
    return MergeCounts(inserted=inserted, updated=updated, removed=removed, live_rows=live_rows)


def preview(engine: sa.Engine, client_id: str, limit: int = 10) -> pd.DataFrame:
    """The account's first live rows in campaign-number order, for the asset's metadata."""
    number = sa.cast(sa.func.substring(campaigns.c.id, r"(\d+)$"), sa.BigInteger)
    query = (
        sa.select(
            campaigns.c.id,
            campaigns.c.name,
            campaigns.c.status,
            campaigns.c.budget,
            campaigns.c.impressions,
            campaigns.c.clicks,
            campaigns.c.conversions,
            campaigns.c.synced_at,
        )
        .where(campaigns.c.client_id == client_id, campaigns.c.removed_at.is_(None))
        .order_by(number.nulls_last(), campaigns.c.id)
        .limit(limit)
    )
    with engine.connect() as conn:
        return pd.DataFrame(conn.execute(query).mappings().all())


def _plain(value: object) -> object:
    """pandas scalars to the Python values the driver binds (Timestamp, numpy ints, NaN)."""
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    if value is pd.NaT or (isinstance(value, float) and pd.isna(value)):
        return None
    if hasattr(value, "item"):
        return value.item()  # numpy scalar
    return value
