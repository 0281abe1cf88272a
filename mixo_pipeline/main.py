"""``make run`` / ``make ui``: the whole pipeline on one machine, from a bare checkout.

``python -m mixo_pipeline.main`` starts what is missing (the embedded PostgreSQL unless
``DATABASE_URL`` is set, the mock ad platform unless ``AD_PLATFORM_API_URL`` is set), materializes
``raw_campaign_pages`` → ``campaign_sync_records`` → ``campaigns`` and their checks for the
default account through the PostgreSQL-backed Dagster instance of ``dagster.yaml`` (so the run
is in ``make ui``'s history), prints progress and a one-line summary, and exits non-zero when
the sync is incomplete or a check fails. ``--ui`` prepares the same stack and runs ``dg dev``;
``--dg ARGS...`` runs any other ``dg`` command there (``dg check defs``, ``dg launch ...``), since
``dagster.yaml`` reads the instance's storage from the environment the stack sets.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
from dagster._core.utils import make_new_run_id

from mixo_pipeline.ad_platform.settings import ClientSettings
from mixo_pipeline.cli_progress import RunProgress
from mixo_pipeline.cli_stack import DEFAULT_TIME_SCALE, Stack, StackError, local_stack
from mixo_pipeline.cli_summary import summarize
from mixo_pipeline.defs.operations.policies import ACCOUNTS_PARTITIONS_NAME
from mixo_pipeline.local_postgres import MIXO_HOME, REPO_ROOT
from mixo_pipeline.resources.postgres import engine_for

JOB_NAME = "campaign_sync_job"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m mixo_pipeline.main", description=__doc__)
    pace = parser.add_mutually_exclusive_group()
    pace.add_argument(
        "--realistic",
        action="store_true",
        help="run the mock at the platform's true pace (time scale 1: about 15 to 17 minutes)",
    )
    pace.add_argument(
        "--time-scale",
        type=float,
        default=DEFAULT_TIME_SCALE,
        help=f"time scale of the mock and the client (default {DEFAULT_TIME_SCALE})",
    )
    command = parser.add_mutually_exclusive_group()
    command.add_argument("--ui", action="store_true", help="open the Dagster UI (dg dev) instead")
    command.add_argument(
        "--dg",
        nargs=argparse.REMAINDER,
        metavar="ARGS",
        help="run `dg ARGS` (e.g. `check defs`) on the stack instead of the job",
    )
    return parser.parse_args(argv)


def describe(stack: Stack) -> None:
    database = "DATABASE_URL" if stack.database_external else "embedded PostgreSQL in .mixo/"
    print(f"Database: {database} · Dagster instance: {REPO_ROOT / 'dagster.yaml'}")
    if stack.mock_started:
        window = 60 * stack.time_scale
        print(
            f"Ad platform: mock_api at {stack.api_url} with the documented constraints "
            f"(time scale {stack.time_scale:g}: 10 requests per {window:g} s, "
            f"20% 503s, 10% hangs, {2 * stack.time_scale:g} s per sync)"
        )
    else:
        print(f"Ad platform: {stack.api_url} (AD_PLATFORM_API_URL)")


def ensure_partition(instance: dg.DagsterInstance, client_id: str) -> None:
    """The default deployment's single ``ad_accounts`` partition (the account's client id)."""
    if not instance.has_dynamic_partition(ACCOUNTS_PARTITIONS_NAME, client_id):
        instance.add_dynamic_partitions(ACCOUNTS_PARTITIONS_NAME, [client_id])


@contextmanager
def client_log_to_file() -> Iterator[Path]:
    """Send the client's per-request lines (every retry) to a file instead of the terminal.

    In the code location they reach the run's captured stderr; here they would bury the
    progress lines. Their totals are in the summary and the run's metadata.
    """
    path = MIXO_HOME / "logs" / "ad_platform_client.log"
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    client_log = logging.getLogger("mixo_pipeline.ad_platform")
    level, propagate = client_log.level, client_log.propagate
    client_log.addHandler(handler)
    client_log.setLevel(logging.INFO)
    client_log.propagate = False
    try:
        yield path
    finally:
        client_log.removeHandler(handler)
        handler.close()
        client_log.setLevel(level)
        client_log.propagate = propagate


def run_pipeline(stack: Stack) -> int:
    """Materialize the job for the stack's account; return the process exit status."""
    # Imported once the environment is set: the resource bindings read it at load time.
    from mixo_pipeline.definitions import defs

    definitions = defs()
    job = definitions.resolve_job_def(JOB_NAME)
    with dg.DagsterInstance.get() as instance:
        ensure_partition(instance, stack.client_id)
        engine = engine_for(os.environ["DATABASE_URL"])
        run_id = make_new_run_id()
        print(f"Run {run_id} · account {stack.client_id!r} · job {JOB_NAME}")
        started = time.monotonic()
        with (
            client_log_to_file() as client_log,
            RunProgress(instance, run_id, engine, stack.client_id),
        ):
            print(f"Client log (every request and retry): {client_log}")
            result = job.execute_in_process(
                instance=instance,
                partition_key=stack.client_id,
                run_id=run_id,
                raise_on_error=False,
                # Progress comes from RunProgress; Dagster's console shows only errors.
                run_config={"loggers": {"console": {"config": {"log_level": "ERROR"}}}},
            )
        wall_s = time.monotonic() - started
    summary = summarize(
        result, engine, stack.client_id, ClientSettings(time_scale=stack.time_scale), wall_s
    )
    print(summary.line())
    return 0 if summary.ok else 1


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def run_dg(args: list[str]) -> int:
    """``dg ARGS`` on the stack, in the foreground until it ends, Ctrl-C or SIGTERM.

    On either signal, ``dg`` gets the SIGINT it expects for a graceful shutdown (``dg dev``'s
    webserver, daemon and code server); the stack (mock, embedded PostgreSQL) stops after it.
    """
    dg_cli = Path(sys.executable).with_name("dg")
    # dg compares the active virtualenv with the project's; they are the same interpreter here.
    env = {**os.environ, "VIRTUAL_ENV": sys.prefix}
    process = subprocess.Popen([str(dg_cli), *args], cwd=REPO_ROOT, env=env)
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        return process.wait()
    except KeyboardInterrupt:
        process.send_signal(signal.SIGINT)
        try:
            return process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            return process.wait()
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    time_scale = 1.0 if args.realistic else args.time_scale
    try:
        with local_stack(time_scale) as stack:
            describe(stack)
            if args.ui or args.dg:
                with dg.DagsterInstance.get() as instance:
                    ensure_partition(instance, stack.client_id)
                return run_dg(["dev"] if args.ui else args.dg)
            return run_pipeline(stack)
    except StackError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
