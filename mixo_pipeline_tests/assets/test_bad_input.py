"""Bad data from the API: stored exactly (odd names) or a failed run naming the campaign and
field, with the ``campaigns`` table keeping its previous contents."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import dagster as dg
import pytest
import sqlalchemy as sa

from mixo_pipeline import names
from mixo_pipeline.storage.schema import raw_campaign_pages
from mock_api import MockConfig

from .conftest import Pipeline, pipeline_on, raw_campaign, table_text

# No random failures: these tests are about the data, and stay fast.
CLEAN = MockConfig(time_scale=0.01, seed=1, campaigns=12, error_rate=0, hang_rate=0)


def _listing(n: int = 12) -> list[dict[str, Any]]:
    return [raw_campaign(i) for i in range(1, n + 1)]


def _missing_budget() -> list[dict[str, Any]]:
    items = _listing()
    del items[10]["budget"]  # on page 2: page 1 was fetched, and must not be stored alone
    return items


def _string_budget() -> list[dict[str, Any]]:
    items = _listing()
    items[6]["budget"] = "1700"
    return items


def _duplicate_across_pages() -> list[dict[str, Any]]:
    items = _listing()
    items[11] = raw_campaign(3)  # campaign_3 on page 1 and again on page 2
    return items


def _not_an_object() -> list[dict[str, Any]]:
    items: list[Any] = _listing()
    items[2] = "campaign_3"
    return items


@pytest.fixture
def baseline(monkeypatch: pytest.MonkeyPatch, assets_database_url: str, pg: sa.Engine) -> Pipeline:
    with pipeline_on(CLEAN, monkeypatch, assets_database_url, pg) as pipeline:
        assert pipeline.run().success
        assert len(pipeline.rows()) == 12
        yield pipeline


@pytest.mark.parametrize(
    ("make_listing", "expected"),
    [
        (_missing_budget, ["campaign_11", "budget"]),
        (_string_budget, ["campaign_7", "budget"]),
        (_duplicate_across_pages, ["campaign_3"]),
        (_not_an_object, ["page 1"]),
    ],
    ids=["missing-field", "string-for-number", "duplicate-id-across-pages", "malformed-item"],
)
def test_bad_listing_fails_the_run_and_keeps_the_table(
    baseline: Pipeline, make_listing: Callable[[], list[dict[str, Any]]], expected: list[str]
) -> None:
    before, pages_before = (
        table_text(baseline.engine),
        table_text(baseline.engine, raw_campaign_pages),
    )
    baseline.mock.set_campaigns("default", make_listing())
    result = baseline.run()
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    message = failure.step_failure_data.error.to_string()
    for fragment in expected:
        assert fragment in message, message
    # The listing failed: nothing of this run is recorded as materialized, nothing was stored.
    assert result.get_asset_materialization_events() == []
    assert table_text(baseline.engine) == before
    assert table_text(baseline.engine, raw_campaign_pages) == pages_before
    # Bad data is permanent: the step is not retried.
    assert not any(e.event_type == dg.DagsterEventType.STEP_UP_FOR_RETRY for e in result.all_events)


def test_a_bad_stored_page_fails_a_merge_without_listing_and_keeps_the_table(
    baseline: Pipeline,
) -> None:
    """``campaigns`` alone re-merges the stored listing: it is validated by the same parser."""
    before = table_text(baseline.engine)
    with baseline.engine.begin() as conn:
        conn.execute(
            sa.text(
                "UPDATE raw_campaign_pages SET body = jsonb_set(body, '{data,1,budget}', "
                "to_jsonb('1200'::text)) WHERE client_id = 'default' AND page = 1"
            )
        )
    result = baseline.run(asset_selection=[names.CAMPAIGNS])
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    message = failure.step_failure_data.error.to_string()
    for fragment in ("page 1", "campaign_2", "'budget'", "'1200'"):
        assert fragment in message, message
    assert not any(e.event_type == dg.DagsterEventType.STEP_UP_FOR_RETRY for e in result.all_events)
    assert baseline.mock.stats()["totals"]["syncs_completed"] == 12  # the baseline's: no API call
    assert table_text(baseline.engine) == before


def test_quotes_semicolons_and_non_ascii_are_stored_exactly(baseline: Pipeline) -> None:
    tricky = 'Robert\'); DROP TABLE campaigns;-- "Été" 広告 🚀 \\ %s'
    items = _listing()
    items[1]["name"] = tricky
    baseline.mock.set_campaigns("default", items)
    assert baseline.run().success
    stored = {row.id: row.name for row in baseline.rows()}
    assert stored["campaign_2"] == tricky
    assert len(stored) == 12
