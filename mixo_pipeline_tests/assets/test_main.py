"""``python -m mixo_pipeline.main`` end to end, at 100x speed, on test databases."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from mixo_pipeline.cli_summary import Summary
from mixo_pipeline.local_postgres import EmbeddedPostgres, dagster_storage_url
from mixo_pipeline.main import main

SUMMARY = re.compile(
    r"^Sync complete: 100/100 campaigns synced · 0 duplicates · checks passed: "
    r"campaigns_complete, campaigns_unique, campaigns_valid · \d+ API requests, \d+ rate-limited, "
    r"\d+ retried · \d+\.\d s \(floor \d+\.\d s\)$"
)


@pytest.fixture
def launcher_env(
    embedded_postgres: EmbeddedPostgres, assets_database_url: str, tmp_path: Path
) -> Iterator[None]:
    """The launcher's environment on test databases; everything it exports is undone after."""
    saved = dict(os.environ)
    embedded_postgres.drop_database("mixo_assets_launcher")
    dagster_url = embedded_postgres.create_database("mixo_assets_launcher")
    for name in list(os.environ):
        if name.startswith(("AD_PLATFORM_", "MIXO_", "DAGSTER_")):
            del os.environ[name]
    os.environ.update(
        DATABASE_URL=assets_database_url,
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
    assert any("100/100 campaigns synced" in line for line in lines[:-1])
    with dg.DagsterInstance.get() as instance:
        runs = instance.get_runs(limit=1)
    assert runs and runs[0].status == dg.DagsterRunStatus.SUCCESS
    assert runs[0].tags["dagster/partition"] == "default"


def test_a_failed_sync_exits_non_zero(
    launcher_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    os.environ["AD_PLATFORM_PASSWORD"] = "not-the-password"
    assert main(["--time-scale", "0.01"]) == 1
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last.startswith("Sync incomplete: no campaigns synced (this run stored no listing)")
    assert "checks not run: campaigns_complete, campaigns_unique, campaigns_valid" in last
    assert "not-the-password" not in last


def test_the_summary_names_failed_checks() -> None:
    summary = Summary(
        run_succeeded=True,
        synced=100,
        total=100,
        duplicates=0,
        checks_passed=["campaigns_complete", "campaigns_unique"],
        checks_failed=["campaigns_valid (WARN)"],
        requests=120,
        rate_limited=0,
        retried=8,
        wall_s=61.84,
        floor_s=60.2,
    )
    assert not summary.ok
    assert summary.line() == (
        "Sync incomplete: 100/100 campaigns synced · 0 duplicates · checks passed: "
        "campaigns_complete, campaigns_unique · checks failed: campaigns_valid (WARN) · "
        "120 API requests, 0 rate-limited, 8 retried · 61.8 s (floor 60.2 s)"
    )
