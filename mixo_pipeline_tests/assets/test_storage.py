"""The storage layer against a real PostgreSQL: atomic page replacement, checkpoints, merge."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from mixo_pipeline.ad_platform.models import Account, SyncResult
from mixo_pipeline.database import REPO_ROOT
from mixo_pipeline.storage import quality
from mixo_pipeline.storage.campaigns import Merged, merge_campaigns
from mixo_pipeline.storage.raw_pages import NoCycleError, load_cycle, replace_raw_pages
from mixo_pipeline.storage.schema import campaign_history, campaigns, create_schema
from mixo_pipeline.storage.sync_records import record_results, succeeded_ids, successful_syncs
from mixo_pipeline.sync.account import sync_listed

from .conftest import make_pages, raw_campaign

SYNCED_AT = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def _merge(pg: sa.Engine, client_id: str, cycle: str, ns: range) -> Merged:
    """List ``ns`` in ``cycle``, sync them all, and merge the stored listing."""
    replace_raw_pages(pg, client_id, cycle, cycle, make_pages([raw_campaign(n) for n in ns]))
    synced = [SyncResult(f"campaign_{n}", True, 1, SYNCED_AT) for n in ns]
    record_results(pg, client_id, cycle, cycle, synced)
    return merge_campaigns(pg, client_id)


def test_schema_creation_is_idempotent(pg: sa.Engine) -> None:
    create_schema(pg)
    create_schema(pg)
    assert {"raw_campaign_pages", "campaign_sync_records", "campaigns"} <= set(
        sa.inspect(pg).get_table_names()
    )


def test_concurrent_listings_of_one_account_take_turns(pg: sa.Engine) -> None:
    """Two runs storing the same account's pages at once: no key collision, one whole listing."""
    pages = make_pages([raw_campaign(n) for n in range(1, 41)])
    cycles = [f"cycle-{i}" for i in range(8)]
    with ThreadPoolExecutor(max_workers=len(cycles)) as pool:
        list(pool.map(lambda cycle: replace_raw_pages(pg, "acme", cycle, cycle, pages), cycles))

    stored = load_cycle(pg, "acme")
    assert stored.cycle_id in cycles
    assert [number for number, _ in stored.pages] == [1, 2, 3, 4]
    with pg.connect() as conn:
        cycles_stored = conn.execute(
            sa.text("SELECT DISTINCT cycle_id FROM raw_campaign_pages WHERE client_id = 'acme'")
        ).scalars()
        assert list(cycles_stored) == [stored.cycle_id]


def test_pages_replace_the_previous_listing_and_define_the_cycle(pg: sa.Engine) -> None:
    with pytest.raises(NoCycleError, match="acme"):
        load_cycle(pg, "acme")
    replace_raw_pages(
        pg, "acme", "run-1", "run-1", make_pages([raw_campaign(n) for n in range(1, 26)])
    )
    replace_raw_pages(pg, "other", "run-x", "run-x", make_pages([raw_campaign(1)]))
    replace_raw_pages(
        pg, "acme", "run-2", "run-2", make_pages([raw_campaign(n) for n in range(1, 12)])
    )
    cycle = load_cycle(pg, "acme")
    assert cycle.cycle_id == "run-2"
    assert [number for number, _ in cycle.pages] == [1, 2]
    assert cycle.total == 11
    assert load_cycle(pg, "other").cycle_id == "run-x"


def test_a_success_is_never_downgraded_by_a_later_failure(pg: sa.Engine) -> None:
    record_results(pg, "acme", "c1", "r1", [SyncResult("campaign_1", False, 3, error="503")])
    assert succeeded_ids(pg, "acme", "c1") == set()
    record_results(pg, "acme", "c1", "r1", [SyncResult("campaign_1", True, 1, SYNCED_AT)])
    record_results(pg, "acme", "c1", "r2", [SyncResult("campaign_1", False, 5, error="timeout")])
    record_results(pg, "acme", "c2", "r3", [SyncResult("campaign_2", True, 1, SYNCED_AT)])
    assert succeeded_ids(pg, "acme", "c1") == {"campaign_1"}
    assert successful_syncs(pg, "acme", "c1") == {"campaign_1": SYNCED_AT}


