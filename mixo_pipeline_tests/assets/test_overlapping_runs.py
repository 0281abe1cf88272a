"""Two runs on one account at once (two ``make run`` on one stack, a backfill overlapping a
scheduled run): one syncs, the other waits for the account's lock and joins its cycle, so the
platform syncs each campaign once and both runs report what the table holds.

The overlap is made certain, not left to timing: the second run starts while the first holds the
account's lock (at its first checkpoint), and the first goes on once the second is blocked on it.
"""

from __future__ import annotations

import contextlib
import logging
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa

from mixo_pipeline.ad_platform.models import SyncResult
from mixo_pipeline.cli.summary import summarize
from mixo_pipeline.settings import load_settings
from mixo_pipeline.storage.raw_pages import replace_raw_pages
from mixo_pipeline.storage.schema import campaign_sync_records
from mixo_pipeline.storage.sync_records import record_results
from mixo_pipeline.sync import account
from mixo_pipeline.sync.cycle import CycleChoice, account_lock
from mixo_pipeline_tests.operations.conftest import PATIENT_TIMEOUTS, client_settings_env
from mock_api import MockConfig

from .conftest import make_pages, materialization_metadata, pipeline_on, raw_campaign

FAST = 0.01
CAMPAIGNS = 40
DEADLINE_S = 60.0  # a bound for a broken lock, never reached when it works


def _waiting(caplog: pytest.LogCaptureFixture) -> bool:
    """Whether a run has logged that it waits for the account's lock."""
    return any("waiting for it" in r.getMessage() for r in caplog.records)


def _wait_until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.02)


def test_two_runs_at_once_sync_each_campaign_once_and_both_report_the_table(
    monkeypatch: pytest.MonkeyPatch,
    assets_database_url: str,
    pg: sa.Engine,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="mixo_pipeline.sync.cycle")
    config = MockConfig(time_scale=FAST, seed=12, campaigns=CAMPAIGNS, error_rate=0, hang_rate=0)
    with pipeline_on(config, monkeypatch, assets_database_url, pg) as pipeline:
        # No timeout a loaded machine's scheduling could fire: a resent call completes twice.
        for name, value in client_settings_env(PATIENT_TIMEOUTS).items():
            monkeypatch.setenv(name, value)
        record = account.record_results
        second: list[Future[Any]] = []
        waited: list[bool] = []

        def start_a_second_run_at_the_first_checkpoint(*args: Any) -> None:
            if not second:  # the first run's first sync: it holds the account's lock
                second.append(other.submit(pipeline.run))
                _wait_until(lambda: second[0].done() or _waiting(caplog))
                waited.append(not second[0].done())
            record(*args)

        monkeypatch.setattr(account, "record_results", start_a_second_run_at_the_first_checkpoint)
        with ThreadPoolExecutor(max_workers=1) as other:
            first = pipeline.run()
            joiner = second[0].result(timeout=DEADLINE_S)
        stats = pipeline.mock.stats()["clients"]["default"]

    # The platform synced each campaign once (no faults, so no resent call) and was listed once.
    assert stats["syncs_completed"] == CAMPAIGNS
    assert stats["endpoints"]["list"]["admitted"] == CAMPAIGNS // 10
    assert waited == [True]  # the second run really was blocked on the first's lock
    assert first.success and joiner.success
    with pg.connect() as conn:
        records = conn.execute(
            sa.select(campaign_sync_records.c.cycle_id, campaign_sync_records.c.run_id)
        ).all()
    assert set(records) == {(first.run_id, first.run_id)} and len(records) == CAMPAIGNS

    joined = materialization_metadata(joiner, "raw_campaign_pages")
    assert (joined["cycle_id"], joined["cycle_resumed"]) == (first.run_id, True)
    assert "while this one waited: joining" in joined["cycle_choice"]
    synced = materialization_metadata(joiner, "campaign_sync_records")
    assert (synced["synced"], synced["skipped_as_done"], synced["failed"]) == (0, CAMPAIGNS, 0)

    # Each run's own summary tells what the table holds: both complete, both exit 0.
    for result in (first, joiner):
        summary = summarize(result, pg, load_settings().client_id, wall_s=1.0)
        line = summary.line()
        assert line.startswith(f"Sync complete: {CAMPAIGNS}/{CAMPAIGNS} campaigns"), line
        assert summary.exit_status == 0


