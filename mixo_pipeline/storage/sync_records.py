"""Writes and reads of ``campaign_sync_records``: the per-cycle checkpoint of sync calls."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert

from mixo_pipeline.ad_platform.models import SyncResult
from mixo_pipeline.storage.schema import campaign_sync_records as records


def succeeded_ids(engine: sa.Engine, client_id: str, cycle_id: str) -> set[str]:
    """Campaigns already synced successfully in this cycle (skipped when the cycle continues)."""
    query = sa.select(records.c.campaign_id).where(
        records.c.client_id == client_id,
        records.c.cycle_id == cycle_id,
        records.c.success.is_(True),
    )
    with engine.connect() as conn:
        return set(conn.scalars(query))


def succeeded_in_run(engine: sa.Engine, client_id: str, run_id: str) -> int:
    """How many campaigns run ``run_id`` has synced successfully so far, in whatever cycle."""
    query = sa.select(sa.func.count()).where(
        records.c.client_id == client_id,
        records.c.run_id == run_id,
        records.c.success.is_(True),
    )
    with engine.connect() as conn:
        return conn.scalar(query) or 0


def first_recorded_at(engine: sa.Engine, client_id: str, cycle_id: str) -> datetime | None:
    """When the cycle's first sync result was recorded (its age); ``None`` if it has none."""
    query = sa.select(sa.func.min(records.c.recorded_at)).where(
        records.c.client_id == client_id, records.c.cycle_id == cycle_id
    )
    with engine.connect() as conn:
        return conn.scalar(query)


def _record_upsert() -> sa.Insert:
    """The checkpoint's upsert, built once: every sync result of every account runs it (thousands
    a minute in a batched run), and building the ``ON CONFLICT`` clause per call cost more CPU
    than the rest of the sync path together. Values are bound per call."""
    statement = insert(records)
    return statement.on_conflict_do_update(
        index_elements=[records.c.client_id, records.c.cycle_id, records.c.campaign_id],
        set_={
            name: statement.excluded[name]
            for name in ("success", "synced_at", "attempts", "error", "run_id", "recorded_at")
        },
        where=records.c.success.is_(False),
    )


_RECORD_UPSERT = _record_upsert()


def record_results(
    engine: sa.Engine, client_id: str, cycle_id: str, run_id: str, results: Sequence[SyncResult]
) -> None:
    """Write sync outcomes (one per campaign) in one transaction: the checkpoint.

    A success is never overwritten by a later failure for the same cycle (the ``WHERE`` on the
    conflict update), so the record of work done only grows.
    """
    now = datetime.now(UTC)
    values = [
        {
            "client_id": client_id,
            "cycle_id": cycle_id,
            "campaign_id": result.campaign_id,
            "success": result.success,
            "synced_at": result.synced_at,
            "attempts": result.attempts,
            "error": result.error,
            "run_id": run_id,
            "recorded_at": now,
        }
        for result in results
    ]
    if values:
        with engine.begin() as conn:
            conn.execute(_RECORD_UPSERT, values)


def successful_syncs(engine: sa.Engine, client_id: str, cycle_id: str) -> dict[str, datetime]:
    """``campaign_id -> synced_at`` for every successful sync of the cycle."""
    # An API that omits synced_at on success still synced: fall back to when we recorded it.
    synced_at = sa.func.coalesce(records.c.synced_at, records.c.recorded_at).label("synced_at")
    query = sa.select(records.c.campaign_id, synced_at).where(
        records.c.client_id == client_id,
        records.c.cycle_id == cycle_id,
        records.c.success.is_(True),
    )
    with engine.connect() as conn:
        return {row.campaign_id: row.synced_at for row in conn.execute(query)}
