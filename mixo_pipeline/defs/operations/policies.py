"""How often accounts sync, how many share a run, and when stale data becomes an alert.

These are the operating knobs that the asset definitions and the schedule must agree on, so they
live in one place: the assets import :data:`API_POOL`, :func:`accounts_backfill_policy` and
:func:`campaigns_freshness_policy`; the schedule and the recovery sensor import the rest. Each knob
is an environment variable read when the code location loads (a deployment changes it by
restarting the code server, as with any definition change).

- ``MIXO_SYNC_CRON`` (default ``0 * * * *``): cron of ``campaign_sync_schedule``, in UTC.
- ``MIXO_FRESHNESS_INTERVALS`` (default ``2``): ``campaigns`` fails freshness after this many
  schedule intervals without a materialization, and warns half an interval past the first.
- ``MIXO_ACCOUNTS_PER_RUN`` (default ``50``): the most accounts one run syncs (threads inside it).
- ``MIXO_CYCLE_RESUME_MAX_AGE_S`` (default: one schedule interval): a new run resumes an account's
  unfinished sync cycle only if the cycle's first sync was recorded less than this many seconds
  ago; ``0`` never resumes. Read by the sync step when it runs (:mod:`mixo_pipeline.sync.cycle`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import timedelta

import dagster as dg

# Dagster's own cron engine, so the interval computed here is the one its scheduler ticks on.
from dagster._utils.schedules import get_smallest_cron_interval, is_valid_cron_string

SYNC_CRON_ENV = "MIXO_SYNC_CRON"
DEFAULT_SYNC_CRON = "0 * * * *"
SYNC_TIMEZONE = "UTC"

FRESHNESS_INTERVALS_ENV = "MIXO_FRESHNESS_INTERVALS"
DEFAULT_FRESHNESS_INTERVALS = 2.0

ACCOUNTS_PER_RUN_ENV = "MIXO_ACCOUNTS_PER_RUN"
DEFAULT_ACCOUNTS_PER_RUN = 50

CYCLE_RESUME_MAX_AGE_ENV = "MIXO_CYCLE_RESUME_MAX_AGE_S"

API_POOL = "ad_platform_api"
"""Concurrency pool of every step that calls the ad platform (``pool=API_POOL`` on the assets).

