"""Each ad account's sync status, as the UI's partition view shows it: a line per account, or the
accounts to recover for a backfill's ``--partitions``, or as ``dg launch`` commands (no daemon).
It reads the instance of ``DAGSTER_HOME``, else the one ``make run`` and ``make ui`` share."""

import argparse
import os
import sys

import dagster as dg

from mixo_pipeline.cli.stack import configure_dagster_home
from mixo_pipeline.defs.operations.sync_targets import UNHEALTHY, account_health, batch_partitions
from mixo_pipeline.names import ACCOUNTS_PARTITIONS, JOB_NAME
from mixo_pipeline.settings import load_settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m mixo_pipeline.cli.accounts_status", description=__doc__
    )
    output = parser.add_mutually_exclusive_group()
    output.add_argument(
        "--failed-and-missing", action="store_true", help="the accounts to recover, comma-separated"
    )
    output.add_argument(
        "--launch-commands", action="store_true", help="a `dg launch` per batch to recover"
    )
    args = parser.parse_args(argv)
    if not os.environ.get("DAGSTER_HOME"):
        configure_dagster_home()
    with dg.DagsterInstance.get() as instance:
        keys = list(instance.get_dynamic_partitions(ACCOUNTS_PARTITIONS.name))
        health = account_health(instance, keys)
    to_recover = [key for key in keys if health[key] in UNHEALTHY]
    if args.failed_and_missing:
        print(",".join(to_recover))
    elif args.launch_commands:
        for batch in batch_partitions(keys, to_recover, load_settings().accounts_per_run):
            if len(batch) == 1:
                print(f"dg launch --job {JOB_NAME} --partition {batch[0]}")
            else:
                print(f"dg launch --job {JOB_NAME} --partition-range {batch[0]}...{batch[-1]}")
    elif not keys:
        print(f"no {ACCOUNTS_PARTITIONS.name} partitions yet (ad_accounts_sensor adds them)")
    else:
        width = max(len(key) for key in keys)
        for key in keys:
            print(f"{key:<{width}}  {health[key].value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
