"""The asset definitions read like documentation and load without any Dagster warning."""

from __future__ import annotations

import warnings

import dagster as dg

from .conftest import load_defs

ASSETS = ["raw_campaign_pages", "campaign_sync_records", "campaigns"]


def test_definitions_load_without_warnings() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        definitions = load_defs()
        dg.Definitions.validate_loadable(definitions)
    assert definitions.resolve_job_def("campaign_sync_job") is not None


def test_assets_are_documented_partitioned_and_typed() -> None:
    graph = load_defs().resolve_asset_graph()
    for name in ASSETS:
        node = graph.get(dg.AssetKey(name))
        assert node.group_name == "ad_platform"
        assert node.partitions_def == dg.DynamicPartitionsDefinition(name="ad_accounts")
        assert node.kinds == {"postgres", "python"}
        assert node.owners == ["team:data-platform"]
        assert node.code_version == "1"
        assert node.description and len(node.description) > 80
        assert node.metadata["dagster/table_name"] == f"public.{name}"
        schema = node.metadata["dagster/column_schema"]
        assert schema.columns[0].name == "client_id"
    assert graph.get(dg.AssetKey("campaigns")).parent_keys == {dg.AssetKey("campaign_sync_records")}
    assert graph.get(dg.AssetKey("campaign_sync_records")).parent_keys == {
        dg.AssetKey("raw_campaign_pages")
    }
    sync_step = load_defs().get_assets_def("campaigns")
    policy = sync_step.op.retry_policy
    assert policy is not None and policy.backoff == dg.Backoff.EXPONENTIAL and policy.jitter


def test_checks_have_the_documented_severity() -> None:
    # The checks are part of the sync step (each account is checked as soon as it lands), not
    # separate check steps.
    sync_step = load_defs().get_assets_def("campaigns")
    specs = {spec.name: spec for spec in sync_step.check_specs}
    assert set(specs) == {"campaigns_complete", "campaigns_unique", "campaigns_valid"}
    assert all(
        spec.partitions_def == dg.DynamicPartitionsDefinition(name="ad_accounts")
        for spec in specs.values()
    )
    assert all(spec.asset_key == dg.AssetKey("campaigns") for spec in specs.values())
    assert specs["campaigns_complete"].blocking and specs["campaigns_unique"].blocking
    assert not specs["campaigns_valid"].blocking
