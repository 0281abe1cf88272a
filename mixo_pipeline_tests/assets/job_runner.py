"""``python -m mixo_pipeline_tests.assets.job_runner PARTITION``: one run in its own process.

The kill test starts this, waits until some campaigns are checkpointed, and SIGKILLs it: a run
worker dying mid-sync, with no chance to clean up.
"""

from __future__ import annotations

import sys

import dagster as dg

from mixo_pipeline.definitions import defs


def main(partition: str) -> int:
    with dg.DagsterInstance.get() as instance:
        if not instance.has_dynamic_partition("ad_accounts", partition):
            instance.add_dynamic_partitions("ad_accounts", [partition])
        job = defs().resolve_job_def("campaign_sync_job")
        result = job.execute_in_process(
            instance=instance, partition_key=partition, raise_on_error=False
        )
    return 0 if result.success else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
