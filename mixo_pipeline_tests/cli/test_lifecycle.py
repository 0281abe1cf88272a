"""The launcher's children and runs, against real processes and real signals.

Each launcher runs in a subprocess with a ``MIXO_HOME`` of its own (so its own embedded
PostgreSQL in ``MIXO_HOME/postgres``), at time scale 0.01.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import ClassVar

import dagster as dg
import psutil
import pytest
import sqlalchemy as sa

from mixo_pipeline.cli.progress import RunProgress
from mixo_pipeline.cli.stack import prepare_instance
from mixo_pipeline.database import (
    DAGSTER_DATABASE,
    DAGSTER_ROLE,
    REPO_ROOT,
    EmbeddedPostgres,
    dagster_storage_url,
    engine_for,
    start_embedded_postgres,
)
from mixo_pipeline.names import API_POOL

STARTUP_LINE = "Database: "
RUNNING_LINE = "listing campaigns"  # the sync step has started: the run is STARTED


class Launcher:
    """``python -m mixo_pipeline.cli ARGS`` in a new session, its stdout read line by line."""

    started: ClassVar[list[Launcher]] = []

    def __init__(self, home: Path, *args: str) -> None:
        self.stderr = home.parent / f"launcher-{len(Launcher.started)}.err"
        home.parent.mkdir(parents=True, exist_ok=True)
        env = {
            name: value
            for name, value in os.environ.items()
            if not name.startswith(("AD_PLATFORM_", "MIXO_", "DAGSTER_", "DATABASE_URL"))
        }
        self.process = subprocess.Popen(
            [sys.executable, "-m", "mixo_pipeline.cli", "--time-scale", "0.01", *args],
            cwd=REPO_ROOT,
            env={**env, "MIXO_HOME": str(home), "PYTHONUNBUFFERED": "1"},
            stdout=subprocess.PIPE,
            stderr=(stderr := self.stderr.open("w")),
            text=True,
            start_new_session=True,  # a Ctrl-C for its process group reaches nothing else
        )
        stderr.close()  # the child has its own
        Launcher.started.append(self)
        self.lines: list[str] = []
        self._queue: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self) -> None:
        for line in self.process.stdout:  # type: ignore[union-attr]
            self._queue.put(line)
        self._queue.put("")

    def wait_for(self, text: str, timeout: float = 120) -> str:
        """The next line containing ``text``."""
        deadline = time.monotonic() + timeout
        while line := self._queue.get(timeout=max(deadline - time.monotonic(), 0.01)):
            self.lines.append(line)
            if text in line:
                return line
        errors = self.stderr.read_text()[-3000:]
        raise AssertionError(f"stdout ended without {text!r}: {self.lines}\nstderr: {errors}")

    def children(self) -> list[psutil.Process]:
        return psutil.Process(self.process.pid).children(recursive=True)

    def wait(self, timeout: float = 120) -> int:
        code = self.process.wait(timeout=timeout)
        while line := self._queue.get(timeout=5):  # the rest of stdout
            self.lines.append(line)
        return code


def postmaster(home: Path) -> psutil.Process:
    """The embedded server's main process, from ``postmaster.pid`` (first line: its PID)."""
    pid_file = home / "postgres" / "postmaster.pid"
    return psutil.Process(int(pid_file.read_text().split()[0]))


def handles(home: Path) -> list[int]:
    """The PIDs the wheel believes use the server (``.handle_pids.json``)."""
    return json.loads((home / "postgres" / ".handle_pids.json").read_text())


def assert_gone(processes: list[psutil.Process], timeout: float = 20) -> None:
    _, alive = psutil.wait_procs(processes, timeout=timeout)
    for process in alive:  # leave nothing behind, even when failing
        process.terminate()
    assert not alive, f"still running: {[(p.pid, p.cmdline()) for p in alive]}"


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Path]:
    """The launchers' ``MIXO_HOME``; whatever a failed test left running there is stopped."""
    home = tmp_path / "mixo"
    yield home
    for launcher in Launcher.started:
        if launcher.process.poll() is None:
            os.killpg(launcher.process.pid, signal.SIGKILL)
            launcher.process.wait()
    Launcher.started.clear()
    with contextlib.suppress(FileNotFoundError, psutil.NoSuchProcess):
        server = postmaster(home)
        server.send_signal(signal.SIGINT)  # PostgreSQL's fast shutdown
        server.wait(30)


@pytest.mark.parametrize(
    ("signum", "after", "to_group"),
    [
        pytest.param(signal.SIGINT, RUNNING_LINE, True, id="ctrl-c-mid-run"),
        pytest.param(signal.SIGTERM, STARTUP_LINE, False, id="sigterm-at-start-up"),
    ],
)
def test_an_interrupted_launcher_stops_its_database_and_mock(
    home: Path, signum: signal.Signals, after: str, to_group: bool
) -> None:
    launcher = Launcher(home)
    launcher.wait_for(after)
    children = [postmaster(home), *launcher.children()]
    assert any("mock_api" in " ".join(p.cmdline()) for p in children), children
    if to_group:  # what a terminal's Ctrl-C does: the launcher and the mock get SIGINT
        os.killpg(launcher.process.pid, signum)
    else:
        launcher.process.send_signal(signum)
    launcher.wait()
    assert_gone(children)
    assert handles(home) == []


