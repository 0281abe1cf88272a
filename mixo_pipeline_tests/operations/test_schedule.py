"""campaign_sync_schedule: every account, batched into ranged runs; no stampede after downtime."""

from __future__ import annotations

from datetime import UTC, datetime

import dagster as dg

from mixo_pipeline.defs.operations.schedule import campaign_sync_schedule
from mixo_pipeline.names import (
    JOB_NAME,
    RANGE_END_TAG,
    RANGE_START_TAG,
    SCHEDULED_FOR_TAG,
    TRIGGER_TAG,
)
from mixo_pipeline_tests.operations.conftest import add_partitions, requested_partitions

PER_RUN = "MIXO_ACCOUNTS_PER_RUN"

KEYS = [f"client_{n}" for n in range(1, 6)]
TICK = datetime(2026, 11, 22, 14, 0, tzinfo=UTC)


def _evaluate(instance: dg.DagsterInstance) -> list[dg.RunRequest] | dg.SkipReason:
    context = dg.build_schedule_context(instance=instance, scheduled_execution_time=TICK)
    return campaign_sync_schedule(context)


def test_schedule_defaults_to_hourly_and_targets_the_sync_job() -> None:
    assert campaign_sync_schedule.cron_schedule == "0 * * * *"
    assert campaign_sync_schedule.job_name == JOB_NAME
    assert campaign_sync_schedule.execution_timezone == "UTC"


def test_every_account_in_batches_of_consecutive_ranges(monkeypatch, instance, capsys) -> None:
    monkeypatch.setenv(PER_RUN, "2")
    add_partitions(instance, KEYS)
    requests = _evaluate(instance)
    assert isinstance(requests, list)
    assert "3 run(s) requested for 5 of 5 account(s)" in capsys.readouterr().err  # the tick's log
    assert [requested_partitions(r, KEYS) for r in requests] == [
        ["client_1", "client_2"],
        ["client_3", "client_4"],
        ["client_5"],
    ]
    first, _, last = requests
    assert (first.tags[RANGE_START_TAG], first.tags[RANGE_END_TAG]) == ("client_1", "client_2")
    assert last.partition_key == "client_5" and RANGE_START_TAG not in last.tags
    assert {r.tags[TRIGGER_TAG] for r in requests} == {"schedule"}
    assert {r.tags[SCHEDULED_FOR_TAG] for r in requests} == {"2026-11-22T14:00"}
    assert len({r.run_key for r in requests}) == 3  # one key per batch per tick: retries dedupe


def test_default_batch_covers_all_accounts_in_one_run(monkeypatch, instance) -> None:
    monkeypatch.delenv(PER_RUN, raising=False)
    add_partitions(instance, KEYS)
    (request,) = _evaluate(instance)
    assert requested_partitions(request, KEYS) == KEYS


def test_accounts_still_syncing_are_left_out(monkeypatch, instance) -> None:
    """A created, unfinished run for client_2..client_3 makes them IN_PROGRESS: left out."""
    monkeypatch.setenv(PER_RUN, "10")
    for name in ("AD_PLATFORM_API_URL", "AD_PLATFORM_EMAIL", "AD_PLATFORM_PASSWORD"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")  # planning a run resolves its config
    monkeypatch.setenv("DATABASE_URL", "postgresql://unused@127.0.0.1:9/unused")
    add_partitions(instance, KEYS)
    from mixo_pipeline.definitions import defs

    job = defs().resolve_job_def(JOB_NAME)
    instance.create_run_for_job(
        job_def=job,
        tags={RANGE_START_TAG: "client_2", RANGE_END_TAG: "client_3"},
    )
    requests = _evaluate(instance)
    assert [requested_partitions(r, KEYS) for r in requests] == [
        ["client_1"],
        ["client_4", "client_5"],
    ]


def test_no_partitions_yet_is_a_skip(instance) -> None:
    result = _evaluate(instance)
    assert isinstance(result, dg.SkipReason)
    assert "ad_accounts_sensor" in (result.skip_message or "")
