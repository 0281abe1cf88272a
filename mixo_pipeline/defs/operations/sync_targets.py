"""What a sync run targets, how each account stands, and how accounts are batched into runs.

The schedule and the recovery sensor both launch syncs of the three ad platform assets for a set
of accounts. They share these helpers so that both batch accounts the same way (up to
``MIXO_ACCOUNTS_PER_RUN`` consecutive partitions per run, as the assets' backfill policy does for
backfills) and read account health from the same place: the instance's per-partition status,
which is what the UI shows.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from enum import Enum

import dagster as dg

from mixo_pipeline.defs.operations.policies import ACCOUNTS_PARTITIONS

RAW_PAGES_KEY = dg.AssetKey("raw_campaign_pages")
SYNC_RECORDS_KEY = dg.AssetKey("campaign_sync_records")
CAMPAIGNS_KEY = dg.AssetKey("campaigns")
SYNC_ASSET_KEYS: tuple[dg.AssetKey, ...] = (RAW_PAGES_KEY, SYNC_RECORDS_KEY, CAMPAIGNS_KEY)

SYNC_JOB_NAME = "campaign_sync_job"
"""The job syncing accounts: the three assets and their checks, in one process per run."""

# Dagster's run tags for a run over a range of partitions (what a single-run backfill launches).
RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"


class AccountHealth(Enum):
    """One account's standing across the three assets, as the UI's partition status shows it."""

    HEALTHY = "healthy"  # every asset's latest materialization attempt succeeded
    FAILED = "failed"  # some asset's latest attempt failed (no materialization since)
    MISSING = "missing"  # some asset was never materialized for this account
    IN_PROGRESS = "in_progress"  # a queued or running run covers this account


def account_health(
    instance: dg.DagsterInstance, partition_keys: Sequence[str]
) -> dict[str, AccountHealth]:
    """The :class:`AccountHealth` of each partition key, from the instance's partition status."""
    statuses: list[Mapping[str, dg.AssetPartitionStatus | None]] = []
    for key in SYNC_ASSET_KEYS:
        by_partition = instance.get_status_by_partition(
            key, list(partition_keys), ACCOUNTS_PARTITIONS
        )
        statuses.append(by_partition or {})  # None: the asset has no events at all yet
    health: dict[str, AccountHealth] = {}
    for partition in partition_keys:
        per_asset = [status.get(partition) for status in statuses]
        if dg.AssetPartitionStatus.IN_PROGRESS in per_asset:
            health[partition] = AccountHealth.IN_PROGRESS
        elif dg.AssetPartitionStatus.FAILED in per_asset:
            health[partition] = AccountHealth.FAILED
        elif None in per_asset:
            health[partition] = AccountHealth.MISSING
        else:
            health[partition] = AccountHealth.HEALTHY
    return health


def batch_partitions(
    ordered_keys: Sequence[str], wanted: Iterable[str], max_per_batch: int
) -> list[list[str]]:
    """Split ``wanted`` into runs of consecutive keys (in ``ordered_keys`` order).

    A run covers a *range* of partitions, so a batch never spans a key that is not wanted: a
    healthy account between two failed ones is never re-synced by a recovery run.
    """
    wanted_set = set(wanted)
    batches: list[list[str]] = []
    current: list[str] = []
    for key in ordered_keys:
        if key in wanted_set and len(current) < max_per_batch:
            current.append(key)
            continue
        if current:
            batches.append(current)
        current = [key] if key in wanted_set else []
    if current:
        batches.append(current)
    return batches


def batch_run_request(
    batch: Sequence[str], *, run_key: str | None, tags: Mapping[str, str]
) -> dg.RunRequest:
    """One run over ``batch`` (consecutive partition keys) of the three assets and their checks."""
    if len(batch) == 1:
        return dg.RunRequest(run_key=run_key, partition_key=batch[0], tags=dict(tags))
    return dg.RunRequest(
        run_key=run_key,
        tags={**tags, RANGE_START_TAG: batch[0], RANGE_END_TAG: batch[-1]},
    )


def run_request_partitions(run_request: dg.RunRequest, ordered_keys: Sequence[str]) -> list[str]:
    """The partition keys a request built by :func:`batch_run_request` covers (for tests, logs)."""
    if run_request.partition_key is not None:
        return [run_request.partition_key]
    start = ordered_keys.index(run_request.tags[RANGE_START_TAG])
    end = ordered_keys.index(run_request.tags[RANGE_END_TAG])
    return list(ordered_keys[start : end + 1])
