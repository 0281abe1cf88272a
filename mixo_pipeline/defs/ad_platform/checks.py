"""The asset checks on ``campaigns``, per account, judged from what PostgreSQL actually holds.

``campaigns_complete`` and ``campaigns_unique`` are blocking ERROR checks: a run that lost or
doubled a campaign fails, and anything downstream of ``campaigns`` does not run on bad data.
``campaigns_valid`` is a WARN check: odd figures from the platform are reported, not hidden and
not fatal.

The checks are declared on the sync's multi-asset (:func:`campaign_checks`) rather than as
separate ``@asset_check`` steps: each account's checks then run in that account's thread the
moment its ``campaigns`` rows are merged, and their evaluations reach the UI while the other
accounts of the run are still syncing. As separate steps they ran only after the slowest
account, one account after the other, and added seconds of event writes to every batched run.
"""

from collections.abc import Callable
from dataclasses import dataclass

import dagster as dg
import sqlalchemy as sa

from mixo_pipeline.defs.operations.policies import ACCOUNTS_PARTITIONS
from mixo_pipeline.storage import quality
from mixo_pipeline.storage.raw_pages import Cycle

SHOWN_IDS = 20

Evaluate = Callable[[sa.Engine, str, Cycle | None], dg.AssetCheckResult]
"""Evaluates one account: the engine, the client id and the listing the step merged (``None``
when the step did not list: the account's stored listing)."""


@dataclass(frozen=True)
class CampaignCheck:
    """One check: its spec and how to evaluate it for one account (client id)."""

    spec: dg.AssetCheckSpec
    evaluate: Evaluate


def _complete(engine: sa.Engine, client_id: str, cycle: Cycle | None) -> dg.AssetCheckResult:
    result = quality.completeness(engine, client_id, cycle)
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


def _unique(engine: sa.Engine, client_id: str, cycle: Cycle | None) -> dg.AssetCheckResult:
    result = quality.uniqueness(engine, client_id, cycle)
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


def _valid(engine: sa.Engine, client_id: str, cycle: Cycle | None) -> dg.AssetCheckResult:
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


def campaign_checks(asset: dg.AssetKey) -> list[CampaignCheck]:
    """The checks on ``asset`` (the ``campaigns`` table), partitioned by account like it."""

    def spec(name: str, description: str, *, blocking: bool) -> dg.AssetCheckSpec:
        return dg.AssetCheckSpec(
            name,
            asset=asset,
            description=description,
            blocking=blocking,
            partitions_def=ACCOUNTS_PARTITIONS,
        )

    return [
        CampaignCheck(
            spec(
                "campaigns_complete",
                "Every campaign the API listed this cycle was synced and written (e.g. 100/100).",
                blocking=True,
            ),
            _complete,
        ),
        CampaignCheck(
            spec(
                "campaigns_unique",
                "No duplicate (client_id, id) in the table, no id repeated across the cycle's "
                "pages.",
                blocking=True,
            ),
            _unique,
        ),
        CampaignCheck(
            spec(
                "campaigns_valid",
                "Non-negative figures, clicks <= impressions, conversions <= clicks, known "
                "status, positive budget.",
                blocking=False,
            ),
            _valid,
        ),
    ]
