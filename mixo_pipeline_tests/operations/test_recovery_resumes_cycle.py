"""A run that fails part-way, then a NEW run (the recovery sensor's, not a re-execution): the new
run resumes each account's unfinished cycle and syncs exactly the campaigns the first one left.

The first run gets ``max_attempts=1`` against a mock that answers 30 % of requests with 503 and
never hangs, so about 30 syncs per account fail for good and the step fails; two accounts in one
run, as the schedule batches them (a one-account step would be retried by Dagster in the same
run instead). The listing is one page (``page_size=100``), and seed 5 makes each account's first
request, that page, succeed, so every failure is a sync.

Both runs have the conftest's patient timeouts: with the documented 50 ms at this time scale, a
loaded machine made the client time out on syncs the mock then completed, so the platform had
done more than the run recorded and the counts below could not be exact.
"""

from __future__ import annotations

import dagster as dg
import sqlalchemy as sa

from mixo_pipeline.defs.operations.recovery_sensor import outage_recovery_sensor
from mixo_pipeline.names import RANGE_END_TAG, RANGE_START_TAG
from mixo_pipeline.storage.schema import campaign_sync_records
from mixo_pipeline.storage.sync_records import succeeded_ids
from mixo_pipeline_tests.operations.conftest import (
    add_partitions,
    requested_partitions,
    stored_campaigns,
)

CAMPAIGNS = 100


def _synced_by_mock(p, keys: list[str]) -> dict[str, int]:
    clients = p.mock.stats()["clients"]
    return {key: clients[key]["syncs_completed"] for key in keys}


def _metadata(result: dg.ExecuteInProcessResult, asset: str) -> dict[str, dict]:
    """``asset``'s materialization metadata per account (partition)."""
    found = {}
    for event in result.get_asset_materialization_events():
        materialization = event.step_materialization_data.materialization
        if materialization.asset_key == dg.AssetKey(asset):
            found[materialization.partition] = {
                k: v.value for k, v in materialization.metadata.items()
            }
    return found


def test_a_new_run_after_a_partial_failure_syncs_only_the_rest(
    pipeline, instance, monkeypatch, ops_db
):
    monkeypatch.setenv("MIXO_ACCOUNTS_PER_RUN", "2")
    p = pipeline(2, campaigns=CAMPAIGNS, error_rate=0.3, hang_rate=0.0, seed=5)
    keys = p.client_ids
    add_partitions(instance, keys)

    first = p.job.execute_in_process(
        instance=instance,
        tags={RANGE_START_TAG: keys[0], RANGE_END_TAG: keys[-1]},
        run_config=p.run_config(max_attempts=1, page_size=CAMPAIGNS),
        raise_on_error=False,
    )
    assert not first.success
    left = {key: CAMPAIGNS - len(succeeded_ids(ops_db, key, first.run_id)) for key in keys}
    assert all(0 < n < CAMPAIGNS for n in left.values()), left
    after_first = _synced_by_mock(p, keys)
    assert after_first == {key: CAMPAIGNS - left[key] for key in keys}

    tick = outage_recovery_sensor(
        dg.build_sensor_context(instance=instance, resources=p.defs.resources)
    )
    assert isinstance(tick, dg.SensorResult)
    assert [requested_partitions(r, keys) for r in tick.run_requests] == [keys]
    second = p.job.execute_in_process(
        instance=instance,
        tags=dict(tick.run_requests[0].tags),
        run_config=p.run_config(),
        raise_on_error=False,
    )
    assert second.success
    assert second.run_id != first.run_id and second.dagster_run.root_run_id is None

    # The second run synced exactly the campaigns the first left, and the platform completed
    # exactly those: no campaign the first run finished was sent again. (No call timed out, so
    # none was resent: a resend would complete on the platform twice.)
    sync_meta = _metadata(second, "campaign_sync_records")
    assert {key: meta["timeouts"] for key, meta in sync_meta.items()} == dict.fromkeys(keys, 0)
    assert {key: meta["synced"] for key, meta in sync_meta.items()} == left
    after_second = _synced_by_mock(p, keys)
    assert {key: after_second[key] - after_first[key] for key in keys} == left
    for key, meta in _metadata(second, "raw_campaign_pages").items():
        assert (meta["cycle_id"], meta["cycle_resumed"]) == (first.run_id, True), key
        assert f"{left[key]} of {CAMPAIGNS} campaigns unsynced" in meta["cycle_choice"]
    assert all(evaluation.passed for evaluation in second.get_asset_check_evaluations())

    per_account, rows = stored_campaigns(ops_db)
    with ops_db.connect() as conn:
        records = conn.execute(
            sa.select(
                campaign_sync_records.c.cycle_id,
                sa.func.count(),
                sa.func.count().filter(campaign_sync_records.c.success),
            ).group_by(campaign_sync_records.c.cycle_id)
        ).all()
    assert per_account == dict.fromkeys(keys, CAMPAIGNS)
    assert rows == CAMPAIGNS * len(keys), "no duplicates"
    # One cycle: the first run's, every campaign of both accounts recorded once, as a success.
    assert [tuple(r) for r in records] == [(first.run_id, 200, 200)]
