"""The code location loads, as `dg check defs` and the webserver load it, with the client settings
its environment gives; a bad setting fails the load naming its variable."""

from __future__ import annotations

import dagster as dg
import pytest

from mixo_pipeline.ad_platform import ClientSettings
from mixo_pipeline.definitions import defs


def test_definitions_load() -> None:
    loaded = defs()
    assert isinstance(loaded, dg.Definitions)
    dg.Definitions.validate_loadable(loaded)


def test_physical_client_settings_come_from_the_environment(monkeypatch) -> None:
    monkeypatch.setenv("AD_PLATFORM_RATE_LIMIT_MARGIN_S", "0.4")
    monkeypatch.setenv("AD_PLATFORM_SYNC_READ_TIMEOUT_S", "12")
    monkeypatch.delenv("AD_PLATFORM_LIST_READ_TIMEOUT_S", raising=False)
    client = defs().resources["ad_platform"].client
    assert (client.rate_limit_margin_s, client.sync_read_timeout_s) == (0.4, 12.0)
    assert client.list_read_timeout_s == ClientSettings().list_read_timeout_s  # unset: default


@pytest.mark.parametrize("value", ["soon", "0"])
def test_a_bad_client_setting_names_its_variable(monkeypatch, value) -> None:
    monkeypatch.setenv("AD_PLATFORM_SYNC_READ_TIMEOUT_S", value)
    with pytest.raises(Exception) as error:
        defs()
    chain: list[BaseException] = []
    cause: BaseException | None = error.value
    while cause is not None:
        chain.append(cause)
        cause = cause.__cause__ or cause.__context__
    assert any(f"AD_PLATFORM_SYNC_READ_TIMEOUT_S='{value}'" in str(e) for e in chain), chain
