"""The local stack behind ``make run`` and ``make ui``: database, Dagster instance, ad platform.

It is configured through environment variables, as a deployment is, so child processes (``dg
dev``'s webserver, daemon and run workers) see the same stack: ``DATABASE_URL`` (the embedded
PostgreSQL unless set), ``DAGSTER_HOME`` (the repository root, with ``dagster.yaml``),
``DAGSTER_PG_URL``, ``MIXO_DAGSTER_DIR``, ``MIXO_DAGSTER_LOGS_DIR``, and ``AD_PLATFORM_*`` (the
mock API started here unless ``AD_PLATFORM_API_URL`` is set).
"""

import os
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
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
EMAIL_ENV, PASSWORD_ENV = f"{CLIENT_PREFIX}EMAIL", f"{CLIENT_PREFIX}PASSWORD"
DEFAULT_TIME_SCALE = 0.06  # make run's pace: the 60 s window is 3.6 s, 100 campaigns take ~1 min


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


@contextmanager
def local_stack(time_scale: float) -> Iterator[Stack]:
    """Start what is missing (database, mock API), export the environment, stop it on exit.

    The rate-limit budget is the code location's default (PostgreSQL), so ``make run`` takes
    the same path as the runs the daemon launches.
    """
    external = bool(os.environ.get(DATABASE_URL_ENV))
    database_url = configure_dagster_home()
    mock_started = not os.environ.get(API_URL_ENV)
    for name in (EMAIL_ENV, PASSWORD_ENV):
        if not mock_started and not os.environ.get(name):
            raise StackError(f"{API_URL_ENV} is set, so {name} must be set as well")
    with ExitStack() as cleanup:
        if mock_started:
            # The mock's own documented test account: credentials live in mock_api, never here.
            from mock_api import MockProcess
            from mock_api.accounts import DEFAULT_EMAIL, DEFAULT_PASSWORD

            mock = cleanup.enter_context(MockProcess(["--time-scale", str(time_scale)]))
            os.environ[API_URL_ENV] = mock.url
            cleanup.callback(os.environ.pop, API_URL_ENV, None)
            os.environ.setdefault(EMAIL_ENV, DEFAULT_EMAIL)
            os.environ.setdefault(PASSWORD_ENV, DEFAULT_PASSWORD)
            os.environ[f"{CLIENT_PREFIX}TIME_SCALE"] = str(time_scale)
        try:
            settings = load_settings()
        except ValueError as error:
            raise StackError(str(error)) from None
        yield Stack(database_url, external, os.environ[API_URL_ENV], mock_started, settings)
