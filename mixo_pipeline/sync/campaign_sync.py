"""Sync one account's listed campaigns, checkpointing every result as it arrives."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import sqlalchemy as sa

from mixo_pipeline.ad_platform.client import AdPlatformClient
from mixo_pipeline.storage.raw_pages import load_cycle
from mixo_pipeline.storage.sync_records import record_result, succeeded_ids
from mixo_pipeline.sync.rows import campaigns_frame

_SHOWN_FAILURES = 20


@dataclass(frozen=True)
class SyncOutcome:
    """What one account's sync step did in this attempt."""

    cycle_id: str
    listed: int
    synced: int
    failed: int
    skipped_as_done: int
    wall_s: float
    failures: dict[str, str] = field(default_factory=dict)
    """First failures: campaign id -> reason (after all retries)."""

    @property
    def complete(self) -> bool:
        return self.failed == 0


class IncompleteSyncError(RuntimeError):
    """Some campaigns could not be synced after every retry; the others are checkpointed."""

    def __init__(self, client_id: str, outcome: SyncOutcome) -> None:
        shown = "; ".join(f"{cid}: {reason}" for cid, reason in outcome.failures.items())
        done = outcome.synced + outcome.skipped_as_done
        super().__init__(
            f"account {client_id!r}: {outcome.failed} of {outcome.listed} campaigns failed to "
            f"sync in cycle {outcome.cycle_id} ({shown}); {done} are recorded as done and will "
            "not be synced again by the run that continues the cycle (a re-execution, or a new "
            "run while the cycle is recent)"
        )
        self.outcome = outcome


def sync_account(
    engine: sa.Engine, client: AdPlatformClient, client_id: str, run_id: str
) -> SyncOutcome:
    """Sync every listed campaign without a successful record in the account's current cycle.

    The cycle is the one the stored pages belong to (chosen when they were listed, see
    :mod:`mixo_pipeline.sync.cycle`), so a run that continues an earlier run's cycle skips what
    that run finished. Each result is written the moment it arrives: a process killed half-way
    loses at most the calls in flight.
    """
    cycle = load_cycle(engine, client_id)
    listed = campaigns_frame(cycle.pages)["id"].tolist()
    done = succeeded_ids(engine, client_id, cycle.cycle_id)
    todo = [campaign_id for campaign_id in listed if campaign_id not in done]
    started = time.monotonic()
    synced = failed = 0
    failures: dict[str, str] = {}
    for result in client.sync_campaigns(todo):
        record_result(engine, client_id, cycle.cycle_id, run_id, result)
        if result.success:
            synced += 1
        else:
            failed += 1
            if len(failures) < _SHOWN_FAILURES:
                failures[result.campaign_id] = result.error or "unknown error"
    return SyncOutcome(
        cycle_id=cycle.cycle_id,
        listed=len(listed),
        synced=synced,
        failed=failed,
        skipped_as_done=len(listed) - len(todo),
        wall_s=time.monotonic() - started,
        failures=failures,
    )
