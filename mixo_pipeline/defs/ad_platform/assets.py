"""The sync of one ad account as three assets: raw pages → sync records → ``campaigns`` table.

The three assets and the checks on ``campaigns`` are computed by one multi-asset step, account
by account: an account's stages and then its checks run in order in one thread (one login, one
rate budget), many accounts run side by side, and every (asset, account) and (check, account)
pair is reported on its own as soon as the account finishes, so a batched run in which one
account fails still shows the healthy accounts materialized and only the broken one failed (see
:mod:`.per_account`). The assets stay separately selectable (``can_subset``): materializing only
``campaigns`` re-merges the stored cycle without calling the API.

Data lives only in PostgreSQL (each stage reads its upstream's rows back from the database), so
any worker can run any step and a later run picks up where the database says the last one
stopped.

**Sync cycle.** Listing an account chooses its cycle (:func:`~mixo_pipeline.sync.cycle.
choose_cycle`): a retry or re-execution continues the cycle it was in; a new run (recovery,
backfill, the next tick) resumes the account's last cycle if it is unfinished and younger than
``MIXO_CYCLE_RESUME_MAX_AGE_S`` (default one schedule interval), and otherwise starts a new one.
Continuing a cycle syncs only the campaigns without a successful record in it yet.
"""

import logging
from collections.abc import Iterator

import dagster as dg

from mixo_pipeline.accounts import account_resolver
from mixo_pipeline.ad_platform.client import AdPlatformClient
from mixo_pipeline.defs.ad_platform.checks import campaign_checks
from mixo_pipeline.defs.ad_platform.per_account import (
    AccountCheck,
    Metadata,
    StageResult,
    StepEvent,
    materialize_per_account,
)
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
    cycle_resume_max_age,
)
from mixo_pipeline.resources.ad_platform import AdPlatformResource
from mixo_pipeline.resources.postgres import PostgresResource
from mixo_pipeline.storage import campaigns as campaigns_table
from mixo_pipeline.storage.raw_pages import Cycle
from mixo_pipeline.sync.campaign_sync import IncompleteSyncError, SyncOutcome, sync_account
from mixo_pipeline.sync.cycle import CycleChoice, choose_cycle
from mixo_pipeline.sync.floor import DOCUMENTED_SYNC_LATENCY_S, admitted_requests, rate_limit_floor
from mixo_pipeline.sync.merge import merge_account
from mixo_pipeline.sync.pages import PagesOutcome, fetch_pages, list_and_sync

log = logging.getLogger(__name__)

GROUP = "ad_platform"
OWNERS = ["team:data-platform"]
KINDS = {"postgres", "python"}

RAW_PAGES = dg.AssetKey("raw_campaign_pages")
SYNC_RECORDS = dg.AssetKey("campaign_sync_records")
CAMPAIGNS = dg.AssetKey("campaigns")
STAGES = (RAW_PAGES, SYNC_RECORDS, CAMPAIGNS)
CHECKS = campaign_checks(CAMPAIGNS)

# Whole-step retries on top of the client's own per-request retries, for what those cannot
# absorb (a worker restart, a database failover, an outage longer than the request budget).
API_RETRY_POLICY = dg.RetryPolicy(
    max_retries=2, delay=5, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS
)

RAW_PAGES_DESCRIPTION = (
    "Every page of the account's campaign list, exactly as the API returned it (JSONB), with "
    "page number, fetch time, cycle and run id. The new pages replace the account's previous "
    "ones in one transaction; a listing that fails part-way (malformed page, changing total, "
    "repeated id) raises before anything is written. The cycle is the one a retry or "
    "re-execution was in, the account's last one if it is unfinished and recent (within "
    "MIXO_CYCLE_RESUME_MAX_AGE_S, default one schedule interval), else this run's."
)
SYNC_RECORDS_DESCRIPTION = (
    "One row per campaign per sync cycle: success, the API's synced_at, attempts, error. Syncs "
    "start with the first listed page, run concurrently within the account's rate budget and "
    "each result is written as it "
    "arrives, so the run that continues a failed or killed run's cycle (its re-execution, or a "
    "new recovery, backfill or scheduled run) syncs only the campaigns without a successful "
    "record in the cycle. Fails when a campaign still failed after every retry; the successes "
    "stay recorded."
)
CAMPAIGNS_DESCRIPTION = (
    "The table users query: one row per (client_id, id). Only campaigns whose sync succeeded in "
    "this cycle are written, with one set-based upsert in one transaction per account (a "
    "failure leaves the previous contents). Campaigns that disappeared upstream get removed_at "
    "instead of being deleted."
)


