"""Asset checks on ``campaigns``, per account, judged from what PostgreSQL actually holds.

``campaigns_complete`` and ``campaigns_unique`` are blocking ERROR checks: a run that lost or
doubled a campaign fails, and anything downstream of ``campaigns`` does not run on bad data.
``campaigns_valid`` is a WARN check: odd figures from the platform are reported, not hidden and
not fatal.
"""

from collections.abc import Callable

import dagster as dg
import sqlalchemy as sa

from mixo_pipeline.defs.ad_platform.assets import CAMPAIGNS
from mixo_pipeline.defs.operations.policies import ACCOUNTS_PARTITIONS
from mixo_pipeline.resources.postgres import PostgresResource
from mixo_pipeline.storage import quality

SHOWN_IDS = 20

Evaluate = Callable[[sa.Engine, str], dg.AssetCheckResult]


def _complete(engine: sa.Engine, client_id: str) -> dg.AssetCheckResult:
    result = quality.completeness(engine, client_id)
    return dg.AssetCheckResult(
        passed=result.passed,
        description=f"{result.synced}/{result.total} campaigns synced in cycle {result.cycle_id}",
        metadata={
            "synced": result.synced,
            "total_reported": result.total,
            "missing_count": len(result.missing),
            "missing_ids": dg.MetadataValue.json(result.missing[:SHOWN_IDS]),
            "cycle_id": result.cycle_id,
        },
    )


def _unique(engine: sa.Engine, client_id: str) -> dg.AssetCheckResult:
    result = quality.uniqueness(engine, client_id)
    return dg.AssetCheckResult(
        passed=result.passed,
        description=(
            f"{len(result.table_duplicates)} duplicate (client_id, id) in the table, "
            f"{len(result.raw_duplicates)} ids repeated across the raw pages"
        ),
        metadata={
            "table_duplicates": len(result.table_duplicates),
            "raw_page_duplicates": len(result.raw_duplicates),
            "duplicate_ids": dg.MetadataValue.json(
                sorted({*result.table_duplicates, *result.raw_duplicates}, key=quality.natural_key)[
                    :SHOWN_IDS
                ]
            ),
        },
    )


def _valid(engine: sa.Engine, client_id: str) -> dg.AssetCheckResult:
    problems = quality.invalid_rows(engine, client_id)
    by_problem = problems.groupby("problem")["id"].count().to_dict() if len(problems) else {}
    offending = sorted(set(problems["id"]), key=quality.natural_key)
    return dg.AssetCheckResult(
        passed=problems.empty,
        severity=dg.AssetCheckSeverity.WARN,
        description=f"{len(offending)} campaigns break a business rule",
        metadata={
            "offending_rows": len(offending),
            "offending_ids": dg.MetadataValue.json(offending[:SHOWN_IDS]),
            "problems": dg.MetadataValue.json(
                problems.head(SHOWN_IDS).to_dict("records") if len(problems) else []
            ),
            **{f"problem.{name}": int(count) for name, count in by_problem.items()},
        },
    )


def _per_account(
    context: dg.AssetCheckExecutionContext, postgres: PostgresResource, evaluate: Evaluate
) -> dg.AssetCheckResult:
    """Evaluate the check for every account of the step.

    One account: its result is the check's result. Several (a batched backfill run): each
    account's evaluation is logged with its partition, and the step's own result summarises
    them, failing if any account failed.
    """
    engine = postgres.get_engine()
    keys = list(context.partition_keys)
    if len(keys) == 1:
        return evaluate(engine, keys[0])
    results = {key: evaluate(engine, key) for key in keys}
    check_key = context.check_specs[0].key
    for key, result in results.items():
        context.op_execution_context.log_event(
            dg.AssetCheckEvaluation(
                asset_key=check_key.asset_key,
                check_name=check_key.name,
                passed=result.passed,
                metadata=result.metadata,
                severity=result.severity,
                description=result.description,
                partition=key,
            )
        )
    failed = sorted(key for key, result in results.items() if not result.passed)
    severity = next(iter(results.values())).severity
    return dg.AssetCheckResult(
        passed=not failed,
        severity=severity,
        description=f"{len(keys) - len(failed)}/{len(keys)} accounts passed",
        metadata={"failed_accounts": dg.MetadataValue.json(failed)},
    )


@dg.asset_check(asset=CAMPAIGNS, blocking=True, partitions_def=ACCOUNTS_PARTITIONS)
def campaigns_complete(
    context: dg.AssetCheckExecutionContext, postgres: PostgresResource
) -> dg.AssetCheckResult:
    """Every campaign the API listed this cycle was synced and written (e.g. ``100/100``)."""
    return _per_account(context, postgres, _complete)


@dg.asset_check(asset=CAMPAIGNS, blocking=True, partitions_def=ACCOUNTS_PARTITIONS)
def campaigns_unique(
    context: dg.AssetCheckExecutionContext, postgres: PostgresResource
) -> dg.AssetCheckResult:
    """No duplicate ``(client_id, id)`` in the table, no id repeated across the cycle's pages."""
    return _per_account(context, postgres, _unique)


@dg.asset_check(asset=CAMPAIGNS, partitions_def=ACCOUNTS_PARTITIONS)
def campaigns_valid(
    context: dg.AssetCheckExecutionContext, postgres: PostgresResource
) -> dg.AssetCheckResult:
    """Non-negative figures, clicks <= impressions, conversions <= clicks, known status,
    positive budget."""
    return _per_account(context, postgres, _valid)
