"""The deployment's non-secret settings, read from the environment in one place: ``MIXO_<FIELD>``
sets a field of :class:`Settings`, ``AD_PLATFORM_<FIELD>`` one of ``ClientSettings``; what each
means is in docs/configuration.md. Secrets are bound with ``dg.EnvVar``, never shown in the UI."""

import os
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from mixo_pipeline.ad_platform.settings import ClientSettings

CLIENT_PREFIX = "AD_PLATFORM_"
PREFIX = "MIXO_"


class Settings(BaseSettings):
    """How this deployment operates: accounts, schedule, batching, recovery, alerts."""

    model_config = SettingsConfigDict(
        env_prefix=PREFIX, env_ignore_empty=True, extra="ignore", frozen=True, allow_inf_nan=False
    )

    accounts_file: Path | None = None  # unset: the single AD_PLATFORM_* account
    client_id: str = Field("default", min_length=1, validation_alias="AD_PLATFORM_CLIENT_ID")
    sync_cron: str = "0 * * * *"  # UTC
    freshness_intervals: float = Field(3.0, gt=1)
    accounts_per_run: int = Field(50, ge=1)
    accounts_started_per_s: float = Field(20.0, gt=0)
    cycle_resume_max_age_s: float | None = Field(None, ge=0)  # default: one schedule interval
    recovery_max_partitions: int = Field(100, ge=1)
    recovery_backoff_s: float = Field(300.0, gt=0)
    health_timeout_s: float = Field(3.0, gt=0)
    history_retention_days: float = Field(400.0, gt=0)
    dagster_ui_url: str = "http://localhost:3000"
    client: ClientSettings = Field(default_factory=ClientSettings)

    @model_validator(mode="before")
    @classmethod
    def _client_from_environment(cls, values: dict[str, Any]) -> dict[str, Any]:
        """``AD_PLATFORM_<FIELD>`` variables as the nested ``client`` settings."""
        client = {
            name: os.environ[variable]
            for name in ClientSettings.model_fields
            if (variable := f"{CLIENT_PREFIX}{name.upper()}") in os.environ
        }
        return {"client": client, **values} if client else values


def variable_name(location: tuple[int | str, ...]) -> str:
    """The environment variable behind a validation error's location."""
    if location[0] == "client":
        return f"{CLIENT_PREFIX}{str(location[1]).upper()}"
    name = str(location[0])
    # Fields read through an alias report the alias, which is the variable itself.
    return f"{PREFIX}{name.upper()}" if name in Settings.model_fields else name


def load_settings() -> Settings:
    """The settings of the current environment; a bad value names its variable."""
    try:
        return Settings()
    except ValidationError as error:
        problems = [
            f"{variable_name(e['loc'])}={e.get('input')!r}: {e['msg']}" for e in error.errors()
        ]
        raise ValueError("invalid settings: " + "; ".join(problems)) from None
