"""``campaign_sync_schedule``: syncs every ``ad_accounts`` partition on ``MIXO_SYNC_CRON`` (UTC) but
those still queued or running. No stampede after downtime: Dagster evaluates only the latest missed
tick; run keys (scoped to their tick) keep a retried tick from launching a batch twice."""

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
    health = sync_targets.account_health(context.instance, keys)
    busy = [key for key in keys if health[key] is sync_targets.AccountHealth.IN_PROGRESS]
    wanted = [key for key in keys if health[key] is not sync_targets.AccountHealth.IN_PROGRESS]
    if busy:
        context.log.info(f"left out, a sync still queued or running: {', '.join(busy[:20])}")
    if not wanted:
        why = "no ad_accounts partitions yet: ad_accounts_sensor adds them"
        if keys:
            why = f"all {len(keys)} account(s) still have a sync queued or running"
        context.log.info(why)
        return dg.SkipReason(why)
    tick = context.scheduled_execution_time
    label = tick.strftime("%Y-%m-%dT%H:%M") if tick else "manual"
    tags = {TRIGGER_TAG: "schedule", SCHEDULED_FOR_TAG: label}
    batches = sync_targets.batch_partitions(keys, wanted, load_settings().accounts_per_run)
    context.log.info(f"{len(batches)} run(s) requested for {len(wanted)} of {len(keys)} account(s)")
    return [sync_targets.batch_run_request(b, f"{b[0]}..{b[-1]}", tags) for b in batches]