def test_each_sync_result_is_recorded_before_the_next_arrives(pg: sa.Engine) -> None:
    """The checkpoint: a run killed at any moment loses at most the calls in flight, and the
    run that continues the cycle skips what is recorded."""
    stored_when_yielding: list[set[str]] = []

    class Client:
        account = Account("acme", "http://unused", "ops@acme.test", "unused")

        def sync_campaigns(self, ids: Iterable[str]) -> Iterator[SyncResult]:
            for campaign_id in ids:
                stored_when_yielding.append(succeeded_ids(pg, "acme", "c1"))
                yield SyncResult(campaign_id, campaign_id != "campaign_4", 1, SYNCED_AT)

    record_results(pg, "acme", "c1", "r0", [SyncResult("campaign_1", True, 1, SYNCED_AT)])
    ids = [f"campaign_{n}" for n in range(1, 6)]
    outcome = sync_listed(pg, Client(), "c1", "r1", iter(ids))  # type: ignore[arg-type]

    done = {"campaign_1", "campaign_2", "campaign_3"}
    assert stored_when_yielding == [{"campaign_1"}, {"campaign_1", "campaign_2"}, done, done]
    assert (outcome.listed, outcome.synced, outcome.failed, outcome.skipped_as_done) == (5, 3, 1, 1)
    assert outcome.failures == {"campaign_4": "unknown error"}
    assert succeeded_ids(pg, "acme", "c1") == {*done, "campaign_5"}


def test_a_result_that_cannot_be_recorded_stops_the_syncs_still_to_come(pg: sa.Engine) -> None:
    # Left to the garbage collector, the fan-out went on syncing the account's other campaigns,
    # unrecorded, after its step had failed (and could be closed on one of its own threads).
    asked: list[str] = []
    closed: list[bool] = []

    class Client:
        account = Account("acme", "http://unused", "ops@acme.test", "unused")

        def sync_campaigns(self, ids: Iterable[str]) -> Iterator[SyncResult]:
            try:
                for campaign_id in ids:
                    asked.append(campaign_id)
                    yield SyncResult(campaign_id.replace("2", "\x00"), True, 1, SYNCED_AT)
            finally:
                closed.append(True)

    ids = [f"campaign_{n}" for n in range(1, 6)]
    with pytest.raises(sa.exc.DataError, match="NUL"):
        sync_listed(pg, Client(), "c1", "r1", iter(ids))  # type: ignore[arg-type]
    assert (asked, closed) == (["campaign_1", "campaign_2"], [True])
    assert succeeded_ids(pg, "acme", "c1") == {"campaign_1"}


def test_merge_inserts_updates_and_soft_deletes(pg: sa.Engine) -> None:
    first = _merge(pg, "acme", "c1", range(1, 11))
    assert (first.inserted, first.updated, first.removed, first.live_rows) == (10, 0, 0, 10)
    second = _merge(pg, "acme", "c2", range(3, 13))
    assert (second.inserted, second.updated, second.removed, second.live_rows) == (2, 8, 2, 10)
    with pg.connect() as conn:
        removed = conn.execute(
            sa.select(campaigns.c.id).where(campaigns.c.removed_at.is_not(None))
        ).scalars()
        assert sorted(removed) == ["campaign_1", "campaign_2"]
        total = conn.scalar(sa.select(sa.func.count()).select_from(campaigns))
    assert total == 12
    back = _merge(pg, "acme", "c3", range(1, 13))
    assert (back.inserted, back.updated, back.removed, back.live_rows) == (0, 12, 0, 12)


