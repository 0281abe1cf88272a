"""Run the sync's stages and checks for every account (partition) of a step, a thread each.

A step normally covers one account, but a backfill batches many accounts into one run (see
``accounts_backfill_policy``) so hundreds of accounts do not cost hundreds of OS processes. The
accounts then run concurrently in threads, and Dagster must still tell the truth per account,
per asset and per check:

- one account: its stages are the step's ``MaterializeResult``\\ s and its checks the step's
  ``AssetCheckResult``\\ s, the usual shape;
- several accounts: the moment an account finishes, its materializations (one per completed
  stage, with that account's own figures) and its check evaluations are yielded with its
  partition, so the UI shows each account as it lands and the event writes overlap the other
  accounts' work instead of piling up after the slowest one. The assets' outputs themselves are
  not yielded (the specs are ``skippable``), so Dagster adds no second, figure-less
  materialization per partition. Each check's step-level result summarises its accounts.

If an account fails, the stages it did complete are still reported as materialized, the rest of
it shows as failed, and after every account has finished the step fails naming the broken ones.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import Any

import dagster as dg

from mixo_pipeline.ad_platform.errors import (
    AuthenticationError,
    PaginationError,
    ResponseValidationError,
)
from mixo_pipeline.sync.gc_pauses import full_collections_deferred
from mixo_pipeline.sync.rows import CampaignDataError

Metadata = Mapping[str, Any]
StageResult = tuple[dg.AssetKey, Metadata]
AccountWork = Callable[[str], Iterator[StageResult]]
"""Runs the selected stages for one account, yielding each stage's asset key and metadata as
it completes; raises on the first stage that fails."""
AccountCheck = tuple[dg.AssetCheckSpec, Callable[[str], dg.AssetCheckResult]]
"""A selected check and its evaluation for one account (client id)."""
StepEvent = (
    dg.MaterializeResult | dg.AssetMaterialization | dg.AssetCheckResult | dg.AssetCheckEvaluation
)

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
    checks: list[tuple[dg.AssetCheckSpec, dg.AssetCheckResult]] = field(default_factory=list)
    error: Exception | None = None


def _run(work: AccountWork, checks: Sequence[AccountCheck], client_id: str) -> _AccountOutcome:
    """One account's stages, then (only if they all completed) its checks."""
    outcome = _AccountOutcome()
    try:
        for stage in work(client_id):
            outcome.completed.append(stage)
        for spec, evaluate in checks:
            outcome.checks.append((spec, evaluate(client_id)))
    except Exception as error:
        outcome.error = error
    return outcome


def materialize_per_account(
    context: dg.AssetExecutionContext, work: AccountWork, checks: Sequence[AccountCheck]
) -> Iterator[StepEvent]:
    """Run ``work`` and ``checks`` for every partition of the step, reporting each truthfully.

    No full garbage collection runs meanwhile: it would stop every account's requests between
    permit and send (see :mod:`mixo_pipeline.sync.gc_pauses`).
    """
    with full_collections_deferred():
        yield from _every_account(context, work, checks)


def _every_account(
    context: dg.AssetExecutionContext, work: AccountWork, checks: Sequence[AccountCheck]
) -> Iterator[StepEvent]:
    keys = list(context.partition_keys)
    if len(keys) == 1:
        yield from _single_account(keys[0], _run(work, checks, keys[0]))
        return

    errors: dict[str, Exception] = {}
    evaluated: dict[str, list[tuple[str, dg.AssetCheckResult]]] = {}
    # Every account of the step at once: each spends its time waiting on its own rate limit,
    # so a cap below the batch would queue accounts behind others' windows and multiply the
    # run's wall time. The batch size (``MIXO_ACCOUNTS_PER_RUN``) bounds it.
    with ThreadPoolExecutor(max_workers=len(keys), thread_name_prefix="account") as pool:
        futures = {pool.submit(_run, work, checks, key): key for key in keys}
        for future in as_completed(futures):
            key, outcome = futures[future], future.result()
            for asset_key, metadata in outcome.completed:
                yield dg.AssetMaterialization(asset_key=asset_key, partition=key, metadata=metadata)
            for spec, result in outcome.checks:
                evaluated.setdefault(spec.name, []).append((key, result))
                yield _evaluation(spec, result, key)
            if outcome.error is not None:
                errors[key] = outcome.error

    # Each check's step-level result; none for a check no account reached (all their syncs
    # failed): Dagster then shows it as not executed, which is the truth.
    for spec, _ in checks:
        if spec.name in evaluated:
            yield _summary(spec, evaluated[spec.name], len(keys))
    if errors:
        for key, error in sorted(errors.items()):
            context.log.error(f"account {key}: {type(error).__name__}: {error}")
        raise _failure(errors, retry=False)


def _single_account(key: str, outcome: _AccountOutcome) -> Iterator[StepEvent]:
    if outcome.error is not None:
        # The stages that completed are materialized even though the step fails.
        for asset_key, metadata in outcome.completed:
            yield dg.AssetMaterialization(asset_key=asset_key, partition=key, metadata=metadata)
        raise _failure({key: outcome.error}, retry=True)
    for asset_key, metadata in outcome.completed:
        yield dg.MaterializeResult(asset_key=asset_key, metadata=metadata)
    for spec, result in outcome.checks:
        yield dg.AssetCheckResult(
            asset_key=spec.asset_key,
            check_name=spec.name,
            passed=result.passed,
            severity=result.severity,
            description=result.description,
            metadata=result.metadata,
        )


def _evaluation(
    spec: dg.AssetCheckSpec, result: dg.AssetCheckResult, key: str
) -> dg.AssetCheckEvaluation:
    """``result`` of one account in a batched step, as an evaluation of its partition."""
    return dg.AssetCheckEvaluation(
        asset_key=spec.asset_key,
        check_name=spec.name,
        passed=result.passed,
        metadata=result.metadata,
        severity=result.severity,
        description=result.description,
        blocking=spec.blocking,
        partition=key,
    )


def _summary(
    spec: dg.AssetCheckSpec, results: Sequence[tuple[str, dg.AssetCheckResult]], accounts: int
) -> dg.AssetCheckResult:
    """The check's step-level result in a batched step: how many accounts passed, which failed.

    Accounts whose sync failed were not evaluated: the step's failure reports them, not the check.
    """
    failed = sorted(key for key, result in results if not result.passed)
    unevaluated = accounts - len(results)
    description = f"{len(results) - len(failed)}/{accounts} accounts passed"
    if unevaluated:
        description += f", {unevaluated} not evaluated (their sync failed)"
    return dg.AssetCheckResult(
        asset_key=spec.asset_key,
        check_name=spec.name,
        passed=not failed,
        severity=results[0][1].severity,
        description=description,
        metadata={"failed_accounts": dg.MetadataValue.json(failed)},
    )


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
