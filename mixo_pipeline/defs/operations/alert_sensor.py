"""``data_quality_alert_sensor``: one webhook alert per failed check evaluation or stale asset.

Blocking ERROR checks fail their run, WARN checks do not, so run-failure hooks would miss half of
the failures. This sensor reads the instance's asset check execution records instead, for every
check in the code location: each FAILED evaluation (ERROR or WARN) becomes one alert with the
asset, partition, check, severity, description, key metadata and a link to the run in the UI.
Freshness is watched the same way: when Dagster's freshness daemon moves an asset with a
``FreshnessPolicy`` (``campaigns``) to WARN or FAIL, that state change is alerted, so a sync that
silently stopped running is noticed too.

A partitioned check evaluated over a batch of accounts in one run records one evaluation per
account plus a partitionless summary of the batch; the per-account evaluations are alerted and the
summary is not, so the channel gets one alert per failing account, not one more per run.

Exactly once: the cursor keeps, per check, a watermark (every execution record at or below it is
settled: alerted, passed, or never ran) and the ids already alerted above it; and, per asset, the
freshness state change last alerted. An alert whose webhook POST fails is not marked sent: it is
retried on the next tick, and the tick itself succeeds (a broken webhook never stops the sensor
or loses the alert). A webhook that is not configured means "log only".
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import dagster as dg

# Internal Dagster types: the execution records and freshness records the UI itself reads.
from dagster._core.definitions.freshness import FreshnessState, FreshnessStateRecord
from dagster._core.storage.asset_check_execution_record import (
    AssetCheckExecutionRecord,
    AssetCheckExecutionRecordStatus,
)

from mixo_pipeline.alerting.alerts import Alert, metadata_as_text
from mixo_pipeline.alerting.webhook import WebhookDeliveryError
from mixo_pipeline.defs.operations.resources import AlertWebhookResource

PAGE_SIZE = 100
MAX_ALERTS_PER_TICK = 50
FIRST_LOOKBACK_S = 24 * 3600.0
"""A check seen for the first time is only alerted for evaluations of the last day, so turning
the sensor on in an old deployment does not replay its whole history into the channel."""

_ALERTED_FRESHNESS = {FreshnessState.WARN: "WARN", FreshnessState.FAIL: "FAIL"}


@dataclass
class CheckCursor:
    watermark: int = 0
    sent: set[int] = field(default_factory=set)


@dataclass
class AlertState:
    """The sensor's cursor: settled watermark and sent ids per check, freshness per asset."""

    checks: dict[str, CheckCursor] = field(default_factory=dict)
    freshness: dict[str, float] = field(default_factory=dict)

    @classmethod
    def from_cursor(cls, cursor: str | None) -> AlertState:
        if not cursor:
            return cls()
        data = json.loads(cursor)
        return cls(
            checks={
                key: CheckCursor(watermark=int(value["w"]), sent={int(i) for i in value["sent"]})
                for key, value in data["checks"].items()
            },
            freshness={key: float(ts) for key, ts in data["freshness"].items()},
        )

    def to_cursor(self) -> str:
        return json.dumps(
            {
                "checks": {
                    key: {"w": value.watermark, "sent": sorted(value.sent)}
                    for key, value in sorted(self.checks.items())
                },
                "freshness": dict(sorted(self.freshness.items())),
            }
        )


@dataclass(frozen=True)
class _Pending:
    """A failed evaluation not yet alerted, with what is needed to mark it sent."""

    check: str
    record_id: int
    alert: Alert


def _check_label(key: dg.AssetCheckKey) -> str:
    return f"{key.asset_key.to_user_string()}:{key.name}"


def _records_above(
    instance: dg.DagsterInstance, key: dg.AssetCheckKey, watermark: int
) -> Iterator[AssetCheckExecutionRecord]:
    """Every execution record of ``key`` with an id above ``watermark``, newest first."""
    before: int | None = None
    while True:
        page = instance.event_log_storage.get_asset_check_execution_history(
            key, limit=PAGE_SIZE, cursor=before
        )
        for record in page:
            if record.id <= watermark:
                return
            yield record
        if len(page) < PAGE_SIZE:
            return
        before = page[-1].id


def _finished_run_ids(instance: dg.DagsterInstance, run_ids: Iterable[str]) -> set[str]:
    """Of ``run_ids``, those that are finished or no longer exist (their checks never ran)."""
    wanted = set(run_ids)
    if not wanted:
        return set()
    records = instance.get_run_records(dg.RunsFilter(run_ids=list(wanted)))
    unfinished = {r.dagster_run.run_id for r in records if not r.dagster_run.is_finished}
    return wanted - unfinished


def _check_alert(record: AssetCheckExecutionRecord, webhook: AlertWebhookResource) -> Alert | None:
    evaluation = record.event.asset_check_evaluation if record.event else None
    if evaluation is None:
        return None
    severity = evaluation.severity.value
    return Alert(
        key=f"check:{_check_label(record.key)}:{record.id}",
        kind="check",
        asset=record.key.asset_key.to_user_string(),
        partition=evaluation.partition or record.partition,
        check=record.key.name,
        severity=severity,
        title=f"check {record.key.name} failed",
        description=evaluation.description or f"asset check {record.key.name} did not pass",
        run_id=record.run_id,
        run_url=webhook.run_url(record.run_id),
        metadata=metadata_as_text(evaluation.metadata),
    )


