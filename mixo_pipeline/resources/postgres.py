"""``PostgresResource``: the pipeline's own database, one SQLAlchemy engine per process.

Dagster builds a resource once per step process (and tests build many), while a connection pool
is only useful when shared; so engines are cached at module level, keyed by URL, and every
resource instance pointing at the same database in one process uses the same pool.
"""

from __future__ import annotations

import threading

import dagster as dg
import sqlalchemy as sa
from pydantic import Field

from mixo_pipeline.local_postgres import sqlalchemy_url
from mixo_pipeline.storage.schema import create_schema

# A batched run writes a checkpoint per sync result from every account's threads. Connections
# past ``pool_size`` are closed when returned and reopened on the next burst, and that churn was
# measured as a tenth of a 50-account worker's CPU at pool_size 5: keep enough open.
POOL_SIZE = 10
POOL_OVERFLOW = 10

_engines: dict[str, sa.Engine] = {}
_schema_ready: set[str] = set()
_lock = threading.Lock()


def engine_for(url: str) -> sa.Engine:
    """The process-wide engine for ``url`` (psycopg 3 driver), with the schema created once."""
    url = sqlalchemy_url(url)
    with _lock:
        engine = _engines.get(url)
        if engine is None:
            engine = sa.create_engine(
                url, pool_pre_ping=True, pool_size=POOL_SIZE, max_overflow=POOL_OVERFLOW
            )
            _engines[url] = engine
        if url not in _schema_ready:
            create_schema(engine)
            _schema_ready.add(url)
    return engine


class PostgresResource(dg.ConfigurableResource):
    """The PostgreSQL database holding the campaign tables (bound from ``DATABASE_URL``)."""

    database_url: str = Field(
        description=(
            "SQLAlchemy/libpq URL of the database. Bound to the DATABASE_URL environment "
            "variable; `make run` and `make ui` start the embedded server and set it when unset."
        )
    )

    def get_engine(self) -> sa.Engine:
        """The shared engine; open one transaction per write with ``engine.begin()``."""
        return engine_for(self.database_url)
