"""An ad account's sync as three assets (raw pages → sync records → ``campaigns``), computed with
the ``campaigns`` checks by one step for all its accounts, and their job. Selectable apart:
``campaigns`` alone re-merges the stored cycle without the API."""

import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict
from typing import Any

import dagster as dg
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from mixo_pipeline import names
from mixo_pipeline.accounts.file import account_resolver
from mixo_pipeline.ad_platform import AdPlatformClient, ClientSettings
from mixo_pipeline.defs.ad_platform import per_account
from mixo_pipeline.defs.ad_platform.checks import CHECKS
from mixo_pipeline.defs.operations import cadence
from mixo_pipeline.defs.resources import AdPlatformResource, PostgresResource
from mixo_pipeline.settings import load_settings
from mixo_pipeline.storage import campaigns, schema
from mixo_pipeline.storage.raw_pages import Cycle, load_cycle
from mixo_pipeline.sync import account
from mixo_pipeline.sync.cycle import CycleChoice, account_lock, choose_cycle
from mixo_pipeline.sync.floor import admitted_requests, rate_limit_floor

# Whole-step retries for what the client's own cannot absorb (a database blip; see per_account).
_SCALE = load_settings().client.time_scale
RETRY_POLICY = dg.RetryPolicy(
    max_retries=2, delay=5 * _SCALE, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS
)


def _table_metadata(table: sa.Table) -> dict[str, Any]:
    columns = [
        dg.TableColumn(
            name=column.name,
            type=str(column.type.compile(dialect=postgresql.dialect())),
            description=column.comment,
            constraints=dg.TableColumnConstraints(
                nullable=column.nullable, other=["primary key"] if column.primary_key else []
            ),
        )
        for column in table.columns
    ]
    return {
        "dagster/table_name": f"public.{table.name}",
        "dagster/column_schema": dg.TableSchema(columns=columns),
    }


def _campaigns_lineage() -> dg.TableColumnLineage:
    """Where the ``campaigns`` columns come from (first/last seen and removed: the merge's own)."""
    listed = ("id", "name", "status", "budget", "impressions", "clicks", "conversions")
    sources = {
        "client_id": (names.RAW_PAGES, "client_id"),
        **{column: (names.RAW_PAGES, "body") for column in (*listed, "created_at")},
        **{column: (names.SYNC_RECORDS, column) for column in ("synced_at", "cycle_id")},
    }
    return dg.TableColumnLineage(
        deps_by_column={
            column: [dg.TableColumnDep(asset_key=asset, column_name=source)]
            for column, (asset, source) in sources.items()
        }
    )


def _specs() -> list[dg.AssetSpec]:
    """The three assets, described by their tables (in a function: the defs loader takes specs)."""
    tables = (schema.raw_campaign_pages, schema.campaign_sync_records, schema.campaigns)
    deps = ([], [names.RAW_PAGES], [names.SYNC_RECORDS])
    freshness = (None, None, cadence.campaigns_freshness_policy())
    return [
        dg.AssetSpec(
            key,
            deps=upstream,
            group_name=names.GROUP,
            skippable=True,
            description=table.comment,
            kinds={"postgres", "python"},
            owners=["team:data-platform"],
            code_version="1",
            metadata=_table_metadata(table),
            freshness_policy=policy,
        )
        for key, table, upstream, policy in zip(names.STAGES, tables, deps, freshness, strict=True)
    ]


