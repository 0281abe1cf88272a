"""How close the client runs to the fastest schedule the platform's rate limit allows.

Starts the mock in a subprocess with the documented constraints (10 requests per 60 s, 2 s syncs,
20% 503s, 10% hangs, one-hour tokens) compressed by ``--time-scale``, lists and syncs every
campaign through :class:`AdPlatformClient` with its default settings (only ``time_scale``
matched to the mock), and prints:

- wall: seconds from creating the client to the last sync result;
- floor: the rate-limit floor for the requests the mock admitted,
  ``floor((admitted - 1) / N) * window + sync latency``: no client can finish sooner;
- efficiency: floor / wall (1.0 would be perfect pacing);
- 429s served and the mock's largest count admitted in one window (must not exceed N);
- the client's retries and every campaign's outcome.

The budget lives in PostgreSQL, as the code location keeps it: the database named by
``DATABASE_URL`` when set, else a throwaway embedded server in a temporary directory
(``--backend memory``: in this process). ``--runs K`` repeats the whole measurement K times
(a fresh mock each time, the same budget) and ends with one summary line.

Usage: ``.venv/bin/python benchmarks/resource_sync.py --time-scale 0.1`` (about 1.5 minutes);
``--time-scale 1`` takes about 14 minutes. Not a test: it prints figures, nothing asserts.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import signal
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from mixo_pipeline.ad_platform import Account, AdPlatformClient, ClientSettings
from mixo_pipeline.database import DATABASE_URL_ENV, start_embedded_postgres
from mock_api import MockProcess
from mock_api.accounts import DEFAULT_CLIENT_ID, DEFAULT_EMAIL, DEFAULT_PASSWORD


@dataclass(frozen=True)
class RunFigures:
    refused_429: int
    max_in_window: int
    limit: int
    efficiency: float
    failed: int


@contextmanager
def budget_database(backend: str) -> Iterator[str | None]:
    """The database URL of the postgres budget (``None`` for memory)."""
    if backend != "postgres":
        yield None
        return
    if os.environ.get(DATABASE_URL_ENV):
        yield os.environ[DATABASE_URL_ENV]
        return
    root = Path(tempfile.mkdtemp(prefix="mixo-bench-pg-"))
    server = start_embedded_postgres(root / "data", cleanup="delete")
    try:
        yield server.create_database("mixo_bench_budget")
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


def run_once(time_scale: float, seed: str, backend: str, database_url: str | None) -> RunFigures:
    mock_args = ["--time-scale", str(time_scale), "--seed", seed]
    with MockProcess(mock_args) as mock:
        settings = ClientSettings(time_scale=time_scale, rate_limit_backend=backend)  # type: ignore[arg-type]
        account = Account(DEFAULT_CLIENT_ID, mock.url, DEFAULT_EMAIL, DEFAULT_PASSWORD)
        started, started_wall = time.monotonic(), time.time()
        with AdPlatformClient(settings, account, budget_url=database_url) as client:
            ids = (c.id for page in client.iter_campaign_pages() for c in page.campaigns)
            results = list(client.sync_campaigns(ids))
            wall = time.monotonic() - started
            client_stats = client.stats.as_metadata()
        server = mock.stats()

    config = server["config"]
    mine = server["clients"][DEFAULT_CLIENT_ID]
    limit, window = config["rate_limit"], config["rate_window_s"]
    admitted = mine["admitted"]
    floor = (admitted - 1) // limit * window + config["sync_latency_s"]
    failed = [r for r in results if not r.success]
    # Where the time above the floor went: pacing (the spread of admissions beyond the ideal
    # whole windows: margins, wake-up latency, idle slots) and the tail (after the last
    # admission, beyond one sync: a hang or backoff in the last window).
    pacing = mine["last_admitted_at"] - mine["first_admitted_at"] - (admitted - 1) // limit * window
    tail = started_wall + wall - mine["last_admitted_at"] - config["sync_latency_s"]
    margin = settings.rate_limit_margin_s
    print(f"time scale          {time_scale}  (budget: {backend}, margin {margin:g} s)")
    synced = len(results) - len(failed)
    print(f"campaigns synced    {synced} of {len(results)} (failed: {len(failed)})")
    print(f"wall                {wall:.2f} s")
    print(f"floor               {floor:.2f} s  (admitted {admitted}, N {limit}, window {window} s)")
    print(f"efficiency          {floor / wall:.4f}")
    print(
        f"  above the floor   start {mine['first_admitted_at'] - started_wall:.2f} s, "
        f"pacing {pacing:.2f} s, tail {tail:.2f} s"
    )
    print(f"429s served         {mine['refused_429']}")
    print(f"max in one window   {mine['max_admitted_in_window']}")
    print(f"admitted requests   {admitted}  (503s {mine['errors_503']}, hangs {mine['hangs']})")
    print(f"retries             {client_stats['retries']}")
    print(
        f"client waits        limiter {client_stats['limiter_wait_s']:.1f} s, "
        f"backoff {client_stats['backoff_wait_s']:.1f} s (summed over threads)"
    )
    for result in failed:
        print(f"  failed {result.campaign_id}: {result.error}")
    return RunFigures(
        refused_429=mine["refused_429"],
        max_in_window=mine["max_admitted_in_window"],
        limit=limit,
        efficiency=floor / wall,
        failed=len(failed),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--time-scale", type=float, default=0.1, help="the mock's and client's")
    parser.add_argument("--seed", default="random", help="mock failure seed (default: random)")
    parser.add_argument(
        "--backend",
        choices=("memory", "postgres"),
        default="postgres",
        help="where the budget lives",
    )
    parser.add_argument("--runs", type=int, default=1, help="repeat the measurement K times")
    parser.add_argument("--verbose", action="store_true", help="log every retry")
    args = parser.parse_args()
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.ERROR,
        format="%(asctime)s %(threadName)s %(message)s",
    )

    figures: list[RunFigures] = []
    with budget_database(args.backend) as database_url:
        for run in range(1, args.runs + 1):
            if args.runs > 1:
                print(f"--- run {run} of {args.runs}")
            figures.append(run_once(args.time_scale, args.seed, args.backend, database_url))
    if len(figures) > 1:
        efficiencies = sorted(f.efficiency for f in figures)
        print(
            f"=== {len(figures)} runs ({args.backend}, time scale {args.time_scale}): "
            f"429s {[f.refused_429 for f in figures]}, "
            f"max in one window {max(f.max_in_window for f in figures)} (N {figures[0].limit}), "
            f"failed campaigns {sum(f.failed for f in figures)}, efficiency min "
            f"{efficiencies[0]:.4f} median {efficiencies[len(efficiencies) // 2]:.4f} "
            f"max {efficiencies[-1]:.4f}"
        )


if __name__ == "__main__":
    # SIGTERM unwinds like Ctrl-C, so the finally blocks stop what this started.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    main()
