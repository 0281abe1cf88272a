"""``make run ACCOUNTS=N`` / ``make ui ACCOUNTS=N``: the launcher's mock with N accounts, the
accounts file it generates for them, and the banner that names an accounts file pointing at
another platform. The two stacks run as subprocesses at time scale 0.01, each with a fresh
``MIXO_HOME``, as from a fresh clone."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
import requests

from mixo_pipeline.accounts.file import FILE_VARIABLE, load_account_configs
from mixo_pipeline.cli import stack
from mixo_pipeline.cli.stack import accounts_line, write_accounts_file
from mixo_pipeline.cli.summary import combine
from mixo_pipeline.database import DAGSTER_ROLE, REPO_ROOT, EmbeddedPostgres, dagster_storage_url
from mixo_pipeline_tests.cli.test_lifecycle import assert_gone, postmaster
from mixo_pipeline_tests.cli.test_main import TWO_PASSED, _summary
from mock_api.accounts import generated_account

URL = "http://127.0.0.1:4321"
ACCOUNT_SUMMARY = re.compile(
    r"^client_\d: Sync complete: 100/100 campaigns synced · 0 duplicates · checks passed: "
    r"campaigns_complete, campaigns_unique, campaigns_valid · "
)


def test_the_generated_file_lists_the_mocks_accounts_at_its_url(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stack, "MIXO_HOME", tmp_path)
    for variable in (FILE_VARIABLE, "CLIENT_1_PASSWORD", "CLIENT_2_PASSWORD"):
        monkeypatch.delenv(variable, raising=False)  # and restored afterwards
    with contextlib.ExitStack() as cleanup:
        write_accounts_file(cleanup, URL, 2)
        path = Path(os.environ[FILE_VARIABLE])
        assert path.parent == tmp_path
        configs = load_account_configs(path)
        assert [(c.client_id, c.base_url, c.email) for c in configs] == [
            ("client_1", URL, "client_1@mixoads.com"),
            ("client_2", URL, "client_2@mixoads.com"),
        ]
        for n, config in enumerate(configs, start=1):  # the passwords the mock gives them
            assert os.environ[config.password_env] == generated_account(n, 0).password
            assert generated_account(n, 0).password not in path.read_text()
    assert not path.exists() and FILE_VARIABLE not in os.environ  # it named a mock now gone


def test_the_banner_names_an_accounts_file_whose_base_url_is_not_the_stacks() -> None:
    example = REPO_ROOT / "accounts.example.yaml"
    configs = load_account_configs(example)  # http://localhost:3001
    assert accounts_line(example, configs, URL) == (
        f"Accounts: 3 from {example} ({FILE_VARIABLE}) · base_url http://localhost:3001 is NOT "
        f"this stack's platform ({URL})"
    )
    assert accounts_line(example, configs, "http://localhost:3001/") == (
        f"Accounts: 3 from {example} ({FILE_VARIABLE})"
    )


def test_several_accounts_sum_up_complete_only_if_each_one_is() -> None:
    done, short = _summary(floor_s=50.0), _summary(synced=99, floor_s=58.0)
    line = combine([[done, done]], 60.0).line()
    assert line.startswith(
        "Sync complete: 200/200 campaigns synced across 2 accounts · 0 duplicates · checks "
        "passed: campaigns_complete, campaigns_unique, campaigns_valid · 300 API requests"
    ), line
    two_runs = combine([[done, short], [done]], 120.0)  # runs one after another
    assert two_runs.line().startswith("Sync incomplete: 299/300 campaigns synced across 3 accounts")
    assert (two_runs.exit_status, two_runs.floor_s) == (1, 58.0 + 50.0)
    warned = _summary(checks_passed=TWO_PASSED, checks_failed=["campaigns_valid (WARN)"])
    assert (combine([[done, warned]], 60.0).verdict, combine([[warned]], 60.0).exit_status) == (
        "complete with warnings",
        0,
    )
    unlisted = _summary(run_succeeded=False, synced=0, total=None, requests=None, floor_s=None)
    failed = combine([[done, unlisted]], 60.0)
    assert failed.line().startswith(
        "Sync failed: 100 campaigns synced (an account's listing was not stored) across 2 accounts"
    )
    assert "API request figures unavailable" in failed.line() and failed.exit_status == 1


def launcher_env(home: Path, **extra: str) -> dict[str, str]:
    """The environment of a fresh clone: none of the stack's variables, ``MIXO_HOME`` its own."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("AD_PLATFORM_", "MIXO_", "DAGSTER_", "DATABASE_URL"))
    }
    return {**env, "MIXO_HOME": str(home), "PYTHONUNBUFFERED": "1", **extra}


