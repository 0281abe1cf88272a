"""How each account stands, from the per-partition status the UI shows, and how accounts are
batched into sync runs like the assets' backfill policy (``MIXO_ACCOUNTS_PER_RUN`` consecutive
partitions per run), for the schedule, the recovery sensor and the command line."""

from collections.abc import Iterable, Mapping, Sequence
from enum import Enum
from itertools import groupby

import dagster as dg

from mixo_pipeline.names import ACCOUNTS_PARTITIONS, RANGE_END_TAG, RANGE_START_TAG, STAGES


class AccountHealth(Enum):
    """One account's standing across the three assets."""

    HEALTHY = "healthy"  # every asset's latest materialization attempt succeeded
    FAILED = "failed"  # some asset's latest attempt failed (no materialization since)
    MISSING = "missing"  # some asset was never materialized for this account
    IN_PROGRESS = "in_progress"  # a queued or running run covers this account


UNHEALTHY = (AccountHealth.FAILED, AccountHealth.MISSING)  # what recovery re-syncs


def account_health(instance: dg.DagsterInstance, keys: Sequence[str]) -> dict[str, AccountHealth]:
    """The :class:`AccountHealth` of each partition key, from the instance's partition status."""
    per_asset = [
        instance.get_status_by_partition(asset, list(keys), ACCOUNTS_PARTITIONS) or {}
        for asset in STAGES  # None: the asset has no event at all yet
    ]

    def standing(statuses: set[dg.AssetPartitionStatus | None]) -> AccountHealth:
        if dg.AssetPartitionStatus.IN_PROGRESS in statuses:
            return AccountHealth.IN_PROGRESS
        if dg.AssetPartitionStatus.FAILED in statuses:
            return AccountHealth.FAILED
        return AccountHealth.MISSING if None in statuses else AccountHealth.HEALTHY

    return {key: standing({statuses.get(key) for statuses in per_asset}) for key in keys}


def batch_partitions(keys: Sequence[str], wanted: Iterable[str], per_run: int) -> list[list[str]]:
    """``wanted`` as runs of at most ``per_run`` consecutive keys of ``keys``; a batch never spans
    an unwanted key, so a recovery run never re-syncs a healthy account between two failed ones."""
    chosen, batches = set(wanted), []
    for is_wanted, run in groupby(keys, key=chosen.__contains__):
        if is_wanted:
            run_keys = list(run)
            batches += [run_keys[i : i + per_run] for i in range(0, len(run_keys), per_run)]
    return batches


def batch_run_request(batch: Sequence[str], run_key: str, tags: Mapping[str, str]) -> dg.RunRequest:
    """One run of the sync job over ``batch``, consecutive partition keys."""
    if len(batch) == 1:
        return dg.RunRequest(run_key=run_key, partition_key=batch[0], tags=dict(tags))
    range_tags = {RANGE_START_TAG: batch[0], RANGE_END_TAG: batch[-1]}
    return dg.RunRequest(run_key=run_key, tags={**tags, **range_tags})
