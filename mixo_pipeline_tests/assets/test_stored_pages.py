"""Stored pages read back for a merge without listing: validated by the client's own parser,
refused with a message naming page, campaign and field, the table left byte-identical."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from mixo_pipeline.ad_platform.errors import PaginationError, ResponseValidationError
from mixo_pipeline.ad_platform.models import SyncResult
from mixo_pipeline.storage.campaigns import merge_campaigns
from mixo_pipeline.storage.raw_pages import replace_raw_pages
from mixo_pipeline.storage.schema import raw_campaign_pages
from mixo_pipeline.storage.sync_records import record_results

from .conftest import make_pages, raw_campaign, table_text

ALL = range(1, 13)


def _store_and_sync(pg: sa.Engine, cycle: str, items: list[dict[str, Any]]) -> None:
    replace_raw_pages(pg, "acme", cycle, cycle, make_pages(items))
    synced = [SyncResult(item["id"], True, 1) for item in items]
    record_results(pg, "acme", cycle, cycle, synced)


@pytest.mark.parametrize(
    ("corrupt", "fragments"),
    [
        (lambda item: item.pop("budget"), ["page 2", "campaign_13", "'budget' is missing"]),
        (lambda item: item.update(clicks="234"), ["page 2", "campaign_13", "'clicks'", "'234'"]),
        (lambda item: item.update(created_at="yesterday"), ["campaign_13", "'created_at'"]),
    ],
    ids=["missing-field", "string-for-number", "bad-date"],
)
def test_a_bad_stored_page_fails_the_merge_and_keeps_the_table(
    pg: sa.Engine, corrupt: Any, fragments: list[str]
) -> None:
    _store_and_sync(pg, "c1", [raw_campaign(n) for n in ALL])
    merge_campaigns(pg, "acme")
    before = table_text(pg)
    items = [raw_campaign(n) for n in range(1, 14)]
    _store_and_sync(pg, "c2", items)
    page_2 = make_pages(items)[1].raw
    corrupt(page_2["data"][-1])
    with pg.begin() as conn:
        conn.execute(
            sa.update(raw_campaign_pages)
            .where(raw_campaign_pages.c.client_id == "acme", raw_campaign_pages.c.page == 2)
            .values(body=page_2)
        )
    with pytest.raises(ResponseValidationError) as error:
        merge_campaigns(pg, "acme")
    for fragment in fragments:
        assert fragment in str(error.value), str(error.value)
    assert table_text(pg) == before


def test_an_id_repeated_across_stored_pages_is_refused(pg: sa.Engine) -> None:
    _store_and_sync(pg, "c1", [raw_campaign(n) for n in ALL])
    merge_campaigns(pg, "acme")
    before = table_text(pg)
    items = [raw_campaign(n) for n in ALL]
    items[11] = raw_campaign(3)
    _store_and_sync(pg, "c2", items)
    with pytest.raises(PaginationError, match=r"page 2: campaign 'campaign_3' already listed on"):
        merge_campaigns(pg, "acme")
    assert table_text(pg) == before
