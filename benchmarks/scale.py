"""What syncing 1, 10 and 100 ad accounts costs on one machine, against the rate-limit floor.

For each size N it starts the mock in a subprocess with N generated accounts of 100 campaigns
under the documented constraints (10 requests per 60 s per client, 2 s syncs, 20% 503s, 10%
hangs, one-hour tokens), compressed by ``--time-scale``; registers the N accounts as
``ad_accounts`` partitions on a PostgreSQL-backed Dagster instance; and syncs them the way the
schedule does: batches of ``--accounts-per-run`` consecutive accounts, each batch one run in its
own worker process (``python -m mixo_pipeline.accounts.worker``), all batches at once, every
worker drawing permits from the shared PostgreSQL rate-limit budget. It prints per size:

- wall: seconds from launching the workers to the last one exiting (includes process start-up);
- floor: the rate-limit floor of the slowest account, ``floor((admitted - 1) / 10) * window +
  sync latency`` from the mock's own count of that account's admitted requests: no client can
  finish that account sooner, however many accounts run in parallel;
- wall/floor, and wall over the floor of the 1-account run (the issue's target: 100 accounts
  within 1.25x the single-account floor);
- peak memory of all processes (benchmark, mock, workers, PostgreSQL server): the sum of their
  proportional set sizes (shared pages counted once), sampled every 5 s;
- CPU seconds of all of them;
- 429s served, largest count admitted in one window for any account, campaigns stored;
- CPU per admitted request by process group, memory and CPU per account.

Usage: ``.venv/bin/python benchmarks/scale.py`` (time scale 0.1: about 10 minutes in all).
``--margin`` sets the workers' rate-limit margin (``AD_PLATFORM_RATE_LIMIT_MARGIN_S``; by
default the environment's, else the client's default), which the header line prints: how much
jitter a deployment must absorb depends on how many accounts share a core.
Not a test: it prints figures, nothing asserts. Uses the embedded PostgreSQL (or
``DATABASE_URL``) with databases of its own, ``mixo_bench_<pid>`` and
``mixo_bench_<pid>_dagster``, dropped after each size, so concurrent runs on one server do not
drop each other's.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import psutil
import sqlalchemy as sa

from mixo_pipeline.ad_platform import ClientSettings
from mixo_pipeline.database import (
    dagster_storage_url,
    sqlalchemy_url,
    start_embedded_postgres,
)
from mixo_pipeline.defs.operations.sync_targets import batch_partitions
from mixo_pipeline.names import ACCOUNTS_PARTITIONS
from mixo_pipeline.settings import CLIENT_PREFIX, PREFIX
from mixo_pipeline.storage.schema import campaigns, create_schema
from mock_api import MockProcess
from mock_api.accounts import DEFAULT_EMAIL, DEFAULT_PASSWORD

REPO_ROOT = Path(__file__).resolve().parent.parent
BENCH_DB = f"mixo_bench_{os.getpid()}"
BENCH_DAGSTER_DB = f"{BENCH_DB}_dagster"
GIB = 1024**3
PSS_EVERY = 10  # samples: memory every 5 s, CPU every 0.5 s
MARGIN_ENV = f"{CLIENT_PREFIX}RATE_LIMIT_MARGIN_S"
ACCOUNTS_FILE_ENV = f"{PREFIX}ACCOUNTS_FILE"
ACCOUNTS_PER_RUN_ENV = f"{PREFIX}ACCOUNTS_PER_RUN"


@dataclass
class Figures:
    accounts: int
    wall_s: float
    floor_s: float
    peak_pss_bytes: int
    cpu_s: float
    cpu_by_group: dict[str, float]
    refused_429: int
    admitted: int
    max_in_window: int
    stored: int
    failed_workers: int
    timeline: dict[str, float]


def _pss_bytes(pid: int) -> int:
    """The process's proportional set size. RSS would count PostgreSQL's shared buffers once per
    backend (5 GiB at 1,000 accounts for 1.6 GiB of memory actually in use)."""
    with open(f"/proc/{pid}/smaps_rollup") as rollup:
        return next(int(line.split()[1]) * 1024 for line in rollup if line.startswith("Pss:"))


class ProcessSampler:
    """Peak summed PSS and the CPU seconds of named groups of process trees, sampled in a thread.

    The groups (benchmark, mock, PostgreSQL, workers) say where the CPU goes, which is what
    decides whether a loaded machine delays requests past the rate limiter's margin.
    """

    def __init__(self, roots: dict[str, list[psutil.Process]], interval_s: float = 0.5) -> None:
        self._roots = [(group, proc) for group, procs in roots.items() for proc in procs]
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._cpu: dict[int, tuple[str, float]] = {}
        self._before: dict[int, float] = {}  # CPU already spent when this size began
        self.peak_pss = 0  # proportional set size: shared pages counted once, not once per process
        self._samples = 0
        self._thread = threading.Thread(target=self._run, daemon=True)

    def add_root(self, group: str, process: psutil.Process) -> None:
        self._roots.append((group, process))

    def _processes(self) -> dict[int, tuple[str, psutil.Process]]:
        # One scan of the process table per sample (``children(recursive=True)`` per root scanned
        # it once per root, and at 5 samples a second the sampler took a fifth of a core from
        # the run it measured).
        children: dict[int, list[psutil.Process]] = {}
        for proc in psutil.process_iter(["ppid"]):
            children.setdefault(proc.info["ppid"], []).append(proc)
        seen: dict[int, tuple[str, psutil.Process]] = {}
        # The benchmark's own process is the parent of all the others: classify it last.
        for group, root in sorted(self._roots, key=lambda gr: gr[0] == "benchmark"):
            stack = [root]
            while stack:
                proc = stack.pop()
                if proc.pid not in seen:
                    seen[proc.pid] = (group, proc)
                    stack.extend(children.get(proc.pid, []))
        return seen

    def sample(self) -> None:
        self._samples += 1
        memory = (self._samples - 1) % PSS_EVERY == 0  # the kernel walks every mapping: not always
        pss = 0
        for pid, (group, proc) in self._processes().items():
            try:
                times = proc.cpu_times()
                self._cpu[pid] = (group, times.user + times.system)
                pss += _pss_bytes(pid) if memory else 0
            except (psutil.NoSuchProcess, FileNotFoundError, ProcessLookupError):
                continue
        self.peak_pss = max(self.peak_pss, pss)

    def _run(self) -> None:
        while not self._stop.wait(self._interval_s):
            self.sample()

    def __enter__(self) -> ProcessSampler:
        self.sample()
        # A process older than this size (the benchmark's own, from the sizes before) counts
        # only what it spends from here: its times are cumulative.
        self._before = {pid: cpu for pid, (_, cpu) in self._cpu.items()}
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def cpu_s(self) -> float:
        return sum(self.cpu_by_group.values())

    @property
    def cpu_by_group(self) -> dict[str, float]:
        groups: dict[str, float] = {}
        for pid, (group, cpu) in self._cpu.items():
            groups[group] = groups.get(group, 0.0) + cpu - self._before.get(pid, 0.0)
        return groups


def postgres_processes(data_dir: Path | None) -> list[psutil.Process]:
    """The PostgreSQL server's postmaster (its backends are its children)."""
    if data_dir is None:
        return []
    pid_file = data_dir / "postmaster.pid"
    if not pid_file.exists():
        return []
    try:
        return [psutil.Process(int(pid_file.read_text().split()[0]))]
    except (psutil.NoSuchProcess, ValueError):
        return []


