"""One run over several accounts tells the truth per account, as the instance records it.

Three accounts in one ranged run (what the schedule and batched backfills launch); client_2's
password is wrong. The UI's partition status (read here from the instance) must show client_1 and
client_3 materialized for every asset, and client_2 failed, never materialized.
"""

from __future__ import annotations

import dagster as dg

from mixo_pipeline.names import ACCOUNTS_PARTITIONS, RANGE_END_TAG, RANGE_START_TAG, STAGES


def test_multi_account_run_status_is_per_account(pipeline, instance) -> None:
    p = pipeline(3, wrong_password=["client_2"])
    instance.add_dynamic_partitions(ACCOUNTS_PARTITIONS.name, p.client_ids)
    result = p.run(
        instance, dg.RunRequest(tags={RANGE_START_TAG: "client_1", RANGE_END_TAG: "client_3"})
    )
    assert not result.success, "the run fails: one of its accounts failed"

    status = {
        key.to_user_string(): instance.get_status_by_partition(
            key, p.client_ids, ACCOUNTS_PARTITIONS
        )
        for key in STAGES
    }
    materialized = dg.AssetPartitionStatus.MATERIALIZED
    for asset, by_partition in status.items():
        assert by_partition["client_1"] == materialized, (asset, by_partition)
        assert by_partition["client_3"] == materialized, (asset, by_partition)
        assert by_partition["client_2"] != materialized, (asset, by_partition)
    assert status["raw_campaign_pages"]["client_2"] == dg.AssetPartitionStatus.FAILED
