"""The local stack behind ``make run`` and ``make ui``: database, Dagster instance, ad platform,
set through a deployment's environment variables so that child processes (``dg dev``) share it."""

import os
import signal
import socket
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import psutil
import sqlalchemy as sa
import yaml

from mixo_pipeline.accounts.file import FILE_VARIABLE, AccountConfig, load_account_configs
from mixo_pipeline.database import (
    DAGSTER_PG_URL_ENV,
    DATABASE_URL_ENV,
    MIXO_HOME,
    REPO_ROOT,
    dagster_storage_url,
    ensure_database_url,
)
from mixo_pipeline.names import ACCOUNTS_PARTITIONS, API_POOL
from mixo_pipeline.settings import CLIENT_PREFIX, load_settings

API_URL_ENV = f"{CLIENT_PREFIX}API_URL"
EMAIL_ENV, PASSWORD_ENV = f"{CLIENT_PREFIX}EMAIL", f"{CLIENT_PREFIX}PASSWORD"
DEFAULT_TIME_SCALE = 0.06  # make run's pace: the 60 s window is 3.6 s, 100 campaigns take ~1 min
LAUNCHER_TAG = "mixo/launcher"  # host:pid of the process that executes the run in-process


class StackError(RuntimeError):
    """The stack cannot start as configured; the message says which variable to set."""


@dataclass(frozen=True)
class Stack:
    database_url: str
    accounts: list[str]  # the partitions to sync: the accounts file's, else the single account
    run_tags: dict[str, str]  # of the runs executed here: the next start fails them if we die


def prepare_instance(instance: dg.DagsterInstance) -> None:
    """Fail the STARTED runs of dead launchers (run monitoring cannot see in-process runs); set
    the API pool's limit before any step does: two steps creating it at once collide."""
    for run in instance.get_runs(dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED])):
        owner, _, pid = run.tags.get(LAUNCHER_TAG, "").rpartition(":")
        if owner == socket.gethostname() and not psutil.pid_exists(int(pid)):
            instance.report_run_failed(run, f"The launcher that ran it (pid {pid}) is gone")
            print(f"Run {run.run_id} marked failed: its launcher (pid {pid}) is gone")
    if instance.global_op_concurrency_default_limit and not _has_pool_limit(instance):
        try:
            instance.event_log_storage.initialize_concurrency_limit_to_default(API_POOL)
        except sa.exc.DBAPIError:
            if not _has_pool_limit(instance):
                raise


def configure_dagster_home() -> str:
    """Point Dagster at the repository's ``dagster.yaml`` and the pipeline's database."""
    database_url = ensure_database_url()
    os.environ["DAGSTER_HOME"] = str(REPO_ROOT)
    os.environ.setdefault(DAGSTER_PG_URL_ENV, dagster_storage_url(database_url))
    os.environ.setdefault("MIXO_DAGSTER_DIR", str(MIXO_HOME / "dagster"))
    os.environ.setdefault("MIXO_DAGSTER_LOGS_DIR", str(MIXO_HOME / "dagster" / "logs"))
    return database_url


def _has_pool_limit(instance: dg.DagsterInstance) -> bool:
    return any(pool.name == API_POOL for pool in instance.event_log_storage.get_pool_limits())


def _start_mock(cleanup: ExitStack, time_scale: float, accounts: int | None) -> str:
    """Start the mock with its test account and ``accounts`` generated ones; return its banner."""
    from mock_api import MockConfig, MockProcess
    from mock_api.accounts import DEFAULT_EMAIL, DEFAULT_PASSWORD

    generated = ["--accounts", str(accounts)] if accounts else []
    mock = cleanup.enter_context(MockProcess(["--time-scale", str(time_scale), *generated]))
    os.environ[API_URL_ENV] = mock.url
    cleanup.callback(os.environ.pop, API_URL_ENV, None)
    os.environ.setdefault(EMAIL_ENV, DEFAULT_EMAIL)
    os.environ.setdefault(PASSWORD_ENV, DEFAULT_PASSWORD)
    if accounts:
        write_accounts_file(cleanup, mock.url, accounts)
    limits = MockConfig()
    return (
        f"mock_api at {mock.url} with the documented constraints (time scale {time_scale:g}: "
        f"{limits.rate_limit} requests per {limits.rate_window * time_scale:g} s, "
        f"{limits.error_rate:.0%} 503s, {limits.hang_rate:.0%} hangs, "
        f"{limits.sync_latency * time_scale:g} s per sync)"
    )