def run_timeline(instance: dg.DagsterInstance, launched: float) -> dict[str, float]:
    """Where the wall time of the run that ended last went, from its own event log.

    ``launched`` is the wall-clock time the workers were started. Phases: worker start-up
    (imports, definitions, run creation with its planned events), the step until its last
    account was reported (every account's materializations and check evaluations are written
    as that account finishes), and the end (from the last account's report to the run's last
    event).
    """
    runs = instance.get_runs()
    if not runs:
        return {}
    last = max(runs, key=lambda r: instance.get_run_stats(r.run_id).end_time or 0)
    marks: dict[str, float] = {}
    reported = {
        dg.DagsterEventType.ASSET_MATERIALIZATION,
        dg.DagsterEventType.ASSET_CHECK_EVALUATION,
    }
    for record in instance.get_records_for_run(last.run_id, limit=100_000).records:
        entry = record.event_log_entry
        if entry.dagster_event is None:
            continue
        kind = entry.dagster_event.event_type
        if kind == dg.DagsterEventType.RUN_START:
            marks["run_start"] = entry.timestamp
        elif kind == dg.DagsterEventType.STEP_START and "sync_ad_accounts" in str(entry.step_key):
            marks["sync_start"] = entry.timestamp
        elif kind in reported:
            marks["last_account"] = entry.timestamp
        marks["last_event"] = entry.timestamp
    if any(name not in marks for name in ("run_start", "sync_start", "last_account")):
        return {}
    return {
        "start-up": marks["run_start"] - launched,
        "to sync step": marks["sync_start"] - marks["run_start"],
        "accounts": marks["last_account"] - marks["sync_start"],
        "end": marks["last_event"] - marks["last_account"],
    }


