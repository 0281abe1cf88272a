"""The command-line view of account health, and the list a command-line backfill takes."""

from __future__ import annotations

from collections.abc import Iterator

import dagster as dg
import pytest

from mixo_pipeline.cli.accounts_status import main
from mixo_pipeline.names import ACCOUNTS_PARTITIONS, RAW_PAGES, STAGES


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test() as instance:  # also DAGSTER_HOME, which the command reads
        yield instance


def test_lists_failed_and_missing_accounts(
    instance: dg.DagsterInstance,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MIXO_ACCOUNTS_PER_RUN", "1")
    accounts = ["client_1", "client_2", "client_3", "client_4", "client_5"]
    instance.add_dynamic_partitions(ACCOUNTS_PARTITIONS.name, accounts)
    for key in STAGES:  # client_1 and client_4 fully synced, client_3 only in part
        for partition in ("client_1", "client_4"):
            instance.report_runless_asset_event(dg.AssetMaterialization(key, partition=partition))
    instance.report_runless_asset_event(dg.AssetMaterialization(RAW_PAGES, partition="client_3"))

    assert main([]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "client_1  healthy",
        "client_2  missing",
        "client_3  missing",
        "client_4  healthy",
        "client_5  missing",
    ]
    assert main(["--failed-and-missing"]) == 0
    assert capsys.readouterr().out.strip() == "client_2,client_3,client_5"
    assert main(["--launch-commands"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "dg launch --job campaign_sync_job --partition client_2",
        "dg launch --job campaign_sync_job --partition client_3",
        "dg launch --job campaign_sync_job --partition client_5",
    ]
    monkeypatch.setenv("MIXO_ACCOUNTS_PER_RUN", "50")
    assert main(["--launch-commands"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "dg launch --job campaign_sync_job --partition-range client_2...client_3",
        "dg launch --job campaign_sync_job --partition client_5",
    ]
