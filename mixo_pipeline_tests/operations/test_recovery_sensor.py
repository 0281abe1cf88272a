"""outage_recovery_sensor: nothing while the platform is down, then exactly the failed and
missing accounts, batched, capped, with backoff for accounts that keep failing."""

from __future__ import annotations

import json

import dagster as dg

from mixo_pipeline.defs.operations import recovery_sensor
from mixo_pipeline.defs.operations.recovery_sensor import outage_recovery_sensor
from mixo_pipeline.defs.operations.sync_targets import AccountHealth, account_health
from mixo_pipeline.names import TRIGGER_TAG
from mixo_pipeline_tests.operations.conftest import Pipeline, add_partitions, requested_partitions

PER_RUN, MAX_PARTITIONS = "MIXO_ACCOUNTS_PER_RUN", "MIXO_RECOVERY_MAX_PARTITIONS"
BACKOFF, PROBE_TIMEOUT = "MIXO_RECOVERY_BACKOFF_S", "MIXO_HEALTH_TIMEOUT_S"


def _tick(pipeline: Pipeline, instance: dg.DagsterInstance, cursor: str | None) -> dg.SensorResult:
    context = dg.build_sensor_context(
        instance=instance, cursor=cursor, resources=pipeline.defs.resources
    )
    result = outage_recovery_sensor(context)
    assert isinstance(result, dg.SensorResult)
    return result


def _requested(result: dg.SensorResult, keys: list[str]) -> list[list[str]]:
    return [requested_partitions(r, keys) for r in result.run_requests or []]


def test_requests_exactly_failed_and_missing_accounts_once_the_platform_answers(
    pipeline, instance, monkeypatch, capsys
) -> None:
    monkeypatch.setenv(PER_RUN, "2")
    p = pipeline(6, wrong_password=["client_2"])
    keys = p.client_ids
    add_partitions(instance, keys)
    for key in ["client_1", "client_2", "client_3"]:  # client_4..6 never synced: missing
        p.run(instance, dg.RunRequest(partition_key=key))
    health = account_health(instance, keys)
    assert [health[k] for k in keys[:3]] == [
        AccountHealth.HEALTHY,
        AccountHealth.FAILED,
        AccountHealth.HEALTHY,
    ]

    p.mock.start_outage("error")
    down = _tick(p, instance, None)
    assert down.run_requests == []
    assert "wait for their platform to answer /health" in down.skip_reason.skip_message
    assert p.mock.url in json.loads(down.cursor)["down_since"]

    p.mock.stop_outage()
    capsys.readouterr()
    up = _tick(p, instance, down.cursor)
    assert _requested(up, keys) == [["client_2"], ["client_4", "client_5"], ["client_6"]]
    tick_log = capsys.readouterr().err  # what the tick's "View logs" shows
    assert "failed or missing: client_2, client_4, client_5, client_6 (of 6 accounts)" in tick_log
    assert f"/health: {p.mock.url} answers" in tick_log
    assert "3 run(s) requested: client_2, client_4, client_5, client_6" in tick_log
    assert {r.tags[TRIGGER_TAG] for r in up.run_requests} == {"recovery"}
    assert json.loads(up.cursor)["down_since"] == {}

    # The runs were not launched here: the next tick must not request them again (backoff).
    again = _tick(p, instance, up.cursor)
    assert again.run_requests == []
    assert "backoff" in again.skip_reason.skip_message

    # Launch what was requested, as the daemon would; the wrong password still fails client_2.
    for request in up.run_requests:
        p.run(instance, request)
    health = account_health(instance, keys)
    assert {k for k in keys if health[k] is not AccountHealth.HEALTHY} == {"client_2"}
    cursor = json.loads(_tick(p, instance, up.cursor).cursor)
    assert list(cursor["attempts"]) == ["client_2"], "healthy accounts leave the cursor"


def test_hanging_platform_counts_as_down(pipeline, instance, monkeypatch) -> None:
    monkeypatch.setenv(PROBE_TIMEOUT, "0.5")
    p = pipeline(1)
    add_partitions(instance, p.client_ids)
    p.mock.start_outage("hang")
    result = _tick(p, instance, None)
    assert result.run_requests == []
    p.mock.stop_outage()


def test_cap_counts_accounts_already_in_progress(pipeline, instance, monkeypatch) -> None:
    monkeypatch.setenv(MAX_PARTITIONS, "3")
    monkeypatch.setenv(BACKOFF, "300")
    p = pipeline(5)
    add_partitions(instance, p.client_ids)
    first = _tick(p, instance, None)
    assert sum(len(b) for b in _requested(first, p.client_ids)) == 3
    assert _requested(first, p.client_ids) == [["client_1", "client_2", "client_3"]]
    # A run for client_4 is queued by someone else: it counts against the cap.
    instance.create_run_for_job(job_def=p.job, tags={"dagster/partition": "client_4"})
    second = _tick(p, instance, None)
    assert _requested(second, p.client_ids) == [["client_1", "client_2"]]


def test_healthy_deployment_probes_nothing(pipeline, instance, monkeypatch) -> None:
    p = pipeline(2)
    add_partitions(instance, p.client_ids)
    for key in p.client_ids:
        p.run(instance, dg.RunRequest(partition_key=key))
    probed: list[list[str]] = []
    real_probe_all = recovery_sensor.probe_all
    monkeypatch.setattr(
        recovery_sensor,
        "probe_all",
        lambda urls, timeout: probed.append(list(urls)) or real_probe_all(urls, timeout),
    )
    result = _tick(p, instance, None)
    assert result.run_requests == []
    assert result.skip_reason.skip_message == "all 2 account(s) healthy"
    assert probed == []
