"""``campaign_sync_records``: the per-cycle checkpoint of sync calls."""

from collections.abc import Sequence
from dataclasses import asdict
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert

from mixo_pipeline.ad_platform.models import SyncResult
from mixo_pipeline.storage.schema import campaign_sync_records as records

r = records.c
_insert = insert(records)
# A success is never overwritten by a later failure in the same cycle: work done only grows.
_RECORD = _insert.on_conflict_do_update(
    index_elements=[r.client_id, r.cycle_id, r.campaign_id],
    set_={
        name: _insert.excluded[name]
        for name in ("success", "synced_at", "attempts", "error", "run_id", "recorded_at")
    },
    where=r.success.is_(False),
)


def record_results(
    engine: sa.Engine, client_id: str, cycle_id: str, run_id: str, results: Sequence[SyncResult]
) -> None:
    """Write sync outcomes (one per campaign) in one autocommitted upsert, atomic on its own: a
    transaction's BEGIN and COMMIT would add two round trips to every sync call."""
    now = datetime.now(UTC)
    ours = {"client_id": client_id, "cycle_id": cycle_id, "run_id": run_id, "recorded_at": now}
    rows = [{**asdict(result), **ours} for result in results]
    if rows:
        with engine.execution_options(isolation_level="AUTOCOMMIT").connect() as conn:
            conn.execute(_RECORD, rows[0] if len(rows) == 1 else rows)


def successful_syncs(engine: sa.Engine, client_id: str, cycle_id: str) -> dict[str, datetime]:
    """``campaign_id -> synced_at`` of the cycle's successful syncs (else ``recorded_at``)."""
    query = sa.select(r.campaign_id, sa.func.coalesce(r.synced_at, r.recorded_at)).where(
        r.client_id == client_id, r.cycle_id == cycle_id, r.success.is_(True)
    )
    with engine.connect() as conn:
        return dict(conn.execute(query).all())


def succeeded_ids(engine: sa.Engine, client_id: str, cycle_id: str) -> set[str]:
    """Campaigns already synced successfully in the cycle (skipped when it continues)."""
    return set(successful_syncs(engine, client_id, cycle_id))


def succeeded_in_run(engine: sa.Engine, client_id: str, run_id: str) -> int:
    """How many campaigns run ``run_id`` has synced successfully so far, in whatever cycle."""
    query = sa.select(sa.func.count()).where(
        r.client_id == client_id, r.run_id == run_id, r.success.is_(True)
    )
    with engine.connect() as conn:
        return conn.scalar(query) or 0


def first_recorded_at(engine: sa.Engine, client_id: str, cycle_id: str) -> datetime | None:
    """When the cycle's first sync result was recorded (its age); ``None`` if it has none."""
    query = sa.select(sa.func.min(r.recorded_at)).where(
        r.client_id == client_id, r.cycle_id == cycle_id
    )
    with engine.connect() as conn:
        return conn.scalar(query)
