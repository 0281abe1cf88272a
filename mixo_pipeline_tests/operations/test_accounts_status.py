"""The command-line view of account health, and the list a command-line backfill takes."""

from __future__ import annotations

import dagster as dg

from mixo_pipeline.accounts_status import main
from mixo_pipeline.defs.operations.sync_targets import SYNC_ASSET_KEYS
from mixo_pipeline_tests.operations.conftest import add_partitions


def test_lists_failed_and_missing_accounts(instance, capsys) -> None:
    add_partitions(instance, ["client_1", "client_2", "client_3", "client_4"])
    for key in SYNC_ASSET_KEYS:  # client_1 and client_4 fully synced, client_3 only in part
        for partition in ("client_1", "client_4"):
            instance.report_runless_asset_event(dg.AssetMaterialization(key, partition=partition))
    instance.report_runless_asset_event(
        dg.AssetMaterialization(SYNC_ASSET_KEYS[0], partition="client_3")
    )

    assert main([]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "client_1  healthy",
        "client_2  missing",
        "client_3  missing",
        "client_4  healthy",
    ]
    assert main(["--failed-and-missing"]) == 0
    assert capsys.readouterr().out.strip() == "client_2,client_3"
    assert main(["--launch-commands"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "dg launch --job campaign_sync_job --partition-range client_2...client_3"
    ]
