"""The embedded PostgreSQL is real, and DATABASE_URL wins over it."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from mixo_pipeline import database
from mixo_pipeline.database import EmbeddedPostgres


def test_embedded_server_is_a_real_postgres(engine: sa.Engine) -> None:
    with engine.connect() as conn:
        version = conn.execute(sa.text("SHOW server_version_num")).scalar_one()
        jsonb = conn.execute(sa.text("""SELECT '{"a": 1}'::jsonb ->> 'a'""")).scalar_one()
    assert int(version) >= 150000
    assert jsonb == "1"


def test_database_url_overrides_embedded_server(
    embedded_postgres: EmbeddedPostgres, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = embedded_postgres.create_database("mixo_override_probe")
    monkeypatch.setenv("DATABASE_URL", other.replace("postgresql+psycopg://", "postgresql://"))

    def refuse_to_start(*args: object, **kwargs: object) -> None:
        raise AssertionError("the embedded server must not start when DATABASE_URL is set")

    monkeypatch.setattr(database, "start_embedded_postgres", refuse_to_start)
    url = database.ensure_database_url()

    assert url == other
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT current_database()")).scalar_one() == (
                "mixo_override_probe"
            )
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    ("url", "driver_url"),
    [
        ("postgresql://u:p@h:5432/db", "postgresql+psycopg://u:p@h:5432/db"),
        ("postgres://u@h/db", "postgresql+psycopg://u@h/db"),
        ("postgresql+psycopg2://u@h/db", "postgresql+psycopg://u@h/db"),
    ],
)
def test_urls_name_their_driver(url: str, driver_url: str) -> None:
    assert database.sqlalchemy_url(url) == driver_url
    assert database.dagster_storage_url(url).startswith("postgresql+psycopg2://")


def test_non_postgres_url_is_refused_with_a_clear_error() -> None:
    with pytest.raises(ValueError, match=r"DATABASE_URL must be a PostgreSQL URL.*'sqlite'"):
        database.sqlalchemy_url("sqlite:///x.db")


def test_a_database_from_before_the_roles_is_adopted_keeping_its_rows(
    embedded_postgres: EmbeddedPostgres,
) -> None:
    """``.mixo/`` data made when the superuser owned everything: the pipeline's role takes over
    its tables and budgets, rows intact, and cannot reach anything else there."""
    name = "mixo_before_roles"
    embedded_postgres.drop_database(name)
    admin = sa.create_engine(embedded_postgres.url("postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f"CREATE DATABASE {name}"))
    admin.dispose()
    old = sa.create_engine(embedded_postgres.url(name))  # as the superuser, as it was
    with old.begin() as conn:
        conn.execute(sa.text("CREATE TABLE campaigns (id text PRIMARY KEY)"))
        conn.execute(sa.text("INSERT INTO campaigns VALUES ('campaign_1')"))
        conn.execute(sa.text("CREATE TABLE ratelimit___adp_x (item_timestamp timestamp)"))
        conn.execute(sa.text("CREATE TABLE runs (id int)"))  # the old local Dagster storage
    old.dispose()

    engine = sa.create_engine(embedded_postgres.create_database(name))
    try:
        with engine.begin() as conn:
            assert conn.execute(sa.text("SELECT id FROM campaigns")).scalars().all() == [
                "campaign_1"
            ]
            conn.execute(sa.text("INSERT INTO ratelimit___adp_x VALUES (now())"))
            with pytest.raises(sa.exc.ProgrammingError, match="permission denied"):
                conn.execute(sa.text("SELECT * FROM runs"))
    finally:
        engine.dispose()
        embedded_postgres.drop_database(name)
