"""``python -m mixo_pipeline_tests.assets.job_runner PARTITION``: one run in its own process.

The kill test starts this, waits until some campaigns are checkpointed, and SIGKILLs it: a run
worker dying mid-sync, with no chance to clean up.
"""

from __future__ import annotations

import sys

import dagster as dg

from mixo_pipeline import names
from mixo_pipeline.definitions import defs


def main(partition: str) -> int:
    with dg.DagsterInstance.get() as instance:
        partitions = names.ACCOUNTS_PARTITIONS.name
        if not instance.has_dynamic_partition(partitions, partition):
            instance.add_dynamic_partitions(partitions, [partition])
        job = defs().resolve_job_def(names.JOB_NAME)
        result = job.execute_in_process(
            instance=instance, partition_key=partition, raise_on_error=False
        )
    return 0 if result.success else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
