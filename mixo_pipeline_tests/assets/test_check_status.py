"""Each account's check status after a batched run, read from a PostgreSQL-backed instance the
way the Dagster UI's Partitions tab of a check reads it."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa
import yaml

from mixo_pipeline import names
from mock_api import MockConfig

from .conftest import load_defs, pipeline_on, raw_campaign

ACCOUNTS = ["client_1", "client_2", "client_3"]


def _partition_statuses(instance: dg.DagsterInstance, check: str) -> dict[str, str]:
    """Each account's status of ``check``, as the UI's Partitions tab gets it (its GraphQL
    resolver loads the same state from the event log storage)."""
    key = dg.AssetCheckKey(names.CAMPAIGNS, check)
    with dg.partition_loading_context(dynamic_partitions_store=instance):
        states = instance.event_log_storage.get_asset_check_state(
            [(key, names.ACCOUNTS_PARTITIONS)]
        )
    return {
        partition: status.value
        for status, subset in states[key].subsets.items()
        for partition in subset.subset_value.get_partition_keys()
    }


def test_a_batched_run_shows_each_accounts_check_as_passed_or_failed(
    monkeypatch: pytest.MonkeyPatch,
    assets_database_url: str,
    pg: sa.Engine,
    tmp_path: Path,
    repo_instance: dg.DagsterInstance,
) -> None:
    config = MockConfig(
        time_scale=0.01, seed=3, accounts=3, campaigns=10, error_rate=0, hang_rate=0
    )
    with pipeline_on(config, monkeypatch, assets_database_url, pg) as pipeline:
        accounts_file = tmp_path / "accounts.yaml"
        entries = [
            {"client_id": c, "email": f"{c}@mixoads.com", "password_env": f"PW_{c}"}
            for c in ACCOUNTS
        ]
        accounts_file.write_text(
            yaml.safe_dump({"defaults": {"base_url": pipeline.mock.url}, "accounts": entries})
        )
        monkeypatch.setenv("MIXO_ACCOUNTS_FILE", str(accounts_file))
        for client_id in ACCOUNTS:
            monkeypatch.setenv(f"PW_{client_id}", f"{client_id}-password")
        # client_2 reports more clicks than impressions: its campaigns_valid (WARN) fails.
        pipeline.mock.set_campaigns(
            "client_2", [raw_campaign(n, clicks=9_000) for n in range(1, 11)]
        )
        repo_instance.add_dynamic_partitions(names.ACCOUNTS_PARTITIONS.name, ACCOUNTS)
        result = (
            load_defs()
            .resolve_job_def(names.JOB_NAME)
            .execute_in_process(
                instance=repo_instance,
                tags={names.RANGE_START_TAG: ACCOUNTS[0], names.RANGE_END_TAG: ACCOUNTS[-1]},
                raise_on_error=False,
            )
        )
        assert result.success

    passed = dict.fromkeys(ACCOUNTS, "SUCCEEDED")
    assert _partition_statuses(repo_instance, names.CHECK_COMPLETE) == passed
    assert _partition_statuses(repo_instance, names.CHECK_UNIQUE) == passed
    assert _partition_statuses(repo_instance, names.CHECK_VALID) == {**passed, "client_2": "FAILED"}