def _specs() -> list[dg.AssetSpec]:
    """The three assets' specs (built in a function: the defs loader would collect a module-level
    list of specs as extra, external definitions of the same keys)."""
    return [
        dg.AssetSpec(
            RAW_PAGES,
            group_name=GROUP,
            skippable=True,
            description=RAW_PAGES_DESCRIPTION,
            kinds=KINDS,
            owners=OWNERS,
            code_version="1",
            metadata={
                "dagster/table_name": table_name("raw_campaign_pages"),
                "dagster/column_schema": RAW_PAGES_SCHEMA,
            },
        ),
        dg.AssetSpec(
            SYNC_RECORDS,
            deps=[RAW_PAGES],
            group_name=GROUP,
            skippable=True,
            description=SYNC_RECORDS_DESCRIPTION,
            kinds=KINDS,
            owners=OWNERS,
            code_version="1",
            metadata={
                "dagster/table_name": table_name("campaign_sync_records"),
                "dagster/column_schema": SYNC_RECORDS_SCHEMA,
            },
        ),
        dg.AssetSpec(
            CAMPAIGNS,
            deps=[SYNC_RECORDS],
            group_name=GROUP,
            skippable=True,
            description=CAMPAIGNS_DESCRIPTION,
            kinds=KINDS,
            owners=OWNERS,
            code_version="1",
            freshness_policy=campaigns_freshness_policy(),
            metadata={
                "dagster/table_name": table_name("campaigns"),
                "dagster/column_schema": CAMPAIGNS_SCHEMA,
            },
        ),
    ]


