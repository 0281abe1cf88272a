"""The operations definitions are wired into the code location, and their cadence follows the
settings."""

from __future__ import annotations

import sys
from datetime import timedelta

import dagster as dg
import pytest

from mixo_pipeline.defs.operations.cadence import (
    campaigns_freshness_policy,
    cycle_resume_max_age,
    sync_interval,
)
from mixo_pipeline.defs.operations.sync_targets import batch_partitions
from mixo_pipeline.names import ACCOUNTS_PARTITIONS, API_POOL, CAMPAIGNS, JOB_NAME, STAGES

CRON, INTERVALS, PER_RUN = "MIXO_SYNC_CRON", "MIXO_FRESHNESS_INTERVALS", "MIXO_ACCOUNTS_PER_RUN"
RESUME_AGE = "MIXO_CYCLE_RESUME_MAX_AGE_S"


@pytest.fixture(scope="module")
def defs() -> dg.Definitions:
    from mixo_pipeline.definitions import defs as load

    return load()


def test_schedule_sensors_and_resources_are_in_the_code_location(defs) -> None:
    assert {s.name for s in defs.sensors} >= {
        "ad_accounts_sensor",
        "outage_recovery_sensor",
        "data_quality_alert_sensor",
    }
    assert {s.name for s in defs.schedules} >= {"campaign_sync_schedule"}
    assert "alert_webhook" in defs.resources
    for sensor in defs.sensors:
        assert sensor.default_status == dg.DefaultSensorStatus.RUNNING


def test_the_keys_and_job_the_operations_target_exist_as_expected(defs) -> None:
    job = defs.resolve_job_def(JOB_NAME)
    graph = defs.resolve_asset_graph()
    for key in STAGES:
        node = graph.get(key)
        assert isinstance(node.partitions_def, dg.DynamicPartitionsDefinition)
        assert node.partitions_def.name == ACCOUNTS_PARTITIONS.name
        assert key in job.asset_layer.executable_asset_keys
    pools = {pool for node in job.graph.node_defs for pool in [node.pool] if pool}
    assert API_POOL in pools


def _load_fresh(monkeypatch: pytest.MonkeyPatch, env: dict[str, str | None]) -> dg.Definitions:
    """The code location as a code server loads it: its modules imported anew, under ``env``
    (``None`` unsets a variable). The cadence is read when the definition modules are imported,
    which a test process does once; monkeypatch puts the dropped modules back afterwards."""
    for name, value in env.items():
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    for name in [
        m for m in sys.modules if m.startswith(("mixo_pipeline.defs", "mixo_pipeline.definitions"))
    ]:
        parent, _, child = name.rpartition(".")
        if hasattr(sys.modules.get(parent), child):
            monkeypatch.setattr(sys.modules[parent], child, getattr(sys.modules[parent], child))
        monkeypatch.delitem(sys.modules, name)
    from mixo_pipeline.definitions import defs as load

    return load()


@pytest.mark.parametrize(
    ("env", "batch", "cron", "fail_window"),
    [
        ({PER_RUN: None, CRON: None, INTERVALS: None}, 50, "0 * * * *", timedelta(hours=3)),
        (
            {PER_RUN: "7", CRON: "*/10 * * * *", INTERVALS: "2"},
            7,
            "*/10 * * * *",
            timedelta(minutes=20),
        ),
    ],
)
def test_load_time_settings_reach_the_definitions(
    monkeypatch, env, batch, cron, fail_window
) -> None:
    defs = _load_fresh(monkeypatch, env)
    campaigns_node = defs.resolve_asset_graph().get(CAMPAIGNS)
    assert campaigns_node.backfill_policy == dg.BackfillPolicy.multi_run(batch)
    assert campaigns_node.freshness_policy.fail_window.to_timedelta() == fail_window
    assert defs.resolve_schedule_def("campaign_sync_schedule").cron_schedule == cron


def test_freshness_warns_halfway_between_one_interval_and_the_failure(monkeypatch) -> None:
    monkeypatch.setenv(CRON, "*/10 * * * *")
    monkeypatch.delenv(INTERVALS, raising=False)
    policy = campaigns_freshness_policy()
    assert policy.fail_window.to_timedelta() == timedelta(minutes=30)
    assert policy.warn_window.to_timedelta() == timedelta(minutes=20)  # whole intervals: the UI
    # rounds its durations ("Warns if more than 2 hours" for 1.5 h), so the defaults read true
    monkeypatch.setenv(CRON, "* * * * *")  # the shortest cron: both windows still >= 1 minute
    monkeypatch.setenv(INTERVALS, "1.5")
    policy = campaigns_freshness_policy()
    assert policy.fail_window.to_timedelta() == timedelta(seconds=90)
    assert policy.warn_window.to_timedelta() == timedelta(seconds=75)


def test_cycles_resume_for_one_interval_unless_set(monkeypatch) -> None:
    monkeypatch.setenv(CRON, "*/10 * * * *")
    monkeypatch.delenv(RESUME_AGE, raising=False)
    assert sync_interval() == cycle_resume_max_age() == timedelta(minutes=10)
    monkeypatch.setenv(RESUME_AGE, "0")
    assert cycle_resume_max_age() == timedelta(0)


def test_an_invalid_cron_fails_naming_its_variable(monkeypatch) -> None:
    monkeypatch.setenv(CRON, "every hour")
    with pytest.raises(ValueError, match=f"{CRON}='every hour' is not a valid cron"):
        sync_interval()


def test_batches_never_span_an_unwanted_account() -> None:
    keys = [f"c{i}" for i in range(8)]
    assert batch_partitions(keys, ["c0", "c1", "c2", "c4", "c5", "c7"], 2) == [
        ["c0", "c1"],
        ["c2"],
        ["c4", "c5"],
        ["c7"],
    ]
    assert batch_partitions(keys, keys, 3) == [["c0", "c1", "c2"], ["c3", "c4", "c5"], ["c6", "c7"]]
