"""Sync one account's listed campaigns, checkpointing every result as it arrives."""

from __future__ import annotations

import functools
import queue
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import sqlalchemy as sa

from mixo_pipeline.ad_platform.client import AdPlatformClient
from mixo_pipeline.ad_platform.models import SyncResult
from mixo_pipeline.storage.raw_pages import load_cycle
from mixo_pipeline.storage.sync_records import record_results, succeeded_ids
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


class _CheckpointWriter:
    """Writes an account's sync results from a thread of its own: every result waiting at that
    moment in one transaction (a group commit).

    Written one transaction per result, the checkpoints were a fifth of a 50-account worker's
    CPU (a transaction, a pool checkout and a connection check each). Results arrive in bursts,
    a window's worth of syncs answering within seconds, so draining what is waiting batches them
    when the machine is busy and still writes a lone result at once. Leaving the ``with`` block
    flushes everything received, also when the sync raised, and a failed write is raised there.
    """

    def __init__(self, engine: sa.Engine, client_id: str, cycle_id: str, run_id: str) -> None:
        self._write = functools.partial(record_results, engine, client_id, cycle_id, run_id)
        self._queue: queue.SimpleQueue[SyncResult | None] = queue.SimpleQueue()
        self._error: Exception | None = None
        self._thread = threading.Thread(
            target=self._run, name=f"checkpoints-{client_id}", daemon=True
        )

    def __enter__(self) -> _CheckpointWriter:
        self._thread.start()
        return self

    def put(self, result: SyncResult) -> None:
        if self._error is not None:
            raise self._error
        self._queue.put(result)

    def __exit__(self, exc_type: object, exc: object, traceback: object) -> None:
        self._queue.put(None)
        self._thread.join()
        if self._error is not None and exc is None:
            raise self._error

    def _run(self) -> None:
        while True:
            batch = [self._queue.get()]
            while not self._queue.empty():
                batch.append(self._queue.get())
            results = [result for result in batch if result is not None]
            try:
                self._write(results)
            except Exception as error:  # raised to the sync by put() or on leaving the block
                self._error = error
                return
            if len(results) < len(batch):
                return


def sync_account(
    engine: sa.Engine, client: AdPlatformClient, client_id: str, run_id: str
) -> SyncOutcome:
    """Sync the stored listing's campaigns without a successful record in its cycle.

    The cycle is the one the stored pages belong to (chosen when they were listed, see
    :mod:`mixo_pipeline.sync.cycle`), so a run that continues an earlier run's cycle skips what
    that run finished. Used when ``campaign_sync_records`` is materialized without listing
    anew; a run that lists too syncs each page as it arrives (:func:`~mixo_pipeline.sync.pages.
    list_and_sync`).
    """
    cycle = load_cycle(engine, client_id)
    listed = campaigns_frame(cycle.pages)["id"].tolist()
    return sync_listed(engine, client, client_id, cycle.cycle_id, run_id, listed)


def sync_listed(
    engine: sa.Engine,
    client: AdPlatformClient,
    client_id: str,
    cycle_id: str,
    run_id: str,
    listed: Iterable[str],
) -> SyncOutcome:
    """Sync every id of ``listed`` without a successful record in ``cycle_id``.

    ``listed`` is consumed lazily, on the client's feeder thread, so it may be a listing still in
    progress. Each result is written the moment it arrives: a process killed half-way loses at
    most the calls in flight.
    """
    done = succeeded_ids(engine, client_id, cycle_id)
    seen: list[str] = []

    def todo() -> Iterator[str]:
        for campaign_id in listed:
            seen.append(campaign_id)
            if campaign_id not in done:
                yield campaign_id

    started = time.monotonic()
    synced = failed = 0
    failures: dict[str, str] = {}
    with _CheckpointWriter(engine, client_id, cycle_id, run_id) as checkpoints:
        for result in client.sync_campaigns(todo()):
            checkpoints.put(result)
            if result.success:
                synced += 1
            else:
                failed += 1
                if len(failures) < _SHOWN_FAILURES:
                    failures[result.campaign_id] = result.error or "unknown error"
    # sync_campaigns returns only after its feeder finished, so ``seen`` is complete here.
    return SyncOutcome(
        cycle_id=cycle_id,
        listed=len(seen),
        synced=synced,
        failed=failed,
        skipped_as_done=sum(1 for campaign_id in seen if campaign_id in done),
        wall_s=time.monotonic() - started,
        failures=failures,
    )