def test_history_keeps_each_cycles_figures_once_and_drops_what_retention_says(
    pg: sa.Engine,
) -> None:
    _merge(pg, "acme", "c1", range(1, 4))  # synced a week ago (SYNCED_AT)
    later = SYNCED_AT + timedelta(days=6)
    grown = [raw_campaign(n, impressions=9000 + n, status="paused") for n in range(1, 4)]
    replace_raw_pages(pg, "acme", "c2", "c2", make_pages(grown))
    record_results(
        pg, "acme", "c2", "c2", [SyncResult(f"campaign_{n}", True, 1, later) for n in (1, 2, 3)]
    )
    merge_campaigns(pg, "acme")
    merge_campaigns(pg, "acme")  # the same cycle merged again adds nothing
    h = campaign_history.c
    one_campaign = (
        sa.select(h.cycle_id, h.impressions, h.status)
        .where(h.client_id == "acme", h.campaign_id == "campaign_1")
        .order_by(h.synced_at)
    )
    with pg.connect() as conn:
        assert [tuple(r) for r in conn.execute(one_campaign)] == [
            ("c1", 8001, "active"),
            ("c2", 9001, "paused"),
        ]
        # The queries docs/tables.md gives for trends run, and chart what was stored.
        daily, per_cycle = _documented_history_queries()
        days = conn.execute(
            sa.text(daily.replace("'client_1'", "'acme'").replace("'campaign_7'", "'campaign_1'"))
        ).all()
        assert [(d.impressions, d.new_impressions) for d in days] == [(8001, None), (9001, 1000)]
        cycles = conn.execute(sa.text(per_cycle.replace("'client_1'", "'acme'"))).all()
        assert [(c.cycle_id, c.impressions) for c in cycles] == [("c1", 24006), ("c2", 27006)]
    merge_campaigns(pg, "acme", history_days=3)  # the week-old cycle goes, the new one stays
    with pg.connect() as conn:
        assert set(conn.scalars(sa.select(h.cycle_id).distinct())) == {"c2"}
        assert conn.scalar(sa.select(sa.func.count()).select_from(campaign_history)) == 3


def _documented_history_queries() -> list[str]:
    text = (REPO_ROOT / "docs" / "tables.md").read_text()
    blocks = [b.split("```", 1)[0] for b in text.split("```sql")[1:]]
    return [b for b in blocks if "campaign_history" in b]


def test_merge_failure_leaves_previous_contents(pg: sa.Engine) -> None:
    _merge(pg, "acme", "c1", range(1, 4))
    with pg.connect() as conn:
        before = conn.execute(sa.select(campaigns).order_by(campaigns.c.id)).all()
    replace_raw_pages(pg, "acme", "c2", "c2", make_pages([raw_campaign(1, budget=10**20)]))
    record_results(pg, "acme", "c2", "c2", [SyncResult("campaign_1", True, 1, SYNCED_AT)])
    with pytest.raises(sa.exc.DataError):
        merge_campaigns(pg, "acme")
    with pg.connect() as conn:
        assert conn.execute(sa.select(campaigns).order_by(campaigns.c.id)).all() == before


def test_quality_queries_find_real_problems(pg: sa.Engine) -> None:
    _merge(pg, "acme", "c1", range(1, 6))
    done = quality.completeness(pg, "acme")
    assert (done.passed, done.synced, done.total, done.missing) == (True, 5, 5, [])
    assert quality.uniqueness(pg, "acme").passed
    assert quality.invalid_rows(pg, "acme") == []

    with pg.begin() as conn:
        conn.execute(
            sa.update(campaigns)
            .where(campaigns.c.id == "campaign_2")
            .values(clicks=10**6, status="bogus", budget=0)
        )
        conn.execute(
            # A row an older cycle wrote: another cycle id and an older sync.
            sa.update(campaigns)
            .where(campaigns.c.id == "campaign_4")
            .values(cycle_id="old", synced_at=SYNCED_AT - timedelta(days=1))
        )
    assert quality.invalid_rows(pg, "acme") == [
        ("campaign_2", "budget not positive"),
        ("campaign_2", "clicks > impressions"),
        ("campaign_2", "unknown status"),
    ]
    done = quality.completeness(pg, "acme")
    assert (done.passed, done.synced, done.missing) == (False, 4, ["campaign_4"])

    pages = make_pages([raw_campaign(n) for n in (1, 2, 3, 2)], limit=2)
    replace_raw_pages(pg, "acme", "c1", "c1", pages)
    assert quality.uniqueness(pg, "acme").raw_duplicates == ["campaign_2"]


