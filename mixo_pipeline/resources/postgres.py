import dagster as dg
import sqlalchemy as sa
from pydantic import Field

from mixo_pipeline.database import engine_for


class PostgresResource(dg.ConfigurableResource):
    """The PostgreSQL database holding the campaign tables (bound from ``DATABASE_URL``)."""

    database_url: str = Field(
        description="SQLAlchemy/libpq URL of the database (env DATABASE_URL); `make run` starts "
        "the embedded server and sets it when unset."
    )

    def get_engine(self) -> sa.Engine:
        """The process's shared engine; open one transaction per write with ``engine.begin()``."""
        return engine_for(self.database_url)
