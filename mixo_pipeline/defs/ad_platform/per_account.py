"""Run a step's work for every account (partition) it covers, reporting each truthfully: one
account's stages and checks are the step's results; several (a thread each) become materializations
of their partitions, check evaluations of them and a summary per check. A failed account keeps its
stages; the step fails at the end naming it, retried only for one account's transient error."""

import threading
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import Any

import dagster as dg
from dagster._core.definitions.asset_checks.asset_check_evaluation import (  # reason: not public
    AssetCheckEvaluationTargetMaterializationData as MaterializationTarget,
)

from mixo_pipeline.ad_platform import errors
from mixo_pipeline.sync.account import IncompleteSyncError

Metadata = Mapping[str, Any]
StageResult = tuple[dg.AssetKey, Metadata]
AccountWork = Callable[[str], Iterator[StageResult]]  # one account's stages, as each completes
AccountCheck = tuple[dg.AssetCheckSpec, Callable[[str], dg.AssetCheckResult]]
StepEvent = (
    dg.MaterializeResult | dg.AssetMaterialization | dg.AssetCheckResult | dg.AssetCheckEvaluation
)
CheckResult = tuple[dg.AssetCheckSpec, dg.AssetCheckResult]
_Outcome = tuple[list[StageResult], list[CheckResult], Exception | None]
# What a step retry cannot fix: wrong data, credentials or configuration (LookupError: unknown
# account or secret; ValueError: bad accounts file), and calls that spent all their attempts.
_PERMANENT = (errors.AuthenticationError, errors.PaginationError, errors.ResponseValidationError)
_PERMANENT += (LookupError, ValueError, errors.RetriesExhaustedError, IncompleteSyncError)


def _run(work: AccountWork, checks: Sequence[AccountCheck], key: str) -> _Outcome:
    """One account's stages, then (only if they all completed) its checks."""
    stages: list[StageResult] = []
    results: list[CheckResult] = []
    try:
        stages.extend(work(key))
        results.extend((spec, evaluate(key)) for spec, evaluate in checks)
    except Exception as error:
        return stages, results, error
    return stages, results, None


def materialize_per_account(
    context: dg.AssetExecutionContext, work: AccountWork, checks: Sequence[AccountCheck]
) -> Generator[StepEvent, None, None]:
    """Run ``work`` and then ``checks`` for every partition of the step (see the module doc)."""
    keys = list(context.partition_keys)
    if len(keys) == 1:
        stages, results, error = _run(work, checks, keys[0])
        if error is not None:
            for asset_key, metadata in stages:
                yield dg.AssetMaterialization(asset_key, partition=keys[0], metadata=metadata)
            raise _failure({keys[0]: error}, retry=True)
        for asset_key, metadata in stages:
            yield dg.MaterializeResult(asset_key=asset_key, metadata=metadata)
        yield from (result for _, result in results)
        return

    failures: dict[str, Exception] = {}
    evaluated: dict[str, list[tuple[str, dg.AssetCheckResult]]] = {}
    # Every account at once (the batch size bounds it): each mostly waits on its own rate limit.
    with ThreadPoolExecutor(max_workers=len(keys), thread_name_prefix="account") as pool:
        futures = {pool.submit(_run, work, checks, key): key for key in keys}
        for future in as_completed(futures):
            key = futures[future]
            stages, results, error = future.result()
            for asset_key, metadata in stages:
                yield dg.AssetMaterialization(asset_key, partition=key, metadata=metadata)
            targets: dict[dg.AssetKey, MaterializationTarget | None] = {}  # one query an asset
            for spec, result in results:
                evaluated.setdefault(spec.name, []).append((key, result))
                if spec.asset_key not in targets:
                    targets[spec.asset_key] = _target(context, spec.asset_key, key)
                yield dg.AssetCheckEvaluation(
                    asset_key=spec.asset_key,
                    check_name=spec.name,
                    passed=result.passed,
                    metadata=result.metadata,
                    target_materialization_data=targets[spec.asset_key],
                    severity=result.severity,
                    description=result.description,
                    blocking=spec.blocking,
                    partition=key,
                )
            if error is not None:
                failures[key] = error
    # A check no account reached gets no summary: Dagster shows it as not executed, the truth.
    for spec, _ in checks:
        if by_account := evaluated.get(spec.name):
            failed = sorted(key for key, result in by_account if not result.passed)
            unevaluated = len(keys) - len(by_account)
            yield dg.AssetCheckResult(
                asset_key=spec.asset_key,
                check_name=spec.name,
                passed=not failed,
                severity=by_account[0][1].severity,
                description=f"{len(by_account) - len(failed)}/{len(keys)} accounts passed"
                + (f", {unevaluated} not evaluated (their sync failed)" if unevaluated else ""),
                metadata={"failed_accounts": dg.MetadataValue.json(failed)},
            )
    if failures:
        for key, error in sorted(failures.items()):
            context.log.error(f"account {key}: {type(error).__name__}: {error}")
        raise _failure(failures, retry=False)


def _target(
    context: dg.AssetExecutionContext, asset_key: dg.AssetKey, key: str
) -> MaterializationTarget | None:
    """The partition's latest materialization (just stored): the one its evaluation judged."""
    latest = dg.AssetRecordsFilter(asset_key=asset_key, asset_partitions=[key])
    for r in context.instance.fetch_materializations(latest, limit=1).records:
        return MaterializationTarget(
            storage_id=r.storage_id, run_id=r.run_id, timestamp=r.timestamp
        )
    return None


def _failure(failures: Mapping[str, Exception], *, retry: bool) -> dg.Failure:
    lines = [f"{key}: {type(error).__name__}: {error}" for key, error in sorted(failures.items())]
    permanent = all(isinstance(error, _PERMANENT) for error in failures.values())
    return dg.Failure(
        description=f"the sync failed for {len(failures)} account(s):\n" + "\n".join(lines),
        metadata={"failed_accounts": dg.MetadataValue.json(sorted(failures))},
        allow_retries=retry and not permanent,
    )


def unless_interrupted(
    events: Generator[StepEvent, None, None], stopping: threading.Event
) -> Iterator[StepEvent]:
    """``events``, each produced on another thread, so that this thread takes an interrupt (Ctrl-C,
    SIGTERM, a UI terminate) at once: it sets ``stopping`` and fails the step without retry once
    the work wound down. Closed early, it closes ``events`` on this thread (closed on one of its
    own threads, that thread waited for itself and the run never exited)."""
    interrupt: BaseException | None = None

    def produced(thread: ThreadPoolExecutor) -> StepEvent | None:
        nonlocal interrupt
        pending = thread.submit(next, events, None)
        while True:
            try:
                return pending.result()
            except (dg.DagsterExecutionInterruptedError, KeyboardInterrupt) as error:
                interrupt = interrupt or error
                stopping.set()

    with ThreadPoolExecutor(1, "sync-step") as thread:
        try:
            while (event := produced(thread)) is not None:
                yield event
        except (dg.DagsterExecutionInterruptedError, KeyboardInterrupt) as error:
            interrupt = interrupt or error  # between two waits
        except Exception:
            if interrupt is None:
                raise
        finally:
            stopping.set()  # also when Dagster closes this generator early
            events.close()
    if interrupt is not None:
        message = "interrupted: stopped without retry; the next run resumes the cycle"
        raise dg.Failure(message, allow_retries=False) from interrupt
