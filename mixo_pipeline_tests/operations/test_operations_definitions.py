"""The operations definitions are wired into the code location, and their knobs validate."""

from __future__ import annotations

import sys
from datetime import timedelta

import dagster as dg
import pytest

from mixo_pipeline.defs.operations.policies import (
    ACCOUNTS_PARTITIONS_NAME,
    ACCOUNTS_PER_RUN_ENV,
    API_POOL,
    DEFAULT_ACCOUNTS_PER_RUN,
    DEFAULT_SYNC_CRON,
    FRESHNESS_INTERVALS_ENV,
    SYNC_CRON_ENV,
    accounts_per_run,
    campaigns_freshness_policy,
    sync_cron,
)
from mixo_pipeline.defs.operations.sync_targets import (
    CAMPAIGNS_KEY,
    SYNC_ASSET_KEYS,
    SYNC_JOB_NAME,
    batch_partitions,
)


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
    job = defs.resolve_job_def(SYNC_JOB_NAME)
    graph = defs.resolve_asset_graph()
    for key in SYNC_ASSET_KEYS:
        node = graph.get(key)
        assert isinstance(node.partitions_def, dg.DynamicPartitionsDefinition)
        assert node.partitions_def.name == ACCOUNTS_PARTITIONS_NAME
        assert key in job.asset_layer.executable_asset_keys
    pools = {pool for node in job.graph.node_defs for pool in [node.pool] if pool}
    assert API_POOL in pools


def _load_fresh(monkeypatch: pytest.MonkeyPatch, env: dict[str, str | None]) -> dg.Definitions:
    """The code location as a code server loads it: its modules imported anew, under ``env``
    (``None`` unsets a variable).

    The knobs in ``policies`` are read when the definition modules are imported, and a test
    process imports them once, under whatever environment the first test to load them had: a
    test that set ``MIXO_ACCOUNTS_PER_RUN=2`` for its sensor baked a batch of 2 into the asset for
    every later test. Dropping those modules from ``sys.modules`` for this test only (monkeypatch
    puts them and the packages' attributes back afterwards) makes this load this test's own.
    """
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
        (
            {ACCOUNTS_PER_RUN_ENV: None, SYNC_CRON_ENV: None, FRESHNESS_INTERVALS_ENV: None},
            DEFAULT_ACCOUNTS_PER_RUN,
            DEFAULT_SYNC_CRON,
            timedelta(hours=2),
        ),
        (
            {
                ACCOUNTS_PER_RUN_ENV: "7",
                SYNC_CRON_ENV: "*/10 * * * *",
                FRESHNESS_INTERVALS_ENV: "3",
            },
            7,
            "*/10 * * * *",
            timedelta(minutes=30),
        ),
    ],
)
def test_load_time_knobs_reach_the_definitions(monkeypatch, env, batch, cron, fail_window) -> None:
    defs = _load_fresh(monkeypatch, env)
    campaigns_node = defs.resolve_asset_graph().get(CAMPAIGNS_KEY)
    assert campaigns_node.backfill_policy == dg.BackfillPolicy.multi_run(batch)
    assert campaigns_node.freshness_policy.fail_window.to_timedelta() == fail_window
    assert defs.resolve_schedule_def("campaign_sync_schedule").cron_schedule == cron


def test_freshness_window_is_a_multiple_of_the_schedule_interval() -> None:
    policy = campaigns_freshness_policy({"MIXO_SYNC_CRON": "*/10 * * * *"})
    assert policy.fail_window.to_timedelta() == timedelta(minutes=20)
    assert policy.warn_window.to_timedelta() == timedelta(minutes=15)
    hourly = campaigns_freshness_policy({"MIXO_FRESHNESS_INTERVALS": "3"})
    assert hourly.fail_window.to_timedelta() == timedelta(hours=3)


@pytest.mark.parametrize(
    ("call", "env", "message"),
    [
        (sync_cron, {"MIXO_SYNC_CRON": "every hour"}, "not a valid cron string"),
        (accounts_per_run, {"MIXO_ACCOUNTS_PER_RUN": "0"}, "must be at least 1"),
        (accounts_per_run, {"MIXO_ACCOUNTS_PER_RUN": "many"}, "must be a whole number"),
        (campaigns_freshness_policy, {"MIXO_FRESHNESS_INTERVALS": "1"}, "greater than 1"),
    ],
)
def test_bad_settings_fail_loudly_naming_the_variable(call, env, message) -> None:
    name = next(iter(env))
    with pytest.raises(ValueError, match=f"{name}.*{message}"):
        call(env)


def test_batches_never_span_an_unwanted_account() -> None:
    keys = [f"c{i}" for i in range(8)]
    assert batch_partitions(keys, ["c0", "c1", "c2", "c4", "c5", "c7"], 2) == [
        ["c0", "c1"],
        ["c2"],
        ["c4", "c5"],
        ["c7"],
    ]
    assert batch_partitions(keys, keys, 3) == [["c0", "c1", "c2"], ["c3", "c4", "c5"], ["c6", "c7"]]
