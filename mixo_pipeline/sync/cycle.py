"""Which sync cycle (one pass over an account's campaigns, named after the run that started it) a
run lists an account in, and the lock letting one run at a time sync it (docs/tables.md)."""

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from mixo_pipeline.ad_platform.client import ClientStopped
from mixo_pipeline.storage.raw_pages import Cycle, find_cycle
from mixo_pipeline.storage.sync_records import first_recorded_at, succeeded_ids

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CycleChoice:
    """The cycle a run uses for one account, and why (for the log and the metadata)."""

    cycle_id: str
    resumed: bool  # the run continues an earlier run's cycle instead of starting its own
    reason: str
    listing: Cycle | None = field(default=None, compare=False)  # another run's, to join as is


def choose_cycle(
    engine: sa.Engine,
    client_id: str,
    *,
    run_id: str,
    root_run_id: str | None,
    parent_run_id: str | None = None,
    max_age: timedelta,
) -> CycleChoice:
    """The cycle run ``run_id`` lists ``client_id`` in: a step retry continues the cycle of its
    run's listing, a re-execution its root run's; a new run resumes the stored cycle if unfinished
    and younger than ``max_age``, else starts its own."""

    def choice(cycle_id: str, reason: str) -> CycleChoice:
        return CycleChoice(cycle_id, resumed=cycle_id != run_id, reason=reason)

    stored, done = _stored(engine, client_id)
    family = {run_id, root_run_id, parent_run_id} - {None}
    if stored is not None and family & {stored.cycle_id, stored.run_id}:
        return choice(stored.cycle_id, f"run {stored.run_id} listed it last: continuing")
    if root_run_id and root_run_id != run_id:
        return choice(root_run_id, f"re-execution of run {root_run_id}: continuing")
    if stored is None:
        return choice(run_id, "no stored cycle: a new cycle")
    last = stored.cycle_id
    listed = set(stored.listed_ids())
    missing = len(listed - done)
    if missing == 0:
        return choice(run_id, f"cycle {last} is complete: a new cycle")
    started = first_recorded_at(engine, client_id, last)
    if started is None:
        return choice(run_id, f"cycle {last} synced nothing: a new cycle")
    age = datetime.now(UTC) - started
    unfinished = f"cycle {last} has {missing} of {len(listed)} campaigns unsynced"
    ago = f"started {age.total_seconds():.0f} s ago"
    if age >= max_age:
        limit = f"not less than the {max_age.total_seconds():.0f} s resume limit"
        return choice(run_id, f"{unfinished} but {ago}, {limit}: a new cycle")
    return choice(last, f"{unfinished}, {ago}: resuming it")


def _stored(engine: sa.Engine, client_id: str) -> tuple[Cycle | None, set[str]]:
    """The account's stored listing and the campaigns synced in its cycle (none without one)."""
    cycle = find_cycle(engine, client_id)
    return cycle, succeeded_ids(engine, client_id, cycle.cycle_id) if cycle else set()


class _AccountLocks:
    """This process's session-level advisory locks, on one connection (one per account would exhaust
    the server's at scale); ``_held`` stops this process taking one twice, as PostgreSQL allows."""

    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine
        self._mutex = threading.Lock()
        self._conn: sa.Connection | None = None
        self._held: set[str] = set()

    def try_take(self, client_id: str) -> bool:
        with self._mutex:
            if client_id in self._held:
                return False
            if self._conn is None:
                self._conn = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            if not self._conn.scalar(sa.select(sa.func.pg_try_advisory_lock(_key(client_id)))):
                return False
            self._held.add(client_id)
            return True

    def release(self, client_id: str) -> None:
        with self._mutex:
            self._held.discard(client_id)
            assert self._conn is not None
            try:
                self._conn.scalar(sa.select(sa.func.pg_advisory_unlock(_key(client_id))))
            except sa.exc.DBAPIError:  # the session is gone, and every lock with it
                self._conn.invalidate()
                self._held.clear()
            if not self._held:
                self._conn.close()
                self._conn = None


def _key(client_id: str) -> sa.ColumnElement[int]:
    return sa.func.hashtextextended(f"sync:{client_id}", 0)


_locks: dict[str, _AccountLocks] = {}
_locks_guard = threading.Lock()


@contextmanager
def account_lock(
    engine: sa.Engine, client_id: str, stopping: threading.Event | None = None
) -> Iterator[CycleChoice | None]:
    """Hold the account's lock: one run at a time syncs it. Yields the cycle to join if another
    run changed its listing or syncs while this one waited, else ``None``."""
    with _locks_guard:
        locks = _locks.setdefault(engine.url.render_as_string(), _AccountLocks(engine))
    before = after = _stored(engine, client_id)
    if not locks.try_take(client_id):
        _log.info("account %s is being synced by another run: waiting for it", client_id)
        stopping = stopping or threading.Event()  # none given: wait as long as it takes
        while not locks.try_take(client_id):
            if stopping.wait(0.2):  # the run was interrupted while it waited
                raise ClientStopped(f"waiting for the lock of account {client_id!r}")
        after = _stored(engine, client_id)
    try:
        cycle = after[0]
        if cycle is None or after == before:
            yield None
        else:
            why = f"another run worked in cycle {cycle.cycle_id} while this one waited: joining"
            yield CycleChoice(cycle.cycle_id, resumed=True, reason=why, listing=cycle)
    finally:
        locks.release(client_id)
