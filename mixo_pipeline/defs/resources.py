"""Resource bindings of the code location: the ad platform and the pipeline's PostgreSQL.

Secrets are bound with ``dg.EnvVar`` so they are read on the worker at run time and never
stored in run config or shown in the UI. Non-secret knobs with a sensible default
(``AD_PLATFORM_CLIENT_ID``, ``AD_PLATFORM_TIME_SCALE``) are read when the code location loads.
"""

from __future__ import annotations

import os

import dagster as dg

from mixo_pipeline.resources.ad_platform import AdPlatformResource
from mixo_pipeline.resources.postgres import PostgresResource

TIME_SCALE_ENV = "AD_PLATFORM_TIME_SCALE"
CLIENT_ID_ENV = "AD_PLATFORM_CLIENT_ID"


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
            ),
            "postgres": PostgresResource(database_url=dg.EnvVar("DATABASE_URL")),
        }
    )
