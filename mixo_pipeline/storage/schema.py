"""The three tables the ad platform assets live in, as SQLAlchemy Core definitions.

Every asset's data is in PostgreSQL, never on one worker's disk, so any run worker can pick up
any step. Tables are keyed by ``client_id`` first: one ad account is one Dagster partition, and
every write is scoped to one account in one transaction.

- ``raw_campaign_pages``: the listing exactly as the API returned it (JSONB per page), tagged
  with the account's *sync cycle*: the id of the run that started it (a re-execution, or a new
  run while the cycle is unfinished and recent, continues the same cycle; see
  :mod:`mixo_pipeline.sync.cycle`).
- ``campaign_sync_records``: one row per campaign per cycle, written as each sync call finishes,
  which is the checkpoint that lets the run continuing a cycle skip finished campaigns.
- ``campaigns``: the table users query, one row per ``(client_id, id)``, soft-deleted through
  ``removed_at`` when a campaign disappears upstream.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

metadata = sa.MetaData()

# Arbitrary constant naming the advisory lock that serialises schema creation, so two workers
# starting at once cannot race on CREATE TABLE.
_SCHEMA_LOCK_KEY = 7_202_611_004

raw_campaign_pages = sa.Table(
    "raw_campaign_pages",
    metadata,
    sa.Column("client_id", sa.Text, primary_key=True, comment="Ad account (partition key)."),
    sa.Column("page", sa.Integer, primary_key=True, comment="Page number, from 1."),
    sa.Column(
        "cycle_id", sa.Text, nullable=False, comment="Sync cycle (id of the run that started it)."
    ),
    sa.Column("run_id", sa.Text, nullable=False, comment="Dagster run that fetched the page."),
    sa.Column("fetched_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("page_limit", sa.Integer, nullable=False, comment="`limit` sent with the request."),
    sa.Column("total", sa.Integer, nullable=False, comment="`pagination.total` reported."),
    sa.Column("has_more", sa.Boolean, nullable=False),
    sa.Column("body", JSONB, nullable=False, comment="The response body, verbatim."),
    comment="Every page of GET /api/campaigns for each account, as returned, from its last fetch.",
)

campaign_sync_records = sa.Table(
    "campaign_sync_records",
    metadata,
    sa.Column("client_id", sa.Text, primary_key=True),
    sa.Column(
        "cycle_id", sa.Text, primary_key=True, comment="Sync cycle (id of the run that started it)."
    ),
    sa.Column("campaign_id", sa.Text, primary_key=True),
    sa.Column("success", sa.Boolean, nullable=False),
    sa.Column("synced_at", sa.DateTime(timezone=True), comment="`synced_at` from the API."),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("error", sa.Text, comment="Why the sync failed, after every retry."),
    sa.Column("run_id", sa.Text, nullable=False, comment="Run that made the sync call."),
    sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
    comment="One row per campaign per sync cycle; the checkpoint of the cycle.",
)

campaigns = sa.Table(
    "campaigns",
    metadata,
    sa.Column("client_id", sa.Text, primary_key=True),
    sa.Column("id", sa.Text, primary_key=True, comment="Campaign id on the platform."),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("budget", sa.Numeric(18, 2), nullable=False),
    sa.Column("impressions", sa.BigInteger, nullable=False),
    sa.Column("clicks", sa.BigInteger, nullable=False),
    sa.Column("conversions", sa.BigInteger, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("synced_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("cycle_id", sa.Text, nullable=False, comment="Cycle that last updated the row."),
    sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("removed_at", sa.DateTime(timezone=True), comment="Set when gone upstream."),
    comment="The ad platform's campaigns, one row per (client_id, id); the table users query.",
)


def create_schema(engine: sa.Engine) -> None:
    """Create the tables if they do not exist; safe to call from many processes at once."""
    with engine.begin() as conn:
        conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_SCHEMA_LOCK_KEY)))
        metadata.create_all(conn, checkfirst=True)
