"""Progress lines for ``make run``, read from the run's event log and the checkpoint table.

The run executes in this process's main thread; a background thread polls the Dagster instance
for step events (what Dagster itself recorded) and, while campaigns sync, the count of
successful sync records in PostgreSQL (what the checkpoint recorded), so every line printed is
something a later reader of the instance or the database could verify.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import dagster as dg
import sqlalchemy as sa
from dagster._core.events import DagsterEventType

from mixo_pipeline.storage.raw_pages import NoCycleError, load_cycle
from mixo_pipeline.storage.sync_records import succeeded_ids

_EVENTS = {
    DagsterEventType.STEP_START,
    DagsterEventType.STEP_SUCCESS,
    DagsterEventType.STEP_FAILURE,
    DagsterEventType.STEP_UP_FOR_RETRY,
    DagsterEventType.ASSET_CHECK_EVALUATION,
}
_SYNC_STEP = "campaign_sync_records"


class RunProgress:
    """Prints ``[  12.3s] step: what happened`` lines until stopped."""

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
                continue
            if step.startswith("campaigns_"):
                continue  # check steps are reported by their evaluations
            if event.event_type == DagsterEventType.STEP_START:
                self._syncing = step == _SYNC_STEP
                self._line(f"{step}: started")
            elif event.event_type == DagsterEventType.STEP_SUCCESS:
                self._report_sync()
                self._syncing = False
                self._line(f"{step}: done")
            elif event.event_type == DagsterEventType.STEP_UP_FOR_RETRY:
                self._line(f"{step}: failed, retrying the step ({event.message})")
            elif event.event_type == DagsterEventType.STEP_FAILURE:
                self._syncing = False
                self._line(f"{step}: FAILED")
        if self._syncing:
            self._report_sync()

    def _report_sync(self) -> None:
        if not self._syncing:
            return
        try:
            cycle = load_cycle(self._engine, self._client_id)
        except NoCycleError:
            return
        synced = len(succeeded_ids(self._engine, self._client_id, cycle.cycle_id))
        # A line per tenth of the listing keeps the output readable at any pace.
        step = max(1, cycle.total // 10)
        if synced // step != self._last_synced // step or (
            synced == cycle.total and synced != self._last_synced
        ):
            self._last_synced = synced
            self._line(f"{_SYNC_STEP}: {synced}/{cycle.total} campaigns synced")
