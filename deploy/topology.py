"""Dagster's production topology on one machine, proven end to end.

Starts what ``docs/deploy.md`` describes, with Dagster's own processes on one shared PostgreSQL:
``dagster code-server start`` serving the code location over gRPC, ``dagster-daemon run`` and
``dagster-webserver`` on a ``workspace.yaml`` that points at that server, and the instance
settings of ``docs/dagster.production.yaml`` (the default run launcher in place of Kubernetes:
no container engine runs here; every run still gets a process of its own, spawned by the code
server). Then, as an operator would:

1. ``--accounts`` accounts of the mock (100 campaigns each, the documented 503s and hangs) are
   listed in an accounts file; the daemon's ``ad_accounts_sensor`` turns them into partitions;
2. a backfill of every account is launched through the webserver's GraphQL API, as a user's
   script would; the backfill daemon launches batched runs (``MIXO_ACCOUNTS_PER_RUN``);
3. once the first run has synced some campaigns, its run worker is killed with SIGKILL: the code
   server fails the run, the daemon's run retries re-execute it;
4. every account must end 100/100 in ``campaigns``, no account above its rate limit (the mock's
   count), no 429, the killed run's accounts re-syncing at most the syncs it had in flight;
5. everything is stopped; no process is left.

Prints what happened and exits 0 when every check held, 1 otherwise. The test
``mixo_pipeline_tests/test_deployment.py`` runs it at a compressed time scale.

Usage: ``.venv/bin/python deploy/topology.py --accounts 4 --time-scale 0.05``
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, suppress
from pathlib import Path
from typing import Any, TypeVar

import psutil
import requests
import sqlalchemy as sa
import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from mixo_pipeline.database import DAGSTER_ROLE, dagster_storage_url, start_embedded_postgres  # noqa: E402
from mixo_pipeline.names import ACCOUNTS_PARTITIONS, STAGES, TRIGGER_TAG  # noqa: E402
from mixo_pipeline.storage.schema import campaign_sync_records, campaigns, create_schema  # noqa: E402
from mock_api import MockProcess  # noqa: E402
from mock_api.accounts import DEFAULT_EMAIL, DEFAULT_PASSWORD  # noqa: E402

T = TypeVar("T")
LOCATION = "mixo_pipeline"
BACKFILL_TAG = "dagster/backfill"  # the tag Dagster gives a backfill's runs
BACKFILL = """
mutation Backfill($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message }
    ... on UnauthorizedError { message }
  }
}"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for(what: str, check: Callable[[], T | None], timeout_s: float, every_s: float = 1.0) -> T:
    """``check()``'s first truthy value, polled; TimeoutError naming ``what`` on timeout."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(every_s)
    raise TimeoutError(f"timed out after {timeout_s:.0f} s waiting for {what}")


def production_instance(storage_url: str) -> dict[str, Any]:
    """``docs/dagster.production.yaml`` with local storage and the default run launcher."""
    config = yaml.safe_load((REPO_ROOT / "docs" / "dagster.production.yaml").read_text())
    config["storage"] = {"postgres": {"postgres_url": storage_url}}
    del config["run_launcher"]  # Kubernetes: the default launcher spawns one process per run
    del config["compute_logs"]  # object storage: the default keeps them under DAGSTER_HOME
    return config


@contextmanager
def service(name: str, command: list[str], env: dict[str, str], logs: Path) -> Iterator[Any]:
    """``command`` in a process group of its own, logging to ``logs/name.log``; stopped as an
    operator stops it (SIGTERM, then SIGKILL after 30 s), its whole group with it."""
    log = open(logs / f"{name}.log", "w")  # noqa: SIM115
    process = subprocess.Popen(
        command,
        cwd=REPO_ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        yield process
    finally:
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=30)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)  # anything of its group still alive
        log.close()


def run_workers(code_server: psutil.Process) -> list[psutil.Process]:
    """The code server's run processes (multiprocessing children of its gRPC server)."""
    return [
        child
        for child in code_server.children(recursive=True)
        if "multiprocessing" in " ".join(child.cmdline())
        and "resource_tracker" not in " ".join(child.cmdline())
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", type=int, default=4, help="accounts to sync")
    parser.add_argument("--accounts-per-run", type=int, default=2, help="MIXO_ACCOUNTS_PER_RUN")
    parser.add_argument("--time-scale", type=float, default=0.05, help="the mock's and client's")
    parser.add_argument("--seed", default="1", help="the mock's failure seed")
    parser.add_argument("--timeout-s", type=float, default=900.0, help="give up after this")
    parser.add_argument("--keep-logs", type=Path, help="copy the processes' logs here")
    args = parser.parse_args()
    keys = [f"client_{i}" for i in range(1, args.accounts + 1)]
    problems: list[str] = []

    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="mixo-topology-")))
        home, logs = tmp / "dagster_home", tmp / "logs"
        home.mkdir()
        logs.mkdir()
        if args.keep_logs:
            stack.callback(shutil.copytree, logs, args.keep_logs, dirs_exist_ok=True)

        server = start_embedded_postgres(tmp / "pg", cleanup="delete")
        stack.callback(server.stop)
        db_url = server.create_database("mixo")
        engine = sa.create_engine(db_url)
        stack.callback(engine.dispose)
        create_schema(engine)
        storage_url = dagster_storage_url(server.create_database("mixo_dagster", DAGSTER_ROLE))

        mock_args = ["--accounts", str(args.accounts), "--campaigns", "100"]
        mock_args += ["--time-scale", str(args.time_scale), "--seed", args.seed]
        mock = stack.enter_context(MockProcess(mock_args))
        accounts = [
            {"client_id": k, "email": f"{k}@mixoads.com", "password_env": f"{k.upper()}_PASSWORD"}
            for k in keys
        ]
        accounts_file = tmp / "accounts.json"
        accounts_file.write_text(
            json.dumps({"defaults": {"base_url": mock.url}, "accounts": accounts})
        )

        grpc_port, web_port = free_port(), free_port()
        (home / "dagster.yaml").write_text(yaml.safe_dump(production_instance(storage_url)))
        workspace = home / "workspace.yaml"
        grpc = {"host": "127.0.0.1", "port": grpc_port, "location_name": LOCATION}
        workspace.write_text(yaml.safe_dump({"load_from": [{"grpc_server": grpc}]}))
        env = {
            **os.environ,
            "DAGSTER_HOME": str(home),
            "DATABASE_URL": db_url,
            "MIXO_ACCOUNTS_FILE": str(accounts_file),
            "MIXO_ACCOUNTS_PER_RUN": str(args.accounts_per_run),
            "AD_PLATFORM_API_URL": mock.url,
            "AD_PLATFORM_EMAIL": DEFAULT_EMAIL,
            "AD_PLATFORM_PASSWORD": DEFAULT_PASSWORD,
            "AD_PLATFORM_TIME_SCALE": str(args.time_scale),
            **{f"{k.upper()}_PASSWORD": f"{k}-password" for k in keys},
        }
        bin_dir = Path(sys.executable).parent
        started = time.monotonic()
        code_server = stack.enter_context(
            service(
                "code-server",
                [str(bin_dir / "dagster"), "code-server", "start",
                 "-m", "mixo_pipeline.definitions", "--location-name", LOCATION,
                 "-h", "127.0.0.1", "-p", str(grpc_port)],
                env,
                logs,
            )
        )  # fmt: skip
        wait_for("the code server", lambda: _listening(grpc_port), 120)
        stack.enter_context(
            service(
                "daemon", [str(bin_dir / "dagster-daemon"), "run", "-w", str(workspace)], env, logs
            )
        )
        stack.enter_context(
            service(
                "webserver",
                [str(bin_dir / "dagster-webserver"), "-w", str(workspace),
                 "-h", "127.0.0.1", "-p", str(web_port)],
                env,
                logs,
            )
        )  # fmt: skip
        graphql = f"http://127.0.0.1:{web_port}/graphql"
        wait_for("the webserver", lambda: _answers(f"http://127.0.0.1:{web_port}/server_info"), 120)
        print(f"up in {time.monotonic() - started:.1f} s: code server :{grpc_port}, daemon, "
              f"webserver :{web_port}; mock {mock.url}")  # fmt: skip

        import dagster as dg

        instance = stack.enter_context(dg.DagsterInstance.from_config(str(home)))
        wait_for(
            "the accounts sensor to add the partitions",
            lambda: set(instance.get_dynamic_partitions(ACCOUNTS_PARTITIONS.name)) == set(keys),
            120,
        )
        print(f"ad_accounts_sensor added {len(keys)} partitions")

        params = {"partitionNames": keys, "assetSelection": [{"path": k.path} for k in STAGES]}
        answer = requests.post(
            graphql, json={"query": BACKFILL, "variables": {"params": params}}, timeout=60
        ).json()["data"]["launchPartitionBackfill"]
        if answer["__typename"] != "LaunchBackfillSuccess":
            raise RuntimeError(f"backfill refused: {answer}")
        print(f"backfill {answer['backfillId']} launched through GraphQL")

        def counts(table: sa.Table, where: Any) -> dict[str, int]:
            with engine.connect() as conn:
                query = sa.select(table.c.client_id, sa.func.count()).where(where)
                return {key: int(n) for key, n in conn.execute(query.group_by(table.c.client_id))}

        def stored() -> dict[str, int]:  # campaigns live in the table users query
            return counts(campaigns, campaigns.c.removed_at.is_(None))

        def recorded() -> dict[str, int]:  # successful syncs checkpointed, in any cycle
            return counts(campaign_sync_records, campaign_sync_records.c.success)

        def cycles() -> dict[str, int]:  # passes over each account's campaigns that synced any
            records = campaign_sync_records.c
            with engine.connect() as conn:
                query = sa.select(records.client_id, sa.func.count(sa.distinct(records.cycle_id)))
                query = query.where(records.success).group_by(records.client_id)
                return {key: int(n) for key, n in conn.execute(query)}

        process = psutil.Process(code_server.pid)
        wait_for(
            "a run to sync some campaigns",
            lambda: any(20 <= n < 80 for n in recorded().values()),
            args.timeout_s,
            0.2,
        )
        victim = wait_for("a run worker", lambda: run_workers(process), 10, 0.1)[0]
        checkpointed = recorded()
        victim.send_signal(signal.SIGKILL)
        print(f"run worker pid {victim.pid} killed with SIGKILL; syncs recorded: {checkpointed}")

        def settled() -> bool:
            done = stored()
            in_progress = instance.get_runs(
                dg.RunsFilter(
                    statuses=[
                        dg.DagsterRunStatus.QUEUED,
                        dg.DagsterRunStatus.NOT_STARTED,
                        dg.DagsterRunStatus.STARTING,
                        dg.DagsterRunStatus.STARTED,
                    ]
                )
            )
            return all(done.get(k) == 100 for k in keys) and not in_progress

        try:
            wait_for("every account to reach 100/100", settled, args.timeout_s, 1.0)
        except TimeoutError as error:
            problems.append(str(error))
        wall = time.monotonic() - started

        runs = instance.get_runs()
        failed = [r for r in runs if r.status == dg.DagsterRunStatus.FAILURE]
        retries = [r for r in runs if r.tags.get("dagster/parent_run_id")]
        killed = {key for run in failed for key in _partitions(run.tags)}
        stats = mock.stats()
        limit = stats["config"]["rate_limit"]
        final, passes = stored(), cycles()
        launched_by = Counter(
            r.tags.get(TRIGGER_TAG) or ("backfill" if BACKFILL_TAG in r.tags else "other")
            for r in runs
            if not r.tags.get("dagster/parent_run_id")
        )
        by = ", ".join(f"{n} by {who}" for who, n in sorted(launched_by.items()))
        print(
            f"{len(runs)} runs ({by}): {len(failed)} failed (killed), {len(retries)} retries; "
            f"{wall:.1f} s"
        )
        for key in keys:
            client = stats["clients"].get(key, {})
            line = (
                f"  {key}: {final.get(key, 0)}/100 stored, {client.get('syncs_completed')} syncs "
                f"completed at the platform in {passes.get(key, 0)} cycle(s), "
                f"{client.get('refused_429')} x 429, "
                f"max {client.get('max_admitted_in_window')} of {limit} in a window"
            )
            print(line + (" (its run was killed)" if key in killed else ""))
            if final.get(key) != 100:
                problems.append(f"{key}: {final.get(key, 0)}/100 campaigns stored")
            if client.get("refused_429") or client.get("max_admitted_in_window", 0) > limit:
                problems.append(f"{key}: over its rate limit")
            # Within a cycle a campaign is synced once; a second request for a finished account
            # (the recovery sensor's for a never-synced one, then the backfill's) is a new cycle.
            resynced = client.get("syncs_completed", 0) - 100 * passes.get(key, 1)
            allowed = 10 if key in killed else 0  # the syncs in flight when the worker died
            if resynced > allowed:
                problems.append(f"{key}: {resynced} campaigns synced again (allowed {allowed})")
        if not failed or not retries:
            problems.append("no run was failed by the kill and retried by the daemon")

    leftovers = [p for p in psutil.Process().children(recursive=True) if p.is_running()]
    if leftovers:
        problems.append(f"processes left running: {[p.pid for p in leftovers]}")
    for problem in problems:
        print(f"PROBLEM: {problem}")
    print("topology proven" if not problems else "topology NOT proven")
    return 1 if problems else 0


def _partitions(tags: dict[str, str]) -> list[str]:
    if "dagster/partition" in tags:
        return [tags["dagster/partition"]]
    start = tags.get("dagster/asset_partition_range_start")
    end = tags.get("dagster/asset_partition_range_end")
    if not start or not end:
        return []
    first, last = int(start.rsplit("_", 1)[1]), int(end.rsplit("_", 1)[1])
    return [f"client_{i}" for i in range(first, last + 1)]


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).ok
    except requests.RequestException:
        return False


if __name__ == "__main__":
    sys.exit(main())
