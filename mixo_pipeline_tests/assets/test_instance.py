"""The repository's own ``dagster.yaml`` and ``workspace.yaml`` on a PostgreSQL-backed instance,
and a run worker killed mid-sync whose run is re-executed from failure."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import tomllib

import dagster as dg
import pytest
import sqlalchemy as sa
import yaml
from dagster._core.workspace.context import WorkspaceProcessContext
from dagster._core.workspace.load_target import WorkspaceFileTarget

from mixo_pipeline import names
from mixo_pipeline.database import REPO_ROOT
from mixo_pipeline.storage.raw_pages import NoCycleError, load_cycle
from mixo_pipeline.storage.schema import campaign_sync_records
from mixo_pipeline.storage.sync_records import succeeded_ids
from mock_api import MockConfig, MockServer

from .conftest import load_defs, point_at


def sync_job() -> dg.JobDefinition:
    """The job as a reconstructable target (``dg.reconstructable`` needs a module function)."""
    return load_defs().resolve_job_def(names.JOB_NAME)


def test_workspace_and_instance_load_and_run_the_job(
    repo_instance: dg.DagsterInstance,
    monkeypatch: pytest.MonkeyPatch,
    assets_database_url: str,
    pg: sa.Engine,
) -> None:
    assert type(repo_instance.run_storage).__name__ == "PostgresRunStorage"
    assert type(repo_instance.event_log_storage).__name__ == "PostgresEventLogStorage"
    workspace = yaml.safe_load((REPO_ROOT / "workspace.yaml").read_text())
    location = workspace["load_from"][0]["python_module"]
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    assert location["location_name"] == project["tool"]["dg"]["project"]["code_location_name"]

    config = MockConfig(time_scale=0.01, seed=11, campaigns=20)
    with MockServer(config) as mock:
        point_at(monkeypatch, mock, assets_database_url, rate_limit_backend="postgres")
        target = WorkspaceFileTarget(paths=[str(REPO_ROOT / "workspace.yaml")])
        with WorkspaceProcessContext(repo_instance, target) as context:
            request = context.create_request_context()
            assert request.get_code_location_error(location["location_name"]) is None
            code_location = request.get_code_location(location["location_name"])
            repository = next(iter(code_location.get_repositories().values()))
            assert repository.has_job("campaign_sync_job")

        repo_instance.add_dynamic_partitions("ad_accounts", ["default"])
        result = dg.execute_job(
            dg.reconstructable(sync_job), repo_instance, tags={"dagster/partition": "default"}
        )
        assert result.success
        stored = repo_instance.get_run_by_id(result.run_id)
        assert stored is not None and stored.status == dg.DagsterRunStatus.SUCCESS
        status = repo_instance.get_status_by_partition(
            dg.AssetKey("campaigns"),
            ["default"],
            load_defs().get_assets_def("campaigns").partitions_def,
        )
        assert status == {"default": dg.AssetPartitionStatus.MATERIALIZED}


def _wait_for_checkpoints(engine: sa.Engine, at_least: int, timeout_s: float) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            cycle = load_cycle(engine, "default")
        except NoCycleError:
            cycle = None
        if cycle and len(succeeded_ids(engine, "default", cycle.cycle_id)) >= at_least:
            return cycle.cycle_id
        time.sleep(0.02)
    raise AssertionError(f"fewer than {at_least} campaigns synced within {timeout_s} s")


def test_run_killed_mid_sync_resumes_without_resyncing(
    repo_instance: dg.DagsterInstance,
    monkeypatch: pytest.MonkeyPatch,
    assets_database_url: str,
    pg: sa.Engine,
) -> None:
    campaigns = 40
    config = MockConfig(time_scale=0.01, seed=5, campaigns=campaigns)  # 503s and hangs on
    with MockServer(config) as mock:
        point_at(monkeypatch, mock, assets_database_url, rate_limit_backend="postgres")
        worker = subprocess.Popen(
            [sys.executable, "-m", "mixo_pipeline_tests.assets.job_runner", "default"],
            cwd=REPO_ROOT,
            env=dict(os.environ),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            cycle_id = _wait_for_checkpoints(pg, at_least=12, timeout_s=60)
        finally:
            worker.kill()
            worker.wait()
        killed = repo_instance.get_runs(limit=1)[0]
        assert killed.run_id == cycle_id and killed.status == dg.DagsterRunStatus.STARTED
        # What run monitoring does for a dead worker: the run is marked failed.
        repo_instance.report_run_failed(killed)
        done_before = succeeded_ids(pg, "default", cycle_id)
        assert 12 <= len(done_before) < campaigns

        result = dg.execute_job(
            dg.reconstructable(sync_job),
            repo_instance,
            # As the UI's "re-execute from failure" does, the partition tag carries over.
            tags={"dagster/partition": killed.tags["dagster/partition"]},
            reexecution_options=dg.ReexecutionOptions.from_failure(killed.run_id, repo_instance),
        )
        assert result.success
        with pg.connect() as conn:
            rows = conn.execute(
                sa.select(campaign_sync_records.c.campaign_id, campaign_sync_records.c.run_id)
                .where(campaign_sync_records.c.cycle_id == cycle_id)
                .where(campaign_sync_records.c.success.is_(True))
            ).all()
        by_reexecution = {r.campaign_id for r in rows if r.run_id == result.run_id}
        assert len(rows) == campaigns
        assert by_reexecution == {r.campaign_id for r in rows} - done_before
        # The platform saw each finished campaign synced once, plus at most the calls that were
        # in flight when the worker died (sync concurrency 10): never the whole listing again.
        synced_by_platform = mock.stats()["totals"]["syncs_completed"]
        assert campaigns <= synced_by_platform <= campaigns + 10
