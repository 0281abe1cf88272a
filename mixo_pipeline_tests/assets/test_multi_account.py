"""One run covering several accounts (a batched backfill): per-account truth in the instance."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa
import yaml

from mixo_pipeline import names
from mixo_pipeline.storage.schema import raw_campaign_pages
from mock_api import MockConfig

from .conftest import check_results, load_defs, pipeline_on

ACCOUNTS = ["client_1", "client_2", "client_3"]


def _statuses(instance: dg.DagsterInstance, asset: str) -> dict[str, dg.AssetPartitionStatus]:
    return instance.get_status_by_partition(dg.AssetKey(asset), ACCOUNTS, names.ACCOUNTS_PARTITIONS)


def _configure_accounts(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, base_url: str, accounts: list[str]
) -> None:
    """An accounts file listing the mock's generated accounts, passwords in the environment."""
    accounts_file = tmp_path / "accounts.yaml"
    entries = [
        {"client_id": c, "email": f"{c}@mixoads.com", "password_env": f"PW_{c}"} for c in accounts
    ]
    accounts_file.write_text(
        yaml.safe_dump({"defaults": {"base_url": base_url}, "accounts": entries})
    )
    monkeypatch.setenv("MIXO_ACCOUNTS_FILE", str(accounts_file))
    for client_id in accounts:
        monkeypatch.setenv(f"PW_{client_id}", f"{client_id}-password")


def test_one_broken_account_fails_alone(
    monkeypatch: pytest.MonkeyPatch, assets_database_url: str, pg: sa.Engine, tmp_path: Path
) -> None:
    config = MockConfig(
        time_scale=0.01, seed=2, accounts=3, campaigns=10, error_rate=0, hang_rate=0
    )
    with pipeline_on(config, monkeypatch, assets_database_url, pg) as pipeline:
        _configure_accounts(monkeypatch, tmp_path, pipeline.mock.url, ACCOUNTS)
        monkeypatch.setenv("PW_client_3", "not-the-password")
        pipeline.instance.add_dynamic_partitions("ad_accounts", ACCOUNTS)
        job = load_defs().resolve_job_def(names.JOB_NAME)
        result = job.execute_in_process(
            instance=pipeline.instance,
            tags={
                names.RANGE_START_TAG: "client_1",
                names.RANGE_END_TAG: "client_3",
            },
            raise_on_error=False,
        )
        assert not result.success
        failure = next(e for e in result.all_events if e.is_step_failure)
        message = failure.step_failure_data.error.to_string()
        assert "client_3" in message and "client_3@mixoads.com" in message
        assert "not-the-password" not in message

        healthy, broken = ACCOUNTS[:2], ACCOUNTS[2]
        for asset in ("raw_campaign_pages", "campaign_sync_records", "campaigns"):
            statuses = _statuses(pipeline.instance, asset)
            assert statuses == {
                **{c: dg.AssetPartitionStatus.MATERIALIZED for c in healthy},
                broken: dg.AssetPartitionStatus.FAILED,
            }, asset
        for client_id in healthy:
            assert len(pipeline.rows(client_id)) == 10
        assert pipeline.rows(broken) == []
        # The figures of each healthy account are its own.
        records = pipeline.instance.fetch_materializations(
            dg.AssetRecordsFilter(
                asset_key=dg.AssetKey("campaign_sync_records"), asset_partitions=healthy
            ),
            limit=10,
        ).records
        assert sorted(r.partition_key for r in records) == healthy
        for record in records:
            metadata = record.asset_materialization.metadata
            assert metadata["synced"].value == 10 and metadata["listed"].value == 10

        # The next run of exactly the failed partition, once its secret is fixed.
        monkeypatch.setenv("PW_client_3", "client_3-password")
        retry = pipeline.run(broken)
        assert retry.success and all(c.passed for c in check_results(retry).values())
        assert _statuses(pipeline.instance, "campaigns")[broken] == (
            dg.AssetPartitionStatus.MATERIALIZED
        )


def test_a_batched_run_of_healthy_accounts_reports_each_account(
    monkeypatch: pytest.MonkeyPatch, assets_database_url: str, pg: sa.Engine, tmp_path: Path
) -> None:
    config = MockConfig(
        time_scale=0.01, seed=4, accounts=2, campaigns=10, error_rate=0, hang_rate=0
    )
    # The second account starts 0.5 s after the first (0.02 accounts per platform second).
    monkeypatch.setenv("MIXO_ACCOUNTS_STARTED_PER_S", "0.02")
    with pipeline_on(config, monkeypatch, assets_database_url, pg) as pipeline:
        accounts = ACCOUNTS[:2]
        _configure_accounts(monkeypatch, tmp_path, pipeline.mock.url, accounts)
        pipeline.instance.add_dynamic_partitions("ad_accounts", accounts)
        result = (
            load_defs()
            .resolve_job_def(names.JOB_NAME)
            .execute_in_process(
                instance=pipeline.instance,
                tags={
                    names.RANGE_START_TAG: accounts[0],
                    names.RANGE_END_TAG: accounts[-1],
                },
                raise_on_error=False,
            )
        )
        assert result.success
        events = [
            e.step_materialization_data.materialization
            for e in result.get_asset_materialization_events()
        ]
        merged = {
            m.partition: m.metadata for m in events if m.asset_key == dg.AssetKey("campaigns")
        }
        assert set(merged) == set(accounts)
        assert all(md["dagster/row_count"].value == 10 for md in merged.values())
        evaluations = {(e.check_name, e.partition): e for e in result.get_asset_check_evaluations()}
        for check in ("campaigns_complete", "campaigns_unique", "campaigns_valid"):
            assert all(evaluations[(check, client_id)].passed for client_id in accounts)
            # Each check step also reports one summary of the batch, without a partition.
            assert evaluations[(check, None)].description == "2/2 accounts passed"
        assert evaluations[("campaigns_complete", "client_1")].description.startswith("10/10")
        assert len(evaluations) == 9
        for client_id in accounts:
            assert len(pipeline.rows(client_id)) == 10
        pages = raw_campaign_pages.c
        first_pages = sa.select(pages.fetched_at).where(pages.page == 1)
        with pg.connect() as conn:
            first, second = sorted(conn.scalars(first_pages))
        assert (second - first).total_seconds() > 0.3, "the accounts started together"
