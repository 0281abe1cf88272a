"""Each ad account's sync status from the command line, as the UI's partition view shows it.

    python -m mixo_pipeline.accounts_status                       # one line per account
    python -m mixo_pipeline.accounts_status --failed-and-missing  # client_3,client_7,...
    python -m mixo_pipeline.accounts_status --launch-commands     # dg launch ... per batch

``--failed-and-missing`` prints the accounts whose latest sync failed or that never synced,
comma-separated, ready for a backfill submitted to the daemon::

    dagster job backfill -w workspace.yaml -j campaign_sync_job --noprompt \\
        --partitions "$(python -m mixo_pipeline.accounts_status --failed-and-missing)"

``--launch-commands`` prints the same accounts as ``dg launch`` commands, one per batch of
consecutive accounts (never spanning a healthy one, at most ``MIXO_ACCOUNTS_PER_RUN`` each),
which run right away in the terminal without the daemon.

It reads the instance of ``DAGSTER_HOME``; when that is unset it uses the repository's local
instance (the one ``make run`` and ``make ui`` share), starting the embedded PostgreSQL if needed.
"""

from __future__ import annotations

import argparse
import os
import sys

import dagster as dg

from mixo_pipeline.defs.operations.policies import ACCOUNTS_PARTITIONS_NAME, accounts_per_run
from mixo_pipeline.defs.operations.sync_targets import (
    SYNC_JOB_NAME,
    AccountHealth,
    account_health,
    batch_partitions,
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    output = parser.add_mutually_exclusive_group()
    output.add_argument(
        "--failed-and-missing",
        action="store_true",
        help="print only the accounts to recover, comma-separated",
    )
    output.add_argument(
        "--launch-commands",
        action="store_true",
        help="print a `dg launch` command per batch of accounts to recover",
    )
    args = parser.parse_args(argv)
    if not os.environ.get("DAGSTER_HOME"):
        from mixo_pipeline.cli_stack import configure_dagster_home

        configure_dagster_home()

    with dg.DagsterInstance.get() as instance:
        keys = list(instance.get_dynamic_partitions(ACCOUNTS_PARTITIONS_NAME))
        health = account_health(instance, keys)

    to_recover = [
        key for key in keys if health[key] in (AccountHealth.FAILED, AccountHealth.MISSING)
    ]
    if args.failed_and_missing:
        print(",".join(to_recover))
        return 0
    if args.launch_commands:
        for batch in batch_partitions(keys, to_recover, accounts_per_run()):
            target = (
                f"--partition {batch[0]}"
                if len(batch) == 1
                else f"--partition-range {batch[0]}...{batch[-1]}"
            )
            print(f"dg launch --job {SYNC_JOB_NAME} {target}")
        return 0
    if not keys:
        print("no ad_accounts partitions yet (ad_accounts_sensor adds them)")
        return 0
    width = max(len(key) for key in keys)
    for key in keys:
        print(f"{key:<{width}}  {health[key].value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
