"""The job that syncs accounts: the three ``ad_platform`` assets and their checks."""

from __future__ import annotations

import dagster as dg

campaign_sync_job = dg.define_asset_job(
    name="campaign_sync_job",
    selection=dg.AssetSelection.groups("ad_platform"),
    description=(
        "List, sync and store the campaigns of the selected ad accounts (one partition per "
        "account), then run the campaigns checks."
    ),
    executor_def=dg.in_process_executor,
)
