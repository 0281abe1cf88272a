"""How often accounts sync and what follows from it (freshness, cycle resume, run batching),
derived once from ``load_settings()`` so that the assets and the schedule agree."""

from datetime import timedelta

import dagster as dg
from dagster._utils.schedules import get_smallest_cron_interval  # reason: no public cron interval

from mixo_pipeline.settings import load_settings, variable_name

TIMEZONE = "UTC"


def sync_interval() -> timedelta:
    """The shortest gap between two ticks of the sync schedule, by Dagster's own cron engine."""
    cron = load_settings().sync_cron
    try:
        return get_smallest_cron_interval(cron, TIMEZONE)
    except Exception:  # Dagster's CheckError, its answer to a string that is not a cron
        raise ValueError(f"{variable_name(('sync_cron',))}={cron!r} is not a valid cron") from None


def cycle_resume_max_age() -> timedelta:
    """How old an unfinished sync cycle a new run may resume. Default one schedule interval: the run
    after a failed one finishes its cycle; older, it mixes syncs too far apart for a snapshot."""
    seconds = load_settings().cycle_resume_max_age_s
    return sync_interval() if seconds is None else timedelta(seconds=seconds)


def campaigns_freshness_policy() -> dg.FreshnessPolicy:
    """FAIL once ``campaigns`` is older than ``N = MIXO_FRESHNESS_INTERVALS`` schedule intervals,
    WARN past ``(1 + N) / 2``, halfway from its normal age before a tick (both >= 1 minute)."""
    interval, intervals = sync_interval(), load_settings().freshness_intervals
    return dg.FreshnessPolicy.time_window(
        fail_window=interval * intervals, warn_window=interval * ((1 + intervals) / 2)
    )
