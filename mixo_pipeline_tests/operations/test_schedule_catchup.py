"""After ten hours of daemon downtime the scheduler launches one catch-up tick, not ten.

This drives Dagster's own scheduler loop (the code the daemon runs) against the real code
location, with time frozen, and counts the runs it queues.
"""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
from dagster._core.remote_origin import (  # reason: no public API runs the scheduler
    InProcessCodeLocationOrigin,
)
from dagster._core.test_utils import (  # reason: no public API runs the scheduler
    create_test_daemon_workspace_context,
    freeze_time,
)
from dagster._core.types.loadable_target_origin import (  # reason: no public API runs the scheduler
    LoadableTargetOrigin,
)
from dagster._core.workspace.load_target import (  # reason: no public API runs the scheduler
    InProcessWorkspaceLoadTarget,
)
from dagster._scheduler.scheduler import (  # reason: no public API runs the scheduler
    launch_scheduled_runs,
)

from mixo_pipeline.names import SCHEDULED_FOR_TAG
from mixo_pipeline_tests.operations.conftest import add_partitions

REPO_ROOT = Path(__file__).resolve().parents[2]
_LOG = logging.getLogger("scheduler")
START = datetime(2026, 11, 22, 2, 30, tzinfo=UTC)


def _workspace_target() -> InProcessWorkspaceLoadTarget:
    return InProcessWorkspaceLoadTarget(
        InProcessCodeLocationOrigin(
            LoadableTargetOrigin(
                executable_path=sys.executable,
                module_name="mixo_pipeline.definitions",
                attribute="defs",
                working_directory=str(REPO_ROOT),
            ),
            location_name="mixo_pipeline",
        )
    )


def _tick(context, now: datetime) -> None:
    with freeze_time(now):
        errors = [e for e in launch_scheduled_runs(context, _LOG, now, {}) if e is not None]
    assert errors == []


def test_downtime_of_ten_ticks_launches_one_catch_up(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("MIXO_ACCOUNTS_PER_RUN", "2")
    for name in ("AD_PLATFORM_API_URL", "AD_PLATFORM_EMAIL", "AD_PLATFORM_PASSWORD"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")  # queued, never executed
    monkeypatch.setenv("DATABASE_URL", "postgresql://unused@127.0.0.1:9/unused")
    home = tmp_path / "home"
    home.mkdir()
    queued = {
        "run_coordinator": {
            "module": "dagster._core.run_coordinator",
            "class": "QueuedRunCoordinator",
        }
    }
    with dg.instance_for_test(temp_dir=str(home), overrides=queued) as instance:
        add_partitions(instance, ["client_1", "client_2", "client_3"])
        with create_test_daemon_workspace_context(_workspace_target(), instance) as context:
            # The schedule is RUNNING by default: the daemon's first pass at 02:30 records it.
            _tick(context, START)
            assert instance.get_runs() == []
            _tick(context, START + timedelta(minutes=31))  # the 03:00 tick, on time
            on_time = instance.get_runs()
            assert len(on_time) == 2  # client_1..client_2, client_3
            for run in on_time:  # they ran and finished (how does not matter to the schedule)
                instance.report_run_canceled(run)

            # The daemon is down from 03:01 until 13:05: ticks 04:00 .. 13:00 are missed.
            _tick(context, START + timedelta(hours=10, minutes=35))
            runs = instance.get_runs()
            after = [r for r in runs if r.run_id not in {o.run_id for o in on_time}]
            assert len(after) == 2, "one catch-up tick (two batches), not ten"
            assert {r.tags[SCHEDULED_FOR_TAG] for r in after} == {"2026-11-22T13:00"}
            assert {r.status for r in after} == {dg.DagsterRunStatus.QUEUED}
