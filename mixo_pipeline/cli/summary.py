"""The one-line verdict ``make run`` ends with, read back rather than estimated: from PostgreSQL
(the checks' queries), the sync records' metadata and the run's check evaluations."""

from dataclasses import dataclass
from typing import Any

import dagster as dg
import sqlalchemy as sa

from mixo_pipeline.names import CHECKS, RAW_PAGES, SYNC_RECORDS
from mixo_pipeline.storage import quality
from mixo_pipeline.storage.raw_pages import find_cycle
from mixo_pipeline.sync.floor import API_REQUESTS

WARN = f"({dg.AssetCheckSeverity.WARN.value})"


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
    accounts: int = 1  # more when combined

    @property
    def verdict(self) -> str:
        """``failed`` (the run failed), ``incomplete`` (a campaign or a check short, or an ERROR
        check failed), ``complete with warnings`` (only WARN checks failed) or ``complete``."""
        if not self.run_succeeded:
            return "failed"
        errors = [name for name in self.checks_failed if not name.endswith(WARN)]
        unevaluated = len(CHECKS) - len(self.checks_passed) - len(self.checks_failed)
        if self.total is None or self.synced != self.total or errors or unevaluated:
            return "incomplete"
        return "complete with warnings" if self.checks_failed else "complete"

    @property
    def exit_status(self) -> int:
        """0 for a complete sync, warnings or not; 1 otherwise (README: exit statuses)."""
        return 0 if self.verdict.startswith("complete") else 1

    def line(self) -> str:
        synced = f"{self.synced}/{self.total} campaigns synced"
        if self.total is None:
            synced = "no campaigns synced (this run stored no listing)"
            if self.synced:  # combined: other accounts' listings were stored
                synced = f"{self.synced} campaigns synced (an account's listing was not stored)"
        if self.accounts > 1:
            synced += f" across {self.accounts} accounts"
        evaluated = {name.split(" ", 1)[0] for name in self.checks_passed + self.checks_failed}
        not_run = [check for check in CHECKS if check not in evaluated]
        checks = {"passed": self.checks_passed, "failed": self.checks_failed, "not run": not_run}
        parts = [f"Sync {self.verdict}: {synced}", f"{self.duplicates} duplicates"]
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
    result: dg.ExecuteInProcessResult, engine: sa.Engine, client_id: str, wall_s: float
) -> Summary:
    """One account's summary of ``result``."""
    synced, total, duplicates = 0, None, 0
    stored = find_cycle(engine, client_id)
    cycles = {
        event.materialization.metadata["cycle_id"].value
        for event in result.get_asset_materialization_events()
        if event.materialization.asset_key == RAW_PAGES and event.partition == client_id
    }
    # Only a listing of this run or of a cycle it joined counts: an older one is not its work.
    if stored is not None and (stored.run_id == result.run_id or stored.cycle_id in cycles):
        complete = quality.completeness(engine, client_id)
        unique = quality.uniqueness(engine, client_id)
        synced, total = complete.synced, complete.total
        duplicates = len(unique.table_duplicates) + len(unique.raw_duplicates)
    figures: dict[str, Any] = dict.fromkeys(("requests", "rate_limited", "retried", "floor_s"))
    for event in result.get_asset_materialization_events():  # the client's figures, if recorded
        if event.materialization.asset_key == SYNC_RECORDS and event.partition == client_id:
            recorded = {key: entry.value for key, entry in event.materialization.metadata.items()}
            requests = [n for key, n in recorded.items() if key.startswith(API_REQUESTS)]
            figures = {
                "requests": int(sum(requests)),
                "rate_limited": int(recorded["rate_limited_429"]),
                "retried": int(recorded["retries"]),
                "floor_s": recorded["rate_limit_floor_s"],
            }
            break
    evaluations = sorted(
        (e for e in result.get_asset_check_evaluations() if e.partition == client_id),
        key=lambda e: CHECKS.index(e.check_name),
    )
    return Summary(
        run_succeeded=result.success,
        synced=synced,
        total=total,
        duplicates=duplicates,
        checks_passed=[e.check_name for e in evaluations if e.passed],
        checks_failed=[f"{e.check_name} ({e.severity.value})" for e in evaluations if not e.passed],
        wall_s=wall_s,
        **figures,
    )


def combine(runs: list[list[Summary]], wall_s: float) -> Summary:
    """Every account of ``runs`` (executed one after another) as one: figures summed (None if one
    is missing), a check passed where every account passed it, the floor each run's slowest."""

    def summed(values: list[Any]) -> Any:
        return None if None in values else sum(values)

    every = [summary for run in runs for summary in run]
    floors = [[summary.floor_s for summary in run] for run in runs]
    figures = ("synced", "total", "duplicates", "requests", "rate_limited", "retried")
    return Summary(
        run_succeeded=all(s.run_succeeded for s in every),
        checks_passed=[name for name in CHECKS if all(name in s.checks_passed for s in every)],
        checks_failed=list(dict.fromkeys(name for s in every for name in s.checks_failed)),
        wall_s=wall_s,
        floor_s=summed([None if None in f else max(f) for f in floors]),
        accounts=len(every),
        **{name: summed([getattr(s, name) for s in every]) for name in figures},
    )
