"""An outage end to end: 5 accounts of 100 campaigns synced in two runs; the platform goes down
after the first run and stays down through the second, whose accounts fail; the recovery sensor
requests nothing while it is down, then re-syncs exactly those accounts: 100/100 each, no
duplicates, never a 429, never more than the limit in any window.

(The outage starts before the second run's listing rather than in the middle of its syncs: the
client retries every campaign through an outage, 8 permits each, so a mid-sync outage costs
about 8x the account's rate-limit floor before the run fails, 50 s even at time scale 0.01.)"""

from __future__ import annotations

import dagster as dg

from mixo_pipeline.defs.operations.recovery_sensor import outage_recovery_sensor
from mixo_pipeline.defs.operations.sync_targets import AccountHealth, account_health
from mixo_pipeline.names import RANGE_END_TAG, RANGE_START_TAG
from mixo_pipeline_tests.operations.conftest import (
    add_partitions,
    requested_partitions,
    stored_campaigns,
)
from mixo_pipeline_tests.timing import LOADED_MARGIN_S

FIRST = ["client_1", "client_2"]
HIT = ["client_3", "client_4", "client_5"]


def _ranged(keys: list[str]) -> dg.RunRequest:
    return dg.RunRequest(tags={RANGE_START_TAG: keys[0], RANGE_END_TAG: keys[-1]})


def _recovery_tick(p, instance, cursor):
    context = dg.build_sensor_context(instance=instance, cursor=cursor, resources=p.defs.resources)
    result = outage_recovery_sensor(context)
    assert isinstance(result, dg.SensorResult)
    return result


def test_outage_then_recovery_to_100_of_100_without_duplicates(
    pipeline, instance, monkeypatch, ops_db
):
    monkeypatch.setenv("MIXO_ACCOUNTS_PER_RUN", "5")
    # Never a 429 is the claim: the margin is sized for a loaded CI machine (LOADED_MARGIN_S).
    p = pipeline(5, campaigns=100, client={"rate_limit_margin_s": LOADED_MARGIN_S})
    keys = p.client_ids
    add_partitions(instance, keys)

    assert p.run(instance, _ranged(FIRST)).success

    p.mock.start_outage("error")  # down from here until the recovery sensor's second tick
    hit = p.run(instance, _ranged(HIT))
    assert not hit.success
    assert p.mock.stats()["totals"]["errors_503"] > 0
    health = account_health(instance, keys)
    assert [health[k] for k in FIRST] == [AccountHealth.HEALTHY] * 2
    assert [health[k] for k in HIT] == [AccountHealth.FAILED] * 3

    down = _recovery_tick(p, instance, None)
    assert down.run_requests == [], "nothing is requested while the platform is down"

    p.mock.stop_outage()
    up = _recovery_tick(p, instance, down.cursor)
    assert [requested_partitions(r, keys) for r in up.run_requests] == [HIT]
    for request in up.run_requests:
        assert p.run(instance, request).success

    health = account_health(instance, keys)
    assert all(health[k] is AccountHealth.HEALTHY for k in keys)
    per_account, rows = stored_campaigns(ops_db)
    assert per_account == dict.fromkeys(keys, 100)
    assert rows == 500, "no duplicates"

    stats = p.mock.stats()
    for key in keys:
        client = stats["clients"][key]
        assert client["refused_429"] == 0, (key, client)
        assert client["max_admitted_in_window"] <= stats["config"]["rate_limit"]
    assert _recovery_tick(p, instance, up.cursor).run_requests == []
