"""Validation of stored pages into rows: every problem named by page, campaign and field."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from mixo_pipeline.storage.raw_pages import StoredPage
from mixo_pipeline.sync.rows import CampaignDataError, campaigns_frame

from .conftest import raw_campaign


def _page(items: list[Any], page: int = 1) -> StoredPage:
    return StoredPage(page=page, total=len(items), body={"data": items})


def test_good_pages_become_typed_rows() -> None:
    frame = campaigns_frame(
        [_page([raw_campaign(1), raw_campaign(2)]), _page([raw_campaign(3)], 2)]
    )
    assert frame["id"].tolist() == ["campaign_1", "campaign_2", "campaign_3"]
    assert frame["page"].tolist() == [1, 1, 2]
    assert frame["budget"].tolist() == [Decimal("1100"), Decimal("1200"), Decimal("1300")]
    assert str(frame["impressions"].dtype) == "int64"
    assert str(frame["created_at"].dt.tz) == "UTC"


@pytest.mark.parametrize(
    ("items", "message"),
    [
        (
            [{**raw_campaign(1), "budget": None}],
            "campaign campaign_1 (page 1): missing required field 'budget'",
        ),
        (
            [{k: v for k, v in raw_campaign(2).items() if k != "status"}],
            "campaign campaign_2 (page 1): missing required field 'status'",
        ),
        (
            [raw_campaign(1), raw_campaign(2, clicks="234")],
            "campaign campaign_2 (page 1): field 'clicks' must be an integer, got str '234'",
        ),
        (
            [raw_campaign(3, impressions=8432.0)],
            "campaign campaign_3 (page 1): field 'impressions' must be an integer, got float",
        ),
        (
            [raw_campaign(4, budget=True)],
            "campaign campaign_4 (page 1): field 'budget' must be a number, got bool True",
        ),
        (
            [raw_campaign(5, created_at="yesterday")],
            "campaign campaign_5 (page 1): field 'created_at' must be an ISO-8601 timestamp",
        ),
        ([raw_campaign(1), "oops"], "page 1, item 2: a campaign must be a JSON object, got str"),
        ([raw_campaign(6, id="")], "page 1, item 1: field 'id' must be a non-empty string"),
    ],
    ids=[
        "null",
        "missing",
        "string-number",
        "float-count",
        "bool-budget",
        "bad-date",
        "not-object",
        "empty-id",
    ],
)
def test_bad_campaigns_are_named(items: list[Any], message: str) -> None:
    with pytest.raises(CampaignDataError) as error:
        campaigns_frame([_page(items)])
    assert str(error.value).startswith(message), str(error.value)


def test_a_malformed_page_and_a_repeated_id_are_named() -> None:
    with pytest.raises(CampaignDataError, match=r"^page 2: field 'data' is not a list"):
        campaigns_frame([_page([raw_campaign(1)]), StoredPage(page=2, total=1, body={"data": {}})])
    with pytest.raises(
        CampaignDataError, match=r"^campaign campaign_1: id listed 2 times \(pages 1, 2\)"
    ):
        campaigns_frame([_page([raw_campaign(1)]), _page([raw_campaign(1)], 2)])
