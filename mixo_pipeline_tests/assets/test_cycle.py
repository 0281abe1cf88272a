"""The cycle a run lists an account in, decided from rows written through the storage functions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from mixo_pipeline.ad_platform.models import SyncResult
from mixo_pipeline.defs.operations.cadence import cycle_resume_max_age
from mixo_pipeline.storage.raw_pages import replace_raw_pages
from mixo_pipeline.storage.sync_records import record_results
from mixo_pipeline.sync.cycle import CycleChoice, choose_cycle

from .conftest import make_pages, raw_campaign

HOUR = timedelta(hours=1)


def _store_cycle(engine: sa.Engine, cycle_id: str, *, synced: int, failed: int = 0) -> None:
    """An account listing 10 campaigns in ``cycle_id``: ``synced`` succeeded, then ``failed``."""
    replace_raw_pages(
        engine, "acme", cycle_id, cycle_id, make_pages([raw_campaign(n) for n in range(1, 11)])
    )
    for n in range(1, synced + failed + 1):
        ok = n <= synced
        result = SyncResult(
            campaign_id=f"campaign_{n}",
            success=ok,
            attempts=1,
            synced_at=datetime.now(UTC) if ok else None,
            error=None if ok else "503 after every retry",
        )
        record_results(engine, "acme", cycle_id, cycle_id, [result])


def _choose(engine: sa.Engine, run_id: str, **kwargs: object) -> CycleChoice:
    options: dict[str, object] = {"root_run_id": None, "max_age": HOUR, **kwargs}
    return choose_cycle(engine, "acme", run_id=run_id, **options)  # type: ignore[arg-type]


def test_a_complete_cycle_is_followed_by_a_new_one(pg: sa.Engine) -> None:
    _store_cycle(pg, "run-1", synced=10)
    choice = _choose(pg, "run-2")
    assert (choice.cycle_id, choice.resumed) == ("run-2", False)
    assert "complete" in choice.reason


def test_an_unfinished_recent_cycle_is_resumed_by_a_new_run(pg: sa.Engine) -> None:
    _store_cycle(pg, "run-1", synced=6, failed=2)  # 2 failed, 2 never tried
    choice = _choose(pg, "run-2")
    assert (choice.cycle_id, choice.resumed) == ("run-1", True)
    assert "4 of 10 campaigns unsynced" in choice.reason


def test_an_unfinished_cycle_older_than_the_limit_is_not_resumed(pg: sa.Engine) -> None:
    _store_cycle(pg, "run-1", synced=6, failed=4)
    choice = _choose(pg, "run-2", max_age=timedelta(0))
    assert (choice.cycle_id, choice.resumed) == ("run-2", False)
    assert "resume limit" in choice.reason
    # A limit of 0 never resumes, however fresh the cycle.
    assert _choose(pg, "run-2", max_age=timedelta(0)).cycle_id == "run-2"


def test_a_cycle_that_synced_nothing_or_no_stored_cycle_starts_a_new_one(pg: sa.Engine) -> None:
    assert _choose(pg, "run-1") == CycleChoice("run-1", False, "no stored cycle: a new cycle")
    _store_cycle(pg, "run-1", synced=0)
    choice = _choose(pg, "run-2")
    assert (choice.cycle_id, choice.resumed) == ("run-2", False)
    assert "synced nothing" in choice.reason


def test_a_re_execution_continues_its_root_runs_cycle(pg: sa.Engine) -> None:
    _store_cycle(pg, "run-1", synced=10)  # complete: a new run would start its own cycle
    choice = _choose(pg, "run-1b", root_run_id="run-1", parent_run_id="run-1")
    assert (choice.cycle_id, choice.resumed) == ("run-1", True)
    # Even when another run listed the account since (today's rule: the root run's cycle).
    _store_cycle(pg, "run-2", synced=10)
    assert _choose(pg, "run-1c", root_run_id="run-1", parent_run_id="run-1b").cycle_id == "run-1"


def test_retries_and_re_executions_of_a_resuming_run_stay_in_the_resumed_cycle(
    pg: sa.Engine,
) -> None:
    _store_cycle(pg, "run-1", synced=6, failed=4)
    # run-2 resumed run-1's cycle and listed the account again under it, then synced the rest.
    pages = make_pages([raw_campaign(n) for n in range(1, 11)])
    replace_raw_pages(pg, "acme", "run-1", "run-2", pages)
    for n in range(7, 11):
        record_results(pg, "acme", "run-1", "run-2", [SyncResult(f"campaign_{n}", True, 1)])
    # A step retry of run-2 (e.g. the merge failed): the cycle is complete, but it is run-2's.
    assert _choose(pg, "run-2") == CycleChoice(
        "run-1", True, "run run-2 listed it last: continuing"
    )
    # A re-execution of run-2 continues run-1's cycle too, not one named after run-2.
    assert _choose(pg, "run-2b", root_run_id="run-2", parent_run_id="run-2").cycle_id == "run-1"
    # A new run after it starts afresh.
    assert _choose(pg, "run-3").cycle_id == "run-3"


@pytest.mark.parametrize(
    ("environment", "expected"),
    [
        ({}, HOUR),
        ({"MIXO_SYNC_CRON": "*/15 * * * *"}, timedelta(minutes=15)),
        ({"MIXO_CYCLE_RESUME_MAX_AGE_S": "90"}, timedelta(seconds=90)),
        ({"MIXO_CYCLE_RESUME_MAX_AGE_S": "0"}, timedelta(0)),
    ],
)
def test_the_resume_limit_defaults_to_one_schedule_interval(
    monkeypatch: pytest.MonkeyPatch, environment: dict[str, str], expected: timedelta
) -> None:
    for name in ("MIXO_SYNC_CRON", "MIXO_CYCLE_RESUME_MAX_AGE_S"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    assert cycle_resume_max_age() == expected


@pytest.mark.parametrize("bad", ["soon", "-1", "nan", "inf"])
def test_a_bad_resume_limit_names_its_variable(monkeypatch: pytest.MonkeyPatch, bad: str) -> None:
    monkeypatch.setenv("MIXO_CYCLE_RESUME_MAX_AGE_S", bad)
    with pytest.raises(ValueError, match="MIXO_CYCLE_RESUME_MAX_AGE_S"):
        cycle_resume_max_age()
