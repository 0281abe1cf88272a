"""Resource bindings of the code location: the ad platform and the pipeline's PostgreSQL.

Secrets are bound with ``dg.EnvVar``: read on the worker at run time, never stored in run config
or shown in the UI. The other knobs come from :func:`~mixo_pipeline.settings.load_settings`
when the code location loads (a bad value fails the load, naming its variable).
"""

import dagster as dg

from mixo_pipeline.resources.ad_platform import AdPlatformResource
from mixo_pipeline.resources.postgres import PostgresResource
from mixo_pipeline.settings import load_settings


@dg.definitions
def resources() -> dg.Definitions:
    settings = load_settings()
    return dg.Definitions(
        resources={
            "ad_platform": AdPlatformResource(
                base_url=dg.EnvVar("AD_PLATFORM_API_URL"),
                email=dg.EnvVar("AD_PLATFORM_EMAIL"),
                password=dg.EnvVar("AD_PLATFORM_PASSWORD"),
                client_id=settings.client_id,
                budget_url=dg.EnvVar("DATABASE_URL"),
                client=settings.client,
            ),
            "postgres": PostgresResource(database_url=dg.EnvVar("DATABASE_URL")),
        }
    )
