"""data_quality_alert_sensor: one webhook alert per failed check evaluation, never twice,
surviving a failing webhook; freshness failures alerted the same way."""

import time
from collections.abc import Callable, Iterator
from datetime import timedelta

import dagster as dg
import pytest
from dagster._core.definitions.freshness import (  # reason: no public way to report one
    FreshnessState,
    FreshnessStateChange,
)

from mixo_pipeline.alerting import AlertWebhookResource
from mixo_pipeline.defs.operations.alert_sensor import data_quality_alert_sensor
from mixo_pipeline.names import RANGE_END_TAG, RANGE_START_TAG

PARTS = dg.StaticPartitionsDefinition(["acme", "globex"])


@dg.asset(partitions_def=PARTS)
def ledger() -> dg.MaterializeResult:
    return dg.MaterializeResult()


@dg.asset_check(asset=ledger, partitions_def=PARTS, blocking=True)
def ledger_balanced(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
    missing = 0 if context.partition_key == "acme" else 3
    return dg.AssetCheckResult(
        passed=missing == 0,
        description=f"{100 - missing}/100 entries balanced",
        metadata={"missing_count": missing, "missing_ids": dg.MetadataValue.json(["e1", "e2"])},
    )


@dg.asset_check(asset=ledger, partitions_def=PARTS)
def ledger_tidy(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        passed=False,
        severity=dg.AssetCheckSeverity.WARN,
        description="2 entries have clicks > impressions",
        metadata={"offending_rows": 2},
    )


DURING_AUDIT: list[Callable[[], None]] = []


@dg.asset_check(asset=ledger, partitions_def=PARTS)
def ledger_audited(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
    """A slow check: what a test puts in ``DURING_AUDIT`` happens while it runs."""
    for step in DURING_AUDIT:
        step()
    return dg.AssetCheckResult(passed=False, description="the audit found a gap")


BATCH_CHECK = dg.AssetCheckSpec("batch_balanced", asset="batched", partitions_def=PARTS)


@dg.multi_asset(
    specs=[dg.AssetSpec("batched", partitions_def=PARTS, skippable=True)],
    check_specs=[BATCH_CHECK],
    backfill_policy=dg.BackfillPolicy.single_run(),
)
def batched(context: dg.AssetExecutionContext) -> Iterator[dg.AssetCheckEvaluation]:
    """Like the sync step over a batch: one evaluation per account, then the batch's summary."""
    for key in context.partition_keys:
        yield dg.AssetMaterialization(BATCH_CHECK.asset_key, partition=key)
        yield dg.AssetCheckEvaluation(
            asset_key=BATCH_CHECK.asset_key,
            check_name=BATCH_CHECK.name,
            passed=False,
            partition=key,
            description=f"{key} is off",
        )
    yield dg.AssetCheckResult(check_name=BATCH_CHECK.name, passed=False, description="0/2 passed")


@dg.asset(freshness_policy=dg.FreshnessPolicy.time_window(fail_window=timedelta(hours=2)))
def report() -> dg.MaterializeResult:
    return dg.MaterializeResult()


def _defs(webhook_url: str | None) -> dg.Definitions:
    return dg.Definitions(
        assets=[ledger, report, batched],
        asset_checks=[ledger_balanced, ledger_tidy, ledger_audited],
        sensors=[data_quality_alert_sensor],
        resources={
            "alert_webhook": AlertWebhookResource(url=webhook_url, ui_base_url="http://ui.test/")
        },
    )


def _materialize(instance: dg.DagsterInstance, partition: str) -> str:
    result = dg.materialize(
        [ledger, ledger_balanced, ledger_tidy],
        partition_key=partition,
        instance=instance,
        raise_on_error=False,
    )
    return result.run_id


def _tick(
    instance: dg.DagsterInstance, defs: dg.Definitions, cursor: str | None
) -> dg.SensorResult:
    context = dg.build_sensor_context(
        instance=instance, cursor=cursor, definitions=defs, resources=defs.resources
    )
    result = data_quality_alert_sensor(context)
    assert isinstance(result, dg.SensorResult)
    return result


def _field(payload: dict, name: str) -> str:
    for block in payload["blocks"]:
        for item in block.get("fields", []):
            title, _, value = item["text"].partition("\n")
            if title == f"*{name}*":
                return value
    raise AssertionError(f"no field {name} in {payload}")


def test_one_alert_per_failed_evaluation_and_never_twice(instance, webhook, capsys) -> None:
    defs = _defs(webhook.url)
    acme_run = _materialize(instance, "acme")  # balanced passes, tidy fails (WARN)
    globex_run = _materialize(instance, "globex")  # balanced fails (ERROR), tidy fails (WARN)

    capsys.readouterr()
    first = _tick(instance, defs, None)
    tick_log = capsys.readouterr().err  # what the tick's "View logs" shows
    assert "3 alert(s) sent, 0 waiting" in tick_log
    assert webhook.url not in tick_log and all(webhook.url not in str(p) for p in webhook.received)
    alerts = {(_field(p, "Check"), _field(p, "Partition")): p for p in webhook.received}
    assert sorted(alerts) == [
        ("ledger_balanced", "globex"),
        ("ledger_tidy", "acme"),
        ("ledger_tidy", "globex"),
    ]
    error = alerts[("ledger_balanced", "globex")]
    assert _field(error, "Asset") == "ledger"
    assert _field(error, "Severity") == "ERROR"
    assert _field(alerts[("ledger_tidy", "acme")], "Severity") == "WARN"
    body = str(error["blocks"])
    assert "97/100 entries balanced" in body
    assert "missing_count" in body and "`3`" in body
    assert f"http://ui.test/runs/{globex_run}" in body
    assert f"http://ui.test/runs/{acme_run}" in str(alerts[("ledger_tidy", "acme")]["blocks"])
    assert error["text"].startswith(":red_circle: ERROR: check ledger_balanced failed")

    again = _tick(instance, defs, first.cursor)
    assert len(webhook.received) == 3, "nothing is alerted twice"
    assert again.cursor is not None

    _materialize(instance, "acme")  # a new WARN failure: exactly one new alert
    _tick(instance, defs, again.cursor)
    assert len(webhook.received) == 4
    assert _field(webhook.received[-1], "Partition") == "acme"


def test_an_evaluation_still_running_is_alerted_once_it_fails(
    instance, webhook, monkeypatch
) -> None:
    """Records are numbered when planned: a failure recorded later under a lower number than
    what was already alerted must still be alerted, once."""
    defs = _defs(webhook.url)
    cursors: list[str | None] = []

    def while_the_audit_runs() -> None:
        _materialize(instance, "globex")  # recorded after the audit was planned
        cursors.append(_tick(instance, defs, None).cursor)
        alerted = sorted(_field(p, "Check") for p in webhook.received)
        assert alerted == ["ledger_balanced", "ledger_tidy"]

    monkeypatch.setattr(f"{__name__}.DURING_AUDIT", [while_the_audit_runs])
    dg.materialize([ledger, ledger_audited], partition_key="acme", instance=instance)
    second = _tick(instance, defs, cursors[0])
    assert [_field(p, "Check") for p in webhook.received[2:]] == ["ledger_audited"]
    _tick(instance, defs, second.cursor)
    assert len(webhook.received) == 3


def test_failing_webhook_is_retried_on_later_ticks(instance, webhook, capfd) -> None:
    defs = _defs(webhook.url)
    _materialize(instance, "globex")
    webhook.status = 500

    down = _tick(instance, defs, None)  # must not raise
    assert webhook.attempts == 1, "stops posting for this tick once the webhook refuses"
    assert webhook.received == []
    assert "webhook failing" in (down.skip_reason.skip_message or "")
    still_down = _tick(instance, defs, down.cursor)
    assert webhook.received == [] and webhook.attempts == 2

    webhook.status = 200
    up = _tick(instance, defs, still_down.cursor)
    assert sorted(_field(p, "Check") for p in webhook.received) == [
        "ledger_balanced",
        "ledger_tidy",
    ]
    _tick(instance, defs, up.cursor)
    assert len(webhook.received) == 2
    # The webhook URL is a secret: never in logs or tick results.
    logs = capfd.readouterr().err
    assert "alert not delivered, will retry next tick: webhook answered HTTP 500" in logs
    assert "secret-token" not in logs
    assert "secret-token" not in (down.skip_reason.skip_message or "")


def test_unreachable_webhook_is_also_survived(instance, capfd) -> None:
    defs = _defs("http://127.0.0.1:9/hooks/secret-token")
    _materialize(instance, "globex")
    result = _tick(instance, defs, None)
    assert "2 waiting" in (result.skip_reason.skip_message or "")
    logs = capfd.readouterr().err
    assert "will retry next tick: webhook unreachable (ConnectionError)" in logs
    assert "secret-token" not in logs, "the connection error names the URL: it is not logged"


def test_a_batch_summary_is_not_alerted_on_top_of_its_accounts(instance, webhook) -> None:
    defs = _defs(webhook.url)
    range_tags = {RANGE_START_TAG: "acme", RANGE_END_TAG: "globex"}
    assert dg.materialize([batched], instance=instance, tags=range_tags).success
    first = _tick(instance, defs, None)
    assert sorted(_field(p, "Partition") for p in webhook.received) == ["acme", "globex"]
    assert "0/2 passed" not in str(webhook.received)
    _tick(instance, defs, first.cursor)
    assert len(webhook.received) == 2


def test_without_webhook_alerts_are_logged_and_settled(instance, capfd) -> None:
    defs = _defs(None)
    _materialize(instance, "globex")
    capfd.readouterr()
    result = _tick(instance, defs, None)
    logs = capfd.readouterr().err
    assert "data-quality alert: ERROR: check ledger_balanced failed on ledger [globex]" in logs
    assert "2 alert(s) sent, 0 waiting" in (result.skip_reason.skip_message or "")


@pytest.mark.parametrize(
    ("state", "severity"), [(FreshnessState.FAIL, "FAIL"), (FreshnessState.WARN, "WARN")]
)
def test_freshness_failure_is_alerted_once(instance, webhook, state, severity) -> None:
    defs = _defs(webhook.url)
    instance.report_runless_asset_event(
        FreshnessStateChange(
            key=report.key,
            new_state=state,
            previous_state=FreshnessState.PASS,
            state_change_timestamp=time.time(),
        )
    )
    first = _tick(instance, defs, None)
    (payload,) = webhook.received
    assert _field(payload, "Asset") == "report"
    assert _field(payload, "Severity") == severity
    assert "freshness window" in str(payload["blocks"])
    _tick(instance, defs, first.cursor)
    assert len(webhook.received) == 1