def test_a_step_merges_and_checks_its_own_listing_after_another_run_stored_a_newer_one(
    pg: sa.Engine,
) -> None:
    """Two runs on one account overlap: run A listed and synced everything, then run B stored
    its own listing (cycle B, nothing synced yet) before A merged. A's merge and checks judge
    A's listing, so A is complete; the stored listing (B's) is not, yet."""
    pages = make_pages([raw_campaign(n) for n in range(1, 13)])
    a_listing = replace_raw_pages(pg, "acme", "run-a", "run-a", pages)
    synced = [SyncResult(f"campaign_{n}", True, 1, SYNCED_AT) for n in range(1, 13)]
    record_results(pg, "acme", "run-a", "run-a", synced)
    replace_raw_pages(pg, "acme", "run-b", "run-b", pages)

    outcome = merge_campaigns(pg, "acme", a_listing)
    assert (outcome.cycle_id, outcome.written) == ("run-a", 12)
    assert quality.completeness(pg, "acme", a_listing).passed
    assert quality.uniqueness(pg, "acme", a_listing).passed
    stored = quality.completeness(pg, "acme")
    assert (stored.cycle_id, stored.synced, stored.passed) == ("run-b", 0, False)

    # B finishes and merges its newer syncs over A's rows just before A's check: A's cycle is
    # still complete (every campaign holds A's sync or a newer one), and so is B's.
    newer = [
        SyncResult(f"campaign_{n}", True, 1, SYNCED_AT + timedelta(minutes=1)) for n in range(1, 13)
    ]
    record_results(pg, "acme", "run-b", "run-b", newer)
    merge_campaigns(pg, "acme")
    assert quality.completeness(pg, "acme", a_listing).passed
    assert quality.completeness(pg, "acme").passed


def test_a_merge_never_replaces_a_newer_sync_with_an_older_one(pg: sa.Engine) -> None:
    """Two runs sharing an account's budget sync its campaigns at interleaved moments: A synced
    campaign_1 after B did, B synced campaign_2 after A did. Whichever merges last, each row
    keeps the newer sync, and both runs' listings stay complete."""
    pages = make_pages([raw_campaign(n) for n in (1, 2)])
    earlier, later = SYNCED_AT, SYNCED_AT + timedelta(seconds=30)
    a_listing = replace_raw_pages(pg, "acme", "run-a", "run-a", pages)
    b_listing = replace_raw_pages(pg, "acme", "run-b", "run-b", pages)
    record_results(
        pg,
        "acme",
        "run-a",
        "run-a",
        [SyncResult("campaign_1", True, 1, later), SyncResult("campaign_2", True, 1, earlier)],
    )
    record_results(
        pg,
        "acme",
        "run-b",
        "run-b",
        [SyncResult("campaign_1", True, 1, earlier), SyncResult("campaign_2", True, 1, later)],
    )

    first = merge_campaigns(pg, "acme", a_listing)
    second = merge_campaigns(pg, "acme", b_listing)
    assert (first.inserted, first.updated, first.kept_newer) == (2, 0, 0)
    assert (second.inserted, second.updated, second.kept_newer) == (0, 1, 1)
    with pg.connect() as conn:
        held = dict(conn.execute(sa.select(campaigns.c.id, campaigns.c.cycle_id)).all())
        synced_at = set(conn.scalars(sa.select(campaigns.c.synced_at)))
    assert held == {"campaign_1": "run-a", "campaign_2": "run-b"}
    assert synced_at == {later}
    assert quality.completeness(pg, "acme", a_listing).passed
    assert quality.completeness(pg, "acme", b_listing).passed
