"""Resource bindings of the code location: the ad platform and the pipeline's PostgreSQL.

Secrets are bound with ``dg.EnvVar`` so they are read on the worker at run time and never
stored in run config or shown in the UI. Non-secret knobs with a sensible default are read when
the code location loads:

- ``AD_PLATFORM_CLIENT_ID`` (default ``default``): the single account's client id;
- ``AD_PLATFORM_TIME_SCALE`` (default 1): set to the mock's ``--time-scale``;
- ``AD_PLATFORM_RATE_LIMIT_BACKEND`` (default ``postgres``): where each account's rate budget
  lives. ``postgres`` (the table-backed bucket in ``DATABASE_URL``) is shared by every run and
  worker, so concurrent runs for one account never exceed its limit together; ``memory`` is
  per process.
"""

from __future__ import annotations

import os

import dagster as dg

from mixo_pipeline.resources.ad_platform import AdPlatformResource
from mixo_pipeline.resources.postgres import PostgresResource

TIME_SCALE_ENV = "AD_PLATFORM_TIME_SCALE"
CLIENT_ID_ENV = "AD_PLATFORM_CLIENT_ID"
RATE_LIMIT_BACKEND_ENV = "AD_PLATFORM_RATE_LIMIT_BACKEND"


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
                rate_limit_postgres_url=dg.EnvVar("DATABASE_URL"),
            ),
            "postgres": PostgresResource(database_url=dg.EnvVar("DATABASE_URL")),
        }
    )
