"""Turn one account's cycle (stored pages + successful sync records) into ``campaigns`` rows."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from mixo_pipeline.storage.campaigns import CAMPAIGN_FIELDS, MergeCounts, merge_campaigns
from mixo_pipeline.storage.raw_pages import Cycle, load_cycle
from mixo_pipeline.storage.sync_records import successful_syncs
from mixo_pipeline.sync.rows import campaigns_frame


@dataclass(frozen=True)
class MergeOutcome:
    cycle_id: str
    listed: int
    written: int
    counts: MergeCounts


def merge_account(engine: sa.Engine, client_id: str, cycle: Cycle | None = None) -> MergeOutcome:
    """Upsert the cycle's successfully synced campaigns, soft-delete the unlisted ones.

    ``cycle`` is the listing the step itself stored, so a run merges what it listed and synced
    even if another run on the same account has stored a newer listing meanwhile; by default
    the account's stored listing. The pages are validated (:func:`campaigns_frame`) before the
    one merge transaction starts, so bad data fails here, naming the campaign and field, with
    the table unchanged.
    """
    cycle = cycle or load_cycle(engine, client_id)
    frame = campaigns_frame(cycle.pages)
    synced_at = successful_syncs(engine, client_id, cycle.cycle_id)
    rows = frame[frame["id"].isin(synced_at.keys())].copy()
    rows["synced_at"] = rows["id"].map(synced_at)
    counts = merge_campaigns(
        engine, client_id, cycle.cycle_id, rows[list(CAMPAIGN_FIELDS)], frame["id"].tolist()
    )
    return MergeOutcome(
        cycle_id=cycle.cycle_id, listed=len(frame), written=len(rows), counts=counts
    )
