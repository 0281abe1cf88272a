"""Fixtures of the operations tests: a real instance, the mock with several accounts, the code
location configured for them, and a local webhook that records what it is sent.

Time scale 0.01 turns the documented 60 s rate window into 0.6 s and the 2 s sync into 20 ms, so
an account of 10 campaigns syncs in about a second while every limit is enforced as documented.
It also turns the documented timeouts into 50-100 ms, which a loaded 2-core machine exceeds by
scheduling delay alone, so against a mock that never hangs the code location gets
:data:`PATIENT_TIMEOUTS` (10 s real): every timeout there would be a false alarm that resends a
call the mock then completes.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import sqlalchemy as sa

from mixo_pipeline.accounts.file import FILE_VARIABLE
from mixo_pipeline.database import EmbeddedPostgres, engine_for
from mixo_pipeline.names import ACCOUNTS_PARTITIONS, JOB_NAME, RANGE_END_TAG, RANGE_START_TAG
from mixo_pipeline.settings import variable_name
from mixo_pipeline.storage.schema import campaigns, metadata
from mock_api import MockConfig, MockServer
from mock_api.accounts import DEFAULT_EMAIL, DEFAULT_PASSWORD

OPS_DATABASE = "mixo_ops"
FAST = 0.01
QUIET: dict[str, Any] = {"error_rate": 0.0, "hang_rate": 0.0, "seed": 11, "time_scale": FAST}
PATIENT_TIMEOUTS: dict[str, float] = {
    "connect_timeout_s": 1000.0,
    "list_read_timeout_s": 1000.0,
    "sync_read_timeout_s": 1000.0,
    "auth_read_timeout_s": 1000.0,
}


def client_settings_env(settings: Mapping[str, float]) -> dict[str, str]:
    """Client ``settings`` as the code location's ``AD_PLATFORM_<FIELD>`` variables."""
    return {variable_name(("client", name)): str(value) for name, value in settings.items()}


def requested_partitions(request: dg.RunRequest, keys: Sequence[str]) -> list[str]:
    """The partitions a run request of the schedule or the recovery sensor covers."""
    if request.partition_key is not None:
        return [request.partition_key]
    start, end = keys.index(request.tags[RANGE_START_TAG]), keys.index(request.tags[RANGE_END_TAG])
    return list(keys[start : end + 1])


@pytest.fixture(scope="session")
def ops_database_url(embedded_postgres: EmbeddedPostgres) -> str:
    embedded_postgres.drop_database(OPS_DATABASE)
    return embedded_postgres.create_database(OPS_DATABASE)


@pytest.fixture
def ops_db(ops_database_url: str) -> sa.Engine:
    """The process-wide engine on the operations tests' database, every table emptied."""
    engine = engine_for(ops_database_url)
    with engine.begin() as conn:
        for table in reversed(metadata.sorted_tables):
            conn.execute(table.delete())
    return engine


@pytest.fixture
def instance(tmp_path: Path) -> Iterator[dg.DagsterInstance]:
    home = tmp_path / "dagster_home"
    home.mkdir()
    with dg.instance_for_test(temp_dir=str(home)) as instance:
        yield instance


def write_accounts_file(path: Path, base_url: str, client_ids: Sequence[str]) -> Path:
    """An accounts file for the mock's generated accounts (passwords in CLIENT_<N>_PASSWORD)."""
    entries = [
        {
            "client_id": cid,
            "email": f"{cid}@mixoads.com",
            "password_env": f"{cid.upper()}_PASSWORD",
        }
        for cid in client_ids
    ]
    path.write_text(json.dumps({"defaults": {"base_url": base_url}, "accounts": entries}))
    return path


