"""The SQL behind the asset checks: completeness, uniqueness and validity of one account's data.

Each function reads PostgreSQL directly (never the asset's in-memory output), so a check judges
what users will actually query, including rows someone else wrote.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pandas as pd
import sqlalchemy as sa

from mixo_pipeline.ad_platform.models import KNOWN_STATUSES
from mixo_pipeline.storage.raw_pages import Cycle, load_cycle
from mixo_pipeline.storage.schema import campaign_sync_records, campaigns

_NUMBER = re.compile(r"(\d+)$")


def natural_key(campaign_id: str) -> tuple[int, str]:
    """Sort ``campaign_2`` before ``campaign_10``."""
    match = _NUMBER.search(campaign_id)
    return (int(match.group(1)) if match else -1, campaign_id)


@dataclass(frozen=True)
class Completeness:
    cycle_id: str
    total: int
    synced: int
    missing: list[str]

    @property
    def passed(self) -> bool:
        return self.synced == self.total and not self.missing


def completeness(engine: sa.Engine, client_id: str, cycle: Cycle | None = None) -> Completeness:
    """Live rows holding ``cycle``'s sync of each listed campaign, or a newer one, against the
    ``total`` the API reported for it.

    ``cycle`` is the listing a step merged (another run may have stored a newer one since);
    by default the account's stored listing. A row counts if this cycle wrote it, or if a run
    that overlapped on the account wrote a sync at least as recent over it between this step's
    merge and its check: the table is then at least as complete and fresh as this cycle made it.
    A row from an older cycle, or a missing one, does not count.
    """
    cycle = cycle or load_cycle(engine, client_id)
    listed = cycle.listed_ids()
    records = campaign_sync_records
    this_sync = sa.and_(
        records.c.client_id == campaigns.c.client_id,
        records.c.campaign_id == campaigns.c.id,
        records.c.cycle_id == cycle.cycle_id,
        records.c.success.is_(True),
    )
    query = (
        sa.select(campaigns.c.id)
        .join(records, this_sync)
        .where(
            campaigns.c.client_id == client_id,
            campaigns.c.removed_at.is_(None),
            sa.or_(
                campaigns.c.cycle_id == cycle.cycle_id,
                campaigns.c.synced_at
                >= sa.func.coalesce(records.c.synced_at, records.c.recorded_at),
            ),
        )
    )
    with engine.connect() as conn:
        synced = set(conn.scalars(query))
    return Completeness(
        cycle_id=cycle.cycle_id,
        total=cycle.total,
        synced=len(synced),
        missing=sorted(set(listed) - synced, key=natural_key),
    )


@dataclass(frozen=True)
class Uniqueness:
    table_duplicates: list[str]
    raw_duplicates: list[str]

    @property
    def passed(self) -> bool:
        return not self.table_duplicates and not self.raw_duplicates


def uniqueness(engine: sa.Engine, client_id: str, cycle: Cycle | None = None) -> Uniqueness:
    """Duplicate ``(client_id, id)`` rows in ``campaigns``, and ids repeated across the pages of
    ``cycle`` (by default the account's stored listing).

    The primary key forbids the first kind today; the check still asks, because a schema change
    or a copied table must not make duplicates silent.
    """
    table_query = (
        sa.select(campaigns.c.id)
        .where(campaigns.c.client_id == client_id)
        .group_by(campaigns.c.client_id, campaigns.c.id)
        .having(sa.func.count() > 1)
    )
    with engine.connect() as conn:
        table_duplicates = list(conn.scalars(table_query))
    ids = (cycle or load_cycle(engine, client_id)).listed_ids()
    raw_duplicates = sorted({i for i in ids if ids.count(i) > 1}, key=natural_key)
    return Uniqueness(
        table_duplicates=sorted(table_duplicates, key=natural_key),
        raw_duplicates=raw_duplicates,
    )


def invalid_rows(engine: sa.Engine, client_id: str) -> pd.DataFrame:
    """Live rows breaking a business rule, one row per (campaign, problem): ``id``, ``problem``."""
    c = campaigns.c
    rules = {
        "negative impressions": c.impressions < 0,
        "negative clicks": c.clicks < 0,
        "negative conversions": c.conversions < 0,
        "clicks > impressions": c.clicks > c.impressions,
        "conversions > clicks": c.conversions > c.clicks,
        "unknown status": c.status.not_in(sorted(KNOWN_STATUSES)),
        "budget not positive": c.budget <= 0,
    }
    live = sa.and_(c.client_id == client_id, c.removed_at.is_(None))
    query = sa.union_all(
        *(
            sa.select(c.id, sa.literal(problem).label("problem")).where(live, rule)
            for problem, rule in rules.items()
        )
    )
    with engine.connect() as conn:
        frame = pd.DataFrame(conn.execute(query).mappings().all(), columns=["id", "problem"])
    if frame.empty:
        return frame
    frame["order"] = frame["id"].map(natural_key)
    return frame.sort_values(["order", "problem"]).drop(columns="order").reset_index(drop=True)
