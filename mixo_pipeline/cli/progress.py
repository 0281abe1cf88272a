"""Progress lines for ``make run``, each a fact read back from the instance's events and the
tables the sync step checkpoints into, by a thread polling while the run executes."""

import threading
import time
from typing import Self

import dagster as dg
import sqlalchemy as sa
from dagster_postgres.utils import DagsterPostgresException

from mixo_pipeline.names import SYNC_STEP
from mixo_pipeline.storage.raw_pages import find_cycle
from mixo_pipeline.storage.sync_records import succeeded_ids, succeeded_in_run

EventType = dg.DagsterEventType
_EVENTS = {EventType.STEP_START, EventType.STEP_FAILURE, EventType.STEP_UP_FOR_RETRY}
_EVENTS |= {EventType.ASSET_MATERIALIZATION, EventType.ASSET_CHECK_EVALUATION}
_LISTING_STEP = 10  # while the listing still runs, a line per this many campaigns synced


class RunProgress:
    """Prints ``[  12.3s] what happened`` lines, polling once a second, until the context exits.
    Without ``client_id`` (a batched run) only the events, each naming its account."""

    def __init__(
        self, instance: dg.DagsterInstance, run_id: str, engine: sa.Engine, client_id: str | None
    ) -> None:
        self._instance, self._run_id = instance, run_id
        self._engine, self._client_id = engine, client_id
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="run-progress", daemon=True)
        self._started = time.monotonic()
        self._cursor: str | None = None
        self._syncing = self._listed = self._paused = False
        self._last_synced = -1

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()
        self._poll()  # the events of the last interval

    def _loop(self) -> None:
        while not self._stop.wait(1.0):
            self._poll()

    def _poll(self) -> None:
        """A database blip (a restart, dropped connections) pauses the lines, never ends them."""
        try:
            if self._syncing:
                self._report_database()
            records = self._instance.get_records_for_run(
                self._run_id, cursor=self._cursor, of_type=_EVENTS
            )
            for record in records.records:  # all Dagster events (of_type)
                self._report_event(record.event_log_entry.get_dagster_event())
            self._cursor = records.cursor  # once reported: a batch cut short is read again
            self._paused = False
        except (sa.exc.DBAPIError, DagsterPostgresException):
            if not self._paused:
                self._line("database unreachable: progress paused, retrying every second")
            self._paused = True

    def _line(self, text: str, account: str | None = None) -> None:
        text = f"{account}: {text}" if account and self._client_id is None else text
        print(f"[{time.monotonic() - self._started:6.1f}s] {text}")

    def _report_event(self, event: dg.DagsterEvent) -> None:
        step = event.step_key or ""
        kind = event.event_type
        if kind == EventType.ASSET_CHECK_EVALUATION:
            evaluation = event.asset_check_evaluation_data
            verdict = "passed" if evaluation.passed else f"FAILED ({evaluation.severity.value})"
            text = f"check {evaluation.check_name}: {verdict} · {evaluation.description}"
            self._line(text, evaluation.partition)
        elif kind == EventType.ASSET_MATERIALIZATION:
            self._report_database()
            self._syncing = False
            asset = event.asset_key.to_user_string() if event.asset_key else "?"
            self._line(f"materialized {asset}", event.partition)
        elif kind == EventType.STEP_START and step == SYNC_STEP:
            self._syncing = True
            self._line(f"{step}: listing campaigns")
        elif kind == EventType.STEP_UP_FOR_RETRY:
            self._line(f"{step}: failed, the step will be retried")
        elif kind == EventType.STEP_FAILURE:
            self._syncing = False
            self._line(f"{step}: FAILED")

    def _report_database(self) -> None:
        """What the sync step stored: syncs while it lists, the listing, then each tenth synced."""
        if self._client_id is None:
            return
        cycle = find_cycle(self._engine, self._client_id)
        if not self._listed and (cycle is None or cycle.run_id != self._run_id):
            synced = succeeded_in_run(self._engine, self._client_id, self._run_id)
            if synced // _LISTING_STEP > max(self._last_synced, 0) // _LISTING_STEP:
                self._last_synced = synced
                self._line(f"{synced} campaigns synced, listing in progress")
            return
        if not self._listed:
            self._listed = True
            self._line(f"{len(cycle.pages)} pages stored, {cycle.total} campaigns listed")
        synced = len(succeeded_ids(self._engine, self._client_id, cycle.cycle_id))
        step = max(1, cycle.total // 10)
        if synced // step != self._last_synced // step or (
            synced == cycle.total and synced != self._last_synced
        ):
            self._last_synced = synced
            self._line(f"{synced}/{cycle.total} campaigns synced")
