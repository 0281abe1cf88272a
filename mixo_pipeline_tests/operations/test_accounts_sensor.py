"""ad_accounts_sensor keeps the ad_accounts partitions equal to the configured accounts."""

from __future__ import annotations

import dagster as dg
import pytest

from mixo_pipeline.accounts.file import FILE_VARIABLE, AccountsConfigError
from mixo_pipeline.defs.operations.accounts_sensor import ad_accounts_sensor
from mixo_pipeline.defs.resources import AdPlatformResource
from mixo_pipeline.names import ACCOUNTS_PARTITIONS
from mixo_pipeline_tests.operations.conftest import write_accounts_file

RESOURCE = AdPlatformResource(
    base_url="http://127.0.0.1:9", email="ops@example.test", password="unused", client_id="default"
)


def _tick(instance: dg.DagsterInstance) -> dg.SensorResult | dg.SkipReason:
    """Evaluate once and apply the partition requests, as the sensor daemon does."""
    context = dg.build_sensor_context(instance=instance, resources={"ad_platform": RESOURCE})
    result = ad_accounts_sensor(context)
    if isinstance(result, dg.SensorResult):
        for request in result.dynamic_partitions_requests or []:
            if isinstance(request, dg.AddDynamicPartitionsRequest):
                instance.add_dynamic_partitions(request.partitions_def_name, request.partition_keys)
            else:
                for key in request.partition_keys:
                    instance.delete_dynamic_partition(request.partitions_def_name, key)
    return result


def _partitions(instance: dg.DagsterInstance) -> list[str]:
    return list(instance.get_dynamic_partitions(ACCOUNTS_PARTITIONS.name))


def test_without_accounts_file_ensures_the_single_default_partition(monkeypatch, instance):
    monkeypatch.delenv(FILE_VARIABLE, raising=False)
    first = _tick(instance)
    assert isinstance(first, dg.SensorResult)
    assert _partitions(instance) == ["default"]
    again = _tick(instance)
    assert isinstance(again, dg.SkipReason)
    assert _partitions(instance) == ["default"]


def test_adds_new_accounts_and_removes_retired_ones(monkeypatch, tmp_path, instance, capsys):
    path = write_accounts_file(tmp_path / "a.json", "http://h", ["client_1", "client_2"])
    monkeypatch.setenv(FILE_VARIABLE, str(path))
    instance.add_dynamic_partitions(ACCOUNTS_PARTITIONS.name, ["default"])

    result = _tick(instance)
    assert isinstance(result, dg.SensorResult)
    assert _partitions(instance) == ["client_1", "client_2"]

    unchanged = _tick(instance)
    assert isinstance(unchanged, dg.SkipReason)
    ticks = capsys.readouterr().err  # what each tick's "View logs" shows
    assert "adding account partition(s): client_1, client_2" in ticks
    assert "removing retired partition(s), rows kept: default" in ticks
    assert "the 2 configured account(s) are the partitions" in ticks

    write_accounts_file(path, "http://h", ["client_2", "client_3", "client_4"])
    changed = _tick(instance)
    assert isinstance(changed, dg.SensorResult)
    assert sorted(_partitions(instance)) == ["client_2", "client_3", "client_4"]


def test_repairs_partitions_changed_behind_its_back(monkeypatch, tmp_path, instance):
    path = write_accounts_file(tmp_path / "a.json", "http://h", ["client_1", "client_2"])
    monkeypatch.setenv(FILE_VARIABLE, str(path))
    _tick(instance)
    instance.delete_dynamic_partition(ACCOUNTS_PARTITIONS.name, "client_1")
    repaired = _tick(instance)
    assert isinstance(repaired, dg.SensorResult)
    assert sorted(_partitions(instance)) == ["client_1", "client_2"]


def test_invalid_file_fails_the_tick_and_changes_nothing(monkeypatch, tmp_path, instance):
    path = write_accounts_file(tmp_path / "a.json", "http://h", ["client_1"])
    monkeypatch.setenv(FILE_VARIABLE, str(path))
    assert isinstance(_tick(instance), dg.SensorResult)
    for broken in (
        "accounts:\n  - client_id: client_1\n    password: oops\n",
        "accounts: []\nacounts: []\n",
        "accounts: [",
    ):
        path.write_text(broken)
        with pytest.raises(AccountsConfigError, match=str(path)):
            _tick(instance)
        assert _partitions(instance) == ["client_1"], "an invalid file retires nothing"
    path.unlink()
    with pytest.raises(AccountsConfigError, match="does not exist"):
        _tick(instance)
    assert _partitions(instance) == ["client_1"]
