"""One account's API work: list its campaigns and sync them, writing each result as it arrives (a
run killed half-way loses at most the calls in flight)."""

import time
from collections import Counter, deque
from collections.abc import Iterable, Iterator
from contextlib import closing
from dataclasses import dataclass, field

import sqlalchemy as sa

from mixo_pipeline.ad_platform.client import AdPlatformClient
from mixo_pipeline.ad_platform.models import CampaignPage
from mixo_pipeline.storage.raw_pages import Cycle, replace_raw_pages
from mixo_pipeline.storage.sync_records import record_results, succeeded_ids
from mixo_pipeline.sync.cycle import CycleChoice

_SHOWN_FAILURES = 20


@dataclass(frozen=True)
class SyncOutcome:
    """What one account's sync did in this attempt."""

    cycle_id: str
    listed: int
    synced: int
    failed: int
    skipped_as_done: int
    wall_s: float
    failures: dict[str, str] = field(default_factory=dict)  # the first: id -> reason at the end


class IncompleteSyncError(RuntimeError):
    """Some campaigns could not be synced after every retry; the others are checkpointed."""

    def __init__(self, client_id: str, outcome: SyncOutcome) -> None:
        shown = "; ".join(f"{cid}: {reason}" for cid, reason in outcome.failures.items())
        super().__init__(
            f"account {client_id!r}: {outcome.failed} of {outcome.listed} campaigns failed to "
            f"sync in cycle {outcome.cycle_id} ({shown}); "
            f"{outcome.synced + outcome.skipped_as_done} are recorded as done and will not be "
            "synced again by the run that continues the cycle"
        )


def list_account(
    engine: sa.Engine, client: AdPlatformClient, choice: CycleChoice, run_id: str, *, sync: bool
) -> tuple[Cycle, SyncOutcome | None]:
    """List the account (or join the chosen listing), storing the pages in the chosen cycle once
    complete; with ``sync``, each page's campaigns sync as it arrives (no idle budget meanwhile)."""
    cycle_id, client_id = choice.cycle_id, client.account.client_id
    if choice.listing is not None:
        todo = [campaign.id for campaign in choice.listing.campaigns()]
        return choice.listing, sync_listed(engine, client, cycle_id, run_id, todo) if sync else None
    pages: list[CampaignPage] = []
    stored: list[Cycle] = []

    def listed() -> Iterator[str]:
        for page in client.iter_campaign_pages():
            pages.append(page)
            yield from (campaign.id for campaign in page.campaigns)
        stored.append(replace_raw_pages(engine, client_id, cycle_id, run_id, pages))

    ids = listed()
    outcome = sync_listed(engine, client, cycle_id, run_id, ids) if sync else None
    deque(ids, maxlen=0)  # the rest of the listing, when no sync consumed it
    return stored[0], outcome


def sync_listed(
    engine: sa.Engine, client: AdPlatformClient, cycle_id: str, run_id: str, listed: Iterable[str]
) -> SyncOutcome:
    """Sync the ids of ``listed`` (consumed lazily: it may be a listing in progress) that have
    no successful record in ``cycle_id``, recording each result as it arrives."""
    client_id = client.account.client_id
    done = succeeded_ids(engine, client_id, cycle_id)
    seen = Counter[bool]()

    def todo() -> Iterator[str]:
        for campaign_id in listed:
            seen[campaign_id in done] += 1
            if campaign_id not in done:
                yield campaign_id

    started = time.monotonic()
    outcomes = Counter[bool]()
    failures: dict[str, str] = {}
    # Closed on the way out: a result that cannot be recorded stops the syncs still to come.
    with closing(client.sync_campaigns(todo())) as results:
        for result in results:
            record_results(engine, client_id, cycle_id, run_id, [result])
            outcomes[result.success] += 1
            if not result.success and len(failures) < _SHOWN_FAILURES:
                failures[result.campaign_id] = result.error or "unknown error"
    # sync_campaigns returns once its feeder has consumed ``listed``: ``seen`` is complete.
    return SyncOutcome(
        cycle_id=cycle_id,
        listed=seen.total(),
        synced=outcomes[True],
        failed=outcomes[False],
        skipped_as_done=seen[True],
        wall_s=round(time.monotonic() - started, 3),
        failures=failures,
    )
