"""The job end to end: real Dagster instance, embedded PostgreSQL, mock API with failures on.

Time runs 100x faster (``--time-scale 0.01``: a 0.6 s rate window, 20 ms syncs) on both sides.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import dagster as dg
import pytest
import sqlalchemy as sa

from mixo_pipeline.storage import campaigns, schema
from mixo_pipeline.storage.schema import campaign_sync_records, raw_campaign_pages
from mock_api import MockConfig

from .conftest import check_results, materialization_metadata, pipeline_on, raw_campaign

FAST = 0.01
CHECKS = {"campaigns_complete", "campaigns_unique", "campaigns_valid"}


def test_full_sync_with_503s_hangs_and_token_expiry(
    monkeypatch: pytest.MonkeyPatch, assets_database_url: str, pg: sa.Engine
) -> None:
    # 503s, hangs and a token lifetime (300 s -> 3 s real) shorter than the run.
    config = MockConfig(time_scale=FAST, seed=7, token_ttl=300)
    with pipeline_on(config, monkeypatch, assets_database_url, pg) as pipeline:
        first = pipeline.run()
        assert first.success
        checks = check_results(first)
        assert set(checks) == CHECKS and all(c.passed for c in checks.values())
        assert checks["campaigns_complete"].description.startswith("100/100 campaigns synced")
        rows = pipeline.rows()
        assert len(rows) == 100 and {r.id for r in rows} == {f"campaign_{n}" for n in range(1, 101)}
        totals = pipeline.mock.stats()["totals"]
        assert totals["errors_503"] > 0 and totals["hangs"] > 0
        sync_meta = materialization_metadata(first, "campaign_sync_records")
        # A sync the client timed out on and sent again completes twice on the platform.
        assert 100 <= totals["syncs_completed"] <= 100 + sync_meta["timeouts"]
        assert (sync_meta["synced"], sync_meta["failed"], sync_meta["skipped_as_done"]) == (
            100,
            0,
            0,
        )
        # Tokens expired mid-run: the client logged in again instead of failing.
        assert sync_meta["token_refreshes"] >= 2 and sync_meta["retries"] > 0
        assert 0 < sync_meta["efficiency"] <= 1.5
        # Column lineage: figures from the listed page bodies, the sync time from the calls.
        lineage = materialization_metadata(first, "campaigns")["dagster/column_lineage"]
        body = dg.TableColumnDep(asset_key=dg.AssetKey("raw_campaign_pages"), column_name="body")
        assert lineage.deps_by_column["impressions"] == [body]
        assert lineage.deps_by_column["synced_at"][0].asset_key == dg.AssetKey(
            "campaign_sync_records"
        )
        assert set(lineage.deps_by_column) <= set(schema.campaigns.columns.keys())
        # Listing and syncing overlap: 10 pages need more than one rate window, and the first
        # page's campaigns were synced and checkpointed before the last page was fetched.
        with pg.connect() as conn:
            first_sync = conn.scalar(sa.select(sa.func.min(campaign_sync_records.c.recorded_at)))
            last_page = conn.scalar(sa.select(sa.func.max(raw_campaign_pages.c.fetched_at)))
        assert first_sync < last_page


def test_against_the_original_servers_quirks(
    monkeypatch: pytest.MonkeyPatch, assets_database_url: str, pg: sa.Engine
) -> None:
    config = MockConfig(time_scale=FAST, seed=3, compat="original")
    with pipeline_on(config, monkeypatch, assets_database_url, pg) as pipeline:
        result = pipeline.run()
        assert result.success
        checks = check_results(result)
        assert checks["campaigns_complete"].passed and checks["campaigns_unique"].passed
        assert len(pipeline.rows()) == 100
        totals = pipeline.mock.stats()["totals"]
        # Counter-based 503s on the listing, retried; syncs never fail there (the original never
        # hangs, so completions beyond 100 can only be calls the client timed out on and resent).
        sync_meta = materialization_metadata(result, "campaign_sync_records")
        assert totals["errors_503"] > 0 and sync_meta["synced"] == 100
        assert 100 <= totals["syncs_completed"] <= 100 + sync_meta["timeouts"]


def test_rerun_changes_no_row_count_and_creates_no_duplicate(
    monkeypatch: pytest.MonkeyPatch, assets_database_url: str, pg: sa.Engine
) -> None:
    config = MockConfig(time_scale=FAST, seed=8, campaigns=30, error_rate=0, hang_rate=0)
    with pipeline_on(config, monkeypatch, assets_database_url, pg) as pipeline:
        first = pipeline.run()
        assert first.success and len(pipeline.rows()) == 30
        second = pipeline.run()
        assert second.success and all(c.passed for c in check_results(second).values())
        merged = materialization_metadata(second, "campaigns")
        counts = ("rows_inserted", "rows_updated", "rows_kept_newer", "rows_removed")
        assert [merged[name] for name in counts] == [0, 30, 0, 0]
        assert merged["dagster/row_count"] == 30
        rows = pipeline.rows()  # the account's business totals, plotted per partition over time
        for name in ("impressions", "clicks", "conversions", "budget"):
            expected = float(sum(row._mapping[name] for row in rows))
            assert merged[f"total_{name}"] == pytest.approx(expected)
        assert merged["total_impressions"] > 0
        preview = merged["preview"].splitlines()
        assert preview[0].startswith("| id | name | status | budget |") and len(preview) == 12
        assert [line.split(" | ")[0] for line in preview[2:4]] == ["| campaign_1", "| campaign_2"]
        assert len(pipeline.rows()) == 30
        with pg.connect() as conn:
            cycles = conn.execute(
                sa.select(campaign_sync_records.c.cycle_id, sa.func.count()).group_by(
                    campaign_sync_records.c.cycle_id
                )
            ).all()
        assert sorted(n for _, n in cycles) == [30, 30]
        assert {cycle for cycle, _ in cycles} == {first.run_id, second.run_id}

        # A campaign that disappears upstream is soft-deleted, never silently lost.
        pipeline.mock.set_campaigns("default", [raw_campaign(n) for n in range(1, 30)])
        third = pipeline.run()
        assert third.success
        assert materialization_metadata(third, "campaigns")["rows_removed"] == 1
        removed = {r.id: r.removed_at for r in pipeline.rows()}
        assert len(removed) == 30 and removed["campaign_30"] is not None
        assert all(at is None for cid, at in removed.items() if cid != "campaign_30")


def test_overlapping_runs_keep_the_newer_sync_of_every_campaign(
    monkeypatch: pytest.MonkeyPatch, assets_database_url: str, pg: sa.Engine
) -> None:
    """Run A lists and syncs an account; before A merges, run B (another worker, say) lists,
    syncs and merges it again. A's merge then carries older syncs: every row keeps B's."""
    config = MockConfig(time_scale=FAST, seed=9, campaigns=20, error_rate=0, hang_rate=0)
    with pipeline_on(config, monkeypatch, assets_database_url, pg) as pipeline:
        merge_campaigns = campaigns.merge_campaigns
        overlapping: list[dg.ExecuteInProcessResult] = []

        def merge_after_an_overlapping_run(*args: Any) -> Any:
            if not overlapping:
                overlapping.append(None)  # type: ignore[arg-type]  # B's own merge: no third run
                with ThreadPoolExecutor(max_workers=1) as other_worker:
                    overlapping[0] = other_worker.submit(pipeline.run).result()
            return merge_campaigns(*args)

        monkeypatch.setattr(campaigns, "merge_campaigns", merge_after_an_overlapping_run)
        first = pipeline.run()
        second = overlapping[0]
        assert first.success and second.success
        merged = materialization_metadata(first, "campaigns")
        counts = ("rows_inserted", "rows_updated", "rows_kept_newer")
        assert [merged[name] for name in counts] == [0, 0, 20]
        assert {row.cycle_id for row in pipeline.rows()} == {second.run_id}
        # A's checks judge A's listing: every row holds A's sync or a newer one.
        assert all(check.passed for check in check_results(first).values())
