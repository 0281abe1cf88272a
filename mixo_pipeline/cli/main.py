"""``make run`` / ``make ui`` / ``make dg``: the whole pipeline on one machine, from a checkout.
Starts what is missing (:mod:`.stack`), runs the sync job for the default account on the instance of
``dagster.yaml`` (so ``make ui`` shows the run), prints progress and a one-line summary, and exits 0
on a complete sync (a failed WARN check included), 1 otherwise, 2 when the stack is misconfigured.
``--ui`` runs ``dg dev`` on the same stack instead, ``--dg ARGS...`` any other ``dg`` command."""

import argparse
import logging
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import dagster as dg
import psutil
import sqlalchemy as sa

from mixo_pipeline.cli.progress import RunProgress
from mixo_pipeline.cli.stack import DEFAULT_TIME_SCALE, Stack, StackError, local_stack
from mixo_pipeline.cli.summary import summarize
from mixo_pipeline.database import (
    DATABASE_URL_ENV,
    DEFAULT_DATA_DIR,
    MIXO_HOME,
    REPO_ROOT,
    engine_for,
)
from mixo_pipeline.names import JOB_NAME
from mixo_pipeline.storage.schema import raw_campaign_pages


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m mixo_pipeline.cli", description=__doc__)
    parser.add_argument(
        "--time-scale",
        type=float,
        help=f"time scale of the mock and the client (default {DEFAULT_TIME_SCALE}; 1 is the "
        "platform's true pace, about 17 minutes; with AD_PLATFORM_API_URL set, the client's "
        "AD_PLATFORM_TIME_SCALE unless this is given)",
    )
    command = parser.add_mutually_exclusive_group()
    command.add_argument("--ui", action="store_true", help="open the Dagster UI (dg dev) instead")
    command.add_argument(
        "--dg", nargs=argparse.REMAINDER, metavar="ARGS", help="run `dg ARGS` on the stack instead"
    )
    return parser.parse_args(argv)


@contextmanager
def client_log_to_file() -> Iterator[Path]:
    """Send the client's per-request lines to a file: here they would bury the progress lines
    (in the code location they reach the run's captured stderr). Totals are in the summary."""
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


def first_page_s(engine: sa.Engine, client_id: str, run_id: str) -> float | None:
    """Seconds from this process's start to the platform's first page for the run, if it listed."""
    pages = raw_campaign_pages.c
    query = sa.select(sa.func.min(pages.fetched_at))
    with engine.connect() as conn:
        first = conn.scalar(query.where(pages.client_id == client_id, pages.run_id == run_id))
    return None if first is None else first.timestamp() - psutil.Process().create_time()


def run_pipeline(stack: Stack, cold: bool = False) -> int:
    """Materialize the job for the stack's account; return the process exit status."""
    # Imported once the environment is set: the resource bindings read it at load time.
    from mixo_pipeline.definitions import defs

    job = defs().resolve_job_def(JOB_NAME)
    engine, client_id = engine_for(stack.database_url), stack.client_id
    run_id = str(uuid.uuid4())  # chosen here: progress polls the run's events while it runs
    print(f"Run {run_id} · account {client_id!r} · job {JOB_NAME}")
    with dg.DagsterInstance.get() as instance:
        started = time.monotonic()
        with client_log_to_file() as client_log, RunProgress(instance, run_id, engine, client_id):
            print(f"Client log (every request and retry): {client_log}")
            result = job.execute_in_process(
                instance=instance,
                partition_key=client_id,
                run_id=run_id,
                raise_on_error=False,
                tags=stack.run_tags,
                # Progress comes from RunProgress; Dagster's console shows only errors.
                run_config={"loggers": {"console": {"config": {"log_level": "ERROR"}}}},
            )
        wall_s = time.monotonic() - started
    if (start_up := first_page_s(engine, client_id, run_id)) is not None:
        initdb = " (cold start: the embedded PostgreSQL was created first)" if cold else ""
        print(f"Start-up: the platform's first page arrived {start_up:.1f} s after launch{initdb}")
    summary = summarize(result, engine, client_id, wall_s)
    print(summary.line())
    return summary.exit_status


def run_dg(args: list[str]) -> int:
    """``dg ARGS`` in the foreground; on Ctrl-C or SIGTERM it gets the SIGINT it shuts down
    gracefully on (``dg dev``: webserver, daemon, code server), then the stack stops."""
    dg_cli = Path(sys.executable).with_name("dg")
    # dg compares the active virtualenv with the project's; they are the same interpreter here.
    env = {**os.environ, "VIRTUAL_ENV": sys.prefix}
    process = subprocess.Popen([str(dg_cli), *args], cwd=REPO_ROOT, env=env)
    try:  # SIGTERM raises KeyboardInterrupt too (local_stack)
        return process.wait()
    except KeyboardInterrupt:
        process.send_signal(signal.SIGINT)
        try:
            return process.wait(timeout=30)
        except subprocess.TimeoutExpired:  # its children too: nothing may outlive the stack
            for child in psutil.Process(process.pid).children(recursive=True):
                with suppress(psutil.NoSuchProcess):
                    child.kill()
            process.kill()
            return process.wait()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    cold = not os.environ.get(DATABASE_URL_ENV) and not (DEFAULT_DATA_DIR / "PG_VERSION").exists()
    try:
        with local_stack(args.time_scale) as stack:
            if args.ui or args.dg:
                return run_dg(["dev"] if args.ui else args.dg)
            return run_pipeline(stack, cold)
    except StackError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
