"""The local stack behind ``make run`` and ``make ui``: database, Dagster instance, ad platform.

Everything is configured through environment variables, as a deployment would be, so the child
processes (``dg dev``'s webserver, daemon and run workers) see the same stack:

- ``DATABASE_URL``: the embedded PostgreSQL unless already set;
- ``DAGSTER_HOME`` (the repository root, where ``dagster.yaml`` lives), ``DAGSTER_PG_URL``
  (Dagster's storage in the same database), ``MIXO_DAGSTER_DIR``, ``MIXO_DAGSTER_LOGS_DIR``;
- ``AD_PLATFORM_*``: the mock API started here unless ``AD_PLATFORM_API_URL`` is set.
"""

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from mixo_pipeline.database import (
    DATABASE_URL_ENV,
    MIXO_HOME,
    REPO_ROOT,
    dagster_storage_url,
    ensure_database_url,
)
from mixo_pipeline.settings import CLIENT_PREFIX, Settings, load_settings

API_URL_ENV = f"{CLIENT_PREFIX}API_URL"
CREDENTIAL_ENVS = (f"{CLIENT_PREFIX}EMAIL", f"{CLIENT_PREFIX}PASSWORD")
TIME_SCALE_ENV = f"{CLIENT_PREFIX}TIME_SCALE"
DEFAULT_TIME_SCALE = 0.06
"""``make run``'s pace: the 60 s window becomes 3.6 s, so 100 campaigns sync in about a minute."""


class StackError(RuntimeError):
    """The stack cannot start as configured; the message says which variable to set."""


@dataclass(frozen=True)
class Stack:
    database_url: str
    database_external: bool
    api_url: str
    mock_started: bool
    settings: Settings


def configure_dagster_home() -> str:
    """Point Dagster at the repository's ``dagster.yaml`` and the pipeline's database."""
    database_url = ensure_database_url()
    os.environ["DAGSTER_HOME"] = str(REPO_ROOT)
    os.environ.setdefault("DAGSTER_PG_URL", dagster_storage_url(database_url))
    os.environ.setdefault("MIXO_DAGSTER_DIR", str(MIXO_HOME / "dagster"))
    os.environ.setdefault("MIXO_DAGSTER_LOGS_DIR", str(MIXO_HOME / "dagster" / "logs"))
    return database_url


def _stack(database_url: str, external: bool, mock_started: bool) -> Stack:
    try:
        settings = load_settings()
    except ValueError as error:
        raise StackError(str(error)) from None
    return Stack(database_url, external, os.environ[API_URL_ENV], mock_started, settings)


@contextmanager
def local_stack(time_scale: float) -> Iterator[Stack]:
    """Start what is missing (database, mock API), export the environment, stop it on exit.

    The rate-limit budget is the code location's default (PostgreSQL), so ``make run`` takes
    the same path as the runs the daemon launches.
    """
    external = bool(os.environ.get(DATABASE_URL_ENV))
    database_url = configure_dagster_home()
    if os.environ.get(API_URL_ENV):
        for name in CREDENTIAL_ENVS:
            if not os.environ.get(name):
                raise StackError(f"{API_URL_ENV} is set, so {name} must be set as well")
        yield _stack(database_url, external, mock_started=False)
        return

    # The mock's own documented test account: credentials live in mock_api, never in here.
    from mock_api import MockProcess
    from mock_api.accounts import DEFAULT_EMAIL, DEFAULT_PASSWORD

    with MockProcess(["--time-scale", str(time_scale)]) as mock:
        os.environ[API_URL_ENV] = mock.url
        for name, default in zip(CREDENTIAL_ENVS, (DEFAULT_EMAIL, DEFAULT_PASSWORD), strict=True):
            os.environ.setdefault(name, default)
        os.environ[TIME_SCALE_ENV] = str(time_scale)
        try:
            yield _stack(database_url, external, mock_started=True)
        finally:
            os.environ.pop(API_URL_ENV, None)
