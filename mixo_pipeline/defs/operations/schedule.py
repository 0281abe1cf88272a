"""``campaign_sync_schedule``: syncs every ``ad_accounts`` partition on ``MIXO_SYNC_CRON`` (UTC).

No stampede after downtime: Dagster evaluates only the latest missed tick of a schedule without a
partition set, and accounts still queued or running are left out. Run keys (scoped by Dagster to
their tick) keep a retried tick from launching a batch twice."""

import dagster as dg

from mixo_pipeline.defs.operations import sync_targets
from mixo_pipeline.defs.operations.cadence import TIMEZONE
from mixo_pipeline.names import ACCOUNTS_PARTITIONS, JOB_NAME, SCHEDULED_FOR_TAG, TRIGGER_TAG
from mixo_pipeline.settings import load_settings


@dg.schedule(
    cron_schedule=load_settings().sync_cron,  # Dagster refuses an invalid cron at load
    execution_timezone=TIMEZONE,
    job_name=JOB_NAME,
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Syncs every ad account (MIXO_SYNC_CRON, default hourly), "
    "MIXO_ACCOUNTS_PER_RUN accounts per run.",
)
def campaign_sync_schedule(
    context: dg.ScheduleEvaluationContext,
) -> list[dg.RunRequest] | dg.SkipReason:
    keys = context.instance.get_dynamic_partitions(ACCOUNTS_PARTITIONS.name)
    if not keys:
        return dg.SkipReason("no ad_accounts partitions yet: ad_accounts_sensor adds them")
    health = sync_targets.account_health(context.instance, keys)
    busy = [key for key in keys if health[key] is sync_targets.AccountHealth.IN_PROGRESS]
    wanted = [key for key in keys if health[key] is not sync_targets.AccountHealth.IN_PROGRESS]
    if busy:
        context.log.info(f"left out, a sync still queued or running: {', '.join(busy[:20])}")
    if not wanted:
        return dg.SkipReason(f"all {len(keys)} account(s) still have a sync queued or running")
    tick = context.scheduled_execution_time
    label = tick.strftime("%Y-%m-%dT%H:%M") if tick else "manual"
    tags = {TRIGGER_TAG: "schedule", SCHEDULED_FOR_TAG: label}
    return [
        sync_targets.batch_run_request(batch, f"{batch[0]}..{batch[-1]}", tags)
        for batch in sync_targets.batch_partitions(keys, wanted, load_settings().accounts_per_run)
    ]
