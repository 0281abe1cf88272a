"""Which sync cycle a run lists an account in: continue the last one, or start its own.

A cycle is one pass over an account's campaigns, named after the run that started it; continuing
it syncs only the campaigns without a successful record in it. A run that listed the account
last (a step retry), or a re-execution of it, continues that listing's cycle, and any other
re-execution its root run's ("re-execute from failure"). A new run resumes the stored cycle if it
is unfinished and its first record younger than ``max_age``; otherwise it starts its own.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from mixo_pipeline.storage.raw_pages import NoCycleError, load_cycle
from mixo_pipeline.storage.sync_records import first_recorded_at, succeeded_ids


@dataclass(frozen=True)
class CycleChoice:
    """The cycle a run uses for one account, and why (for the log and the metadata)."""

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
    """The cycle run ``run_id`` lists ``client_id`` in (the rule is in the module docstring)."""

    def choice(cycle_id: str, reason: str) -> CycleChoice:
        return CycleChoice(cycle_id, resumed=cycle_id != run_id, reason=reason)

    try:
        stored = load_cycle(engine, client_id)
    except NoCycleError:
        stored = None
    family = {run_id, root_run_id, parent_run_id} - {None}
    if stored is not None and family & {stored.cycle_id, stored.run_id}:
        return choice(stored.cycle_id, f"run {stored.run_id} listed it last: continuing")
    if root_run_id and root_run_id != run_id:
        return choice(root_run_id, f"re-execution of run {root_run_id}: continuing")
    if stored is None:
        return choice(run_id, "no stored cycle: a new cycle")
    last = stored.cycle_id
    listed = set(stored.listed_ids())
    missing = len(listed - succeeded_ids(engine, client_id, last))
    if missing == 0:
        return choice(run_id, f"cycle {last} is complete: a new cycle")
    started = first_recorded_at(engine, client_id, last)
    if started is None:
        return choice(run_id, f"cycle {last} synced nothing: a new cycle")
    age = (now or datetime.now(UTC)) - started
    unfinished = f"cycle {last} has {missing} of {len(listed)} campaigns unsynced"
    ago = f"started {age.total_seconds():.0f} s ago"
    if age >= max_age:
        limit = f"not less than the {max_age.total_seconds():.0f} s resume limit"
        return choice(run_id, f"{unfinished} but {ago}, {limit}: a new cycle")
    return choice(last, f"{unfinished}, {ago}: resuming it")
