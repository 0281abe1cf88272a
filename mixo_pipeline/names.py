"""One definition of every name the code location, its operations and the command line share."""

import dagster as dg

GROUP = "ad_platform"
JOB_NAME = "campaign_sync_job"
SYNC_STEP = "sync_ad_accounts"

RAW_PAGES = dg.AssetKey("raw_campaign_pages")
SYNC_RECORDS = dg.AssetKey("campaign_sync_records")
CAMPAIGNS = dg.AssetKey("campaigns")
STAGES = (RAW_PAGES, SYNC_RECORDS, CAMPAIGNS)

CHECK_COMPLETE = "campaigns_complete"
CHECK_UNIQUE = "campaigns_unique"
CHECK_VALID = "campaigns_valid"
CHECKS = (CHECK_COMPLETE, CHECK_UNIQUE, CHECK_VALID)

ACCOUNTS_PARTITIONS = dg.DynamicPartitionsDefinition(name="ad_accounts")  # one per client id
API_POOL = "ad_platform_api"  # concurrency pool of every step calling the platform (dagster.yaml)

TRIGGER_TAG = "mixo/trigger"  # what launched a run: schedule, recovery, or absent (by hand)
SCHEDULED_FOR_TAG = "mixo/scheduled_for"
# Dagster's run tags for a run over a range of partitions (what a single-run backfill launches).
RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"
