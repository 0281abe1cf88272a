"""``data_quality_alert_sensor``: one webhook alert per failed check evaluation (per account, not a
batch's summary) and per freshness WARN/FAIL change, exactly once (WARN checks do not fail their
run: run-failure hooks would miss them). The cursor keeps per check a watermark (records at or below
it are settled) and the ids alerted above it, and per asset the last change alerted."""

import time
from collections.abc import Callable
from functools import partial

import dagster as dg
from pydantic import BaseModel

from mixo_pipeline.alerting import Alert, AlertWebhookResource, WebhookDeliveryError

PAGE_SIZE = 100
MAX_CHECK_ALERTS_PER_TICK = 50
# A check seen for the first time is alerted for the last day only: turning the sensor on in an
# old deployment does not replay its history into the channel.
FIRST_LOOKBACK_S = 24 * 3600.0

Pending = tuple[Alert, Callable[[], None]]  # an alert, and how to mark it sent in the cursor


class CheckCursor(BaseModel):
    w: int = 0  # the watermark: every execution record at or below it is settled
    sent: set[int] = set()  # ids above the watermark already alerted


class AlertCursor(BaseModel):
    checks: dict[str, CheckCursor] = {}  # by "asset:check"
    freshness: dict[str, float] = {}  # asset: time of the last freshness change alerted


def check_alerts(
    instance: dg.DagsterInstance, key: dg.AssetCheckKey, cursor: CheckCursor, since: float
) -> list[tuple[int, dg.AssetCheckEvaluation, str]]:
    """Failed evaluations of ``key`` not alerted yet, with record id and run; advances the
    watermark. Evaluations created before ``since`` are settled unalerted."""
    records, before = [], None
    while True:  # newest first, down to the watermark
        page = instance.event_log_storage.get_asset_check_execution_history(
            key, limit=PAGE_SIZE, cursor=before
        )
        records += [record for record in page if record.id > cursor.w]
        if len(page) < PAGE_SIZE or page[-1].id <= cursor.w:
            break
        before = page[-1].id
    planned = [r.run_id for r in records if r.status.value == "PLANNED"]
    runs = instance.get_run_records(dg.RunsFilter(run_ids=planned)) if planned else []
    unfinished = {r.dagster_run.run_id for r in runs if not r.dagster_run.is_finished}

    found, unsettled = [], []
    for record in records:
        if record.status.value == "PLANNED" and record.run_id in unfinished:
            unsettled.append(record.id)  # still to run: it may yet fail
        evaluation = record.event.asset_check_evaluation if record.event else None
        fresh = record.create_timestamp >= since and record.id not in cursor.sent
        if record.status.value == "FAILED" and evaluation and fresh:
            found.append((record.id, evaluation, record.run_id))
            unsettled.append(record.id)
    top = max((record.id for record in records), default=cursor.w)
    cursor.w = min(unsettled) - 1 if unsettled else top
    cursor.sent = {i for i in cursor.sent if i > cursor.w}
    return found


def freshness_alerts(context: dg.SensorEvaluationContext, cursor: AlertCursor) -> list[Pending]:
    """Freshness WARN/FAIL state changes of the assets with a freshness policy, not yet alerted."""
    keys = [n.key for n in context.repository_def.asset_graph.asset_nodes if n.freshness_policy]
    records = context.instance.get_freshness_state_records(keys) if keys else {}
    pending: list[Pending] = []
    for key, record in sorted(records.items(), key=lambda item: item[0].to_user_string()):
        asset, severity = key.to_user_string(), record.freshness_state.value
        changed_at = record.updated_at.timestamp()
        if severity not in ("WARN", "FAIL") or changed_at <= cursor.freshness.get(asset, 0.0):
            continue
        alert = Alert(
            asset=asset,
            severity=severity,
            title="freshness policy " + ("failing" if severity == "FAIL" else "warning"),
            description=f"{asset} has not been materialized within its freshness window since "
            f"{record.updated_at:%Y-%m-%d %H:%M} UTC: the sync schedule or its runs stopped",
        )
        pending.append((alert, partial(cursor.freshness.__setitem__, asset, changed_at)))
    return pending


@dg.sensor(
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Posts each failed check and freshness WARN/FAIL once to MIXO_ALERT_WEBHOOK_URL.",
)
def data_quality_alert_sensor(
    context: dg.SensorEvaluationContext, alert_webhook: AlertWebhookResource
) -> dg.SensorResult:
    cursor = AlertCursor.model_validate_json(context.cursor or "{}")
    graph = context.repository_def.asset_graph
    now = time.time()
    by_id: list[tuple[int, Pending]] = []
    for key in sorted(graph.asset_check_keys, key=lambda k: k.to_user_string()):
        since = now - FIRST_LOOKBACK_S if key.to_user_string() not in cursor.checks else 0.0
        check = cursor.checks.setdefault(key.to_user_string(), CheckCursor())
        for record_id, evaluation, run_id in check_alerts(context.instance, key, check, since):
            if evaluation.partition is None and graph.get(key).partitions_def is not None:
                check.sent.add(record_id)  # a batch's summary: its accounts are alerted
                continue
            alert = Alert(
                asset=key.asset_key.to_user_string(),
                severity=evaluation.severity.value,
                title=f"check {key.name} failed",
                description=evaluation.description or f"asset check {key.name} did not pass",
                partition=evaluation.partition,
                check=key.name,
                run_id=run_id,
                run_url=f"{alert_webhook.ui_base_url.rstrip('/')}/runs/{run_id}",
                metadata=evaluation.metadata,
            )
            by_id.append((record_id, (alert, partial(check.sent.add, record_id))))
    by_id.sort(key=lambda item: item[0])  # oldest first, across checks
    stale = freshness_alerts(context, cursor)
    pending = [item for _, item in by_id[:MAX_CHECK_ALERTS_PER_TICK]] + stale

    sent = 0
    for alert, mark_sent in pending:
        context.log.warning(f"data-quality alert: {alert.summary()}: {alert.description}")
        try:
            alert_webhook.send(alert)
        except WebhookDeliveryError as error:  # the rest waits for the next tick, in order
            context.log.warning(f"alert not delivered, will retry next tick: {error}")
            break
        mark_sent()
        sent += 1
    failing = " (webhook failing)" if sent < len(pending) else ""
    summary = f"{sent} alert(s) sent, {len(by_id) + len(stale) - sent} waiting{failing}"
    context.log.info(summary)
    return dg.SensorResult(cursor=cursor.model_dump_json(), skip_reason=summary)
