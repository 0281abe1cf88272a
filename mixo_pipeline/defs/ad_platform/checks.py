"""The checks on ``campaigns``, per account, judged from what PostgreSQL holds. Declared on the sync
step, so each account is checked in its thread once merged. Described by their docstrings."""

from collections import Counter
from collections.abc import Callable

import dagster as dg
import sqlalchemy as sa

from mixo_pipeline import names
from mixo_pipeline.storage import quality
from mixo_pipeline.storage.raw_pages import Cycle

SHOWN_IDS = 20
# Evaluates one account: engine, client id, the listing the step merged (``None``: the stored one).
Evaluate = Callable[[sa.Engine, str, Cycle | None], dg.AssetCheckResult]


def complete(engine: sa.Engine, client_id: str, cycle: Cycle | None) -> dg.AssetCheckResult:
    """Every campaign the API listed this cycle was synced and written (e.g. 100/100)."""
    result = quality.completeness(engine, client_id, cycle)
    return dg.AssetCheckResult(
        check_name=names.CHECK_COMPLETE,
        passed=result.passed,
        description=f"{result.synced}/{result.total} campaigns synced in cycle {result.cycle_id}",
        metadata={
            "synced": result.synced,
            "total_reported": result.total,
            "missing_count": len(result.missing),
            "missing_ids": result.missing[:SHOWN_IDS],
            "cycle_id": result.cycle_id,
        },
    )


def unique(engine: sa.Engine, client_id: str, cycle: Cycle | None) -> dg.AssetCheckResult:
    """No duplicate (client_id, id) in the table, no id repeated across the cycle's pages."""
    result = quality.uniqueness(engine, client_id, cycle)
    duplicates = sorted({*result.table_duplicates, *result.raw_duplicates}, key=quality.natural_key)
    return dg.AssetCheckResult(
        check_name=names.CHECK_UNIQUE,
        passed=result.passed,
        description=(
            f"{len(result.table_duplicates)} duplicate (client_id, id) in the table, "
            f"{len(result.raw_duplicates)} ids repeated across the raw pages"
        ),
        metadata={
            "table_duplicates": len(result.table_duplicates),
            "raw_page_duplicates": len(result.raw_duplicates),
            "duplicate_ids": duplicates[:SHOWN_IDS],
        },
    )


def valid(engine: sa.Engine, client_id: str, cycle: Cycle | None) -> dg.AssetCheckResult:
    """Non-negative figures, clicks <= impressions, conversions <= clicks, known status,
    positive budget (a warning: odd figures from the platform are reported, not fatal)."""
    problems = quality.invalid_rows(engine, client_id)
    offending = list(dict.fromkeys(campaign_id for campaign_id, _ in problems))
    return dg.AssetCheckResult(
        check_name=names.CHECK_VALID,
        passed=not problems,
        severity=dg.AssetCheckSeverity.WARN,
        description=f"{len(offending)} campaigns break a business rule",
        metadata={
            "offending_rows": len(offending),
            "offending_ids": offending[:SHOWN_IDS],
            "problems": [{"id": i, "problem": p} for i, p in problems[:SHOWN_IDS]],
            **{f"problem.{p}": n for p, n in sorted(Counter(p for _, p in problems).items())},
        },
    )


def _spec(name: str, evaluate: Evaluate, *, blocking: bool) -> dg.AssetCheckSpec:
    return dg.AssetCheckSpec(
        name,
        asset=names.CAMPAIGNS,
        description=" ".join((evaluate.__doc__ or "").split()),
        blocking=blocking,
        partitions_def=names.ACCOUNTS_PARTITIONS,
    )


CHECKS: list[tuple[dg.AssetCheckSpec, Evaluate]] = [
    (_spec(names.CHECK_COMPLETE, complete, blocking=True), complete),
    (_spec(names.CHECK_UNIQUE, unique, blocking=True), unique),
    (_spec(names.CHECK_VALID, valid, blocking=False), valid),
]
