"""Which sync cycle a run lists and syncs an account in: continue the last one, or start anew.

A cycle is one pass over an account's campaigns; its id is the id of the run that started it, and
every sync result is checkpointed under it (``campaign_sync_records``). Continuing a cycle means
syncing only the campaigns without a successful record in it, so the choice decides how much
work a run redoes:

1. a run that already listed the account (a step retry), or a re-execution of one (same root or
   parent run), continues the cycle that listing belongs to; any other re-execution continues its
   root run's cycle, as Dagster's "re-execute from failure" promises;
2. a new run (the recovery sensor's, a backfill of failed accounts, the next scheduled one)
   resumes the account's stored cycle if it is unfinished (some listed campaign has no successful
   record) and recent (its first record is younger than ``max_age``), so the run after a failure
   does only the remaining work;
3. otherwise the run starts a new cycle under its own id: the last one finished (a new snapshot
   is due), never synced anything, or is too old to be finished as one snapshot.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from mixo_pipeline.storage.raw_pages import Cycle, NoCycleError, load_cycle
from mixo_pipeline.storage.sync_records import first_recorded_at, succeeded_ids


@dataclass(frozen=True)
class CycleChoice:
    """The cycle a run uses for one account, and why (for the run's log and metadata)."""

    cycle_id: str
    resumed: bool
    """True when the run continues an earlier run's cycle instead of starting its own."""
    reason: str


def choose_cycle(
    engine: sa.Engine,
    client_id: str,
    *,
    run_id: str,
    root_run_id: str | None,
    parent_run_id: str | None = None,
    max_age: timedelta,
    now: datetime | None = None,
) -> CycleChoice:
    """The cycle run ``run_id`` lists ``client_id`` in (see the module docstring for the rule)."""
    try:
        stored: Cycle | None = load_cycle(engine, client_id)
    except NoCycleError:
        stored = None
    family = {run_id, root_run_id, parent_run_id} - {None}
    if stored is not None and family & {stored.cycle_id, stored.run_id}:
        return _choice(stored.cycle_id, run_id, f"run {stored.run_id} listed it last: continuing")
    if root_run_id and root_run_id != run_id:
        return _choice(root_run_id, run_id, f"re-execution of run {root_run_id}: continuing")
    if stored is None:
        return _choice(run_id, run_id, "no stored cycle: a new cycle")
    last = stored.cycle_id
    listed = set(stored.listed_ids())
    missing = len(listed - succeeded_ids(engine, client_id, last))
    if missing == 0:
        return _choice(run_id, run_id, f"cycle {last} is complete: a new cycle")
    started = first_recorded_at(engine, client_id, last)
    if started is None:
        return _choice(run_id, run_id, f"cycle {last} synced nothing: a new cycle")
    age = (now or datetime.now(UTC)) - started
    unfinished = f"cycle {last} has {missing} of {len(listed)} campaigns unsynced"
    if age >= max_age:
        return _choice(
            run_id,
            run_id,
            f"{unfinished} but started {_seconds(age)} ago, not less than the "
            f"{_seconds(max_age)} resume limit: a new cycle",
        )
    return _choice(last, run_id, f"{unfinished}, started {_seconds(age)} ago: resuming it")


def _choice(cycle_id: str, run_id: str, reason: str) -> CycleChoice:
    return CycleChoice(cycle_id, resumed=cycle_id != run_id, reason=reason)


def _seconds(delta: timedelta) -> str:
    return f"{delta.total_seconds():.0f} s"