def collect_check_alerts(
    instance: dg.DagsterInstance,
    check_keys: Iterable[dg.AssetCheckKey],
    state: AlertState,
    webhook: AlertWebhookResource,
    now: float,
    partitioned: frozenset[dg.AssetCheckKey] = frozenset(),
) -> list[_Pending]:
    """Failed evaluations not yet alerted, oldest first; advances each check's watermark.

    ``partitioned`` names the checks defined per partition: their partitionless evaluations are
    batch summaries of per-partition ones, and are not alerted a second time.
    """
    pending: list[_Pending] = []
    for key in sorted(check_keys, key=_check_label):
        label = _check_label(key)
        first_sight = label not in state.checks
        cursor = state.checks.setdefault(label, CheckCursor())
        records = list(_records_above(instance, key, cursor.watermark))
        planned_runs = {
            r.run_id for r in records if r.status is AssetCheckExecutionRecordStatus.PLANNED
        }
        finished = _finished_run_ids(instance, planned_runs)
        unsettled: list[int] = []
        for record in records:
            if record.status is AssetCheckExecutionRecordStatus.PLANNED:
                if record.run_id not in finished:
                    unsettled.append(record.id)  # still to run: it may yet fail
                continue
            if record.status is not AssetCheckExecutionRecordStatus.FAILED:
                continue
            if record.id in cursor.sent:
                continue
            if first_sight and now - record.create_timestamp > FIRST_LOOKBACK_S:
                continue
            alert = _check_alert(record, webhook)
            if alert is not None and alert.partition is None and key in partitioned:
                continue  # the batch summary of per-account evaluations alerted on their own
            if alert is not None:
                pending.append(_Pending(label, record.id, alert))
                unsettled.append(record.id)
        top = max((r.id for r in records), default=cursor.watermark)
        cursor.watermark = (min(unsettled) - 1) if unsettled else top
        cursor.sent = {i for i in cursor.sent if i > cursor.watermark}
    pending.sort(key=lambda p: p.record_id)
    return pending


def collect_freshness_alerts(
    instance: dg.DagsterInstance, asset_keys: Iterable[dg.AssetKey], state: AlertState
) -> list[tuple[str, float, Alert]]:
    """Freshness WARN/FAIL state changes not yet alerted: (asset, change timestamp, alert)."""
    keys = list(asset_keys)
    if not keys:
        return []
    records: dict[dg.AssetKey, FreshnessStateRecord] = dict(
        instance.get_freshness_state_records(keys)
    )
    alerts = []
    for key, record in sorted(records.items(), key=lambda item: item[0].to_user_string()):
        severity = _ALERTED_FRESHNESS.get(record.freshness_state)
        asset = key.to_user_string()
        changed_at = record.updated_at.timestamp()
        if severity is None or changed_at <= state.freshness.get(asset, 0.0):
            continue
        alerts.append(
            (
                asset,
                changed_at,
                Alert(
                    key=f"freshness:{asset}:{changed_at}",
                    kind="freshness",
                    asset=asset,
                    severity=severity,
                    title="freshness policy " + ("failing" if severity == "FAIL" else "warning"),
                    description=(
                        f"{asset} has not been materialized within its freshness window since "
                        f"{record.updated_at:%Y-%m-%d %H:%M:%S} UTC: the sync schedule or its runs "
                        "are not completing"
                    ),
                ),
            )
        )
    return alerts


def _deliver(
    context: dg.SensorEvaluationContext, webhook: AlertWebhookResource, alert: Alert
) -> bool:
    """Log and post one alert; ``False`` (and a warning) when the webhook did not take it."""
    context.log.warning(f"data-quality alert: {alert.summary()}: {alert.description}")
    try:
        webhook.send(alert)
    except WebhookDeliveryError as error:
        context.log.warning(f"alert not delivered, will retry next tick: {error}")
        return False
    return True


@dg.sensor(
    name="data_quality_alert_sensor",
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Posts one Slack-compatible webhook alert per failed asset check evaluation "
    "(ERROR or WARN) and per freshness WARN/FAIL (MIXO_ALERT_WEBHOOK_URL).",
)
def data_quality_alert_sensor(
    context: dg.SensorEvaluationContext, alert_webhook: AlertWebhookResource
) -> dg.SensorResult:
    state = AlertState.from_cursor(context.cursor)
    asset_graph = context.repository_def.asset_graph
    now = time.time()
    check_keys = asset_graph.asset_check_keys
    partitioned = frozenset(k for k in check_keys if asset_graph.get(k).partitions_def is not None)
    check_alerts = collect_check_alerts(
        context.instance, check_keys, state, alert_webhook, now, partitioned
    )
    fresh_keys = [n.key for n in asset_graph.asset_nodes if n.freshness_policy_or_from_metadata]
    freshness_alerts = collect_freshness_alerts(context.instance, fresh_keys, state)

    sent = failed = 0
    webhook_down = False
    for item in check_alerts[:MAX_ALERTS_PER_TICK]:
        if webhook_down:
            break  # the webhook just refused one: try the rest next tick, in order
        if _deliver(context, alert_webhook, item.alert):
            state.checks[item.check].sent.add(item.record_id)
            sent += 1
        else:
            webhook_down = True
            failed += 1
    for asset, changed_at, alert in freshness_alerts:
        if webhook_down:
            break
        if _deliver(context, alert_webhook, alert):
            state.freshness[asset] = changed_at
            sent += 1
        else:
            webhook_down = True
            failed += 1

    waiting = len(check_alerts) + len(freshness_alerts) - sent
    summary = f"{sent} alert(s) sent, {waiting} waiting" + (" (webhook failing)" if failed else "")
    return dg.SensorResult(cursor=state.to_cursor(), skip_reason=summary)
