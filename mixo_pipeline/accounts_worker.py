"""Run one sync of a range of accounts in this process, as one of many independent run workers.

    python -m mixo_pipeline.accounts_worker --from client_1 --to client_50

A deployment runs each Dagster run in its own worker (a process, container or pod) that builds
its own resources. This module does exactly that from the command line: it loads the code
location with the ``ad_platform`` resource on the **shared PostgreSQL rate-limit budget**
(``AD_PLATFORM_RATE_LIMIT_BACKEND=postgres``, tables in ``DATABASE_URL``), and executes
``campaign_sync_job`` for the partitions ``--from``..``--to`` on the instance of
``DAGSTER_HOME``. Two of these on two machines syncing overlapping accounts
together stay within each account's limit, because every permit comes from the same table.

The multi-worker simulation test and ``benchmarks/scale.py`` use it; operators can use it to sync
a batch of accounts by hand on any machine with the code and the environment. It prints one JSON
line (run id, success, wall and CPU seconds, peak RSS) so callers can aggregate figures.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time

import dagster as dg

from mixo_pipeline.defs.operations.sync_targets import RANGE_END_TAG, RANGE_START_TAG, SYNC_JOB_NAME
from mixo_pipeline.defs.resources import RATE_LIMIT_BACKEND_ENV

SHARED_BUDGET_ENV = "DATABASE_URL"


def run_range(first: str, last: str, instance: dg.DagsterInstance) -> dg.ExecuteInProcessResult:
    """Execute ``campaign_sync_job`` for partitions ``first``..``last`` (a single key if equal)."""
    # The shared budget is this worker's point: pin it before the code location reads it.
    os.environ[RATE_LIMIT_BACKEND_ENV] = "postgres"
    from mixo_pipeline.definitions import defs as load_defs

    job = load_defs().resolve_job_def(SYNC_JOB_NAME)
    if first == last:
        return job.execute_in_process(instance=instance, partition_key=first, raise_on_error=False)
    return job.execute_in_process(
        instance=instance,
        tags={RANGE_START_TAG: first, RANGE_END_TAG: last},
        raise_on_error=False,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--from", dest="first", required=True, help="first partition (client id)")
    parser.add_argument("--to", dest="last", help="last partition (default: --from)")
    args = parser.parse_args(argv)
    if not os.environ.get(SHARED_BUDGET_ENV):
        parser.error(f"{SHARED_BUDGET_ENV} must name the shared PostgreSQL database")

    started = time.perf_counter()
    with dg.DagsterInstance.get() as instance:
        result = run_range(args.first, args.last or args.first, instance)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(
        json.dumps(
            {
                "run_id": result.run_id,
                "success": result.success,
                "wall_s": round(time.perf_counter() - started, 3),
                "cpu_s": round(usage.ru_utime + usage.ru_stime, 3),
                "max_rss_mib": round(usage.ru_maxrss / 1024, 1),
            }
        ),
        flush=True,
    )
    return 0 if result.success else 1


if __name__ == "__main__":
    sys.exit(main())
