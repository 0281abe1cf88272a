"""``ad_accounts_sensor``: keeps the ``ad_accounts`` partitions equal to the configured accounts. A
retired account's partition is removed (its ``campaigns`` rows and run history stay); an invalid
accounts file fails the tick and changes nothing, so a typo can never retire every account."""

import dagster as dg

from mixo_pipeline.accounts.file import configured_base_urls
from mixo_pipeline.defs.resources import AdPlatformResource
from mixo_pipeline.names import ACCOUNTS_PARTITIONS


@dg.sensor(
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Adds and removes ad_accounts partitions so they equal the configured accounts "
    "(MIXO_ACCOUNTS_FILE, or the single AD_PLATFORM_* account).",
)
def ad_accounts_sensor(
    context: dg.SensorEvaluationContext, ad_platform: AdPlatformResource
) -> dg.SensorResult | dg.SkipReason:
    desired = list(configured_base_urls(ad_platform.account()))
    existing = context.instance.get_dynamic_partitions(ACCOUNTS_PARTITIONS.name)
    to_add = [key for key in desired if key not in existing]
    to_remove = [key for key in existing if key not in desired]
    if not to_add and not to_remove:
        context.log.info(same := f"the {len(desired)} configured account(s) are the partitions")
        return dg.SkipReason(same)
    requests: list[dg.AddDynamicPartitionsRequest | dg.DeleteDynamicPartitionsRequest] = []
    if to_add:
        context.log.info(f"adding account partition(s): {', '.join(to_add)}")
        requests.append(ACCOUNTS_PARTITIONS.build_add_request(to_add))
    if to_remove:
        context.log.info(f"removing retired partition(s), rows kept: {', '.join(to_remove)}")
        requests.append(ACCOUNTS_PARTITIONS.build_delete_request(to_remove))
    return dg.SensorResult(dynamic_partitions_requests=requests)
