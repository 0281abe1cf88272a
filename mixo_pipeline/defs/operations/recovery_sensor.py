"""``outage_recovery_sensor``: re-syncs exactly the accounts an outage left failed or missing.

Every tick it reads each account's status across the three assets from the instance (what the
UI shows). Only when some account is FAILED or MISSING does it probe ``/health`` of the platform
behind those accounts (no authentication, no rate-limit budget, short timeout). While the platform
is down it requests nothing. Once it answers, it requests runs for exactly those accounts, batched
into runs of consecutive partitions like the schedule's, never spanning a healthy account. The
assets' checkpointing makes each recovery run do only the remaining work.

It never floods the queue:

- at most ``MIXO_RECOVERY_MAX_PARTITIONS`` accounts are queued or running at once (accounts already
  in progress count against the cap, whoever launched them);
- an account whose recovery run failed again (bad data, bad credentials: not an outage) waits
  ``MIXO_RECOVERY_BACKOFF_S`` seconds before the next attempt, doubling per attempt up to six
  hours, so a permanent failure costs a run every few hours rather than every tick (its check or
  run failure is alerted meanwhile).

The cursor (JSON) keeps the attempts per unhealthy account and since when each platform has been
down; an account drops out of it as soon as it is healthy again.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import dagster as dg

from mixo_pipeline.accounts import load_account_configs
from mixo_pipeline.accounts_health import DEFAULT_PROBE_TIMEOUT_S, probe_all
from mixo_pipeline.defs.operations.policies import (
    ACCOUNTS_PARTITIONS_NAME,
    TRIGGER_TAG,
    accounts_per_run,
    number_setting,
)
from mixo_pipeline.defs.operations.sync_targets import (
    SYNC_JOB_NAME,
    AccountHealth,
    account_health,
    batch_partitions,
    batch_run_request,
)
from mixo_pipeline.resources.ad_platform import AdPlatformResource

MAX_PARTITIONS_ENV = "MIXO_RECOVERY_MAX_PARTITIONS"
DEFAULT_MAX_PARTITIONS = 100
BACKOFF_ENV = "MIXO_RECOVERY_BACKOFF_S"
DEFAULT_BACKOFF_S = 300.0
MAX_BACKOFF_S = 6 * 3600.0
PROBE_TIMEOUT_ENV = "MIXO_HEALTH_TIMEOUT_S"


@dataclass
class RecoveryState:
    """The sensor's cursor: recovery attempts per account and outage start per base URL."""

    attempts: dict[str, tuple[int, float]] = field(default_factory=dict)  # key: (count, last at)
    down_since: dict[str, float] = field(default_factory=dict)

    @classmethod
    def from_cursor(cls, cursor: str | None) -> RecoveryState:
        if not cursor:
            return cls()
        data = json.loads(cursor)
        return cls(
            attempts={key: (int(n), float(at)) for key, (n, at) in data["attempts"].items()},
            down_since={url: float(since) for url, since in data["down_since"].items()},
        )

    def to_cursor(self) -> str:
        return json.dumps(
            {
                "attempts": {key: list(value) for key, value in sorted(self.attempts.items())},
                "down_since": dict(sorted(self.down_since.items())),
            }
        )

    def attempt_count(self, key: str) -> int:
        return self.attempts.get(key, (0, 0.0))[0]

    def due(self, key: str, now: float, backoff_s: float) -> bool:
        """First attempts are due at once; a retry after ``backoff_s * 2**(n-1)``, capped."""
        count, last_at = self.attempts.get(key, (0, 0.0))
        if count == 0:
            return True
        return now - last_at >= min(backoff_s * 2 ** (count - 1), MAX_BACKOFF_S)


def base_urls_by_account(keys: Sequence[str], ad_platform: AdPlatformResource) -> dict[str, str]:
    """The API base URL behind each partition key; keys no longer configured are left out."""
    configs = load_account_configs()
    if not configs:
        return {key: ad_platform.base_url for key in keys if key == ad_platform.client_id}
    by_id = {config.client_id: config.base_url for config in configs}
    return {key: by_id[key] for key in keys if key in by_id}


