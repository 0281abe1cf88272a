"""The one-line verdict ``make run`` ends with; nothing is estimated: campaign counts come from
PostgreSQL through the checks' queries, request figures from the client stats the API-facing
assets record as metadata, check verdicts from the run's check evaluations."""

from collections import Counter
from dataclasses import dataclass
from typing import Any

import dagster as dg
import sqlalchemy as sa

from mixo_pipeline.names import CHECKS, RAW_PAGES, SYNC_RECORDS
from mixo_pipeline.settings import Settings
from mixo_pipeline.storage import quality
from mixo_pipeline.storage.raw_pages import NoCycleError, load_cycle
from mixo_pipeline.sync.floor import admitted_requests, rate_limit_floor

API_ASSETS = (RAW_PAGES, SYNC_RECORDS)


@dataclass(frozen=True)
class Summary:
    run_succeeded: bool
    synced: int
    total: int | None  # the listing's total; None when this run stored no listing
    duplicates: int
    checks_passed: list[str]
    checks_failed: list[str]
    wall_s: float
    requests: int | None  # this and the next three: None when an API step recorded no figures
    rate_limited: int | None
    retried: int | None
    floor_s: float | None

    @property
    def ok(self) -> bool:
        """Only a complete sync with every check passed is a success."""
        complete = self.run_succeeded and bool(self.total) and self.synced == self.total
        return complete and not self.checks_failed and len(self.checks_passed) == len(CHECKS)

    def line(self) -> str:
        verdict = "Sync complete" if self.ok else "Sync incomplete"
        synced = f"{self.synced}/{self.total} campaigns synced"
        if self.total is None:
            synced = "no campaigns synced (this run stored no listing)"
        evaluated = {name.split(" ", 1)[0] for name in self.checks_passed + self.checks_failed}
        checks = {
            "passed": self.checks_passed,
            "failed": self.checks_failed,
            "not run": [check for check in CHECKS if check not in evaluated],
        }
        parts = [f"{verdict}: {synced}", f"{self.duplicates} duplicates"]
        parts += [f"checks {state}: {', '.join(names)}" for state, names in checks.items() if names]
        parts.append(
            "API request figures unavailable (an API step failed)"
            if self.requests is None
            else f"{self.requests} API requests, {self.rate_limited} rate-limited, "
            f"{self.retried} retried"
        )
        floor = "" if self.floor_s is None else f" (floor {self.floor_s:.1f} s)"
        return " · ".join([*parts, f"{self.wall_s:.1f} s{floor}"])


def summarize(
    result: dg.ExecuteInProcessResult, engine: sa.Engine, settings: Settings, wall_s: float
) -> Summary:
    client_id = settings.client_id
    synced, total, duplicates = 0, None, 0
    try:
        listed_by = load_cycle(engine, client_id).run_id
    except NoCycleError:
        listed_by = None
    # Only a listing this run stored counts: an older one left in place is not this run's work.
    if listed_by == result.run_id:
        complete = quality.completeness(engine, client_id)
        unique = quality.uniqueness(engine, client_id)
        synced, total = complete.synced, complete.total
        duplicates = len(unique.table_duplicates) + len(unique.raw_duplicates)
    evaluations = sorted(
        result.get_asset_check_evaluations(), key=lambda e: CHECKS.index(e.check_name)
    )
    return Summary(
        run_succeeded=result.success,
        synced=synced,
        total=total,
        duplicates=duplicates,
        checks_passed=[e.check_name for e in evaluations if e.passed],
        checks_failed=[f"{e.check_name} ({e.severity.value})" for e in evaluations if not e.passed],
        wall_s=wall_s,
        **_request_figures(result, settings),
    )


def _request_figures(result: dg.ExecuteInProcessResult, settings: Settings) -> dict[str, Any]:
    """Requests, 429s, retries and the rate-limit floor from the client stats both API-facing
    assets record as numeric metadata; all None when one recorded nothing (its step failed)."""
    found: dict[dg.AssetKey, dict[str, float]] = {}
    for event in result.get_asset_materialization_events():
        if (materialization := event.materialization).asset_key in API_ASSETS:
            found[materialization.asset_key] = {
                key: entry.value
                for key, entry in materialization.metadata.items()
                if isinstance(entry.value, int | float) and not isinstance(entry.value, bool)
            }
    if len(found) < len(API_ASSETS):
        return dict.fromkeys(("requests", "rate_limited", "retried", "floor_s"))
    totals: Counter[str] = sum(map(Counter, found.values()), Counter())
    real = settings.client.in_real_time()
    admitted = admitted_requests(totals)
    return {
        "requests": int(totals["requests_by_endpoint.list"] + totals["requests_by_endpoint.sync"]),
        "rate_limited": int(totals["rate_limited_429"]),
        "retried": int(totals["retries"]),
        "floor_s": rate_limit_floor(
            admitted, real.rate_limit_requests, real.rate_limit_period_s, real.sync_latency_s
        ),
    }
