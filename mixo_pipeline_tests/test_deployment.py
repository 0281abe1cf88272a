"""The production topology, with Dagster's own processes: ``deploy/topology.py`` at a compressed
time scale (code server, daemon and webserver on one PostgreSQL; accounts added by the sensor,
a backfill launched over GraphQL, a run worker killed with SIGKILL and retried)."""

import re
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def test_accounts_sync_through_the_daemon_and_survive_a_killed_run_worker(tmp_path: Path) -> None:
    command = [sys.executable, "deploy/topology.py", "--accounts", "4", "--accounts-per-run", "2"]
    command += ["--time-scale", "0.03", "--timeout-s", "200", "--keep-logs", str(tmp_path)]
    done = subprocess.run(
        command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=280, check=False
    )
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    assert "topology proven" in out
    assert "ad_accounts_sensor added 4 partitions" in out
    assert re.search(r"run worker pid \d+ killed with SIGKILL", out)
    # Every account is reported 100/100 without a 429; the killed run's accounts say so.
    assert len(re.findall(r"client_\d: 100/100 stored, \d+ syncs .*, 0 x 429", out)) == 4, out
    assert "(its run was killed)" in out
