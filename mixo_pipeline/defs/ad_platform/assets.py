"""The three assets of one ad account's sync: raw pages → sync records → ``campaigns`` table.

Data lives only in PostgreSQL (the assets return ``MaterializeResult`` and each step reads its
upstream's rows back from the database), so any worker can run any step and a re-executed run
picks up exactly where the database says the last one stopped.
"""

import dagster as dg

from mixo_pipeline.accounts import resolve_account
from mixo_pipeline.defs.ad_platform.per_account import Metadata, for_each_account
from mixo_pipeline.defs.ad_platform.table_metadata import (
    CAMPAIGNS_SCHEMA,
    RAW_PAGES_SCHEMA,
    SYNC_RECORDS_SCHEMA,
    markdown_table,
    table_name,
)
from mixo_pipeline.defs.operations.policies import (
    ACCOUNTS_PARTITIONS,
    API_POOL,
    accounts_backfill_policy,
    campaigns_freshness_policy,
)
from mixo_pipeline.resources.ad_platform import AdPlatformResource
from mixo_pipeline.resources.postgres import PostgresResource
from mixo_pipeline.storage import campaigns as campaigns_table
from mixo_pipeline.sync.campaign_sync import IncompleteSyncError, sync_account
from mixo_pipeline.sync.floor import DOCUMENTED_SYNC_LATENCY_S, admitted_requests, rate_limit_floor
from mixo_pipeline.sync.merge import merge_account
from mixo_pipeline.sync.pages import fetch_pages

GROUP = "ad_platform"
OWNERS = ["team:data-platform"]
KINDS = {"postgres", "python"}

# Whole-step retries on top of the client's own per-request retries: for what those cannot
# absorb (a worker restart, a database failover, an outage longer than the request budget).
API_RETRY_POLICY = dg.RetryPolicy(
    max_retries=2, delay=5, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS
)


@dg.asset(
    group_name=GROUP,
    partitions_def=ACCOUNTS_PARTITIONS,
    backfill_policy=accounts_backfill_policy(),
    retry_policy=API_RETRY_POLICY,
    pool=API_POOL,
    kinds=KINDS,
    owners=OWNERS,
    code_version="1",
    metadata={
        "dagster/table_name": table_name("raw_campaign_pages"),
        "dagster/column_schema": RAW_PAGES_SCHEMA,
    },
)
def raw_campaign_pages(
    context: dg.AssetExecutionContext, ad_platform: AdPlatformResource, postgres: PostgresResource
) -> dg.MaterializeResult:
    """Every page of the account's campaign list, exactly as the API returned it (JSONB).

    The new pages replace the account's previous ones in one transaction, and the run that
    fetched them starts a new sync cycle. A listing that fails part-way (malformed page,
    changing total, repeated id) raises before anything is written.
    """
    engine = postgres.get_engine()
    default_account = ad_platform.account()

    def fetch(client_id: str) -> Metadata:
        account = resolve_account(client_id, default_account)
        with ad_platform.get_client(account, logger=context.log) as client:
            outcome = fetch_pages(engine, client, client_id, context.run.run_id)
            stats = client.stats.as_metadata()
        return {
            "pages": outcome.pages,
            "campaigns": outcome.campaigns,
            "total_reported": outcome.total,
            "duplicate_ids": outcome.duplicate_ids,
            "dagster/row_count": outcome.pages,
            **stats,
        }

    return for_each_account(context, fetch)


@dg.asset(
    group_name=GROUP,
    deps=[raw_campaign_pages],
    partitions_def=ACCOUNTS_PARTITIONS,
    backfill_policy=accounts_backfill_policy(),
    retry_policy=API_RETRY_POLICY,
    pool=API_POOL,
    kinds=KINDS,
    owners=OWNERS,
    code_version="1",
    metadata={
        "dagster/table_name": table_name("campaign_sync_records"),
        "dagster/column_schema": SYNC_RECORDS_SCHEMA,
    },
)
def campaign_sync_records(
    context: dg.AssetExecutionContext, ad_platform: AdPlatformResource, postgres: PostgresResource
) -> dg.MaterializeResult:
    """One row per campaign per sync cycle: success, the API's ``synced_at``, attempts, error.

    Syncs run concurrently within the account's rate budget and each result is written as it
    arrives, so a run killed half-way and re-executed (or retried) syncs only the campaigns
    with no successful record in the cycle. Fails when any campaign still failed after every
    retry; the successes stay recorded.
    """
    engine = postgres.get_engine()
    default_account = ad_platform.account()
    settings = ad_platform.settings()

    def sync(client_id: str) -> Metadata:
        account = resolve_account(client_id, default_account)
        with ad_platform.get_client(account, logger=context.log) as client:
            outcome = sync_account(engine, client, client_id, context.run.run_id)
            stats = client.stats.as_metadata()
        if not outcome.complete:
            raise IncompleteSyncError(client_id, outcome)
        floor = rate_limit_floor(
            admitted_requests(stats),
            settings.rate_limit_requests,
            settings.rate_period,
            settings.scaled(DOCUMENTED_SYNC_LATENCY_S),
        )
        return {
            "synced": outcome.synced,
            "failed": outcome.failed,
            "skipped_as_done": outcome.skipped_as_done,
            "listed": outcome.listed,
            "wall_s": round(outcome.wall_s, 3),
            "rate_limit_floor_s": round(floor, 3),
            "efficiency": round(floor / outcome.wall_s, 4) if outcome.wall_s > 0 else 0.0,
            "dagster/row_count": outcome.synced + outcome.skipped_as_done,
            "cycle_id": outcome.cycle_id,
            **stats,
        }

    return for_each_account(context, sync)


@dg.asset(
    group_name=GROUP,
    deps=[campaign_sync_records],
    partitions_def=ACCOUNTS_PARTITIONS,
    backfill_policy=accounts_backfill_policy(),
    freshness_policy=campaigns_freshness_policy(),
    kinds=KINDS,
    owners=OWNERS,
    code_version="1",
    metadata={
        "dagster/table_name": table_name("campaigns"),
        "dagster/column_schema": CAMPAIGNS_SCHEMA,
    },
)
def campaigns(
    context: dg.AssetExecutionContext, postgres: PostgresResource
) -> dg.MaterializeResult:
    """The table users query: one row per ``(client_id, id)``, kept in step with the platform.

    Only campaigns whose sync succeeded in this cycle are written, with one set-based upsert in
    one transaction per account (a failure leaves the previous contents). Campaigns that
    disappeared upstream get ``removed_at`` instead of being deleted.
    """
    engine = postgres.get_engine()

    def merge(client_id: str) -> Metadata:
        outcome = merge_account(engine, client_id)
        counts = outcome.counts
        return {
            "dagster/row_count": counts.live_rows,
            "rows_inserted": counts.inserted,
            "rows_updated": counts.updated,
            "rows_removed": counts.removed,
            "rows_written": outcome.written,
            "listed": outcome.listed,
            "cycle_id": outcome.cycle_id,
            "preview": markdown_table(campaigns_table.preview(engine, client_id)),
        }

    return for_each_account(context, merge)
