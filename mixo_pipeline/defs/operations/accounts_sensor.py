"""``ad_accounts_sensor``: keeps the ``ad_accounts`` partitions equal to the configured accounts.

The configured accounts are the accounts file's entries (``MIXO_ACCOUNTS_FILE``), or, without a
file, the single account of the ``ad_platform`` resource (partition ``default`` normally). New
accounts become partitions (the recovery sensor then syncs them at once, as "missing"); retired
accounts' partitions are removed, which hides them from schedules and the UI's partition lists
but deletes no row of the ``campaigns`` table and no run history.

The cursor is a fingerprint of the configured list: a tick whose configuration is unchanged and
whose partitions already match does nothing. An invalid accounts file fails the tick with the
file's own error message and changes nothing, so a typo can never retire every account.
"""

from __future__ import annotations

import hashlib

import dagster as dg

from mixo_pipeline.accounts import load_account_configs
from mixo_pipeline.defs.operations.policies import ACCOUNTS_PARTITIONS, ACCOUNTS_PARTITIONS_NAME
from mixo_pipeline.resources.ad_platform import AdPlatformResource


def configured_client_ids(ad_platform: AdPlatformResource) -> list[str]:
    """Client ids of the configured accounts, in file order (the partitions' order in the UI)."""
    configs = load_account_configs()
    if not configs:
        return [ad_platform.client_id]
    return [config.client_id for config in configs]


def _fingerprint(client_ids: list[str]) -> str:
    return hashlib.sha256("\n".join(client_ids).encode()).hexdigest()[:16]


@dg.sensor(
    name="ad_accounts_sensor",
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Adds and removes ad_accounts partitions so they equal the configured accounts "
    "(MIXO_ACCOUNTS_FILE, or the single AD_PLATFORM_* account).",
)
def ad_accounts_sensor(
    context: dg.SensorEvaluationContext, ad_platform: AdPlatformResource
) -> dg.SensorResult | dg.SkipReason:
    desired = configured_client_ids(ad_platform)
    fingerprint = _fingerprint(desired)
    existing = list(context.instance.get_dynamic_partitions(ACCOUNTS_PARTITIONS_NAME))
    to_add = [key for key in desired if key not in set(existing)]
    to_remove = [key for key in existing if key not in set(desired)]

    if not to_add and not to_remove:
        if context.cursor == fingerprint:
            return dg.SkipReason(f"{len(desired)} account(s) configured, unchanged")
        return dg.SensorResult(cursor=fingerprint, skip_reason=f"{len(desired)} account(s) in sync")

    requests: list[dg.AddDynamicPartitionsRequest | dg.DeleteDynamicPartitionsRequest] = []
    if to_add:
        requests.append(ACCOUNTS_PARTITIONS.build_add_request(to_add))
        context.log.info(f"adding {len(to_add)} account partition(s): {', '.join(to_add)}")
    if to_remove:
        requests.append(ACCOUNTS_PARTITIONS.build_delete_request(to_remove))
        context.log.info(
            f"removing {len(to_remove)} retired account partition(s): {', '.join(to_remove)} "
            "(their campaigns rows and run history are kept)"
        )
    return dg.SensorResult(dynamic_partitions_requests=requests, cursor=fingerprint)
