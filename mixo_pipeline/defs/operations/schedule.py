"""``campaign_sync_schedule``: sync every account on a cron (``MIXO_SYNC_CRON``, default hourly).

Each tick launches the three assets and their checks for every ``ad_accounts`` partition,
batched into runs of up to ``MIXO_ACCOUNTS_PER_RUN`` consecutive accounts (threads inside each
run, not one process per account). How many of those runs execute at once, and how many
API-facing steps, is bounded by the ``concurrency:`` section of ``dagster.yaml``.

No stampede after downtime: Dagster's scheduler evaluates only the most recent missed tick of a
schedule without a partition set (this one), so a daemon that was down for ten hours launches one
catch-up sync, not ten. On top of that, an account whose previous sync is still queued or running
is left out of the tick (it would only queue behind itself on the same rate limit), and each
batch has a run key per tick, so a retried tick never launches a batch twice.
"""

from __future__ import annotations

import dagster as dg

from mixo_pipeline.defs.operations.policies import (
    ACCOUNTS_PARTITIONS_NAME,
    SYNC_TIMEZONE,
    TRIGGER_TAG,
    accounts_per_run,
    sync_cron,
)
from mixo_pipeline.defs.operations.sync_targets import (
    SYNC_JOB_NAME,
    AccountHealth,
    account_health,
    batch_partitions,
    batch_run_request,
)

SCHEDULED_FOR_TAG = "mixo/scheduled_for"


@dg.schedule(
    name="campaign_sync_schedule",
    cron_schedule=sync_cron(),
    execution_timezone=SYNC_TIMEZONE,
    job_name=SYNC_JOB_NAME,
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Syncs every ad account's campaigns (MIXO_SYNC_CRON, default hourly), "
    "MIXO_ACCOUNTS_PER_RUN accounts per run.",
)
def campaign_sync_schedule(
    context: dg.ScheduleEvaluationContext,
) -> list[dg.RunRequest] | dg.SkipReason:
    keys = list(context.instance.get_dynamic_partitions(ACCOUNTS_PARTITIONS_NAME))
    if not keys:
        return dg.SkipReason(
            "no ad_accounts partitions yet: ad_accounts_sensor adds them from the configuration"
        )
    health = account_health(context.instance, keys)
    busy = [key for key in keys if health[key] is AccountHealth.IN_PROGRESS]
    wanted = [key for key in keys if health[key] is not AccountHealth.IN_PROGRESS]
    if busy:
        context.log.info(
            f"skipping {len(busy)} account(s) whose previous sync is still queued or running: "
            + ", ".join(busy[:20])
        )
    if not wanted:
        return dg.SkipReason(f"all {len(keys)} account(s) still have a sync queued or running")

    tick = context.scheduled_execution_time
    tick_label = tick.strftime("%Y-%m-%dT%H:%M") if tick else "manual"
    tags = {TRIGGER_TAG: "schedule", SCHEDULED_FOR_TAG: tick_label}
    return [
        batch_run_request(batch, run_key=f"{tick_label}:{batch[0]}..{batch[-1]}", tags=tags)
        for batch in batch_partitions(keys, wanted, accounts_per_run())
    ]