@dg.sensor(
    name="outage_recovery_sensor",
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    job_name=SYNC_JOB_NAME,
    description="Once the ad platform answers /health again, re-syncs exactly the accounts whose "
    "latest sync failed or that never synced (capped, with backoff for repeated failures).",
)
def outage_recovery_sensor(
    context: dg.SensorEvaluationContext, ad_platform: AdPlatformResource
) -> dg.SensorResult:
    state = RecoveryState.from_cursor(context.cursor)
    keys = list(context.instance.get_dynamic_partitions(ACCOUNTS_PARTITIONS_NAME))
    health = account_health(context.instance, keys)
    unhealthy = [k for k in keys if health[k] in (AccountHealth.FAILED, AccountHealth.MISSING)]
    # Forget accounts that are healthy again (or gone): their next failure starts a new episode.
    state.attempts = {k: v for k, v in state.attempts.items() if k in set(unhealthy)}
    if not unhealthy:
        state.down_since.clear()
        return dg.SensorResult(
            cursor=state.to_cursor(), skip_reason=f"all {len(keys)} account(s) healthy"
        )

    now = time.time()
    urls = base_urls_by_account(unhealthy, ad_platform)
    probes = probe_all(urls.values(), number_setting(PROBE_TIMEOUT_ENV, DEFAULT_PROBE_TIMEOUT_S))
    down = {url for url, probe in probes.items() if not probe.up}
    for url, probe in probes.items():
        if not probe.up:
            if url not in state.down_since:
                context.log.warning(f"ad platform {url} is down ({probe.detail}); waiting")
            state.down_since.setdefault(url, now)
        elif url in state.down_since:
            outage_s = now - state.down_since.pop(url)
            context.log.info(f"ad platform {url} answers again after {outage_s:.0f} s of outage")

    in_progress = sum(1 for k in keys if health[k] is AccountHealth.IN_PROGRESS)
    budget = int(number_setting(MAX_PARTITIONS_ENV, DEFAULT_MAX_PARTITIONS)) - in_progress
    backoff_s = number_setting(BACKOFF_ENV, DEFAULT_BACKOFF_S)
    eligible = [
        k for k in unhealthy if k in urls and urls[k] not in down and state.due(k, now, backoff_s)
    ]
    chosen = eligible[: max(budget, 0)]

    run_requests = []
    for batch in batch_partitions(keys, chosen, accounts_per_run()):
        attempt = 1 + max(state.attempt_count(k) for k in batch)
        run_requests.append(
            batch_run_request(
                batch,
                run_key=f"recovery:{batch[0]}..{batch[-1]}:attempt-{attempt}",
                tags={TRIGGER_TAG: "recovery"},
            )
        )
    for key in chosen:
        state.attempts[key] = (state.attempt_count(key) + 1, now)

    return dg.SensorResult(
        run_requests=run_requests,
        cursor=state.to_cursor(),
        skip_reason=None if run_requests else _why_nothing(unhealthy, urls, down, eligible),
    )


def _why_nothing(
    unhealthy: Sequence[str], urls: Mapping[str, str], down: set[str], eligible: Sequence[str]
) -> str:
    waiting_down = [k for k in unhealthy if urls.get(k) in down]
    if waiting_down:
        return (
            f"{len(waiting_down)} unhealthy account(s) wait for their platform to answer /health "
            f"({', '.join(sorted(down))})"
        )
    if eligible:
        return "recovery cap reached: enough accounts are already queued or running"
    unknown = [k for k in unhealthy if k not in urls]
    if len(unknown) == len(unhealthy):
        return f"unhealthy account(s) {', '.join(unknown[:20])} are no longer configured"
    return f"{len(unhealthy)} unhealthy account(s) are in backoff after failed recovery runs"
