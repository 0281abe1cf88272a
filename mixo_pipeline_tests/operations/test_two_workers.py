"""Two independent run workers (separate processes, each with its own resources) sync
overlapping accounts against one PostgreSQL: each account stays within its rate limit as the
platform counts it, and no campaign is lost or duplicated."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import sqlalchemy as sa

from mixo_pipeline.accounts.file import FILE_VARIABLE
from mixo_pipeline.database import DAGSTER_ROLE, EmbeddedPostgres, dagster_storage_url
from mixo_pipeline.names import ACCOUNTS_PARTITIONS, SYNC_RECORDS
from mixo_pipeline.storage.schema import campaign_sync_records, campaigns
from mixo_pipeline_tests.operations.conftest import (
    FAST,
    PATIENT_TIMEOUTS,
    QUIET,
    client_settings_env,
    write_accounts_file,
)
from mixo_pipeline_tests.timing import LOADED_MARGIN_S
from mock_api import MockConfig, MockServer
from mock_api.accounts import DEFAULT_EMAIL, DEFAULT_PASSWORD

REPO_ROOT = Path(__file__).resolve().parents[2]
CAMPAIGNS = 40
KEYS = ["client_1", "client_2", "client_3", "client_4"]


def _dagster_home(tmp_path: Path, embedded_postgres: EmbeddedPostgres) -> Path:
    embedded_postgres.drop_database("mixo_ops_dagster")
    url = dagster_storage_url(embedded_postgres.create_database("mixo_ops_dagster", DAGSTER_ROLE))
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text(
        f"storage:\n  postgres:\n    postgres_url: {json.dumps(url)}\n"
        "telemetry:\n  enabled: false\n"
    )
    return home


def test_two_workers_share_each_accounts_budget(
    tmp_path, embedded_postgres, ops_database_url, ops_db
) -> None:
    home = _dagster_home(tmp_path, embedded_postgres)
    with MockServer(MockConfig(port=0, accounts=len(KEYS), campaigns=CAMPAIGNS, **QUIET)) as mock:
        env = {
            **os.environ,
            "DAGSTER_HOME": str(home),
            FILE_VARIABLE: str(write_accounts_file(tmp_path / "a.json", mock.url, KEYS)),
            "AD_PLATFORM_API_URL": mock.url,
            "AD_PLATFORM_EMAIL": DEFAULT_EMAIL,
            "AD_PLATFORM_PASSWORD": DEFAULT_PASSWORD,
            "AD_PLATFORM_TIME_SCALE": str(FAST),
            "DATABASE_URL": ops_database_url,
            **{f"{k.upper()}_PASSWORD": f"{k}-password" for k in KEYS},
            # Never a 429 is the claim: a margin sized for a loaded CI machine, and no timeouts
            # a scheduling delay could fire (the mock never hangs), as the conftest's pipeline.
            **client_settings_env({**PATIENT_TIMEOUTS, "rate_limit_margin_s": LOADED_MARGIN_S}),
        }
        with dg.DagsterInstance.from_config(str(home)) as instance:
            instance.add_dynamic_partitions(ACCOUNTS_PARTITIONS.name, KEYS)

        workers = [
            subprocess.Popen(
                [sys.executable, "-m", "mixo_pipeline.accounts.worker", "--from", a, "--to", b],
                cwd=REPO_ROOT,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for a, b in (("client_1", "client_3"), ("client_2", "client_4"))
        ]
        outputs = [w.communicate(timeout=240) for w in workers]
        stats = mock.stats()

    for worker, (out, err) in zip(workers, outputs, strict=True):
        assert worker.returncode == 0, err[-3000:]
        assert json.loads(out.strip().splitlines()[-1])["success"] is True

    r = campaign_sync_records.c
    with ops_db.connect() as conn:
        query = sa.select(r.client_id, sa.func.count(sa.distinct(r.cycle_id))).group_by(r.client_id)
        cycles = dict(conn.execute(query).all())
    limit = stats["config"]["rate_limit"]
    for key in KEYS:
        client = stats["clients"][key]
        assert client["refused_429"] == 0, (key, client)
        assert client["max_admitted_in_window"] <= limit, (key, client)
        # Each campaign synced once per cycle: a worker that found the other syncing the
        # account waited for its lock and joined its cycle instead of syncing it again.
        assert client["syncs_completed"] == CAMPAIGNS * cycles[key], (key, cycles)
    # Both workers really worked on the shared accounts (listed them, or joined the other's cycle).
    run_ids = {json.loads(out.strip().splitlines()[-1])["run_id"] for out, _ in outputs}
    with dg.DagsterInstance.from_config(str(home)) as instance:
        for key in ("client_2", "client_3"):
            found = instance.fetch_materializations(
                dg.AssetRecordsFilter(asset_key=SYNC_RECORDS, asset_partitions=[key]), limit=10
            )
            assert {record.run_id for record in found.records} == run_ids, key

    with ops_db.connect() as conn:
        rows = conn.execute(
            sa.select(
                campaigns.c.client_id, sa.func.count(), sa.func.count(sa.distinct(campaigns.c.id))
            )
            .where(campaigns.c.removed_at.is_(None))
            .group_by(campaigns.c.client_id)
        ).all()
    assert {cid: (n, distinct) for cid, n, distinct in rows} == dict.fromkeys(
        KEYS, (CAMPAIGNS, CAMPAIGNS)
    )
