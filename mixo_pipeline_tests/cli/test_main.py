"""``python -m mixo_pipeline.cli`` end to end, at 100x speed, on test databases."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from mixo_pipeline.cli.main import main, parse_args
from mixo_pipeline.cli.summary import Summary
from mixo_pipeline.database import DAGSTER_ROLE, EmbeddedPostgres, dagster_storage_url, engine_for
from mixo_pipeline.storage.schema import metadata
from mock_api import MockConfig, MockServer
from mock_api.accounts import DEFAULT_EMAIL, DEFAULT_PASSWORD

SUMMARY = re.compile(
    r"^Sync complete: 100/100 campaigns synced · 0 duplicates · checks passed: "
    r"campaigns_complete, campaigns_unique, campaigns_valid · \d+ API requests, \d+ rate-limited, "
    r"\d+ retried · \d+\.\d s \(floor \d+\.\d s\)$"
)


@pytest.fixture(scope="session")
def cli_database_url(embedded_postgres: EmbeddedPostgres) -> str:
    """The pipeline's database for these tests (its engine is cached for the whole process)."""
    embedded_postgres.drop_database("mixo_cli")
    return embedded_postgres.create_database("mixo_cli")


@pytest.fixture
def launcher_env(
    embedded_postgres: EmbeddedPostgres, cli_database_url: str, tmp_path: Path
) -> Iterator[None]:
    """The launcher's environment on emptied test databases; everything it exports is undone."""
    with engine_for(cli_database_url).begin() as conn:
        for table in reversed(metadata.sorted_tables):
            conn.execute(table.delete())
    embedded_postgres.drop_database("mixo_cli_dagster")
    dagster_url = embedded_postgres.create_database("mixo_cli_dagster", DAGSTER_ROLE)
    saved = dict(os.environ)
    for name in list(os.environ):
        if name.startswith(("AD_PLATFORM_", "MIXO_", "DAGSTER_")):
            del os.environ[name]
    os.environ.update(
        DATABASE_URL=cli_database_url,
        DAGSTER_PG_URL=dagster_storage_url(dagster_url),
        MIXO_DAGSTER_DIR=str(tmp_path / "dagster"),
        MIXO_DAGSTER_LOGS_DIR=str(tmp_path / "dagster" / "logs"),
    )
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def test_make_run_syncs_everything_and_prints_the_summary(
    launcher_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--time-scale", "0.01"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert SUMMARY.match(lines[-1]), lines[-1]
    progress = [line for line in lines if line.startswith("[")]
    assert any("pages stored, 100 campaigns listed" in line for line in progress), lines
    assert any("100/100 campaigns synced" in line for line in progress), lines
    assert any("check campaigns_complete: passed" in line for line in progress), lines
    # Measured from this process's start (here: pytest's), to the first page's arrival.
    start_up = [line for line in lines if line.startswith("Start-up: ")]
    assert len(start_up) == 1 and re.fullmatch(
        r"Start-up: the platform's first page arrived \d+\.\d s after launch", start_up[0]
    ), lines
    with dg.DagsterInstance.get() as instance:
        runs = instance.get_runs(limit=1)
    assert runs and runs[0].status == dg.DagsterRunStatus.SUCCESS
    assert runs[0].tags["dagster/partition"] == "default"


def test_a_failed_sync_exits_non_zero_without_the_secret(
    launcher_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    os.environ["AD_PLATFORM_PASSWORD"] = "not-the-password"
    assert main(["--time-scale", "0.01"]) == 1
    out, err = capsys.readouterr()
    last = out.strip().splitlines()[-1]
    assert last.startswith("Sync failed: no campaigns synced (this run stored no listing)")
    assert "checks not run: campaigns_complete, campaigns_unique, campaigns_valid" in last
    assert "API request figures unavailable" in last
    assert "not-the-password" not in out + err


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"AD_PLATFORM_PASSWORD": ""}, "AD_PLATFORM_PASSWORD must be set"),
        ({"MIXO_ACCOUNTS_PER_RUN": "0"}, "MIXO_ACCOUNTS_PER_RUN='0'"),
    ],
)
def test_a_misconfigured_stack_exits_2_naming_the_variable(
    launcher_env: None, capsys: pytest.CaptureFixture[str], env: dict[str, str], message: str
) -> None:
    os.environ.update(
        {
            "AD_PLATFORM_API_URL": "http://127.0.0.1:9",
            "AD_PLATFORM_EMAIL": "someone@example.com",
            "AD_PLATFORM_PASSWORD": "secret",
            **env,
        }
    )
    assert main([]) == 2
    assert message in capsys.readouterr().err


def test_the_pace_defaults_to_make_runs_and_the_flag_sets_it() -> None:
    assert parse_args([]).time_scale is None  # the mock's: DEFAULT_TIME_SCALE
    assert parse_args(["--time-scale", "1"]).time_scale == 1.0
    assert parse_args(["--time-scale", "0.5"]).time_scale == 0.5
    assert parse_args(["--dg", "check", "defs"]).dg == ["check", "defs"]