@dg.multi_asset(
    name=names.SYNC_STEP,
    specs=_specs(),
    check_specs=[spec for spec, _ in CHECKS],
    partitions_def=names.ACCOUNTS_PARTITIONS,
    backfill_policy=dg.BackfillPolicy.multi_run(load_settings().accounts_per_run),
    retry_policy=RETRY_POLICY,
    pool=names.API_POOL,
    can_subset=True,
)
def sync_ad_accounts(
    context: dg.AssetExecutionContext, ad_platform: AdPlatformResource, postgres: PostgresResource
) -> Iterator[per_account.StepEvent]:
    """List, sync and store the campaigns of every account (partition) of the step, then check."""
    engine = postgres.get_engine()
    resolve_account = account_resolver(ad_platform.account())
    selected = context.selected_asset_keys
    run, max_age = context.run, cadence.cycle_resume_max_age()
    # What each account listed in this step: its merge and checks judge that, not a newer listing.
    listed: dict[str, Cycle] = {}
    # Accounts start apart: their first requests would pile up, and every rate-limit window after.
    start_gap_s = ad_platform.client.time_scale / load_settings().accounts_started_per_s
    order = {key: n for n, key in enumerate(context.partition_keys)}

    def api_stages(
        client: AdPlatformClient, client_id: str, joined: CycleChoice | None
    ) -> Iterator[per_account.StageResult]:
        """The stages calling the API, with the client's figures (on sync records if both ran)."""
        before = client.stats.as_metadata()
        if names.RAW_PAGES in selected:
            choice = joined or choose_cycle(
                engine,
                client_id,
                run_id=run.run_id,
                root_run_id=run.root_run_id,
                parent_run_id=run.parent_run_id,
                max_age=max_age,
            )
            sync = names.SYNC_RECORDS in selected
            cycle, synced = account.list_account(engine, client, choice, run.run_id, sync=sync)
            listed[client_id] = cycle
            metadata = {
                "pages": len(cycle.pages),
                "campaigns": len(cycle.campaigns()),
                "total_reported": cycle.total,
                "dagster/row_count": len(cycle.pages),
                "cycle_id": choice.cycle_id,
                "cycle_resumed": choice.resumed,
                "cycle_choice": choice.reason,
            }
            yield names.RAW_PAGES, metadata if sync else {**metadata, **_delta(client, before)}
        else:  # sync the stored listing's campaigns not yet done in its cycle
            stored = load_cycle(engine, client_id)
            ids = [campaign.id for campaign in stored.campaigns()]
            synced = account.sync_listed(engine, client, stored.cycle_id, run.run_id, ids)
        if synced is not None:
            if synced.failed:
                raise account.IncompleteSyncError(client_id, synced)
            stats = _delta(client, before)
            yield names.SYNC_RECORDS, _sync_metadata(synced, stats, client.settings)

    def stages(client_id: str) -> Iterator[per_account.StageResult]:
        if names.RAW_PAGES in selected or names.SYNC_RECORDS in selected:
            stopping.wait(order[client_id] * start_gap_s)  # a stopped run ends its clients anyway
            # One run at a time syncs an account (one that waited joins its cycle). The client
            # logs to Python, not to the event log (thousands of lines per batched run).
            with (
                account_lock(engine, client_id, stopping) as joined,
                ad_platform.get_client(resolve_account(client_id)) as client,
            ):
                client.stopping = stopping
                yield from api_stages(client, client_id, joined)
        if names.CAMPAIGNS in selected:
            days = load_settings().history_retention_days
            merged = campaigns.merge_campaigns(engine, client_id, listed.get(client_id), days)
            counts = ("inserted", "updated", "kept_newer", "removed", "written")
            metadata = {
                "dagster/row_count": merged.live_rows,
                **{f"rows_{name}": getattr(merged, name) for name in counts},
                "listed": merged.listed,
                **{f"total_{name}": total for name, total in merged.totals.items()},
                "cycle_id": merged.cycle_id,
                "preview": _markdown(campaigns.preview(engine, client_id)),
                "dagster/column_lineage": _campaigns_lineage(),
            }
            yield names.CAMPAIGNS, metadata

    checks = [
        (spec, lambda key, evaluate=evaluate: evaluate(engine, key, listed.get(key)))
        for spec, evaluate in CHECKS
        if spec.key in context.selected_asset_check_keys
    ]
    stopping = threading.Event()  # every client's: set, it abandons every call in progress
    work = per_account.materialize_per_account(context, stages, checks)
    yield from per_account.unless_interrupted(work, stopping)


campaign_sync_job = dg.define_asset_job(
    name=names.JOB_NAME,
    selection=dg.AssetSelection.groups(names.GROUP),
    description="List, sync and store the campaigns of the selected ad accounts (one partition "
    "per account), then run the campaigns checks.",
    executor_def=dg.in_process_executor,
)


def _sync_metadata(
    outcome: account.SyncOutcome, stats: Mapping[str, float], settings: ClientSettings
) -> per_account.Metadata:
    """The outcome's counts, the rate-limit floor and efficiency, and the client's figures."""
    real, admitted = settings.in_real_time(), admitted_requests(stats)
    floor = rate_limit_floor(
        admitted, real.rate_limit_requests, real.rate_limit_period_s, real.sync_latency_s
    )
    return {
        **{name: value for name, value in asdict(outcome).items() if name != "failures"},
        "rate_limit_floor_s": round(floor, 3),
        "efficiency": round(floor / outcome.wall_s, 4) if outcome.wall_s > 0 else 1.0,
        "dagster/row_count": outcome.synced + outcome.skipped_as_done,
        **stats,
    }


def _delta(client: AdPlatformClient, before: Mapping[str, float]) -> dict[str, float]:
    """The client's counters for one stage: what changed since ``before``."""
    after = client.stats.as_metadata()
    return {key: round(value - before.get(key, 0), 3) for key, value in after.items()}


def _markdown(rows: Sequence[Mapping[str, Any]]) -> dg.MetadataValue:
    """A few rows as a Markdown table (the preview)."""
    if not rows:
        return dg.MetadataValue.md("*no live rows*")
    cells = [list(rows[0]), ["---"] * len(rows[0])]
    cells += [[str(value).replace("|", "\\|") for value in row.values()] for row in rows]
    return dg.MetadataValue.md("\n".join("| " + " | ".join(line) + " |" for line in cells))
