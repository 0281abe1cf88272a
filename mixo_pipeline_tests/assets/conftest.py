"""Fixtures of the asset tests: their own database, and helpers to build pages and rows."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import sqlalchemy as sa

from mixo_pipeline import names
from mixo_pipeline.ad_platform.models import CampaignPage, parse_campaign_page
from mixo_pipeline.database import (
    DAGSTER_ROLE,
    REPO_ROOT,
    EmbeddedPostgres,
    dagster_storage_url,
    engine_for,
)
from mixo_pipeline.storage.schema import campaigns, metadata
from mock_api import MockConfig, MockServer
from mock_api.accounts import DEFAULT_EMAIL, DEFAULT_PASSWORD

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


@pytest.fixture
def repo_instance(
    embedded_postgres: EmbeddedPostgres, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dg.DagsterInstance]:
    """The instance ``dagster.yaml`` describes (the one ``make run`` and ``make ui`` use), on a
    fresh database."""
    embedded_postgres.drop_database("mixo_assets_dagster")
    url = embedded_postgres.create_database("mixo_assets_dagster", DAGSTER_ROLE)
    monkeypatch.setenv("DAGSTER_HOME", str(REPO_ROOT))
    monkeypatch.setenv("DAGSTER_PG_URL", dagster_storage_url(url))
    monkeypatch.setenv("MIXO_DAGSTER_DIR", str(tmp_path / "dagster"))
    monkeypatch.setenv("MIXO_DAGSTER_LOGS_DIR", str(tmp_path / "dagster" / "logs"))
    with dg.DagsterInstance.get() as instance:
        yield instance


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
    """``items`` split into pages as the API would serve them, parsed as the client parses them."""
    chunks = [items[i : i + limit] for i in range(0, len(items), limit)] or [[]]
    return [
        parse_campaign_page(
            {
                "data": chunk,
                "pagination": {
                    "page": number,
                    "limit": limit,
                    "total": len(items),
                    "has_more": number < len(chunks),
                },
            },
            number,
        )
        for number, chunk in enumerate(chunks, start=1)
    ]


@dataclass
class Pipeline:
    """The real code location against one mock and one Dagster instance."""

    instance: dg.DagsterInstance
    engine: sa.Engine
    mock: MockServer

    def run(self, partition: str = "default", **kwargs: Any) -> dg.ExecuteInProcessResult:
        definitions = load_defs()
        job = definitions.resolve_job_def(names.JOB_NAME)
        partitions = names.ACCOUNTS_PARTITIONS.name
        if not self.instance.has_dynamic_partition(partitions, partition):
            self.instance.add_dynamic_partitions(partitions, [partition])
        return job.execute_in_process(
            instance=self.instance, partition_key=partition, raise_on_error=False, **kwargs
        )

    def rows(self, client_id: str = "default") -> list[sa.Row]:
        with self.engine.connect() as conn:
            return conn.execute(
                sa.select(campaigns)
                .where(campaigns.c.client_id == client_id)
                .order_by(campaigns.c.id)
            ).all()


def load_defs() -> dg.Definitions:
    # Imported late: the bindings read AD_PLATFORM_* when the code location loads.
    from mixo_pipeline.definitions import defs

    return defs()


def point_at(
    monkeypatch: pytest.MonkeyPatch,
    mock: MockServer,
    database_url: str,
    rate_limit_backend: str = "memory",
) -> None:
    """Bind the code location's resources to ``mock`` and the test database, by environment.

    The per-process ``memory`` budget keeps most tests quick; the instance tests use the
    deployment's default, the shared ``postgres`` budget.
    """
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("AD_PLATFORM_API_URL", mock.url)
    monkeypatch.setenv("AD_PLATFORM_EMAIL", DEFAULT_EMAIL)
    monkeypatch.setenv("AD_PLATFORM_PASSWORD", DEFAULT_PASSWORD)
    monkeypatch.setenv("AD_PLATFORM_TIME_SCALE", str(mock.config.time_scale))
    monkeypatch.setenv("AD_PLATFORM_RATE_LIMIT_BACKEND", rate_limit_backend)
    monkeypatch.delenv("AD_PLATFORM_CLIENT_ID", raising=False)
    monkeypatch.delenv("MIXO_ACCOUNTS_FILE", raising=False)


@contextmanager
def pipeline_on(
    config: MockConfig, monkeypatch: pytest.MonkeyPatch, database_url: str, engine: sa.Engine
) -> Iterator[Pipeline]:
    with MockServer(config) as mock, dg.instance_for_test() as instance:
        point_at(monkeypatch, mock, database_url)
        yield Pipeline(instance=instance, engine=engine, mock=mock)


def check_results(result: dg.ExecuteInProcessResult) -> dict[str, dg.AssetCheckEvaluation]:
    return {e.check_name: e for e in result.get_asset_check_evaluations()}


def materialization_metadata(result: dg.ExecuteInProcessResult, asset: str) -> dict[str, Any]:
    for event in result.get_asset_materialization_events():
        materialization = event.step_materialization_data.materialization
        if materialization.asset_key.to_user_string() == asset:
            return {k: v.value for k, v in materialization.metadata.items()}
    raise AssertionError(f"{asset} was not materialized")


def table_text(engine: sa.Engine, table: sa.Table = campaigns) -> list[str]:
    """Every row of ``table`` as PostgreSQL prints it: equal lists mean byte-identical rows."""
    with engine.connect() as conn:
        return list(conn.scalars(sa.text(f"SELECT t::text FROM {table.name} t ORDER BY 1")))