@dg.multi_asset(
    name="sync_ad_accounts",
    specs=_specs(),
    check_specs=[check.spec for check in CHECKS],
    partitions_def=ACCOUNTS_PARTITIONS,
    backfill_policy=accounts_backfill_policy(),
    retry_policy=API_RETRY_POLICY,
    pool=API_POOL,
    can_subset=True,
)
def sync_ad_accounts(
    context: dg.AssetExecutionContext, ad_platform: AdPlatformResource, postgres: PostgresResource
) -> Iterator[StepEvent]:
    """List, sync and store the campaigns of every account (partition) of the step."""
    engine = postgres.get_engine()
    resolve_account = account_resolver(ad_platform.account())
    settings = ad_platform.settings()
    selected = [key for key in STAGES if key in context.selected_asset_keys]
    run_id = context.run.run_id
    max_age = cycle_resume_max_age()
    # The listing each account's step stored: its merge and checks judge exactly that, even if
    # another run on the same account (an overlapping batch on another worker) stores a newer
    # listing meanwhile. Accounts not listed in this step use their stored listing.
    listed: dict[str, Cycle] = {}

    def cycle_for(client_id: str) -> CycleChoice:
        cycle = choose_cycle(
            engine,
            client_id,
            run_id=run_id,
            root_run_id=context.run.root_run_id,
            parent_run_id=context.run.parent_run_id,
            max_age=max_age,
        )
        # The Python logger, not context.log (see ``stages``); the choice is also in the metadata.
        log.info("account %r: cycle %s (%s)", client_id, cycle.cycle_id, cycle.reason)
        return cycle

    def pages_metadata(outcome: PagesOutcome, cycle: CycleChoice) -> Metadata:
        return {
            "pages": outcome.pages,
            "campaigns": outcome.campaigns,
            "total_reported": outcome.total,
            "duplicate_ids": outcome.duplicate_ids,
            "dagster/row_count": outcome.pages,
            "cycle_id": cycle.cycle_id,
            "cycle_resumed": cycle.resumed,
            "cycle_choice": cycle.reason,
        }

    def sync_metadata(
        outcome: SyncOutcome, client: AdPlatformClient, client_id: str, before: Metadata
    ) -> Metadata:
        """The sync records' metadata; raises if a campaign still failed after every retry."""
        if not outcome.complete:
            raise IncompleteSyncError(client_id, outcome)
        stats = _delta(client.stats.as_metadata(), before)
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
            "efficiency": round(floor / outcome.wall_s, 4) if outcome.wall_s > 0 else 1.0,
            "dagster/row_count": outcome.synced + outcome.skipped_as_done,
            "cycle_id": outcome.cycle_id,
            **stats,
        }

    def api_stages(client: AdPlatformClient, client_id: str) -> Iterator[StageResult]:
        """The API-facing stages. Each stage's metadata carries the client's request figures
        for the calls it made; listed and synced together, those are all on the sync records
        (one budget, one wall time, one rate-limit floor for the account)."""
        before = client.stats.as_metadata()
        if RAW_PAGES in selected and SYNC_RECORDS in selected:
            cycle = cycle_for(client_id)
            listing, synced = list_and_sync(engine, client, client_id, cycle.cycle_id, run_id)
            listed[client_id] = listing.stored
            yield RAW_PAGES, pages_metadata(listing, cycle)
            yield SYNC_RECORDS, sync_metadata(synced, client, client_id, before)
        elif RAW_PAGES in selected:
            cycle = cycle_for(client_id)
            listing = fetch_pages(engine, client, client_id, cycle.cycle_id, run_id)
            listed[client_id] = listing.stored
            stats = _delta(client.stats.as_metadata(), before)
            yield RAW_PAGES, {**pages_metadata(listing, cycle), **stats}
        elif SYNC_RECORDS in selected:
            synced = sync_account(engine, client, client_id, run_id)
            yield SYNC_RECORDS, sync_metadata(synced, client, client_id, before)

    def merge(client_id: str) -> Metadata:
        outcome = merge_account(engine, client_id, listed.get(client_id))
        counts = outcome.counts
        return {
            "dagster/row_count": counts.live_rows,
            "rows_inserted": counts.inserted,
            "rows_updated": counts.updated,
            "rows_kept_newer": counts.kept_newer,
            "rows_removed": counts.removed,
            "rows_written": outcome.written,
            "listed": outcome.listed,
            "cycle_id": outcome.cycle_id,
            "preview": markdown_table(campaigns_table.preview(engine, client_id)),
        }

    def stages(client_id: str) -> Iterator[StageResult]:
        if RAW_PAGES in selected or SYNC_RECORDS in selected:
            account = resolve_account(client_id)
            # The client's per-request lines (pages, every retry) go to its Python logger, not
            # context.log: Dagster stores each context.log record synchronously under one
            # handler lock (a new Postgres connection per event with dagster-postgres), so the
            # thousands a batched run logs queued its account threads behind each other.
            # Per-account retries, errors and waits are in the materialization metadata.
            with ad_platform.get_client(account) as client:
                yield from api_stages(client, client_id)
        if CAMPAIGNS in selected:
            yield CAMPAIGNS, merge(client_id)

    checks: list[AccountCheck] = [
        (
            check.spec,
            lambda client_id, evaluate=check.evaluate: evaluate(
                engine, client_id, listed.get(client_id)
            ),
        )
        for check in CHECKS
        if check.spec.key in context.selected_asset_check_keys
    ]
    yield from materialize_per_account(context, stages, checks)


def _delta(after: Metadata, before: Metadata) -> dict[str, int | float]:
    """The client's counters for one stage: what changed since ``before``."""
    return {
        key: round(value - before.get(key, 0), 3)
        if isinstance(value, float)
        else value - before.get(key, 0)
        for key, value in after.items()
    }
