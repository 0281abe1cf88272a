"""Run the sync's stages for every account (partition) of a step, one thread per account.

A step normally covers one account, but a backfill batches many accounts into one run (see
``accounts_backfill_policy``) so hundreds of accounts do not cost hundreds of OS processes. The
accounts then run concurrently in threads, and Dagster must still tell the truth per account
and per asset. Dagster marks an asset partition failed when a failed run planned it and no
materialization of it followed, so:

- every account completes: one ``MaterializeResult`` per asset; Dagster records one
  materialization per partition, each with that account's own figures (partition-scoped
  metadata through ``context.add_asset_metadata``);
- some account fails: the materialization of every stage that did complete, for every account,
  is logged explicitly, then the step fails naming the broken accounts. Healthy accounts show
  materialized, the broken account shows the stages it finished as materialized and the rest
  as failed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import dagster as dg

from mixo_pipeline.ad_platform.errors import (
    AuthenticationError,
    PaginationError,
    ResponseValidationError,
)
from mixo_pipeline.sync.rows import CampaignDataError

Metadata = Mapping[str, Any]
StageResult = tuple[dg.AssetKey, Metadata]
AccountWork = Callable[[str], Iterator[StageResult]]
"""Runs the selected stages for one account, yielding each stage's asset key and metadata as
it completes; raises on the first stage that fails."""

# Errors a step retry cannot fix: the data or the credentials are wrong, not the network.
_PERMANENT_ERRORS: tuple[type[Exception], ...] = (
    AuthenticationError,
    PaginationError,
    ResponseValidationError,
    CampaignDataError,
    LookupError,
    ValueError,
)


@dataclass
class _AccountOutcome:
    completed: list[StageResult] = field(default_factory=list)
    error: Exception | None = None


def _run(work: AccountWork, client_id: str) -> _AccountOutcome:
    outcome = _AccountOutcome()
    try:
        for stage in work(client_id):
            outcome.completed.append(stage)
    except Exception as error:
        outcome.error = error
    return outcome


def materialize_per_account(
    context: dg.AssetExecutionContext, asset_keys: Sequence[dg.AssetKey], work: AccountWork
) -> Iterator[dg.MaterializeResult]:
    """Run ``work`` for every partition of the step and report each (asset, account) truthfully.

    ``asset_keys`` are the selected assets, in stage order.
    """
    keys = list(context.partition_keys)
    if len(keys) == 1:
        outcomes = {keys[0]: _run(work, keys[0])}
    else:
        # Every account of the step at once: each spends its time waiting on its own rate
        # limit, so a cap below the batch would queue accounts behind others' windows and
        # multiply the run's wall time. The batch size (``MIXO_ACCOUNTS_PER_RUN``) bounds it.
        with ThreadPoolExecutor(max_workers=len(keys), thread_name_prefix="account") as pool:
            futures = {key: pool.submit(_run, work, key) for key in keys}
            outcomes = {key: future.result() for key, future in futures.items()}

    errors = {key: o.error for key, o in outcomes.items() if o.error is not None}
    if errors:
        for key, outcome in outcomes.items():
            for asset_key, metadata in outcome.completed:
                context.log_event(
                    dg.AssetMaterialization(asset_key=asset_key, partition=key, metadata=metadata)
                )
        for key, error in sorted(errors.items()):
            context.log.error(f"account {key}: {type(error).__name__}: {error}")
        raise _failure(errors, retry=len(keys) == 1)

    if len(keys) == 1:
        for asset_key, metadata in outcomes[keys[0]].completed:
            yield dg.MaterializeResult(asset_key=asset_key, metadata=metadata)
        return
    for key, outcome in outcomes.items():
        for asset_key, metadata in outcome.completed:
            context.add_asset_metadata(metadata, asset_key=asset_key, partition_key=key)
    for asset_key in asset_keys:
        yield dg.MaterializeResult(asset_key=asset_key, metadata={"accounts": len(keys)})


def _failure(errors: Mapping[str, Exception], *, retry: bool) -> dg.Failure:
    """The step's failure. A step retry re-runs every account of the step, so it is allowed only
    for one account and a transient error; batched runs leave recovery to a new run of exactly
    the failed partitions (``outage_recovery_sensor`` or a backfill of failed partitions)."""
    lines = [f"{key}: {type(error).__name__}: {error}" for key, error in sorted(errors.items())]
    permanent = all(isinstance(error, _PERMANENT_ERRORS) for error in errors.values())
    return dg.Failure(
        description=f"the sync failed for {len(errors)} account(s):\n" + "\n".join(lines),
        metadata={"failed_accounts": dg.MetadataValue.json(sorted(errors))},
        allow_retries=retry and not permanent,
    )