@dataclass
class Pipeline:
    """The real code location, configured by environment for one mock and one database."""

    defs: dg.Definitions
    mock: MockServer
    client_ids: list[str]

    @property
    def job(self) -> dg.JobDefinition:
        return self.defs.resolve_job_def(JOB_NAME)

    def run_config(self, **settings: Any) -> dict[str, Any]:
        """Run config giving the ``ad_platform`` resource client ``settings`` over its binding.

        Run config replaces a resource's whole config, so every field the code location binds
        is restated as bound (environment variables as ``{"env": NAME}``, read at run time as
        before: no secret enters the run config), then ``settings`` are added to its client's.
        """
        resource = self.defs.resources["ad_platform"]
        config: dict[str, Any] = {}
        for name in resource.model_fields_set - {"client"}:
            value = getattr(resource, name)
            config[name] = {"env": value.env_var_name} if isinstance(value, dg.EnvVar) else value
        config["client"] = {**resource.client.model_dump(), **settings}
        return {"resources": {"ad_platform": {"config": config}}}

    def run(
        self, instance: dg.DagsterInstance, run_request: dg.RunRequest
    ) -> dg.ExecuteInProcessResult:
        """Execute what a schedule or sensor requested, as the daemon's run launcher would."""
        return self.job.execute_in_process(
            instance=instance,
            partition_key=run_request.partition_key,
            tags=dict(run_request.tags),
            raise_on_error=False,
        )


@pytest.fixture
def pipeline(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, ops_database_url: str, ops_db: sa.Engine
) -> Callable[..., Pipeline]:
    """Start a mock with ``accounts`` generated accounts and load the code location against it.

    ``wrong_password`` names accounts whose password variable holds a wrong value; ``client``
    sets client settings for every run, on top of :data:`PATIENT_TIMEOUTS` when the mock never
    hangs.
    """
    servers: list[MockServer] = []

    def start(
        accounts: int,
        *,
        campaigns: int = 10,
        wrong_password: Sequence[str] = (),
        client: Mapping[str, float] | None = None,
        **mock: Any,
    ) -> Pipeline:
        server = MockServer(
            MockConfig(port=0, accounts=accounts, campaigns=campaigns, **{**QUIET, **mock})
        ).start()
        servers.append(server)
        client_ids = [f"client_{n}" for n in range(1, accounts + 1)]
        accounts_file = write_accounts_file(tmp_path / "accounts.json", server.url, client_ids)
        env = {
            FILE_VARIABLE: str(accounts_file),
            "AD_PLATFORM_API_URL": server.url,
            "AD_PLATFORM_EMAIL": DEFAULT_EMAIL,
            "AD_PLATFORM_PASSWORD": DEFAULT_PASSWORD,
            "AD_PLATFORM_TIME_SCALE": str(FAST),
            "DATABASE_URL": ops_database_url,
            **client_settings_env(
                {**(PATIENT_TIMEOUTS if server.config.hang_rate == 0 else {}), **(client or {})}
            ),
        }
        for cid in client_ids:
            secret = "not-the-password" if cid in wrong_password else f"{cid}-password"
            env[f"{cid.upper()}_PASSWORD"] = secret
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        from mixo_pipeline.definitions import defs

        return Pipeline(defs=defs(), mock=server, client_ids=client_ids)

    yield start
    for server in servers:
        server.stop()


def stored_campaigns(engine: sa.Engine) -> tuple[dict[str, int], int]:
    """Live distinct campaigns per account, and every row of ``campaigns`` (a duplicate would
    make the second larger than the sum of the first)."""
    with engine.connect() as conn:
        per_account = dict(
            conn.execute(
                sa.select(campaigns.c.client_id, sa.func.count(sa.distinct(campaigns.c.id)))
                .where(campaigns.c.removed_at.is_(None))
                .group_by(campaigns.c.client_id)
            ).all()
        )
        rows = conn.execute(sa.select(sa.func.count()).select_from(campaigns)).scalar_one()
    return per_account, rows


def add_partitions(instance: dg.DagsterInstance, keys: Sequence[str]) -> None:
    instance.add_dynamic_partitions(ACCOUNTS_PARTITIONS.name, list(keys))


@dataclass
class Webhook:
    """A local Slack-style webhook: records every JSON body, answers ``status``."""

    url: str
    status: int = 200
    received: list[dict[str, Any]] = field(default_factory=list)
    attempts: int = 0


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    hook = Webhook(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            hook.attempts += 1
            if hook.status < 300:
                hook.received.append(json.loads(body))
            self.send_response(hook.status)
            self.end_headers()
            self.wfile.write(b"ok" if hook.status < 300 else b"error")

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    hook.url = f"http://127.0.0.1:{server.server_port}/hooks/T000/B000/secret-token"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield hook
    finally:
        server.shutdown()
        server.server_close()
