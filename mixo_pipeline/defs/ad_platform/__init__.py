"""The ad platform sync as Dagster assets, checks and a job (group ``ad_platform``)."""