def write_accounts_file(cleanup: ExitStack, url: str, count: int) -> None:
    """Point ``MIXO_ACCOUNTS_FILE`` at a new file listing the mock's ``client_1..client_<count>``
    at ``url``; one per launcher, removed at exit, as the mock dies with this process."""
    from mock_api.accounts import generated_account

    entries = []
    for n in range(1, count + 1):
        account = generated_account(n, campaigns=0)
        os.environ[variable := f"{account.client_id.upper()}_PASSWORD"] = account.password
        entries.append(
            {"client_id": account.client_id, "email": account.email, "password_env": variable}
        )
    path = MIXO_HOME / f"accounts.local-{os.getpid()}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    document = yaml.safe_dump({"defaults": {"base_url": url}, "accounts": entries}, sort_keys=False)
    path.write_text("# Generated for the launcher's mock; removed when it exits\n" + document)
    cleanup.callback(path.unlink, missing_ok=True)
    os.environ[FILE_VARIABLE] = str(path)
    cleanup.callback(os.environ.pop, FILE_VARIABLE, None)


def accounts_line(path: Path, configs: list[AccountConfig], api_url: str) -> str:
    """The banner's line for an accounts file, naming each ``base_url`` not the stack's platform."""
    line = f"Accounts: {len(configs)} from {path} ({FILE_VARIABLE})"
    if foreign := sorted({config.base_url for config in configs} - {api_url.rstrip("/")}):
        line += f" · base_url {', '.join(foreign)} is NOT this stack's platform ({api_url})"
    return line


@contextmanager
def local_stack(time_scale: float | None, accounts: int | None = None) -> Iterator[Stack]:
    """Start what is missing (database, mock API), prepare the instance, print what is used; stop
    on any exit but SIGKILL. ``time_scale`` sets the client's pace whichever API it calls."""
    scale = DEFAULT_TIME_SCALE if time_scale is None else time_scale
    with ExitStack() as cleanup:
        # SIGINT too: started in the background it is ignored, and dg dev would inherit that.
        for signum in (signal.SIGINT, signal.SIGTERM):
            previous = signal.signal(signum, signal.default_int_handler)
            cleanup.callback(signal.signal, signum, previous)
        external = bool(os.environ.get(DATABASE_URL_ENV))
        database_url = configure_dagster_home()
        if accounts and os.environ.get(API_URL_ENV):
            raise StackError(f"--accounts sets up the launcher's own mock: unset {API_URL_ENV}")
        mock = None if os.environ.get(API_URL_ENV) else _start_mock(cleanup, scale, accounts)
        for name in (EMAIL_ENV, PASSWORD_ENV):
            if not mock and not os.environ.get(name):
                raise StackError(f"{API_URL_ENV} is set, so {name} must be set as well")
        if mock or time_scale is not None:
            os.environ[f"{CLIENT_PREFIX}TIME_SCALE"] = str(scale)
        try:
            settings = load_settings()
            configs = load_account_configs(settings.accounts_file)  # [] without a file
        except ValueError as error:  # an invalid accounts file too
            raise StackError(str(error)) from None
        database = "DATABASE_URL" if external else "embedded PostgreSQL in .mixo/"
        print(f"Database: {database} · Dagster instance: {REPO_ROOT / 'dagster.yaml'}")
        platform = mock or (
            f"{os.environ[API_URL_ENV]} (AD_PLATFORM_API_URL) · client time scale "
            f"{settings.client.time_scale:g}"
        )
        print(f"Ad platform: {platform}")
        if configs:
            print(accounts_line(settings.accounts_file, configs, os.environ[API_URL_ENV]))
        keys = [config.client_id for config in configs] or [settings.client_id]
        with dg.DagsterInstance.get() as instance:  # before dg dev's sensors first tick
            instance.add_dynamic_partitions(ACCOUNTS_PARTITIONS.name, keys)
            prepare_instance(instance)
        tags = {LAUNCHER_TAG: f"{socket.gethostname()}:{os.getpid()}"}
        yield Stack(database_url, keys, tags)
