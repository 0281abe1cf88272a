"""How many rate-limit permits one PostgreSQL can grant: the shared budget's throughput.

Every request the pipeline sends first takes a permit from its account's budget table
(``mixo_pipeline.ad_platform.rate_limit``): one message that takes the account's advisory lock,
stamps, counts the window and inserts if there is room.
This script drives that path alone, without any HTTP: ``--accounts`` threads in this process
(a run worker's shape: one waiting thread per account, one pool of connections), each taking
permits of its own account for ``--seconds``, with ``--limit`` permits per ``--window-s``.

- ``--limit 1000000`` (the default) never fills a window: the pure cost of granting a permit.
- ``--limit 10 --window-s 1``: accounts that wait as the real ones do, the failed attempts and
  the waits included (a window of 1 s stands in for the platform's 60 s:
  60 times the real demand per account).

It prints permits per second, the CPU seconds PostgreSQL and this process spent, and from them
permits per PostgreSQL CPU-second and how many accounts at the real pace (10 requests a minute
each) that is per PostgreSQL core. Not a test: it prints figures, nothing asserts. Uses a
throwaway embedded PostgreSQL unless ``DATABASE_URL`` is set.

Usage: ``.venv/bin/python benchmarks/permit_load.py --accounts 8 --seconds 20``
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import tempfile
import threading
import time
import uuid
from pathlib import Path

import psutil

from mixo_pipeline.ad_platform import rate_limit
from mixo_pipeline.database import DATABASE_URL_ENV, start_embedded_postgres

REAL_PERMITS_PER_ACCOUNT_S = 10 / 60  # the platform's limit at the real pace


def postgres_cpu_s(data_dir: Path | None) -> float:
    """CPU seconds of the embedded server and its backends (0 for an external server)."""
    if data_dir is None:
        return 0.0
    root = psutil.Process(int((data_dir / "postmaster.pid").read_text().split()[0]))
    total = 0.0
    for proc in [root, *root.children(recursive=True)]:
        try:
            times = proc.cpu_times()
            total += times.user + times.system
        except psutil.NoSuchProcess:
            pass
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", type=int, default=8, help="threads, one account each")
    parser.add_argument("--seconds", type=float, default=20.0, help="how long to drive it")
    parser.add_argument("--limit", type=int, default=1_000_000, help="permits per window")
    parser.add_argument("--window-s", type=float, default=60.0, help="the budget's window")
    args = parser.parse_args()

    root = None if os.environ.get(DATABASE_URL_ENV) else Path(tempfile.mkdtemp(prefix="mixo-pl-"))
    server = None if root is None else start_embedded_postgres(root / "data", cleanup="delete")
    try:
        url = os.environ[DATABASE_URL_ENV] if server is None else server.create_database("permits")
        data_dir = None if root is None else root / "data"
        base_url = f"http://load-{uuid.uuid4().hex}.invalid"
        limiters = [
            rate_limit.RateLimiter(args.limit, args.window_s, base_url, f"client_{i}", url)
            for i in range(args.accounts)
        ]
        for limiter in limiters:  # tables created before the clock starts
            limiter.acquire()
        granted = [0] * args.accounts
        stop = threading.Event()

        def drive(index: int) -> None:
            while not stop.is_set():
                limiters[index].acquire(stop=stop)
                granted[index] += 1

        threads = [threading.Thread(target=drive, args=(i,)) for i in range(args.accounts)]
        me = psutil.Process()
        pg_before, me_before = postgres_cpu_s(data_dir), sum(me.cpu_times()[:2])
        started = time.monotonic()
        for thread in threads:
            thread.start()
        time.sleep(args.seconds)
        stop.set()
        for thread in threads:
            thread.join()
        wall = time.monotonic() - started
        pg_cpu = postgres_cpu_s(data_dir) - pg_before
        me_cpu = sum(me.cpu_times()[:2]) - me_before
        rate_limit.close_budgets()
    finally:
        if server is not None:
            server.stop()
        if root is not None:
            shutil.rmtree(root, ignore_errors=True)

    permits = sum(granted)
    print(
        f"accounts {args.accounts}, limit {args.limit} per {args.window_s:g} s, "
        f"{psutil.cpu_count()} CPUs, {wall:.1f} s"
    )
    print(f"permits granted        {permits}  ({permits / wall:.0f} per second)")
    print(f"CPU s                  postgres {pg_cpu:.1f}, this process {me_cpu:.1f}")
    if pg_cpu > 0:
        per_core = permits / pg_cpu
        cost_ms = 1000 * pg_cpu / permits
        print(f"per PostgreSQL CPU-s   {per_core:.0f} permits ({cost_ms:.2f} ms each)")
        print(
            f"accounts per PG core   {per_core / REAL_PERMITS_PER_ACCOUNT_S:.0f} at the real pace "
            f"(10 requests a minute each, the core fully busy)"
        )


if __name__ == "__main__":
    # SIGTERM unwinds like Ctrl-C, so the finally blocks stop what this started.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    main()
