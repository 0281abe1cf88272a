"""The ad platform assets' tables (SQLAlchemy Core), keyed by ``client_id`` first: one account is
one Dagster partition. Each table's comment is also its asset's description."""

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

metadata = sa.MetaData()

_SCHEMA_LOCK_KEY = 7_202_611_004  # arbitrary lock key: lets many workers create the schema at once
_CYCLE = "Sync cycle (id of the run that started it)."

raw_campaign_pages = sa.Table(
    "raw_campaign_pages",
    metadata,
    sa.Column("client_id", sa.Text, primary_key=True, comment="Ad account (partition key)."),
    sa.Column("page", sa.Integer, primary_key=True, comment="Page number, from 1."),
    sa.Column("cycle_id", sa.Text, nullable=False, comment=_CYCLE),
    sa.Column("run_id", sa.Text, nullable=False, comment="Dagster run that fetched the page."),
    sa.Column("fetched_at", sa.DateTime(timezone=True), nullable=False, comment="Received at."),
    sa.Column("page_limit", sa.Integer, nullable=False, comment="`limit` sent with the request."),
    sa.Column("total", sa.Integer, nullable=False, comment="`pagination.total` reported."),
    sa.Column("has_more", sa.Boolean, nullable=False, comment="`pagination.has_more` reported."),
    sa.Column("body", JSONB, nullable=False, comment="The response body, verbatim."),
    comment="Every page of the account's last campaign listing, exactly as the API returned it, "
    "tagged with its sync cycle. A new listing replaces the previous one in one transaction; one "
    "that fails part-way (malformed page, changing total, repeated id) writes nothing.",
)

campaign_sync_records = sa.Table(
    "campaign_sync_records",
    metadata,
    sa.Column("client_id", sa.Text, primary_key=True, comment="Ad account (partition key)."),
    sa.Column("cycle_id", sa.Text, primary_key=True, comment=_CYCLE),
    sa.Column("campaign_id", sa.Text, primary_key=True, comment="Campaign id on the platform."),
    sa.Column("success", sa.Boolean, nullable=False, comment="The sync call succeeded."),
    sa.Column("synced_at", sa.DateTime(timezone=True), comment="`synced_at` from the API."),
    sa.Column("attempts", sa.Integer, nullable=False, comment="Requests the call took."),
    sa.Column("error", sa.Text, comment="Why the sync failed, after every retry."),
    sa.Column("run_id", sa.Text, nullable=False, comment="Run that made the sync call."),
    sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False, comment="Written at."),
    comment="One row per campaign per sync cycle, written as each sync call returns: the "
    "checkpoint that lets the run continuing a failed or killed run's cycle sync only what has "
    "no successful record. A campaign that failed after every retry fails the step.",
)

campaigns = sa.Table(
    "campaigns",
    metadata,
    sa.Column("client_id", sa.Text, primary_key=True, comment="Ad account (partition key)."),
    sa.Column("id", sa.Text, primary_key=True, comment="Campaign id on the platform."),
    sa.Column("name", sa.Text, nullable=False, comment="Campaign name, as the platform sent it."),
    sa.Column("status", sa.Text, nullable=False, comment="active, paused, completed, ..."),
    sa.Column("budget", sa.Numeric(18, 2), nullable=False, comment="Budget, platform currency."),
    sa.Column("impressions", sa.BigInteger, nullable=False, comment="As last reported."),
    sa.Column("clicks", sa.BigInteger, nullable=False, comment="As last reported."),
    sa.Column("conversions", sa.BigInteger, nullable=False, comment="As last reported."),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, comment="On the platform."),
    sa.Column("synced_at", sa.DateTime(timezone=True), nullable=False, comment="The API's."),
    sa.Column("cycle_id", sa.Text, nullable=False, comment="Cycle that last updated the row."),
    sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False, comment="First merged."),
    sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False, comment="Last listed."),
    sa.Column("removed_at", sa.DateTime(timezone=True), comment="Set when gone upstream."),
    comment="The table users query, one row per (client_id, id): the campaigns synced in the "
    "cycle, upserted in one transaction per account, never replacing a newer sync with an older "
    "one. Campaigns gone upstream get removed_at instead of being deleted.",
)

campaign_history = sa.Table(
    "campaign_history",
    metadata,
    sa.Column("client_id", sa.Text, primary_key=True, comment="Ad account (partition key)."),
    sa.Column("campaign_id", sa.Text, primary_key=True, comment="Campaign id on the platform."),
    sa.Column("cycle_id", sa.Text, primary_key=True, comment=_CYCLE),
    sa.Column("synced_at", sa.DateTime(timezone=True), nullable=False, comment="The API's."),
    sa.Column("status", sa.Text, nullable=False, comment="Status at that sync."),
    sa.Column("budget", sa.Numeric(18, 2), nullable=False, comment="Budget at that sync."),
    sa.Column("impressions", sa.BigInteger, nullable=False, comment="As reported at that sync."),
    sa.Column("clicks", sa.BigInteger, nullable=False, comment="As reported at that sync."),
    sa.Column("conversions", sa.BigInteger, nullable=False, comment="As reported at that sync."),
    comment="Each campaign's figures once per sync cycle, for trends (docs/tables.md has the "
    "queries): written with the campaigns merge, never changed afterwards, deleted once older "
    "than MIXO_HISTORY_RETENTION_DAYS.",
)


def create_schema(engine: sa.Engine) -> None:
    """Create the tables if they do not exist; safe to call from many processes at once."""
    with engine.begin() as conn:
        conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_SCHEMA_LOCK_KEY)))
        metadata.create_all(conn, checkfirst=True)
