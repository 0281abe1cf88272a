"""Per-account sync logic as plain functions (no Dagster), so one run can drive many accounts."""
