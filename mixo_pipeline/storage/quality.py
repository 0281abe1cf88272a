"""The checks' SQL, run on PostgreSQL (not the step's output): checks judge what users query."""

from collections import Counter
from dataclasses import dataclass

import sqlalchemy as sa

from mixo_pipeline.ad_platform.models import KNOWN_STATUSES
from mixo_pipeline.storage.raw_pages import Cycle, load_cycle
from mixo_pipeline.storage.schema import campaign_sync_records, campaigns


def natural_key(campaign_id: str) -> tuple[int, str]:
    """Campaign-number order (campaign_2 before campaign_10), as the preview sorts."""
    return len(campaign_id), campaign_id


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
    """Live rows holding ``cycle``'s sync of each listed campaign (default: the stored listing's),
    against the API's ``total``; a row overwritten since by another run's as recent sync counts."""
    cycle = cycle or load_cycle(engine, client_id)
    c, r = campaigns.c, campaign_sync_records.c
    at_least_as_recent = c.synced_at >= sa.func.coalesce(r.synced_at, r.recorded_at)
    query = (
        sa.select(c.id)
        .join(campaign_sync_records, (r.client_id == c.client_id) & (r.campaign_id == c.id))
        .where(c.client_id == client_id, c.removed_at.is_(None), r.success.is_(True))
        .where(r.cycle_id == cycle.cycle_id, (c.cycle_id == cycle.cycle_id) | at_least_as_recent)
    )
    with engine.connect() as conn:
        synced = set(conn.scalars(query))
    missing = sorted(set(cycle.listed_ids()) - synced, key=natural_key)
    return Completeness(cycle.cycle_id, cycle.total, len(synced), missing)


@dataclass(frozen=True)
class Uniqueness:
    table_duplicates: list[str]
    raw_duplicates: list[str]

    @property
    def passed(self) -> bool:
        return not self.table_duplicates and not self.raw_duplicates


def uniqueness(engine: sa.Engine, client_id: str, cycle: Cycle | None = None) -> Uniqueness:
    """Duplicate ``(client_id, id)`` rows (the primary key forbids them; asked anyway, so a
    schema change cannot make them silent), and ids repeated across ``cycle``'s pages."""
    c = campaigns.c
    query = (
        sa.select(c.id).where(c.client_id == client_id).group_by(c.id).having(sa.func.count() > 1)
    )
    with engine.connect() as conn:
        table_duplicates = sorted(conn.scalars(query), key=natural_key)
    listed = Counter((cycle or load_cycle(engine, client_id)).listed_ids())
    repeated = sorted((i for i, n in listed.items() if n > 1), key=natural_key)
    return Uniqueness(table_duplicates, repeated)


RULES = {
    "negative impressions": campaigns.c.impressions < 0,
    "negative clicks": campaigns.c.clicks < 0,
    "negative conversions": campaigns.c.conversions < 0,
    "clicks > impressions": campaigns.c.clicks > campaigns.c.impressions,
    "conversions > clicks": campaigns.c.conversions > campaigns.c.clicks,
    "unknown status": campaigns.c.status.not_in(sorted(KNOWN_STATUSES)),
    "budget not positive": campaigns.c.budget <= 0,
}


def invalid_rows(engine: sa.Engine, client_id: str) -> list[tuple[str, str]]:
    """Live rows breaking a business rule, as ``(id, problem)`` in campaign-number order."""
    live = sa.and_(campaigns.c.client_id == client_id, campaigns.c.removed_at.is_(None))
    query = sa.union_all(
        *(
            sa.select(campaigns.c.id, sa.literal(problem).label("problem")).where(live, rule)
            for problem, rule in RULES.items()
        )
    )
    with engine.connect() as conn:
        problems = [(row.id, row.problem) for row in conn.execute(query)]
    return sorted(problems, key=lambda pair: (natural_key(pair[0]), pair[1]))