def test_make_run_accounts_3_syncs_every_account_in_one_run(
    embedded_postgres: EmbeddedPostgres, tmp_path: Path
) -> None:
    for name in ("mixo_accounts", "mixo_accounts_dagster"):
        embedded_postgres.drop_database(name)
    dagster_url = embedded_postgres.create_database("mixo_accounts_dagster", DAGSTER_ROLE)
    env = launcher_env(
        tmp_path / "mixo",
        DATABASE_URL=embedded_postgres.create_database("mixo_accounts"),
        DAGSTER_PG_URL=dagster_storage_url(dagster_url),
    )
    command = [sys.executable, "-m", "mixo_pipeline.cli", "--accounts", "3", "--time-scale", "0.01"]
    done = subprocess.run(
        command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=180
    )
    lines = done.stdout.strip().splitlines()
    assert done.returncode == 0, (lines, done.stderr[-3000:])
    banner = rf"Accounts: 3 from {tmp_path}/mixo/accounts\.local-\d+\.yaml \({FILE_VARIABLE}\)"
    assert any(re.fullmatch(banner, line) for line in lines), lines  # nothing NOT the stack's
    assert not list((tmp_path / "mixo").glob("accounts.local-*"))  # removed at exit
    assert any(
        line.endswith(" · account client_1..client_3 · job campaign_sync_job") for line in lines
    )
    accounts = [line.split(":")[0] for line in lines if ACCOUNT_SUMMARY.match(line)]
    assert sorted(accounts) == ["client_1", "client_2", "client_3"], lines
    assert lines[-1].startswith(
        "Sync complete: 300/300 campaigns synced across 3 accounts · 0 duplicates · checks "
        "passed: campaigns_complete, campaigns_unique, campaigns_valid · "
    ), lines[-1]


CAMPAIGNS = """{
  assetNodeOrError(assetKey: {path: ["campaigns"]}) { ... on AssetNode { partitionKeys } }
  assetOrError(assetKey: {path: ["campaigns"]}) {
    ... on Asset {
      assetMaterializations(limit: 100) {
        partition
        metadataEntries { label ... on IntMetadataEntry { intValue } }
      }
    }
  }
}"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def synced_accounts(port: int) -> tuple[list[str], dict[str, int]]:
    """The ``ad_accounts`` partitions and each one's live rows in ``campaigns``, from the UI's
    GraphQL API; nothing while the webserver is not up yet."""
    try:
        answer = requests.post(
            f"http://127.0.0.1:{port}/graphql", json={"query": CAMPAIGNS}, timeout=5
        )
        data = answer.json()["data"]
    except (requests.RequestException, ValueError, KeyError):
        return [], {}
    rows = {
        event["partition"]: entry["intValue"]
        for event in data["assetOrError"].get("assetMaterializations", [])
        for entry in event["metadataEntries"]
        if entry["label"] == "dagster/row_count"
    }
    return data["assetNodeOrError"].get("partitionKeys", []), rows


@pytest.fixture
def ui(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], Path, int]]:
    """``make ui ACCOUNTS=5 PORT=<free>`` from a fresh clone, started as a script's background
    job is (SIGINT ignored); whatever a failed test left running is stopped."""
    home, port = tmp_path / "mixo", free_port()
    command = [sys.executable, "-m", "mixo_pipeline.cli", "--ui", "--accounts", "5"]
    command += ["--port", str(port), "--time-scale", "0.01"]
    with (tmp_path / "ui.log").open("wb") as log:
        process = subprocess.Popen(
            ["sh", "-c", 'trap "" INT; exec "$@"', "sh", *command],
            cwd=REPO_ROOT,
            env=launcher_env(home),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield process, home, port
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        with contextlib.suppress(FileNotFoundError, psutil.NoSuchProcess):
            server = postmaster(home)
            server.send_signal(signal.SIGINT)  # PostgreSQL's fast shutdown
            server.wait(30)


def test_make_ui_accounts_5_syncs_every_account_without_a_click_and_stops_on_sigterm(
    ui: tuple[subprocess.Popen[bytes], Path, int], tmp_path: Path
) -> None:
    process, home, port = ui
    expected = [f"client_{n}" for n in range(1, 6)]
    deadline = time.monotonic() + 150
    while (state := synced_accounts(port)) != (expected, dict.fromkeys(expected, 100)):
        log = (tmp_path / "ui.log").read_text(errors="replace")
        assert process.poll() is None and time.monotonic() < deadline, (state, log[-3000:])
        time.sleep(1)
    log = (tmp_path / "ui.log").read_text(errors="replace")
    assert f"Serving dagster-webserver on http://127.0.0.1:{port}" in log
    assert "outage_recovery_sensor - 1 run(s) requested: client_1, client_2, client_3" in log

    running = [*psutil.Process(process.pid).children(recursive=True), postmaster(home)]
    assert any("dagster_webserver" in " ".join(p.cmdline()) for p in running), running
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=60) == 0
    assert_gone(running)  # mock, dg dev, webserver, daemon, code servers, run worker, database
    assert not list(home.glob("accounts.local-*"))