def _summary(**overrides: Any) -> Summary:
    values: dict[str, Any] = {
        "run_succeeded": True,
        "synced": 100,
        "total": 100,
        "duplicates": 0,
        "checks_passed": ["campaigns_complete", "campaigns_unique", "campaigns_valid"],
        "checks_failed": [],
        "requests": 150,
        "rate_limited": 0,
        "retried": 30,
        "wall_s": 60.0,
        "floor_s": 58.0,
    }
    return Summary(**{**values, **overrides})


def test_a_failed_warn_check_is_a_complete_sync_with_warnings() -> None:
    summary = _summary(
        checks_passed=["campaigns_complete", "campaigns_unique"],
        checks_failed=["campaigns_valid (WARN)"],
        requests=120,
        retried=8,
        wall_s=61.84,
        floor_s=60.2,
    )
    assert summary.exit_status == 0
    assert summary.line() == (
        "Sync complete with warnings: 100/100 campaigns synced · 0 duplicates · checks passed: "
        "campaigns_complete, campaigns_unique · checks failed: campaigns_valid (WARN) · "
        "120 API requests, 0 rate-limited, 8 retried · 61.8 s (floor 60.2 s)"
    )


TWO_PASSED = ["campaigns_complete", "campaigns_unique"]


@pytest.mark.parametrize(
    ("overrides", "words", "status"),
    [
        ({}, "Sync complete: 100/100", 0),
        (
            {"checks_passed": TWO_PASSED, "checks_failed": ["campaigns_valid (WARN)"]},
            "Sync complete with warnings: 100/100",
            0,
        ),
        ({"synced": 99}, "Sync incomplete: 99/100", 1),
        ({"total": None, "synced": 0}, "Sync incomplete: no campaigns synced", 1),
        ({"checks_passed": TWO_PASSED}, "Sync incomplete: 100/100", 1),  # one check not run
        (
            {
                "checks_passed": ["campaigns_complete", "campaigns_valid"],
                "checks_failed": ["campaigns_unique (ERROR)"],
            },
            "Sync incomplete: 100/100",
            1,
        ),
        ({"run_succeeded": False}, "Sync failed: 100/100", 1),
        ({"run_succeeded": False, "synced": 0, "total": None}, "Sync failed: no campaigns", 1),
    ],
)
def test_summary_words_and_exit_status(overrides: dict[str, Any], words: str, status: int) -> None:
    summary = _summary(**overrides)
    assert summary.line().startswith(words), summary.line()
    assert summary.exit_status == status


@pytest.fixture
def external_mock(launcher_env: None) -> Iterator[MockServer]:
    """A platform of our own at time scale 0.01 behind ``AD_PLATFORM_API_URL``: 8 campaigns,
    no faults, so its 9 requests fit in one window at any client pace."""
    config = MockConfig(time_scale=0.01, seed=5, campaigns=8, error_rate=0, hang_rate=0)
    with MockServer(config) as mock:
        os.environ.update(
            AD_PLATFORM_API_URL=mock.url,
            AD_PLATFORM_EMAIL=DEFAULT_EMAIL,
            AD_PLATFORM_PASSWORD=DEFAULT_PASSWORD,
        )
        yield mock


def test_a_failed_warn_check_ends_complete_with_warnings_and_exits_0(
    external_mock: MockServer, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = {"status": "active", "budget": 100, "impressions": 10, "clicks": 50, "conversions": 1}
    created = "2026-11-01T00:00:00Z"
    external_mock.set_campaigns(
        "default",
        [{"id": f"c{n}", "name": f"C{n}", "created_at": created, **bad} for n in range(8)],
    )
    assert main(["--time-scale", "0.01"]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last.startswith(
        "Sync complete with warnings: 8/8 campaigns synced · 0 duplicates · checks passed: "
        "campaigns_complete, campaigns_unique · checks failed: campaigns_valid (WARN)"
    ), last


def test_time_scale_sets_the_client_of_an_api_given_by_url(
    external_mock: MockServer, capsys: pytest.CaptureFixture[str]
) -> None:
    os.environ["AD_PLATFORM_TIME_SCALE"] = "1"  # the flag wins over the environment
    assert main(["--time-scale", "0.01"]) == 0
    out = capsys.readouterr().out
    assert f"{external_mock.url} (AD_PLATFORM_API_URL) · client time scale 0.01" in out
    with dg.DagsterInstance.get() as instance:
        (record,) = instance.fetch_materializations(
            dg.AssetKey("campaign_sync_records"), limit=1
        ).records
    # The client's own floor: one 2 s sync at its time scale (2.0 s had it kept scale 1).
    assert record.asset_materialization.metadata["rate_limit_floor_s"].value == 0.02
