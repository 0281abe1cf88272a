"""Progress lines for ``make run``, read from the run's event log and from PostgreSQL.

The run executes in this process's main thread; a background thread polls the Dagster instance
for what Dagster recorded (step starts and failures, materializations, check evaluations) and,
while the sync step works, the tables it writes as it goes (the stored listing and the
checkpointed sync records), so every line printed is something a later reader of the instance
or the database could verify.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import dagster as dg
import sqlalchemy as sa
from dagster._core.events import DagsterEventType

from mixo_pipeline.storage.raw_pages import NoCycleError, load_cycle
from mixo_pipeline.storage.sync_records import succeeded_ids, succeeded_in_run

# Progress lines while the listing is still running: one per this many campaigns synced.
_LISTING_STEP = 10

_EVENTS = {
    DagsterEventType.STEP_START,
    DagsterEventType.STEP_FAILURE,
    DagsterEventType.STEP_UP_FOR_RETRY,
    DagsterEventType.ASSET_MATERIALIZATION,
    DagsterEventType.ASSET_CHECK_EVALUATION,
}
_SYNC_STEP = "sync_ad_accounts"


class RunProgress:
    """Prints ``[  12.3s] what happened`` lines until stopped."""

    def __init__(
        self,
        instance: dg.DagsterInstance,
        run_id: str,
        engine: sa.Engine,
        client_id: str,
        *,
        interval_s: float = 1.0,
        emit: Callable[[str], None] = print,
    ) -> None:
        self._instance = instance
        self._run_id = run_id
        self._engine = engine
        self._client_id = client_id
        self._interval_s = interval_s
        self._emit = emit
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="run-progress", daemon=True)
        self._started = time.monotonic()
        self._cursor: str | None = None
        self._syncing = False
        self._listed = False
        self._last_synced = -1

    def __enter__(self) -> RunProgress:
        self._started = time.monotonic()
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()
        self._poll()  # the events of the last interval

    def _loop(self) -> None:
        while not self._stop.wait(self._interval_s):
            self._poll()

    def _line(self, text: str) -> None:
        self._emit(f"[{time.monotonic() - self._started:6.1f}s] {text}")

    def _poll(self) -> None:
        if self._syncing:
            self._report_database()
        connection = self._instance.get_records_for_run(
            self._run_id, cursor=self._cursor, of_type=_EVENTS
        )
        self._cursor = connection.cursor
        for record in connection.records:
            event = record.event_log_entry.dagster_event
            if event is None:
                continue
            step = event.step_key or ""
            if event.event_type == DagsterEventType.ASSET_CHECK_EVALUATION:
                evaluation = event.asset_check_evaluation_data
                verdict = "passed" if evaluation.passed else f"FAILED ({evaluation.severity.value})"
                self._line(f"check {evaluation.check_name}: {verdict} · {evaluation.description}")
            elif event.event_type == DagsterEventType.ASSET_MATERIALIZATION:
                self._report_database()
                self._syncing = False
                asset = event.asset_key.to_user_string() if event.asset_key else "?"
                self._line(f"materialized {asset}")
            elif step == _SYNC_STEP and event.event_type == DagsterEventType.STEP_START:
                self._syncing = True
                self._line(f"{step}: listing campaigns")
            elif event.event_type == DagsterEventType.STEP_UP_FOR_RETRY:
                self._line(f"{step}: failed, the step will be retried")
            elif event.event_type == DagsterEventType.STEP_FAILURE:
                self._syncing = False
                self._line(f"{step}: FAILED")

    def _report_database(self) -> None:
        """What the sync step has stored so far: syncs while it lists, the listing once complete,
        then the checkpointed syncs."""
        try:
            cycle = load_cycle(self._engine, self._client_id)
        except NoCycleError:
            return
        if cycle.run_id != self._run_id and not self._listed:
            # Still the previous run's listing (the cycle may be one this run resumes): the
            # syncs of the pages listed so far are already running, count this run's.
            synced = succeeded_in_run(self._engine, self._client_id, self._run_id)
            if synced // _LISTING_STEP > max(self._last_synced, 0) // _LISTING_STEP:
                self._last_synced = synced
                self._line(f"{synced} campaigns synced, listing in progress")
            return
        if not self._listed:
            self._listed = True
            self._line(f"{len(cycle.pages)} pages stored, {cycle.total} campaigns listed")
        synced = len(succeeded_ids(self._engine, self._client_id, cycle.cycle_id))
        # A line per tenth of the listing keeps the output readable at any pace.
        step = max(1, cycle.total // 10)
        if synced // step != self._last_synced // step or (
            synced == cycle.total and synced != self._last_synced
        ):
            self._last_synced = synced
            self._line(f"{synced}/{cycle.total} campaigns synced")
