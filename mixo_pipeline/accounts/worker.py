"""Sync a range of accounts in this process, as one of many independent run workers. ``python -m
mixo_pipeline.accounts.worker --from client_1 --to client_50`` builds its own resources on the
shared PostgreSQL rate budget (so workers syncing overlapping accounts stay within each account's
limit together), runs the sync job on the instance of ``DAGSTER_HOME`` and prints one JSON line: its
run id and success (``benchmarks/scale.py`` measures time and memory)."""

import argparse
import json
import os
import sys

import dagster as dg

from mixo_pipeline.definitions import defs
from mixo_pipeline.names import JOB_NAME, RANGE_END_TAG, RANGE_START_TAG
from mixo_pipeline.settings import variable_name


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--from", dest="first", required=True, help="first partition (client id)")
    parser.add_argument("--to", dest="last", help="last partition (default: --from)")
    args = parser.parse_args(argv)
    if not os.environ.get("DATABASE_URL"):
        parser.error("DATABASE_URL must name the shared PostgreSQL database")
    # The shared budget is this worker's point: pin it before the code location reads it.
    os.environ[variable_name(("client", "rate_limit_backend"))] = "postgres"
    partition_key = args.first if args.last in (None, args.first) else None
    tags = {} if partition_key else {RANGE_START_TAG: args.first, RANGE_END_TAG: args.last}
    with dg.DagsterInstance.get() as instance:
        job = defs().resolve_job_def(JOB_NAME)
        result = job.execute_in_process(
            instance=instance, partition_key=partition_key, tags=tags, raise_on_error=False
        )
    print(json.dumps({"run_id": result.run_id, "success": result.success}), flush=True)
    return 0 if result.success else 1


if __name__ == "__main__":
    sys.exit(main())
