"""Fixtures of the asset tests: their own database, and helpers to build pages and rows."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from mixo_pipeline.ad_platform.models import CampaignPage
from mixo_pipeline.local_postgres import EmbeddedPostgres
from mixo_pipeline.resources.postgres import engine_for
from mixo_pipeline.storage.schema import metadata

ASSETS_DATABASE = "mixo_assets"


@pytest.fixture(scope="session")
def assets_database_url(embedded_postgres: EmbeddedPostgres) -> str:
    embedded_postgres.drop_database(ASSETS_DATABASE)
    return embedded_postgres.create_database(ASSETS_DATABASE)


@pytest.fixture
def pg(assets_database_url: str) -> Iterator[sa.Engine]:
    """The process-wide engine on the asset tests' database, with every table emptied."""
    engine = engine_for(assets_database_url)
    with engine.begin() as conn:
        for table in reversed(metadata.sorted_tables):
            conn.execute(table.delete())
    yield engine


def raw_campaign(n: int, **overrides: Any) -> dict[str, Any]:
    """Campaign ``n`` as the API documents it."""
    created = datetime(2026, 11, 1, tzinfo=UTC) - timedelta(days=n)
    return {
        "id": f"campaign_{n}",
        "name": f"Campaign {n}",
        "status": "active",
        "budget": 1000 + 100 * n,
        "impressions": 8000 + n,
        "clicks": 200 + n,
        "conversions": 10,
        "created_at": created.isoformat().replace("+00:00", "Z"),
        **overrides,
    }


def make_pages(items: list[dict[str, Any]], limit: int = 10) -> list[CampaignPage]:
    """``items`` split into pages as the API would serve them (``raw`` verbatim)."""
    total = len(items)
    chunks = [items[i : i + limit] for i in range(0, total, limit)] or [[]]
    pages = []
    for number, chunk in enumerate(chunks, start=1):
        has_more = number < len(chunks)
        raw = {
            "data": chunk,
            "pagination": {"page": number, "limit": limit, "total": total, "has_more": has_more},
        }
        pages.append(
            CampaignPage(
                page=number,
                limit=limit,
                total=total,
                has_more=has_more,
                campaigns=(),
                raw=raw,
                fetched_at=datetime.now(UTC),
            )
        )
    return pages
