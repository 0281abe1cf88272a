"""The command line: every knob documented, env vars, flags winning, the subprocess harness."""

from __future__ import annotations

import os
import subprocess
import sys

import httpx
import pytest

from mock_api import MockConfig, MockProcess, Outage
from mock_api.cli import KNOBS, env_name, parse_config

FLAGS = [
    "--host", "--port", "--campaigns", "--max-page-size", "--sync-latency", "--token-ttl",
    "--rate-limit", "--rate-window", "--error-rate", "--hang-rate", "--seed", "--time-scale",
    "--accounts", "--outage", "--compat",
]  # fmt: skip


def test_help_documents_every_knob_and_its_env_var():
    result = subprocess.run(
        [sys.executable, "-m", "mock_api", "--help"], capture_output=True, text=True, check=True
    )
    text = " ".join(result.stdout.split())
    for flag in FLAGS:
        assert flag in text
        assert env_name(flag) in text
    assert {k.flag for k in KNOBS} | {"--outage"} == set(FLAGS)
    for default in ("(default: 3001)", "(default: 100)", "(default: 2.0)", "(default: 3600.0)"):
        assert default in text


def test_no_flags_gives_the_documented_defaults():
    assert parse_config([], environ={}) == MockConfig()
    defaults = MockConfig()
    assert (defaults.rate_limit, defaults.rate_window, defaults.sync_latency) == (10, 60.0, 2.0)
    assert (defaults.error_rate, defaults.hang_rate, defaults.token_ttl) == (0.2, 0.1, 3600.0)
    assert (defaults.port, defaults.campaigns, defaults.compat) == (3001, 100, "strict")


def test_every_knob_is_settable_by_env_and_flags_win():
    environ = {
        "MOCK_HOST": "0.0.0.0",
        "MOCK_PORT": "4000",
        "MOCK_CAMPAIGNS": "7",
        "MOCK_MAX_PAGE_SIZE": "50",
        "MOCK_SYNC_LATENCY": "1.5",
        "MOCK_TOKEN_TTL": "60",
        "MOCK_RATE_LIMIT": "5",
        "MOCK_RATE_WINDOW": "30",
        "MOCK_ERROR_RATE": "0.5",
        "MOCK_HANG_RATE": "0.25",
        "MOCK_SEED": "99",
        "MOCK_TIME_SCALE": "0.1",
        "MOCK_ACCOUNTS": "3",
        "MOCK_OUTAGE": "1:2,3:4:hang",
        "MOCK_COMPAT": "original",
    }
    config = parse_config([], environ=environ)
    assert config == MockConfig(
        host="0.0.0.0",
        port=4000,
        campaigns=7,
        max_page_size=50,
        sync_latency=1.5,
        token_ttl=60,
        rate_limit=5,
        rate_window=30,
        error_rate=0.5,
        hang_rate=0.25,
        seed=99,
        time_scale=0.1,
        accounts=3,
        outages=(Outage(1, 2), Outage(3, 4, "hang")),
        compat="original",
    )
    flagged = parse_config(["--rate-limit", "8", "--outage", "5:6", "--seed", "random"], environ)
    assert (flagged.rate_limit, flagged.outages, flagged.seed) == (8, (Outage(5, 6),), None)


@pytest.mark.parametrize(
    "argv",
    [["--outage", "5"], ["--outage", "6:5"], ["--outage", "1:2:melt"], ["--compat", "loose"],
     ["--error-rate", "1.5"], ["--error-rate", "0.8", "--hang-rate", "0.5"], ["--port", "x"]],
)  # fmt: skip
def test_bad_flags_are_refused_with_a_message(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        parse_config(argv, environ={})
    assert exit_info.value.code == 2
    assert "error:" in capsys.readouterr().err


def test_bad_env_value_names_the_variable(capsys):
    with pytest.raises(SystemExit):
        parse_config([], environ={"MOCK_RATE_LIMIT": "ten"})
    assert "MOCK_RATE_LIMIT" in capsys.readouterr().err


def test_mock_process_runs_the_cli_and_stops_cleanly(tmp_path):
    accounts = tmp_path / "accounts.yaml"
    accounts.write_text(
        "- {client_id: acme, email: ops@acme.test, password: acme-pass, campaigns: 3}\n"
    )
    process = MockProcess(
        [
            "--time-scale",
            "0.01",
            "--error-rate",
            "0",
            "--hang-rate",
            "0",
            "--accounts",
            str(accounts),
        ]
    )
    with process:
        assert process.url.startswith("http://127.0.0.1:") and not process.url.endswith(":0")
        with httpx.Client(base_url=process.url) as http:
            token = http.post("/auth/token", auth=("ops@acme.test", "acme-pass")).json()
            listing = http.get(
                "/api/campaigns", headers={"Authorization": f"Bearer {token['access_token']}"}
            ).json()
        assert [c["id"] for c in listing["data"]] == ["campaign_1", "campaign_2", "campaign_3"]
        assert process.stats()["clients"]["acme"]["admitted"] == 1
        pid = process.pid
    assert pid is not None and process.pid is None
    with pytest.raises(ProcessLookupError):  # exited and reaped: nothing left behind
        os.kill(pid, 0)


def test_mock_process_reports_a_failed_start():
    with pytest.raises(RuntimeError, match="did not start"):
        MockProcess(["--accounts", "/nonexistent/accounts.yaml"]).start()
