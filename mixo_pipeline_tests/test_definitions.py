"""The code location loads, as `dg check defs` and the webserver load it, with the client settings
its environment gives."""

from __future__ import annotations

import dagster as dg
import pytest

from mixo_pipeline.ad_platform import ClientSettings
from mixo_pipeline.definitions import defs
from mixo_pipeline.defs.resources import setting_env, settings_from_env


def test_definitions_load() -> None:
    loaded = defs() if callable(defs) else defs
    assert isinstance(loaded, dg.Definitions)
    dg.Definitions.validate_loadable(loaded)


def test_physical_client_settings_come_from_the_environment(monkeypatch) -> None:
    monkeypatch.setenv(setting_env("rate_limit_margin_s"), "0.4")
    monkeypatch.setenv("AD_PLATFORM_SYNC_READ_TIMEOUT_S", "12")
    monkeypatch.delenv(setting_env("list_read_timeout_s"), raising=False)
    resource = defs().resources["ad_platform"]
    assert (resource.rate_limit_margin_s, resource.sync_read_timeout_s) == (0.4, 12.0)
    assert resource.list_read_timeout_s == ClientSettings().list_read_timeout_s  # unset: default


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("soon", r"AD_PLATFORM_SYNC_READ_TIMEOUT_S='soon' must be a number of seconds"),
        (
            "0",
            r"sync_read_timeout_s must be a finite number > 0 .*AD_PLATFORM_SYNC_READ_TIMEOUT_S=0",
        ),
    ],
)
def test_a_bad_client_setting_names_its_variable(monkeypatch, value, message) -> None:
    monkeypatch.setenv("AD_PLATFORM_SYNC_READ_TIMEOUT_S", value)
    with pytest.raises(ValueError, match=message):
        settings_from_env()
