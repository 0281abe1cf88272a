"""Run one asset step over every account (partition) it covers, one thread per account.

A step normally covers one account, but a backfill batches many accounts into one run (see
``accounts_backfill_policy``) so hundreds of accounts do not cost hundreds of OS processes. The
accounts then run concurrently in threads, and Dagster must still tell the truth per account:

- all accounts succeed: the step returns one ``MaterializeResult``; Dagster records one
  materialization per partition, each carrying that account's own figures (partition-scoped
  metadata through ``context.add_asset_metadata``);
- some accounts fail: each healthy account's materialization is logged explicitly, then the step
  fails naming the broken accounts. Dagster marks a partition failed when a failed run planned it
  and no materialization followed, so only the broken accounts show as failed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import dagster as dg

from mixo_pipeline.ad_platform.errors import (
    AuthenticationError,
    PaginationError,
    ResponseValidationError,
)
from mixo_pipeline.sync.rows import CampaignDataError

Metadata = Mapping[str, Any]
AccountWork = Callable[[str], Metadata]

MAX_ACCOUNT_THREADS = 16
"""Accounts worked on at once in one step; each is mostly waiting on its own rate limit."""

# Errors a step retry cannot fix: the data or the credentials are wrong, not the network.
_PERMANENT_ERRORS: tuple[type[Exception], ...] = (
    AuthenticationError,
    PaginationError,
    ResponseValidationError,
    CampaignDataError,
    LookupError,
    ValueError,
)


def for_each_account(context: dg.AssetExecutionContext, work: AccountWork) -> dg.MaterializeResult:
    """Call ``work(client_id)`` for every partition of the step and report per account."""
    keys = list(context.partition_keys)
    if len(keys) == 1:
        try:
            return dg.MaterializeResult(metadata=work(keys[0]))
        except Exception as error:
            raise _failure(context, {keys[0]: error}) from error

    results: dict[str, Metadata] = {}
    errors: dict[str, Exception] = {}
    with ThreadPoolExecutor(
        max_workers=min(len(keys), MAX_ACCOUNT_THREADS), thread_name_prefix="account"
    ) as pool:
        futures = {key: pool.submit(work, key) for key in keys}
        for key, future in futures.items():
            try:
                results[key] = future.result()
            except Exception as error:
                errors[key] = error
                context.log.error(f"account {key}: {type(error).__name__}: {error}")

    if errors:
        for key, metadata in results.items():
            context.log_event(
                dg.AssetMaterialization(
                    asset_key=context.asset_key, partition=key, metadata=metadata
                )
            )
        raise _failure(context, errors)
    for key, metadata in results.items():
        context.add_asset_metadata(metadata, partition_key=key)
    return dg.MaterializeResult(metadata={"accounts": len(keys)})


def _failure(context: dg.AssetExecutionContext, errors: Mapping[str, Exception]) -> dg.Failure:
    asset = context.asset_key.to_user_string()
    lines = [f"{key}: {type(error).__name__}: {error}" for key, error in sorted(errors.items())]
    permanent = all(isinstance(error, _PERMANENT_ERRORS) for error in errors.values())
    return dg.Failure(
        description=f"{asset} failed for {len(errors)} account(s):\n" + "\n".join(lines),
        metadata={"failed_accounts": dg.MetadataValue.json(sorted(errors))},
        allow_retries=not permanent,
    )
