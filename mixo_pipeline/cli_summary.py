"""The one-line verdict ``make run`` ends with, from the run's events and the database.

Counts of campaigns come from PostgreSQL through the same queries the checks use; request
figures from the client stats each API-facing asset recorded as materialization metadata;
check verdicts from the run's check evaluations. Nothing is estimated.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import dagster as dg
import sqlalchemy as sa

from mixo_pipeline.ad_platform.settings import ClientSettings
from mixo_pipeline.storage import quality
from mixo_pipeline.storage.raw_pages import NoCycleError, load_cycle
from mixo_pipeline.sync.floor import DOCUMENTED_SYNC_LATENCY_S, admitted_requests, rate_limit_floor

API_ASSETS = ("raw_campaign_pages", "campaign_sync_records")
CHECKS = ("campaigns_complete", "campaigns_unique", "campaigns_valid")


@dataclass(frozen=True)
class Summary:
    run_succeeded: bool
    synced: int
    total: int | None
    """The listing's ``total``; None when this run stored no listing (it failed before)."""
    duplicates: int
    checks_passed: list[str]
    checks_failed: list[str]
    requests: int | None
    rate_limited: int | None
    retried: int | None
    wall_s: float
    floor_s: float | None

    @property
    def ok(self) -> bool:
        return (
            self.run_succeeded
            and self.total is not None
            and self.total > 0
            and self.synced == self.total
            and not self.checks_failed
            and len(self.checks_passed) == len(CHECKS)
        )

    def line(self) -> str:
        verdict = "Sync complete" if self.ok else "Sync incomplete"
        if self.total is None:
            synced = f"{verdict}: no campaigns synced (this run stored no listing)"
        else:
            synced = f"{verdict}: {self.synced}/{self.total} campaigns synced"
        parts = [synced, f"{self.duplicates} duplicates"]
        if self.checks_passed:
            parts.append("checks passed: " + ", ".join(self.checks_passed))
        if self.checks_failed:
            parts.append("checks failed: " + ", ".join(self.checks_failed))
        evaluated = {name.split(" ", 1)[0] for name in self.checks_passed + self.checks_failed}
        not_run = [c for c in CHECKS if c not in evaluated]
        if not_run:
            parts.append("checks not run: " + ", ".join(not_run))
        if self.requests is None:
            parts.append("API request figures unavailable (an API step failed)")
        else:
            parts.append(
                f"{self.requests} API requests, {self.rate_limited} rate-limited, "
                f"{self.retried} retried"
            )
        timing = f"{self.wall_s:.1f} s"
        if self.floor_s is not None:
            timing += f" (floor {self.floor_s:.1f} s)"
        parts.append(timing)
        return " · ".join(parts)


def summarize(
    result: dg.ExecuteInProcessResult,
    engine: sa.Engine,
    client_id: str,
    settings: ClientSettings,
    wall_s: float,
) -> Summary:
    stats = _api_stats(result)
    synced, total, duplicates = 0, None, 0
    try:
        listed_by = load_cycle(engine, client_id).run_id
        complete = quality.completeness(engine, client_id)
    except NoCycleError:
        listed_by, complete = None, None
    # Only a listing this run stored counts (in a cycle it started or resumed): an older listing
    # left in place is not this run's work.
    if complete is not None and listed_by == result.run_id:
        unique = quality.uniqueness(engine, client_id)
        synced, total = complete.synced, complete.total
        duplicates = len(unique.table_duplicates) + len(unique.raw_duplicates)
    passed, failed = [], []
    for evaluation in result.get_asset_check_evaluations():
        name = evaluation.check_name
        if evaluation.passed:
            passed.append(name)
        else:
            failed.append(f"{name} ({evaluation.severity.value})")
    floor = None
    if stats is not None:
        floor = rate_limit_floor(
            sum(admitted_requests(s) for s in stats),
            settings.rate_limit_requests,
            settings.rate_period,
            settings.scaled(DOCUMENTED_SYNC_LATENCY_S),
        )
    return Summary(
        run_succeeded=result.success,
        synced=synced,
        total=total,
        duplicates=duplicates,
        checks_passed=sorted(passed, key=_check_order),
        checks_failed=sorted(failed, key=_check_order),
        requests=None
        if stats is None
        else _sum(stats, "requests_by_endpoint.list") + _sum(stats, "requests_by_endpoint.sync"),
        rate_limited=None if stats is None else _sum(stats, "rate_limited_429"),
        retried=None if stats is None else _sum(stats, "retries"),
        wall_s=wall_s,
        floor_s=floor,
    )


def _api_stats(result: dg.ExecuteInProcessResult) -> list[Mapping[str, float]] | None:
    """The numeric metadata of both API-facing materializations, or None if one is missing."""
    found: dict[str, Mapping[str, float]] = {}
    for event in result.get_asset_materialization_events():
        materialization = event.step_materialization_data.materialization
        name = materialization.asset_key.to_user_string()
        if name in API_ASSETS:
            found[name] = {
                key: value.value
                for key, value in materialization.metadata.items()
                if isinstance(value.value, int | float) and not isinstance(value.value, bool)
            }
    if set(found) != set(API_ASSETS):
        return None
    return list(found.values())


def _sum(stats: Sequence[Mapping[str, float]], key: str) -> int:
    return int(sum(s.get(key, 0) for s in stats))


def _check_order(name: str) -> int:
    base = name.split(" ", 1)[0]
    return CHECKS.index(base) if base in CHECKS else len(CHECKS)
