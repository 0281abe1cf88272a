"""Interrupts stop a run at once, and step retries never repeat a call that spent its attempts.

The interrupt tests start ``python -m mixo_pipeline.cli`` (``make run``'s entry) as a real
process against a real mock process, send one real SIGINT or SIGTERM once the listing is stored
and some campaigns are synced, and then run it again: the second run must resume the cycle, so
the mock's request log shows no campaign the first run recorded as synced being synced twice.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa

from mixo_pipeline.ad_platform import Account, AdPlatformClient, ClientSettings
from mixo_pipeline.ad_platform.client import ClientStopped
from mixo_pipeline.database import (
    DAGSTER_ROLE,
    REPO_ROOT,
    EmbeddedPostgres,
    dagster_storage_url,
    engine_for,
)
from mixo_pipeline.defs.ad_platform import per_account
from mixo_pipeline.storage.schema import campaign_sync_records, metadata, raw_campaign_pages
from mixo_pipeline_tests.assets.conftest import pipeline_on
from mock_api import MockConfig, MockProcess, MockServer
from mock_api.accounts import DEFAULT_CLIENT_ID, DEFAULT_EMAIL, DEFAULT_PASSWORD

SCALE = 0.02  # the 60 s window is 1.2 s, a sync 40 ms: 100 campaigns in about 17 s
STOPPED_WITHIN_S = 10.0
"""Real seconds from the signal to the process's exit. Before the fix the run carried on to
100/100 (step retry, then about 80 more syncs: over 14 s at this scale) and exited 0."""
RUN_LINE = re.compile(r"^Run ([0-9a-f-]{36}) ")
SYNC_200 = re.compile(r"POST /api/campaigns/([^/]+)/sync 200 ")
RETRY_EVENTS = {dg.DagsterEventType.STEP_UP_FOR_RETRY, dg.DagsterEventType.STEP_RESTARTED}


@dataclass
class Launcher:
    env: dict[str, str]
    engine: sa.Engine
    mock_log: Path
    out: Path

    def start(self) -> subprocess.Popen[bytes]:
        with self.out.open("wb") as out:
            return subprocess.Popen(
                [sys.executable, "-m", "mixo_pipeline.cli"],
                cwd=REPO_ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def output(self) -> str:
        return self.out.read_text(errors="replace")

    def run_id(self) -> str:
        for line in self.output().splitlines():
            if match := RUN_LINE.match(line):
                return match.group(1)
        raise AssertionError(self.output())

    def synced_by_run(self, run_id: str) -> set[str]:
        r = campaign_sync_records.c
        query = sa.select(r.campaign_id).where(r.run_id == run_id, r.success.is_(True))
        with self.engine.connect() as conn:
            return set(conn.scalars(query))

    def listed_and_synced(self) -> tuple[int, int]:
        with self.engine.connect() as conn:
            pages = conn.scalar(sa.select(sa.func.count()).select_from(raw_campaign_pages))
            synced = conn.scalar(
                sa.select(sa.func.count()).where(campaign_sync_records.c.success.is_(True))
            )
        return pages or 0, synced or 0

    def syncs_answered_200(self) -> Counter[str]:
        return Counter(SYNC_200.findall(self.mock_log.read_text(errors="replace")))


@pytest.fixture(scope="session")
def interrupts_database_url(embedded_postgres: EmbeddedPostgres) -> str:
    embedded_postgres.drop_database("mixo_interrupts")
    return embedded_postgres.create_database("mixo_interrupts")


@pytest.fixture
def launcher(
    embedded_postgres: EmbeddedPostgres,
    interrupts_database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Launcher]:
    """``make run``'s environment on emptied databases, against a mock process of our own (so
    the mock and its request log outlive each run); this process reads the same instance."""
    embedded_postgres.drop_database("mixo_interrupts_dagster")
    dagster_url = dagster_storage_url(
        embedded_postgres.create_database("mixo_interrupts_dagster", DAGSTER_ROLE)
    )
    database_url, engine = interrupts_database_url, engine_for(interrupts_database_url)
    with engine.begin() as conn:
        for table in reversed(metadata.sorted_tables):
            conn.execute(table.delete())
    instance_env = {
        "DAGSTER_HOME": str(REPO_ROOT),
        "DAGSTER_PG_URL": dagster_url,
        "MIXO_DAGSTER_DIR": str(tmp_path / "dagster"),
        "MIXO_DAGSTER_LOGS_DIR": str(tmp_path / "dagster" / "logs"),
    }
    for name, value in instance_env.items():
        monkeypatch.setenv(name, value)
    mock_log = tmp_path / "mock.log"
    with mock_log.open("w") as log, MockProcess(["--time-scale", str(SCALE)], stderr=log) as mock:
        env = {
            name: value
            for name, value in os.environ.items()
            if not name.startswith(("AD_PLATFORM_", "MIXO_", "DAGSTER_"))
        }
        env.update(
            instance_env,
            DATABASE_URL=database_url,
            MIXO_HOME=str(tmp_path / "mixo"),
            AD_PLATFORM_API_URL=mock.url,
            AD_PLATFORM_EMAIL=DEFAULT_EMAIL,
            AD_PLATFORM_PASSWORD=DEFAULT_PASSWORD,
            AD_PLATFORM_TIME_SCALE=str(SCALE),
        )
        yield Launcher(env, engine, mock_log, tmp_path / "out.txt")


def _wait_until_listed_and_partly_synced(launcher: Launcher, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        pages, synced = launcher.listed_and_synced()
        if pages == 10 and 20 <= synced <= 60:
            return
        time.sleep(0.02)  # polling the database, not waiting out a window
    raise AssertionError(f"never caught the run mid-sync: {launcher.listed_and_synced()}")


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_stops_the_run_without_retry_and_the_next_run_resumes(
    launcher: Launcher, signum: signal.Signals
) -> None:
    first = launcher.start()
    try:
        _wait_until_listed_and_partly_synced(launcher, first)
        signalled = time.monotonic()
        first.send_signal(signum)
        status = first.wait(timeout=60)
        took = time.monotonic() - signalled
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    assert status != 0, launcher.output()
    assert took < STOPPED_WITHIN_S, (took, launcher.output())
    run_id = launcher.run_id()
    with dg.DagsterInstance.get() as instance:
        run = instance.get_run_by_id(run_id)
        kinds = {event.dagster_event_type for event in instance.all_logs(run_id)}
    assert run is not None and run.status in {
        dg.DagsterRunStatus.FAILURE,
        dg.DagsterRunStatus.CANCELED,
    }, run
    assert not kinds & RETRY_EVENTS, kinds
    kept = launcher.synced_by_run(run_id)
    assert len(kept) >= 20  # the checkpoints stored before the signal are still there

    second = launcher.start()
    assert second.wait(timeout=120) == 0, launcher.output()
    assert "Sync complete: 100/100 campaigns synced" in launcher.output()
    answered = launcher.syncs_answered_200()
    assert set(answered) == {f"campaign_{n}" for n in range(1, 101)}
    # The second run resumed the cycle: none the first run recorded was synced again.
    assert {campaign: answered[campaign] for campaign in kept} == dict.fromkeys(kept, 1)


def test_a_run_waiting_for_the_accounts_lock_stops_at_once(launcher: Launcher) -> None:
    """Another run holds the account (its advisory lock, held here): the run waits for it, and
    one SIGINT ends it within seconds rather than once the lock is free."""
    key = sa.func.hashtextextended("sync:default", 0)
    holder = sa.create_engine(launcher.engine.url, poolclass=sa.NullPool)
    with holder.connect() as conn:
        conn.execute(sa.select(sa.func.pg_advisory_lock(key)))
        process = launcher.start()
        try:
            deadline = time.monotonic() + 60
            while "sync_ad_accounts" not in launcher.output():  # the step started: it waits
                assert process.poll() is None and time.monotonic() < deadline, launcher.output()
                time.sleep(0.05)
            signalled = time.monotonic()
            process.send_signal(signal.SIGINT)
            status = process.wait(timeout=30)
            took = time.monotonic() - signalled
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    assert status != 0 and took < STOPPED_WITHIN_S, (took, launcher.output())
    assert launcher.listed_and_synced() == (0, 0)


def _stopped_call(client: AdPlatformClient, stop_when: Callable[[], bool]) -> BaseException:
    """Run one sync on a thread, set ``client.stopping`` once ``stop_when()``, and return what
    the sync raised: it must end within 5 s."""
    raised: list[BaseException] = []

    def sync() -> None:
        try:
            client.sync_campaign("campaign_2")
        except BaseException as error:
            raised.append(error)

    worker = threading.Thread(target=sync, daemon=True)
    worker.start()
    deadline = time.monotonic() + 10
    while not stop_when():
        assert time.monotonic() < deadline, client.stats.as_metadata()
        time.sleep(0.01)
    client.stopping.set()
    worker.join(timeout=5)
    assert not worker.is_alive() and len(raised) == 1, raised
    return raised[0]


def test_a_step_closed_early_stops_its_work_before_it_returns() -> None:
    # Dagster closes a step's events when it cannot store one (a database out of connections).
    # The work must be closed then, on that thread: left to the garbage collector, it was closed
    # on one of its own account threads, which then waited for itself, and the run never exited.
    stopping, closed_by = threading.Event(), []

    def work() -> Iterator[dg.AssetMaterialization]:
        try:
            yield dg.AssetMaterialization("raw_campaign_pages", partition="client_1")
            yield dg.AssetMaterialization("raw_campaign_pages", partition="client_2")
        finally:
            closed_by.append(threading.current_thread().name)

    events = work()  # still referenced, as a reference cycle would keep it
    step = per_account.unless_interrupted(events, stopping)
    assert next(step).partition == "client_1"
    step.close()
    assert stopping.is_set()
    assert closed_by == [threading.current_thread().name]


def test_stopping_a_client_cuts_its_backoff_short() -> None:
    """A call waiting out a 30 s backoff (an outage) ends at once when its client is stopped."""
    settings = ClientSettings(
        backoff_base_s=30.0, backoff_jitter=False, rate_limit_backend="memory"
    )
    with MockServer(MockConfig(time_scale=1.0, seed=1)) as mock:
        mock.start_outage("error")
        with AdPlatformClient(settings, _account(mock)) as client:
            in_backoff = lambda: client.stats.as_metadata().get("retries", 0) >= 1  # noqa: E731
            assert isinstance(_stopped_call(client, in_backoff), ClientStopped)
        assert mock.stats()["totals"]["errors_503"] == 1  # nothing was sent after the stop


def test_a_stopped_client_waits_for_no_permit() -> None:
    """With the budget spent for a minute, a stopped client's next call ends at once."""
    settings = ClientSettings(
        rate_limit_requests=1, rate_limit_backend="memory", sync_read_timeout_s=100.0
    )
    with MockServer(MockConfig(time_scale=0.01, error_rate=0.0, hang_rate=0.0)) as mock:
        with AdPlatformClient(settings, _account(mock)) as client:
            assert client.sync_campaign("campaign_1").success  # the one permit of the window
            client.stopping.set()
            assert isinstance(_stopped_call(client, lambda: True), ClientStopped)
        assert mock.stats()["totals"]["admitted"] == 1


