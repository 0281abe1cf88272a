"""Two processes, one client id, one Postgres budget: together they stay under the limit."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import sqlalchemy as sa

from mixo_pipeline.ad_platform.buckets import budget_key, budget_table
from mock_api.accounts import DEFAULT_EMAIL, DEFAULT_PASSWORD


def test_two_processes_share_one_postgres_budget(embedded_postgres, start_mock) -> None:
    db_url = embedded_postgres.create_database("mixo_client_budget")
    mock = start_mock(rate_limit=5, error_rate=0, hang_rate=0, campaigns=24)
    env = {
        **os.environ,
        "AD_PLATFORM_EMAIL": DEFAULT_EMAIL,
        "AD_PLATFORM_PASSWORD": DEFAULT_PASSWORD,
    }
    start_at = time.time() + 3.0  # both processes imported and connected by then
    halves = [[f"campaign_{n}" for n in range(k, 25, 2)] for k in (1, 2)]
    workers = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "mixo_pipeline_tests.ad_platform.budget_worker",
                mock.url,
                db_url,
                str(start_at),
                *ids,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for ids in halves
    ]
    outputs = [w.communicate(timeout=60) for w in workers]

    for worker, (_out, err) in zip(workers, outputs, strict=True):
        assert worker.returncode == 0, err
    reports = [json.loads(out.strip().splitlines()[-1]) for out, _ in outputs]
    assert [r["failed"] for r in reports] == [[], []]
    assert [sorted(r["synced"]) for r in reports] == [sorted(h) for h in halves]
    seen = mock.stats()["clients"]["default"]
    assert seen["admitted"] == 24
    assert seen["refused_429"] == 0
    assert seen["max_admitted_in_window"] <= 5  # 24 requests from two processes, 5 per window
    # The budget really lived in Postgres, in this client's own table.
    table = "ratelimit___" + budget_table(budget_key(mock.url, "default"))
    engine = sa.create_engine(db_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.text(f'SELECT count(*) FROM "{table}"')).scalar()
    finally:
        engine.dispose()
    assert rows and rows >= 5
