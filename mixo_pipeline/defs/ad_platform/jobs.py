"""The job that syncs accounts: the ``ad_platform`` assets and their checks."""

import dagster as dg

from mixo_pipeline import names

campaign_sync_job = dg.define_asset_job(
    name=names.JOB_NAME,
    selection=dg.AssetSelection.groups(names.GROUP),
    description=(
        "List, sync and store the campaigns of the selected ad accounts (one partition per "
        "account), then run the campaigns checks."
    ),
    executor_def=dg.in_process_executor,
)
