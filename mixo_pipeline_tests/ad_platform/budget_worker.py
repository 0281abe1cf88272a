"""A separate process syncing campaigns through a Postgres-backed budget (for the shared test).

Run as ``python -m mixo_pipeline_tests.ad_platform.budget_worker BASE_URL DB_URL START_AT IDS...``
with the credentials in ``AD_PLATFORM_EMAIL`` / ``AD_PLATFORM_PASSWORD``; waits until unix time
``START_AT`` so both workers contend for the budget from the same moment, then prints one JSON
line: the ids that synced and those that failed.
"""

from __future__ import annotations

import json
import os
import sys
import time

from mixo_pipeline.ad_platform import Account, AdPlatformClient

from .conftest import fast_settings


def main(argv: list[str]) -> None:
    base_url, db_url, start_at, *ids = argv
    settings = fast_settings(rate_limit_requests=5, rate_limit_backend="postgres")
    account = Account(
        "default", base_url, os.environ["AD_PLATFORM_EMAIL"], os.environ["AD_PLATFORM_PASSWORD"]
    )
    with AdPlatformClient(settings, account, budget_url=db_url) as client:
        time.sleep(max(0.0, float(start_at) - time.time()))
        results = list(client.sync_campaigns(ids))
    print(
        json.dumps(
            {
                "synced": [r.campaign_id for r in results if r.success],
                "failed": [r.error for r in results if not r.success],
            }
        )
    )


if __name__ == "__main__":
    main(sys.argv[1:])