def drop_database(admin_url: str, name: str) -> None:
    engine = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        engine.dispose()


def fresh_database(admin_url: str, name: str) -> str:
    drop_database(admin_url, name)
    engine = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    finally:
        engine.dispose()
    return sa.make_url(admin_url).set(database=name).render_as_string(hide_password=False)


def run_size(n: int, args: argparse.Namespace, admin_url: str, pg_data_dir: Path | None) -> Figures:
    db_url = fresh_database(admin_url, BENCH_DB)
    engine = sa.create_engine(db_url)
    create_schema(engine)
    dagster_url = dagster_storage_url(fresh_database(admin_url, BENCH_DAGSTER_DB))
    keys = [f"client_{i}" for i in range(1, n + 1)]

    with tempfile.TemporaryDirectory(prefix="mixo-scale-") as tmp:
        home = Path(tmp) / "dagster_home"
        home.mkdir()
        (home / "dagster.yaml").write_text(
            f"storage:\n  postgres:\n    postgres_url: {json.dumps(dagster_url)}\n"
            "telemetry:\n  enabled: false\n"
        )
        accounts_file = Path(tmp) / "accounts.json"
        mock_args = [
            "--accounts", str(n), "--campaigns", "100",
            "--time-scale", str(args.time_scale), "--seed", str(args.seed),
        ]  # fmt: skip
        with MockProcess(mock_args) as mock:
            if args.platform_priority:  # a remote platform's clock does not wait for our cores
                os.setpriority(os.PRIO_PROCESS, mock.pid or 0, -args.platform_priority)
            accounts_file.write_text(
                json.dumps(
                    {
                        "defaults": {"base_url": mock.url},
                        "accounts": [
                            {
                                "client_id": k,
                                "email": f"{k}@mixoads.com",
                                "password_env": f"{k.upper()}_PASSWORD",
                            }
                            for k in keys
                        ],
                    }
                )
            )
            with dg.DagsterInstance.from_config(str(home)) as instance:
                instance.add_dynamic_partitions(ACCOUNTS_PARTITIONS.name, keys)
            env = {
                **os.environ,
                "DAGSTER_HOME": str(home),
                ACCOUNTS_FILE_ENV: str(accounts_file),
                ACCOUNTS_PER_RUN_ENV: str(args.accounts_per_run),
                "AD_PLATFORM_API_URL": mock.url,
                "AD_PLATFORM_EMAIL": DEFAULT_EMAIL,
                "AD_PLATFORM_PASSWORD": DEFAULT_PASSWORD,
                "AD_PLATFORM_TIME_SCALE": str(args.time_scale),
                "DATABASE_URL": db_url,
                **{f"{k.upper()}_PASSWORD": f"{k}-password" for k in keys},
            }
            roots = {
                "benchmark": [psutil.Process()],
                "mock": [psutil.Process(mock.pid)],
                "postgres": postgres_processes(pg_data_dir),
            }
            with ProcessSampler(roots) as sampler:
                started = time.monotonic()
                launched = time.time()
                workers = []
                for batch in batch_partitions(keys, keys, args.accounts_per_run):
                    command = [
                        sys.executable, "-m", "mixo_pipeline.accounts.worker",
                        "--from", batch[0], "--to", batch[-1],
                    ]  # fmt: skip
                    log = open(Path(tmp) / f"worker-{batch[0]}.log", "w")  # noqa: SIM115
                    worker = subprocess.Popen(
                        command, cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
                    )
                    workers.append((worker, log))
                    sampler.add_root("workers", psutil.Process(worker.pid))
                failed = 0
                try:
                    for worker, log in workers:
                        sampler.sample()
                        failed += worker.wait() != 0
                        log.close()
                finally:  # interrupted: stop the workers too (SIGTERM ends a run in seconds)
                    for worker, _ in workers:
                        stop_process(worker)
                wall = time.monotonic() - started
                sampler.sample()
            stats = mock.stats()
            with dg.DagsterInstance.from_config(str(home)) as instance:
                timeline = run_timeline(instance, launched)
            if failed and args.verbose:
                for path in sorted(Path(tmp).glob("worker-*.log")):
                    print(path.read_text()[-4000:], file=sys.stderr)

    config = stats["config"]
    limit, window, latency = config["rate_limit"], config["rate_window_s"], config["sync_latency_s"]
    floors = [
        (c["admitted"] - 1) // limit * window + latency
        for cid, c in stats["clients"].items()
        if cid in keys
    ]
    with engine.connect() as conn:
        stored = conn.execute(
            sa.select(sa.func.count())
            .select_from(campaigns)
            .where(campaigns.c.removed_at.is_(None))
        ).scalar_one()
    engine.dispose()
    for name in (BENCH_DB, BENCH_DAGSTER_DB):
        drop_database(admin_url, name)
    return Figures(
        accounts=n,
        wall_s=wall,
        floor_s=max(floors),
        peak_pss_bytes=sampler.peak_pss,
        cpu_s=sampler.cpu_s,
        cpu_by_group=sampler.cpu_by_group,
        refused_429=stats["totals"]["refused_429"],
        admitted=stats["totals"]["admitted"],
        max_in_window=max(c["max_admitted_in_window"] for c in stats["clients"].values()),
        stored=stored,
        failed_workers=failed,
        timeline=timeline,
    )


