"""The local stack behind ``make run`` and ``make ui``: database, Dagster instance, ad platform.

Everything is configured through environment variables, exactly as a deployment would be, so
the child processes (``dg dev``'s webserver, daemon and run workers) see the same stack:

- ``DATABASE_URL``: the embedded PostgreSQL unless already set;
- ``DAGSTER_HOME`` (the repository root, where ``dagster.yaml`` lives), ``DAGSTER_PG_URL``
  (Dagster's storage, same database, psycopg2 driver), ``MIXO_DAGSTER_DIR`` and
  ``MIXO_DAGSTER_LOGS_DIR`` (local artifacts under ``.mixo/``);
- ``AD_PLATFORM_*``: the mock API started here unless ``AD_PLATFORM_API_URL`` is set.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from mixo_pipeline.defs.resources import CLIENT_ID_ENV, TIME_SCALE_ENV
from mixo_pipeline.local_postgres import (
    DATABASE_URL_ENV,
    MIXO_HOME,
    REPO_ROOT,
    dagster_storage_url,
    ensure_database_url,
)

API_URL_ENV = "AD_PLATFORM_API_URL"
EMAIL_ENV = "AD_PLATFORM_EMAIL"
PASSWORD_ENV = "AD_PLATFORM_PASSWORD"
DEFAULT_TIME_SCALE = 0.06
"""``make run``'s pace: the documented 10-per-60 s limit as 10 per 3.6 s. With the documented
20% 503s and 10% hangs, syncing 100 campaigns takes about 160 admitted requests, so about a
minute."""


class StackError(RuntimeError):
    """The stack cannot start as configured; the message says which variable to set."""


@dataclass(frozen=True)
class Stack:
    database_external: bool
    api_url: str
    mock_started: bool
    time_scale: float
    client_id: str


def configure_dagster_home() -> None:
    """Point Dagster at the repository's ``dagster.yaml`` and the pipeline's database."""
    database_url = ensure_database_url()
    os.environ["DAGSTER_HOME"] = str(REPO_ROOT)
    os.environ.setdefault("DAGSTER_PG_URL", dagster_storage_url(database_url))
    os.environ.setdefault("MIXO_DAGSTER_DIR", str(MIXO_HOME / "dagster"))
    os.environ.setdefault("MIXO_DAGSTER_LOGS_DIR", str(MIXO_HOME / "dagster" / "logs"))


@contextmanager
def local_stack(time_scale: float) -> Iterator[Stack]:
    """Start what is missing (database, mock API), export the environment, stop it on exit.

    The rate-limit budget is the code location's default, the PostgreSQL one, as in production:
    ``make run`` exercises the same path as the runs the daemon launches.
    """
    database_external = bool(os.environ.get(DATABASE_URL_ENV))
    configure_dagster_home()
    client_id = os.environ.get(CLIENT_ID_ENV) or "default"
    if os.environ.get(API_URL_ENV):
        for name in (EMAIL_ENV, PASSWORD_ENV):
            if not os.environ.get(name):
                raise StackError(f"{API_URL_ENV} is set, so {name} must be set as well")
        os.environ.setdefault(TIME_SCALE_ENV, "1")
        yield Stack(
            database_external=database_external,
            api_url=os.environ[API_URL_ENV],
            mock_started=False,
            time_scale=float(os.environ[TIME_SCALE_ENV]),
            client_id=client_id,
        )
        return

    # The mock's own documented test account: credentials live in mock_api, never in here.
    from mock_api import MockProcess
    from mock_api.accounts import DEFAULT_EMAIL, DEFAULT_PASSWORD

    with MockProcess(["--time-scale", str(time_scale)]) as mock:
        os.environ[API_URL_ENV] = mock.url
        os.environ.setdefault(EMAIL_ENV, DEFAULT_EMAIL)
        os.environ.setdefault(PASSWORD_ENV, DEFAULT_PASSWORD)
        os.environ[TIME_SCALE_ENV] = str(time_scale)
        try:
            yield Stack(
                database_external=database_external,
                api_url=mock.url,
                mock_started=True,
                time_scale=time_scale,
                client_id=client_id,
            )
        finally:
            os.environ.pop(API_URL_ENV, None)
