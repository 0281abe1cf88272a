"""Sync a range of accounts in this process, as one of many independent run workers.

    python -m mixo_pipeline.accounts.worker --from client_1 --to client_50

Like a deployment's run worker, it builds its own resources on the shared PostgreSQL rate budget
(so workers syncing overlapping accounts stay within each account's limit together) and runs the
sync job for ``--from``..``--to`` on the instance of ``DAGSTER_HOME``. It prints one JSON line
(run id, success, wall and CPU seconds, peak RSS) for callers such as ``benchmarks/scale.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time

import dagster as dg

from mixo_pipeline.definitions import defs
from mixo_pipeline.names import JOB_NAME, RANGE_END_TAG, RANGE_START_TAG
from mixo_pipeline.settings import variable_name


def run_range(first: str, last: str, instance: dg.DagsterInstance) -> dg.ExecuteInProcessResult:
    """Execute the sync job for partitions ``first``..``last`` (one partition if equal)."""
    # The shared budget is this worker's point: pin it before the code location reads it.
    os.environ[variable_name(("client", "rate_limit_backend"))] = "postgres"
    job = defs().resolve_job_def(JOB_NAME)
    if first == last:
        return job.execute_in_process(instance=instance, partition_key=first, raise_on_error=False)
    tags = {RANGE_START_TAG: first, RANGE_END_TAG: last}
    return job.execute_in_process(instance=instance, tags=tags, raise_on_error=False)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--from", dest="first", required=True, help="first partition (client id)")
    parser.add_argument("--to", dest="last", help="last partition (default: --from)")
    args = parser.parse_args(argv)
    if not os.environ.get("DATABASE_URL"):
        parser.error("DATABASE_URL must name the shared PostgreSQL database")

    started = time.perf_counter()
    with dg.DagsterInstance.get() as instance:
        result = run_range(args.first, args.last or args.first, instance)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    figures = {
        "run_id": result.run_id,
        "success": result.success,
        "wall_s": round(time.perf_counter() - started, 3),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 3),
        "max_rss_mib": round(usage.ru_maxrss / 1024, 1),
    }
    print(json.dumps(figures), flush=True)
    return 0 if result.success else 1


if __name__ == "__main__":
    sys.exit(main())
