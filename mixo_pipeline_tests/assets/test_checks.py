"""The checks fail for real: bad rows are written to PostgreSQL, then only the checks run."""

from __future__ import annotations

from collections.abc import Iterator

import dagster as dg
import pytest
import sqlalchemy as sa

from mixo_pipeline.storage.raw_pages import load_cycle, replace_raw_pages
from mixo_pipeline.storage.schema import campaigns
from mock_api import MockConfig

from .conftest import Pipeline, check_results, load_defs, make_pages, pipeline_on, raw_campaign

CLEAN = MockConfig(time_scale=0.01, seed=1, campaigns=12, error_rate=0, hang_rate=0)


@pytest.fixture
def synced(
    monkeypatch: pytest.MonkeyPatch, assets_database_url: str, pg: sa.Engine
) -> Iterator[Pipeline]:
    with pipeline_on(CLEAN, monkeypatch, assets_database_url, pg) as pipeline:
        result = pipeline.run()
        assert result.success and all(c.passed for c in check_results(result).values())
        yield pipeline


def _run_checks(pipeline: Pipeline) -> dict[str, dg.AssetCheckEvaluation]:
    checks_only = dg.define_asset_job(
        "campaigns_checks_only",
        selection=dg.AssetSelection.checks_for_assets("campaigns"),
    )
    definitions = dg.Definitions.merge(load_defs(), dg.Definitions(jobs=[checks_only]))
    result = definitions.resolve_job_def("campaigns_checks_only").execute_in_process(
        # A job of checks alone has no assets to infer partitions from: tag the partition.
        instance=pipeline.instance,
        tags={"dagster/partition": "default"},
        raise_on_error=False,
    )
    evaluations = check_results(result)
    assert set(evaluations) == {"campaigns_complete", "campaigns_unique", "campaigns_valid"}
    assert all(e.partition == "default" for e in evaluations.values())
    return evaluations


def test_complete_fails_on_a_missing_row(synced: Pipeline) -> None:
    with synced.engine.begin() as conn:
        conn.execute(sa.delete(campaigns).where(campaigns.c.id.in_(["campaign_4", "campaign_9"])))
    complete = _run_checks(synced)["campaigns_complete"]
    assert not complete.passed
    assert complete.severity == dg.AssetCheckSeverity.ERROR
    assert complete.description.startswith("10/12 campaigns synced")
    assert complete.metadata["missing_count"].value == 2
    assert complete.metadata["missing_ids"].value == ["campaign_4", "campaign_9"]


def test_unique_fails_on_an_id_repeated_across_raw_pages(synced: Pipeline) -> None:
    cycle = load_cycle(synced.engine, "default")
    items = [raw_campaign(n) for n in range(1, 13)]
    items[10] = raw_campaign(2)
    replace_raw_pages(synced.engine, "default", cycle.cycle_id, cycle.cycle_id, make_pages(items))
    unique = _run_checks(synced)["campaigns_unique"]
    assert not unique.passed
    assert unique.metadata["raw_page_duplicates"].value == 1
    assert unique.metadata["duplicate_ids"].value == ["campaign_2"]


def test_valid_warns_on_impossible_figures(synced: Pipeline) -> None:
    with synced.engine.begin() as conn:
        conn.execute(
            sa.update(campaigns)
            .where(campaigns.c.id == "campaign_5")
            .values(clicks=campaigns.c.impressions + 1, status="exploded")
        )
        conn.execute(
            sa.update(campaigns).where(campaigns.c.id == "campaign_8").values(conversions=-1)
        )
    evaluations = _run_checks(synced)
    valid = evaluations["campaigns_valid"]
    assert not valid.passed
    assert valid.severity == dg.AssetCheckSeverity.WARN
    assert valid.metadata["offending_ids"].value == ["campaign_5", "campaign_8"]
    assert valid.metadata["problem.clicks > impressions"].value == 1
    assert valid.metadata["problem.unknown status"].value == 1
    assert valid.metadata["problem.negative conversions"].value == 1
    assert evaluations["campaigns_complete"].passed and evaluations["campaigns_unique"].passed