def _contend(
    pg: sa.Engine, work: Callable[[], None], caplog: pytest.LogCaptureFixture
) -> CycleChoice | None:
    """Hold the account's lock, let a second holder block on it, run ``work``, release; return
    what the second holder was told."""
    caplog.set_level(logging.INFO, logger="mixo_pipeline.sync.cycle")
    held, release = threading.Event(), threading.Event()

    def holder() -> None:
        with account_lock(pg, "acme") as joined:
            assert joined is None
            held.set()
            release.wait(DEADLINE_S)
            work()

    def waiter() -> CycleChoice | None:
        with account_lock(pg, "acme") as joined:
            return joined

    with ThreadPoolExecutor(max_workers=2) as pool:
        first = pool.submit(holder)
        try:
            assert held.wait(DEADLINE_S)
            second = pool.submit(waiter)
            _wait_until(lambda: second.done() or _waiting(caplog))
            assert not second.done(), "the second holder did not wait"
        finally:
            release.set()
        first.result(timeout=DEADLINE_S)
        return second.result(timeout=DEADLINE_S)


def test_a_run_that_waited_joins_the_cycle_the_other_worked_in(
    pg: sa.Engine, caplog: pytest.LogCaptureFixture
) -> None:
    def list_and_sync() -> None:
        replace_raw_pages(
            pg, "acme", "run-a", "run-a", make_pages([raw_campaign(n) for n in (1, 2)])
        )
        result = SyncResult("campaign_1", True, 1, datetime.now(UTC))
        record_results(pg, "acme", "run-a", "run-a", [result])

    joined = _contend(pg, list_and_sync, caplog)
    assert joined is not None and (joined.cycle_id, joined.resumed) == ("run-a", True)
    assert joined.listing is not None
    assert joined.listing.listed_ids() == ["campaign_1", "campaign_2"]


def test_a_run_that_waited_for_one_that_stored_nothing_chooses_as_usual(
    pg: sa.Engine, caplog: pytest.LogCaptureFixture
) -> None:
    replace_raw_pages(pg, "acme", "old", "old", make_pages([raw_campaign(1)]))
    assert _contend(pg, lambda: None, caplog) is None


def test_the_lock_of_a_killed_process_is_released(pg: sa.Engine) -> None:
    """``kill -9`` of a run holding an account: its session ends, and the next run gets in."""
    holder = (
        "import sys, sqlalchemy as sa\n"
        "from mixo_pipeline.sync.cycle import account_lock\n"
        "with account_lock(sa.create_engine(sys.argv[1]), 'acme'):\n"
        "    print('held', flush=True)\n"
        "    sys.stdin.read()\n"
    )
    url = pg.url.render_as_string(hide_password=False)
    child = subprocess.Popen(
        [sys.executable, "-c", holder, url],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "held"
        key = sa.func.hashtextextended("sync:acme", 0)
        with pg.connect() as conn:
            assert conn.scalar(sa.select(sa.func.pg_try_advisory_xact_lock(key))) is False
            conn.rollback()
    finally:
        child.kill()
        child.wait(timeout=DEADLINE_S)

    def next_run() -> CycleChoice | None:
        with account_lock(pg, "acme") as joined:
            return joined

    with ThreadPoolExecutor(max_workers=1) as pool:
        assert pool.submit(next_run).result(timeout=DEADLINE_S) is None


def test_a_process_holds_all_its_accounts_locks_on_one_connection(pg: sa.Engine) -> None:
    # A worker of 50 accounts (or 1,000 across a deployment) must not open a session each.
    query = sa.text(
        "SELECT count(DISTINCT pid), count(*) FROM pg_locks WHERE locktype = 'advisory'"
    )
    with contextlib.ExitStack() as held:
        for n in range(10):
            held.enter_context(account_lock(pg, f"account-{n}"))
        with pg.connect() as conn:
            assert tuple(conn.execute(query).one()) == (1, 10)
    with pg.connect() as conn:
        assert tuple(conn.execute(query).one()) == (0, 0)