def test_after_sigkill_the_mock_dies_and_the_next_start_clears_the_rest(home: Path) -> None:
    killed = Launcher(home)
    run_id = killed.wait_for("Run ").split()[1]
    killed.wait_for(RUNNING_LINE)
    server, mocks = postmaster(home), killed.children()
    killed.process.kill()
    killed.wait()
    assert_gone(mocks)  # its stdin pipe closed with the launcher
    assert server.is_running() and handles(home) == [killed.process.pid]  # the stale handle

    nxt = Launcher(home, "--dg", "--version")  # any start: `dg --version` is the quickest
    assert nxt.wait() == 0
    assert f"Run {run_id} marked failed" in "".join(nxt.lines)
    assert_gone([server])  # adopted, then stopped as the last user's
    assert handles(home) == []

    restarted = start_embedded_postgres(home / "postgres", cleanup="stop")
    try:
        assert run_status(restarted, run_id) == dg.DagsterRunStatus.FAILURE
    finally:
        restarted.stop()


def run_status(server: EmbeddedPostgres, run_id: str) -> dg.DagsterRunStatus:
    storage = {"postgres": {"postgres_url": dagster_storage_url(server.url(DAGSTER_DATABASE))}}
    with dg.instance_for_test(overrides={"storage": storage}) as instance:
        run = instance.get_run_by_id(run_id)
    assert run is not None
    return run.status


@contextmanager
def pool_instance(url: str) -> Iterator[dg.DagsterInstance]:
    """An instance on ``url`` with dagster.yaml's pool default (none is set otherwise)."""
    overrides = {
        "storage": {"postgres": {"postgres_url": dagster_storage_url(url)}},
        "concurrency": {"pools": {"default_limit": 4}},
    }
    with dg.instance_for_test(overrides=overrides) as instance:
        yield instance


@pytest.fixture
def fresh_database(embedded_postgres: EmbeddedPostgres) -> Iterator[str]:
    embedded_postgres.drop_database("mixo_lifecycle")
    yield embedded_postgres.create_database("mixo_lifecycle", DAGSTER_ROLE)
    embedded_postgres.drop_database("mixo_lifecycle")


def test_two_starts_initializing_the_pool_limit_at_once_both_succeed(
    fresh_database: str,
) -> None:
    with pool_instance(fresh_database) as instance:
        _race_the_pool_limit(instance, fresh_database)
        limits = instance.event_log_storage.get_pool_limits()
    assert [(p.name, p.limit, p.from_default) for p in limits] == [(API_POOL, 4, True)]


def _race_the_pool_limit(instance: dg.DagsterInstance, url: str) -> None:
    """``prepare_instance`` while another start holds its limit row uncommitted, then commits."""
    engine = sa.create_engine(dagster_storage_url(url), poolclass=sa.NullPool)
    errors: list[BaseException] = []

    def prepare() -> None:
        try:
            prepare_instance(instance)
        except BaseException as error:
            errors.append(error)

    with engine.connect() as other:  # another launcher, mid-way through initializing the pool
        other.execute(
            sa.text(
                'INSERT INTO concurrency_limits (concurrency_key, "limit", using_default_limit) '
                "VALUES (:key, 4, true)"
            ),
            {"key": API_POOL},
        )
        thread = threading.Thread(target=prepare)
        thread.start()
        _wait_until_blocked(engine, thread)
        other.commit()
    thread.join(timeout=30)
    engine.dispose()
    assert not thread.is_alive() and not errors, errors


def _wait_until_blocked(engine: sa.Engine, thread: threading.Thread) -> None:
    """Until the thread's INSERT waits on the uncommitted row (a lock wait in PostgreSQL)."""
    query = sa.text(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
        "AND wait_event_type = 'Lock'"
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and thread.is_alive():
        with engine.connect() as conn:
            if conn.execute(query).scalar():
                return
        time.sleep(0.05)
    raise AssertionError("the start never waited on the other's row")


@dg.op
def materialize_blip_asset(context) -> None:  # an annotation would be a string here
    """Any materialization: an event the progress display reports."""
    context.log_event(dg.AssetMaterialization("blip_asset"))


@dg.job
def blip_job() -> None:
    materialize_blip_asset()


def test_progress_survives_a_database_blip(
    embedded_postgres: EmbeddedPostgres, fresh_database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    run_id, output = str(uuid.uuid4()), []

    def wait_for(text: str) -> None:
        deadline = time.monotonic() + 60
        while not any(text in line for line in output) and time.monotonic() < deadline:
            time.sleep(0.1)
            output.extend(capsys.readouterr().out.splitlines())
        assert any(text in line for line in output), output

    engine = engine_for(fresh_database)
    with pool_instance(fresh_database) as instance, RunProgress(instance, run_id, engine, "x"):
        refuse_connections(embedded_postgres, "mixo_lifecycle", True)
        try:
            wait_for("database unreachable: progress paused")
        finally:
            refuse_connections(embedded_postgres, "mixo_lifecycle", False)
        blip_job.execute_in_process(instance=instance, run_id=run_id)
        wait_for("materialized blip_asset")  # printed by the same thread, after the blip


def refuse_connections(server: EmbeddedPostgres, database: str, refuse: bool) -> None:
    """A database blip: new connections refused and every open one terminated, or allowed back."""
    admin = sa.create_engine(server.url("postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS {not refuse}'))
        if refuse:
            conn.execute(
                sa.text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :db"
                ),
                {"db": database},
            )
    admin.dispose()
