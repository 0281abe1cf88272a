"""Each ad account's sync status from the command line, as the UI's partition view shows it.

    python -m mixo_pipeline.accounts_status                       # one line per account
    python -m mixo_pipeline.accounts_status --failed-and-missing  # client_3,client_7,...

The second form prints the accounts whose latest sync failed or that never synced, comma-
separated, ready for a backfill from the command line::

    dagster job backfill -w workspace.yaml -j campaign_sync_job --noprompt \\
        --partitions "$(python -m mixo_pipeline.accounts_status --failed-and-missing)"

It reads the instance of ``DAGSTER_HOME``; when that is unset it uses the repository's local
instance (the one ``make run`` and ``make ui`` share), starting the embedded PostgreSQL if needed.
"""

from __future__ import annotations

import argparse
import os
import sys

import dagster as dg

from mixo_pipeline.defs.operations.policies import ACCOUNTS_PARTITIONS_NAME
from mixo_pipeline.defs.operations.sync_targets import AccountHealth, account_health


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--failed-and-missing",
        action="store_true",
        help="print only the accounts to recover, comma-separated",
    )
    args = parser.parse_args(argv)
    if not os.environ.get("DAGSTER_HOME"):
        from mixo_pipeline.cli_stack import configure_dagster_home

        configure_dagster_home()

    with dg.DagsterInstance.get() as instance:
        keys = list(instance.get_dynamic_partitions(ACCOUNTS_PARTITIONS_NAME))
        health = account_health(instance, keys)

    if args.failed_and_missing:
        wanted = (AccountHealth.FAILED, AccountHealth.MISSING)
        print(",".join(key for key in keys if health[key] in wanted))
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
