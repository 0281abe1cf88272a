"""Resource bindings of the code location: the ad platform and the pipeline's PostgreSQL.

Secrets are bound with ``dg.EnvVar`` so they are read on the worker at run time and never
stored in run config or shown in the UI. Non-secret knobs with a sensible default are read when
the code location loads:

- ``AD_PLATFORM_CLIENT_ID`` (default ``default``): the single account's client id;
- ``AD_PLATFORM_TIME_SCALE`` (default 1): set to the mock's ``--time-scale``;
- ``AD_PLATFORM_RATE_LIMIT_BACKEND`` (default ``postgres``): where each account's rate budget
  lives. ``postgres`` (the table-backed bucket in ``DATABASE_URL``) is shared by every run and
  worker, so concurrent runs for one account never exceed its limit together; ``memory`` is
  per process;
- ``AD_PLATFORM_<FIELD>`` for the fields in :data:`ENV_SETTINGS` (default: the client's): the
  settings that depend on where the workers run rather than on the platform's contract, i.e. the
  rate-limit margin against the jitter of the delay between taking a permit and the platform
  counting the request, and the request timeouts. A deployment on a slow network or on busy
  workers sets them here, for every run: a scheduled run carries no run config to set them with.
"""

from __future__ import annotations

import os

import dagster as dg

from mixo_pipeline.ad_platform import ClientSettings
from mixo_pipeline.resources.ad_platform import AdPlatformResource
from mixo_pipeline.resources.postgres import PostgresResource

TIME_SCALE_ENV = "AD_PLATFORM_TIME_SCALE"
CLIENT_ID_ENV = "AD_PLATFORM_CLIENT_ID"
RATE_LIMIT_BACKEND_ENV = "AD_PLATFORM_RATE_LIMIT_BACKEND"
ENV_SETTINGS = (
    "rate_limit_margin_s",
    "connect_timeout_s",
    "list_read_timeout_s",
    "sync_read_timeout_s",
    "auth_read_timeout_s",
)
"""``AdPlatformResource`` fields read from ``AD_PLATFORM_<FIELD>`` (:func:`setting_env`)."""


def setting_env(field: str) -> str:
    """The variable of an :data:`ENV_SETTINGS` field, e.g. ``AD_PLATFORM_SYNC_READ_TIMEOUT_S``."""
    return f"AD_PLATFORM_{field.upper()}"


def settings_from_env() -> dict[str, float]:
    """The :data:`ENV_SETTINGS` that are set, validated as the client validates them, so a bad
    value fails the code location's load naming its variable instead of failing every run."""
    values: dict[str, float] = {}
    for field in ENV_SETTINGS:
        name = setting_env(field)
        raw = os.environ.get(name, "").strip()
        if not raw:
            continue
        try:
            values[field] = float(raw)
        except ValueError:
            raise ValueError(f"{name}={raw!r} must be a number of seconds") from None
    try:
        ClientSettings(**values)
    except ValueError as exc:
        named = ", ".join(f"{setting_env(f)}={v:g}" for f, v in values.items())
        raise ValueError(f"{exc} (from {named})") from None
    return values


@dg.definitions
def resources() -> dg.Definitions:
    return dg.Definitions(
        resources={
            "ad_platform": AdPlatformResource(
                base_url=dg.EnvVar("AD_PLATFORM_API_URL"),
                email=dg.EnvVar("AD_PLATFORM_EMAIL"),
                password=dg.EnvVar("AD_PLATFORM_PASSWORD"),
                client_id=os.environ.get(CLIENT_ID_ENV) or "default",
                time_scale=float(os.environ.get(TIME_SCALE_ENV) or 1.0),
                rate_limit_backend=os.environ.get(RATE_LIMIT_BACKEND_ENV) or "postgres",
                **settings_from_env(),
                rate_limit_postgres_url=dg.EnvVar("DATABASE_URL"),
            ),
            "postgres": PostgresResource(database_url=dg.EnvVar("DATABASE_URL")),
        }
    )
