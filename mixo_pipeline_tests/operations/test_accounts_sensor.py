"""ad_accounts_sensor keeps the ad_accounts partitions equal to the configured accounts."""

from __future__ import annotations

import dagster as dg
import pytest

from mixo_pipeline.accounts import ACCOUNTS_FILE_ENV, AccountsConfigError
from mixo_pipeline.defs.operations.accounts_sensor import ad_accounts_sensor
from mixo_pipeline.defs.operations.policies import ACCOUNTS_PARTITIONS_NAME
from mixo_pipeline.resources.ad_platform import AdPlatformResource
from mixo_pipeline_tests.operations.conftest import write_accounts_file

RESOURCE = AdPlatformResource(
    base_url="http://127.0.0.1:9", email="ops@example.test", password="unused", client_id="default"
)


def _tick(instance: dg.DagsterInstance, cursor: str | None) -> dg.SensorResult | dg.SkipReason:
    """Evaluate once and apply the partition requests, as the sensor daemon does."""
    context = dg.build_sensor_context(
        instance=instance, cursor=cursor, resources={"ad_platform": RESOURCE}
    )
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
    return list(instance.get_dynamic_partitions(ACCOUNTS_PARTITIONS_NAME))


def test_without_accounts_file_ensures_the_single_default_partition(monkeypatch, instance):
    monkeypatch.delenv(ACCOUNTS_FILE_ENV, raising=False)
    first = _tick(instance, None)
    assert isinstance(first, dg.SensorResult)
    assert _partitions(instance) == ["default"]
    again = _tick(instance, first.cursor)
    assert isinstance(again, dg.SkipReason)
    assert _partitions(instance) == ["default"]


def test_adds_new_accounts_and_removes_retired_ones(monkeypatch, tmp_path, instance):
    path = write_accounts_file(tmp_path / "a.json", "http://h", ["client_1", "client_2"])
    monkeypatch.setenv(ACCOUNTS_FILE_ENV, str(path))
    instance.add_dynamic_partitions(ACCOUNTS_PARTITIONS_NAME, ["default"])

    result = _tick(instance, None)
    assert isinstance(result, dg.SensorResult)
    assert _partitions(instance) == ["client_1", "client_2"]

    unchanged = _tick(instance, result.cursor)
    assert isinstance(unchanged, dg.SkipReason)

    write_accounts_file(path, "http://h", ["client_2", "client_3", "client_4"])
    changed = _tick(instance, result.cursor)
    assert isinstance(changed, dg.SensorResult)
    assert changed.cursor != result.cursor
    assert sorted(_partitions(instance)) == ["client_2", "client_3", "client_4"]


def test_repairs_partitions_changed_behind_its_back(monkeypatch, tmp_path, instance):
    path = write_accounts_file(tmp_path / "a.json", "http://h", ["client_1", "client_2"])
    monkeypatch.setenv(ACCOUNTS_FILE_ENV, str(path))
    result = _tick(instance, None)
    instance.delete_dynamic_partition(ACCOUNTS_PARTITIONS_NAME, "client_1")
    repaired = _tick(instance, result.cursor)
    assert isinstance(repaired, dg.SensorResult)
    assert sorted(_partitions(instance)) == ["client_1", "client_2"]


def test_invalid_file_fails_the_tick_and_changes_nothing(monkeypatch, tmp_path, instance):
    path = write_accounts_file(tmp_path / "a.json", "http://h", ["client_1"])
    monkeypatch.setenv(ACCOUNTS_FILE_ENV, str(path))
    cursor = _tick(instance, None).cursor
    path.write_text("accounts:\n  - client_id: client_1\n    password: oops\n")
    with pytest.raises(AccountsConfigError, match="entry 1 \\(client_1\\): field 'password'"):
        _tick(instance, cursor)
    assert _partitions(instance) == ["client_1"]
