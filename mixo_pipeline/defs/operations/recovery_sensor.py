"""``outage_recovery_sensor``: once ``/health`` answers, re-syncs exactly the accounts an outage
left failed or missing, batched like the schedule's (never spanning a healthy one), at most
``MIXO_RECOVERY_MAX_PARTITIONS`` queued or running. An account whose recovery failed again (not an
outage) waits ``MIXO_RECOVERY_BACKOFF_S``, doubling per attempt up to six hours."""

import time

import dagster as dg
from pydantic import BaseModel

from mixo_pipeline.accounts.file import configured_base_urls
from mixo_pipeline.accounts.health import probe_all
from mixo_pipeline.defs.operations import sync_targets
from mixo_pipeline.defs.resources import AdPlatformResource
from mixo_pipeline.names import ACCOUNTS_PARTITIONS, JOB_NAME, TRIGGER_TAG
from mixo_pipeline.settings import load_settings

MAX_BACKOFF_S = 6 * 3600.0


class RecoveryCursor(BaseModel):
    attempts: dict[str, tuple[int, float]] = {}  # account: (recovery runs requested, last at)
    down_since: dict[str, float] = {}  # base URL: first failed probe


@dg.sensor(
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    job_name=JOB_NAME,
    description="Once the ad platform answers /health again, re-syncs exactly the accounts whose "
    "latest sync failed or that never synced (capped, with backoff for repeated failures).",
)
def outage_recovery_sensor(
    context: dg.SensorEvaluationContext, ad_platform: AdPlatformResource
) -> dg.SensorResult:
    settings, now = load_settings(), time.time()
    state = RecoveryCursor.model_validate_json(context.cursor or "{}")
    keys = context.instance.get_dynamic_partitions(ACCOUNTS_PARTITIONS.name)
    health = sync_targets.account_health(context.instance, keys)
    unhealthy = [key for key in keys if health[key] in sync_targets.UNHEALTHY]
    # Accounts healthy again leave the cursor: their next failure starts a new episode.
    state.attempts = {k: v for k, v in state.attempts.items() if k in unhealthy}
    if not unhealthy:
        state.down_since.clear()
        context.log.info(healthy := f"all {len(keys)} account(s) healthy")
        return dg.SensorResult(cursor=state.model_dump_json(), skip_reason=healthy)
    context.log.info(f"failed or missing: {', '.join(unhealthy[:20])} (of {len(keys)} accounts)")

    configured = configured_base_urls(ad_platform.account())
    urls = {k: url for k, url in configured.items() if k in unhealthy}
    probes = probe_all(urls.values(), settings.health_timeout_s)
    down = {url: why for url, why in probes.items() if why}
    probed = ", ".join(f"{url} {why or 'answers'}" for url, why in probes.items())
    context.log.info(f"/health: {probed}")
    for url in probes:
        if url in down and url not in state.down_since:
            context.log.warning(f"ad platform {url} is down ({down[url]}); recovery waits")
            state.down_since[url] = now
        elif url not in down and url in state.down_since:
            outage_s = now - state.down_since.pop(url)
            context.log.info(f"ad platform {url} answers again after {outage_s:.0f} s of outage")

    def due(key: str) -> bool:
        count, last_at = state.attempts.get(key, (0, 0.0))
        wait_s = min(settings.recovery_backoff_s * 2 ** (count - 1), MAX_BACKOFF_S)
        return count == 0 or now - last_at >= wait_s

    in_progress = sum(health[key] is sync_targets.AccountHealth.IN_PROGRESS for key in keys)
    room = max(settings.recovery_max_partitions - in_progress, 0)
    eligible = [k for k in unhealthy if k in urls and urls[k] not in down and due(k)]
    requests = []
    for batch in sync_targets.batch_partitions(keys, eligible[:room], settings.accounts_per_run):
        attempt = 1 + max(state.attempts.get(key, (0, 0.0))[0] for key in batch)
        run_key = f"recovery:{batch[0]}..{batch[-1]}:attempt-{attempt}"
        requests.append(sync_targets.batch_run_request(batch, run_key, {TRIGGER_TAG: "recovery"}))
        for key in batch:
            state.attempts[key] = (state.attempts.get(key, (0, 0.0))[0] + 1, now)

    if requests:
        why = None
    elif any(urls.get(key) in down for key in unhealthy):
        why = f"unhealthy accounts wait for their platform to answer /health: {sorted(down)}"
    elif eligible:
        why = "recovery cap reached: enough accounts are already queued or running"
    elif not urls:
        why = f"unhealthy account(s) no longer configured: {', '.join(unhealthy[:20])}"
    else:
        why = f"{len(unhealthy)} unhealthy account(s) are in backoff after failed recovery runs"
    context.log.info(why or f"{len(requests)} run(s) requested: {', '.join(eligible[:room][:20])}")
    return dg.SensorResult(run_requests=requests, cursor=state.model_dump_json(), skip_reason=why)
