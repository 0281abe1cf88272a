"""Least privilege: a full sync runs as the pipeline's own role, which owns its database (its
tables, the rate-limit budgets it creates at run time) and cannot reach Dagster's storage."""

from __future__ import annotations

import os

import dagster as dg
import pytest
import sqlalchemy as sa

from mixo_pipeline.database import DAGSTER_ROLE, PIPELINE_ROLE
from mock_api import MockConfig, MockServer

from .conftest import Pipeline, point_at


def test_a_full_sync_as_the_pipeline_role_cannot_touch_dagsters_storage(
    repo_instance: dg.DagsterInstance,
    monkeypatch: pytest.MonkeyPatch,
    assets_database_url: str,
    pg: sa.Engine,
) -> None:
    with MockServer(MockConfig(time_scale=0.01, seed=3)) as mock:
        point_at(monkeypatch, mock, assets_database_url, rate_limit_backend="postgres")
        result = Pipeline(instance=repo_instance, engine=pg, mock=mock).run()
        assert result.success and len(Pipeline(repo_instance, pg, mock).rows()) == 100

    with pg.connect() as conn:
        role = conn.execute(
            sa.text(
                "SELECT rolname, rolsuper, rolcreatedb, rolcreaterole, rolbypassrls "
                "FROM pg_roles WHERE rolname = current_user"
            )
        ).one()
        owners = conn.execute(
            sa.text("SELECT tablename, tableowner FROM pg_tables WHERE schemaname = 'public'")
        ).all()
    assert tuple(role) == (PIPELINE_ROLE, False, False, False, False)
    assert any(name.startswith("ratelimit___adp_") for name, _ in owners), (
        "the budget table was not created"
    )
    assert {owner for _, owner in owners} == {PIPELINE_ROLE}

    dagster_url = os.environ["DAGSTER_PG_URL"]  # set by ``repo_instance``
    dagster_db = sa.make_url(dagster_url).database
    assert sa.make_url(dagster_url).username == DAGSTER_ROLE
    assert repo_instance.get_run_by_id(result.run_id) is not None  # Dagster's role wrote the run
    as_pipeline = sa.make_url(assets_database_url).set(database=dagster_db)
    _refused(as_pipeline, "SELECT count(*) FROM runs")
    _refused(as_pipeline, "DELETE FROM runs")
    as_dagster = sa.make_url(dagster_url).set(database=sa.make_url(assets_database_url).database)
    _refused(as_dagster, "SELECT count(*) FROM campaigns")
    autocommit = pg.execution_options(isolation_level="AUTOCOMMIT")
    with autocommit.connect() as conn, pytest.raises(sa.exc.ProgrammingError, match="permission"):
        conn.execute(sa.text("CREATE DATABASE mixo_not_allowed"))


def _refused(url: sa.URL, statement: str) -> None:
    engine = sa.create_engine(url, poolclass=sa.NullPool)
    try:
        denied = pytest.raises(sa.exc.OperationalError, match="permission denied for database")
        with denied, engine.connect() as conn:
            conn.execute(sa.text(statement))
    finally:
        engine.dispose()