def test_a_permit_granted_after_the_stop_sends_nothing() -> None:
    """A call stopped while it waits (2.5 s) for a permit does not send once granted one."""
    settings = ClientSettings(
        rate_limit_requests=1, rate_limit_period_s=2.0, rate_limit_backend="memory"
    )
    with MockServer(MockConfig(time_scale=0.01, error_rate=0.0, hang_rate=0.0)) as mock:
        with AdPlatformClient(settings, _account(mock)) as client:
            assert client.sync_campaign("campaign_1").success  # the one permit of the window
            waiting = time.monotonic() + 0.3  # the call is then long past its first check
            assert isinstance(
                _stopped_call(client, lambda: time.monotonic() > waiting), ClientStopped
            )
        assert mock.stats()["totals"]["admitted"] == 1


def _account(mock: MockServer) -> Account:
    return Account(DEFAULT_CLIENT_ID, mock.url, DEFAULT_EMAIL, DEFAULT_PASSWORD)


def test_a_campaign_that_spent_its_attempts_is_not_retried_by_the_step(
    monkeypatch: pytest.MonkeyPatch, assets_database_url: str, pg: sa.Engine
) -> None:
    """Half the syncs answer 503 and a call has 2 attempts: about a quarter of the campaigns
    fail for good. The step fails without a retry, each campaign cost at most 2 attempts, and
    the platform saw exactly the attempts the records count (a step retry would add more)."""
    config = MockConfig(time_scale=0.01, seed=3, error_rate=0.5, hang_rate=0.0)
    monkeypatch.setenv("AD_PLATFORM_MAX_ATTEMPTS", "2")
    monkeypatch.setenv("AD_PLATFORM_PAGE_SIZE", "100")
    with pipeline_on(config, monkeypatch, assets_database_url, pg) as p:
        result = p.run()
        sent = p.mock.stats()["clients"]["default"]["endpoints"]["sync"]
    assert not any(event.event_type in RETRY_EVENTS for event in result.all_events)
    assert not result.success
    r = campaign_sync_records.c
    with pg.connect() as conn:
        attempts = dict(conn.execute(sa.select(r.campaign_id, r.attempts)).all())
        failed = conn.scalar(sa.select(sa.func.count()).where(r.success.is_(False)))
    assert len(attempts) == 100 and failed and max(attempts.values()) == 2
    assert sent["admitted"] == sum(attempts.values())


def test_the_step_retry_delay_follows_the_time_scale() -> None:
    """5 platform seconds: 50 ms at the tests' time scale 0.01 (the definition is built at load,
    so a fresh interpreter loads it with the scale set)."""
    code = (
        "from mixo_pipeline.definitions import defs; "
        "print(defs().get_assets_def('campaigns').op.retry_policy.delay)"
    )
    env = {**os.environ, "AD_PLATFORM_TIME_SCALE": "0.01"}
    printed = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout
    assert float(printed) == pytest.approx(0.05)