def stop_process(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL if it has not ended within 30 s."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1,10,100", help="account counts (comma-separated)")
    parser.add_argument("--time-scale", type=float, default=0.1, help="the mock's and client's")
    parser.add_argument("--accounts-per-run", type=int, default=50, help="accounts per worker")
    parser.add_argument("--seed", default="7", help="mock failure seed")
    parser.add_argument(
        "--margin",
        type=float,
        default=float(os.environ.get(MARGIN_ENV) or ClientSettings().rate_limit_margin_s),
        help=f"the client's rate-limit margin, real seconds (sets {MARGIN_ENV} for the workers)",
    )
    parser.add_argument(
        "--platform-priority",
        type=int,
        default=0,
        help="run the mock at this much higher CPU priority (niceness -N; needs root): a "
        "diagnostic separating the platform's own lag on shared cores from the client's",
    )
    parser.add_argument("--verbose", action="store_true", help="print failed workers' logs")
    args = parser.parse_args()
    os.environ[MARGIN_ENV] = str(args.margin)

    pg_data_dir: Path | None = None
    if os.environ.get("DATABASE_URL"):
        admin_url = sqlalchemy_url(os.environ["DATABASE_URL"])
    else:
        server = start_embedded_postgres()
        admin_url, pg_data_dir = server.url("postgres"), server.data_dir

    print(
        f"scale benchmark: 100 campaigns per account, time scale {args.time_scale:g}, "
        f"{args.accounts_per_run} accounts per run, documented constraints "
        "(10 req/60 s per client, 2 s syncs, 20% 503s, 10% hangs), shared Postgres budget; "
        f"rate-limit margin {args.margin:g} s; {psutil.cpu_count()} CPUs"
        + (f"; mock at niceness -{args.platform_priority}" if args.platform_priority else "")
    )
    header = (
        f"{'accounts':>8} {'wall s':>8} {'floor s':>8} {'wall/floor':>10} {'vs 1-acct':>9} "
        f"{'peak PSS':>10} {'CPU s':>7} {'429s':>5} {'max/win':>7} {'stored':>7} {'failed':>6}"
    )
    print(header)
    single_floor: float | None = None
    for n in (int(s) for s in args.sizes.split(",")):
        f = run_size(n, args, admin_url, pg_data_dir)
        single_floor = single_floor or (f.floor_s if n == 1 else None)
        versus = f"{f.wall_s / single_floor:9.3f}" if single_floor else f"{'-':>9}"
        print(
            f"{f.accounts:>8} {f.wall_s:8.1f} {f.floor_s:8.1f} {f.wall_s / f.floor_s:10.3f} "
            f"{versus} {f.peak_pss_bytes / GIB:7.2f} GiB {f.cpu_s:7.1f} {f.refused_429:>5} "
            f"{f.max_in_window:>7} {f.stored:>7} {f.failed_workers:>6}",
            flush=True,
        )
        groups = ", ".join(f"{g} {s:.1f}" for g, s in sorted(f.cpu_by_group.items()))
        print(f"{'':>8} CPU s by process: {groups}", flush=True)
        per_request = ", ".join(
            f"{g} {s / f.admitted * 1000:.2f}" for g, s in sorted(f.cpu_by_group.items())
        )
        print(
            f"{'':>8} {f.admitted} admitted requests; CPU ms per admitted request: {per_request}, "
            f"all {f.cpu_s / f.admitted * 1000:.2f}; per account: "
            f"{f.peak_pss_bytes / f.accounts / 2**20:.1f} MiB, {f.cpu_s / f.accounts:.2f} CPU s",
            flush=True,
        )
        phases = ", ".join(f"{name} {secs:.1f}" for name, secs in f.timeline.items())
        print(f"{'':>8} last run's phases (s): {phases}", flush=True)


if __name__ == "__main__":
    # SIGTERM unwinds like Ctrl-C, so the finally blocks stop what this started.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    main()
