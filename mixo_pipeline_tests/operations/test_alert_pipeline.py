"""The alert sensor on the real pipeline: a WARN check failing for one account of a batched run
(the run succeeds) is alerted once, for that account, with its offending rows."""

from __future__ import annotations

import dagster as dg

from mixo_pipeline.alerting import AlertWebhookResource
from mixo_pipeline.defs.operations.alert_sensor import data_quality_alert_sensor
from mixo_pipeline.names import RANGE_END_TAG, RANGE_START_TAG
from mixo_pipeline_tests.assets.conftest import raw_campaign
from mixo_pipeline_tests.operations.conftest import add_partitions


def _fields(payload: dict) -> dict[str, str]:
    fields = {}
    for block in payload["blocks"]:
        for item in block.get("fields", []):
            title, _, value = item["text"].partition("\n")
            fields[title.strip("*")] = value
    return fields


def test_warn_check_of_one_account_in_a_batched_run_is_alerted(pipeline, instance, webhook):
    p = pipeline(2)
    odd = [raw_campaign(n) for n in range(1, 11)]
    odd[3] = raw_campaign(4, impressions=10, clicks=50)  # clicks > impressions: WARN only
    p.mock.set_campaigns("client_2", odd)
    add_partitions(instance, p.client_ids)
    result = p.run(
        instance, dg.RunRequest(tags={RANGE_START_TAG: "client_1", RANGE_END_TAG: "client_2"})
    )
    assert result.success, "a WARN check does not fail the run: only the alert tells"

    hook = AlertWebhookResource(url=webhook.url, ui_base_url="http://ui.test")
    context = dg.build_sensor_context(
        instance=instance,
        definitions=p.defs,
        resources={**p.defs.resources, "alert_webhook": hook},
    )
    first = data_quality_alert_sensor(context)
    # One alert for the failing account; none for the healthy one, none for the batch summary.
    per_account = [p_ for p_ in webhook.received if _fields(p_)["Partition"] == "client_2"]
    assert len(per_account) == 1
    assert len(webhook.received) == 1
    fields = _fields(per_account[0])
    assert (fields["Asset"], fields["Check"], fields["Severity"]) == (
        "campaigns",
        "campaigns_valid",
        "WARN",
    )
    assert "campaign_4" in str(per_account[0]["blocks"])
    assert f"http://ui.test/runs/{result.run_id}" in str(per_account[0]["blocks"])
    assert not [p_ for p_ in webhook.received if _fields(p_)["Partition"] == "client_1"]

    sent = len(webhook.received)
    again = dg.build_sensor_context(
        instance=instance,
        cursor=first.cursor,
        definitions=p.defs,
        resources={**p.defs.resources, "alert_webhook": hook},
    )
    data_quality_alert_sensor(again)
    assert len(webhook.received) == sent
