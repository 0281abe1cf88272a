"""``make run`` / ``make ui`` / ``make dg``: the whole pipeline on one machine, from a checkout.
Syncs every configured account on the local stack (:mod:`.stack`), printing progress and a summary;
exits 0 on a complete sync (failed WARN checks included), 1 otherwise, 2 if misconfigured."""

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
from mixo_pipeline.cli.summary import combine, summarize
from mixo_pipeline.database import (
    DATABASE_URL_ENV,
    DEFAULT_DATA_DIR,
    MIXO_HOME,
    REPO_ROOT,
    engine_for,
)
from mixo_pipeline.defs.operations.sync_targets import batch_partitions, batch_run_request
from mixo_pipeline.names import ACCOUNTS_PARTITIONS, JOB_NAME
from mixo_pipeline.settings import load_settings
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
    parser.add_argument(
        "--accounts", type=int, metavar="N", help="give the mock N accounts (client_<n>), sync them"
    )
    parser.add_argument("--port", type=int, help="the UI's port, with --ui (default 3000)")
    command = parser.add_mutually_exclusive_group()
    command.add_argument("--ui", action="store_true", help="open the Dagster UI (dg dev) instead")
    command.add_argument(
        "--dg", nargs=argparse.REMAINDER, metavar="ARGS", help="run `dg ARGS` on the stack instead"
    )
    args = parser.parse_args(argv)
    if args.accounts is not None and args.accounts < 1:
        parser.error("--accounts must be at least 1")
    if args.port is not None and not args.ui:
        parser.error("--port is the UI's: use it with --ui")
    return args


@contextmanager
def client_log_to_file() -> Iterator[Path]:
    """Send the client's per-request lines to a file: here they would bury the progress lines."""
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


def run_pipeline(stack: Stack, cold: bool = False) -> int:
    """Run the job for the stack's accounts, a run per batch (``MIXO_ACCOUNTS_PER_RUN``), one
    after another; return the exit status. Imported late: the resources read the environment."""
    from mixo_pipeline.definitions import defs

    job = defs().resolve_job_def(JOB_NAME)
    engine, runs = engine_for(stack.database_url), []
    with dg.DagsterInstance.get() as instance, client_log_to_file() as client_log:
        print(f"Client log (every request and retry): {client_log}")
        keys = instance.get_dynamic_partitions(ACCOUNTS_PARTITIONS.name)
        for batch in batch_partitions(keys, stack.accounts, load_settings().accounts_per_run):
            run_id = str(uuid.uuid4())  # chosen here: progress polls the run's events while it runs
            request = batch_run_request(batch, run_id, stack.run_tags)  # as the schedule would
            one = request.partition_key
            print(f"Run {run_id} · account {one or f'{batch[0]}..{batch[-1]}'} · job {JOB_NAME}")
            started = time.monotonic()
            with RunProgress(instance, run_id, engine, one):
                result = job.execute_in_process(
                    instance=instance,
                    partition_key=one,
                    run_id=run_id,
                    raise_on_error=False,
                    tags=request.tags,
                    # Progress comes from RunProgress; Dagster's console shows only errors.
                    run_config={"loggers": {"console": {"config": {"log_level": "ERROR"}}}},
                )
            runs.append((batch, result, time.monotonic() - started))
    pages = raw_campaign_pages.c
    first_page = sa.select(sa.func.min(pages.fetched_at)).where(pages.run_id == runs[0][1].run_id)
    with engine.connect() as conn:
        first = conn.scalar(first_page)
    if first is not None:  # seconds from this process's start
        start_up = first.timestamp() - psutil.Process().create_time()
        initdb = " (cold start: the embedded PostgreSQL was created first)" if cold else ""
        print(f"Start-up: the platform's first page arrived {start_up:.1f} s after launch{initdb}")
    summaries = []
    for batch, result, wall_s in runs:
        summaries.append([summarize(result, engine, key, wall_s) for key in batch])
        if len(stack.accounts) > 1:  # a line per account, then the whole
            for key, summary in zip(batch, summaries[-1], strict=True):
                print(f"{key}: {summary.line()}")
    summary = combine(summaries, sum(wall_s for *_, wall_s in runs))
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
    if args.port:  # the alerts' links to runs
        os.environ.setdefault("MIXO_DAGSTER_UI_URL", f"http://localhost:{args.port}")
    try:
        with local_stack(args.time_scale, args.accounts) as stack:
            if args.ui or args.dg:
                port = ["--port", str(args.port)] if args.port else []
                return run_dg(["dev", *port] if args.ui else args.dg)
            return run_pipeline(stack, cold)
    except StackError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