Its limit (``concurrency.pools`` in ``dagster.yaml``) bounds how many API-facing steps run at once
across all runs and workers; the per-account rate limit itself is enforced by the shared
Postgres-backed bucket, not by the pool.
"""

ACCOUNTS_PARTITIONS_NAME = "ad_accounts"
"""Name of the ``DynamicPartitionsDefinition`` the assets are partitioned by (one per client id)."""

ACCOUNTS_PARTITIONS = dg.DynamicPartitionsDefinition(name=ACCOUNTS_PARTITIONS_NAME)
"""The ``ad_accounts`` partitions; dynamic definitions are identified by name, so the assets'
own definition and this one are interchangeable when building add/delete requests."""

TRIGGER_TAG = "mixo/trigger"
"""Run tag saying what launched a run: ``schedule``, ``recovery``, or absent (by hand)."""


def _env(environ: Mapping[str, str] | None) -> Mapping[str, str]:
    return os.environ if environ is None else environ


def sync_cron(environ: Mapping[str, str] | None = None) -> str:
    """The schedule's cron string, validated so a typo fails the code location's load loudly."""
    cron = _env(environ).get(SYNC_CRON_ENV, "").strip() or DEFAULT_SYNC_CRON
    if not is_valid_cron_string(cron):
        raise ValueError(f"{SYNC_CRON_ENV}={cron!r} is not a valid cron string")
    return cron


def sync_interval(environ: Mapping[str, str] | None = None) -> timedelta:
    """The shortest gap between two ticks of the sync schedule."""
    return get_smallest_cron_interval(sync_cron(environ), SYNC_TIMEZONE)


def accounts_per_run(environ: Mapping[str, str] | None = None) -> int:
    """How many accounts one run covers (``MIXO_ACCOUNTS_PER_RUN``, at least 1)."""
    raw = _env(environ).get(ACCOUNTS_PER_RUN_ENV, "").strip()
    if not raw:
        return DEFAULT_ACCOUNTS_PER_RUN
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{ACCOUNTS_PER_RUN_ENV}={raw!r} must be a whole number") from None
    if value < 1:
        raise ValueError(f"{ACCOUNTS_PER_RUN_ENV}={value} must be at least 1")
    return value


def cycle_resume_max_age(environ: Mapping[str, str] | None = None) -> timedelta:
    """How old an unfinished sync cycle may be and still be resumed by a new run.

    Default one schedule interval: the run after a failed one (a recovery run, a backfill of the
    failed accounts, the next tick) finishes the failed cycle instead of syncing every campaign
    again, while a cycle older than that would mix syncs taken too far apart to be one snapshot.
    """
    raw = _env(environ).get(CYCLE_RESUME_MAX_AGE_ENV, "").strip()
    if not raw:
        return sync_interval(environ)
    try:
        seconds = float(raw)
    except ValueError:
        raise ValueError(
            f"{CYCLE_RESUME_MAX_AGE_ENV}={raw!r} must be a number of seconds"
        ) from None
    if not 0 <= seconds < float("inf"):
        raise ValueError(f"{CYCLE_RESUME_MAX_AGE_ENV}={seconds} must be 0 or more seconds")
    return timedelta(seconds=seconds)


def number_setting(
    name: str, default: float, *, above: float = 0.0, environ: Mapping[str, str] | None = None
) -> float:
    """A finite number above ``above`` from the environment variable ``name``, else ``default``.

    A bad value is an error naming the variable, so a typo fails the tick that reads it instead of
    silently running with the default.
    """
    raw = _env(environ).get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r} must be a number") from None
    if not above < value < float("inf"):
        raise ValueError(f"{name}={value} must be greater than {above:g}")
    return value


def freshness_intervals(environ: Mapping[str, str] | None = None) -> float:
    """How many schedule intervals ``campaigns`` may go without a sync before it fails freshness."""
    # More than one: one interval is the normal age just before the next tick, and failing there
    # would alert on every run that takes a second longer than the last one.
    return number_setting(
        FRESHNESS_INTERVALS_ENV, DEFAULT_FRESHNESS_INTERVALS, above=1.0, environ=environ
    )


def campaigns_freshness_policy(environ: Mapping[str, str] | None = None) -> dg.FreshnessPolicy:
    """``campaigns`` must have synced within ``MIXO_FRESHNESS_INTERVALS`` schedule intervals.

    It warns halfway between one interval (the normal age just before the next tick) and the
    failure window. Dagster's freshness daemon evaluates it; ``data_quality_alert_sensor`` turns
    WARN and FAIL states into alerts, so a schedule that silently stopped is noticed.
    """
    interval = sync_interval(environ)
    intervals = freshness_intervals(environ)
    fail_window = interval * intervals
    warn_window = interval * ((1 + intervals) / 2)
    minute = timedelta(minutes=1)
    return dg.FreshnessPolicy.time_window(
        fail_window=max(fail_window, minute * 2),
        warn_window=warn_window if minute <= warn_window < fail_window else None,
    )


def accounts_backfill_policy(environ: Mapping[str, str] | None = None) -> dg.BackfillPolicy:
    """Backfills (from the UI, the CLI or the recovery sensor) batch accounts into runs.

    One run syncs up to ``MIXO_ACCOUNTS_PER_RUN`` accounts concurrently in threads, instead of one
    OS process per account, so hundreds of accounts stay cheap on a small machine.
    """
    return dg.BackfillPolicy.multi_run(max_partitions_per_run=accounts_per_run(environ))
