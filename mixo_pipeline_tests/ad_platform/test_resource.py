"""``AdPlatformResource`` in Dagster: EnvVar-bound secrets, numeric metadata, no secret logged."""

import dagster as dg
import pytest
from pydantic import ValidationError

from mixo_pipeline.ad_platform import Account, AdPlatformClient, ClientSettings
from mixo_pipeline.defs.resources import AdPlatformResource
from mock_api.accounts import DEFAULT_EMAIL, DEFAULT_PASSWORD


def test_secrets_have_no_defaults() -> None:
    fields = AdPlatformResource.model_fields
    assert fields["email"].is_required() and fields["password"].is_required()
    with pytest.raises((ValidationError, dg.DagsterInvalidConfigError)):
        AdPlatformResource()  # type: ignore[call-arg]


def test_settings_and_account_come_from_the_fields() -> None:
    resource = AdPlatformResource(
        base_url="https://platform.invalid",
        email="e@x",
        password="pw",
        client_id="client_7",
        client=ClientSettings(
            page_size=25, time_scale=0.5, rate_limit_margin_s=0.2, rate_limit_backend="memory"
        ),
    )
    settings = resource.client
    assert (settings.page_size, settings.time_scale, settings.rate_limit_margin_s) == (25, 0.5, 0.2)
    assert resource.account() == Account("client_7", "https://platform.invalid", "e@x", "pw")
    other = Account("client_8", "https://platform.invalid", "o@x", "pw8")
    with resource.get_client(account=other) as client:
        assert isinstance(client, AdPlatformClient) and client.account == other
    with pytest.raises(ValueError, match="rate_limit_backend"):
        AdPlatformResource(
            base_url="https://platform.invalid",
            email="e",
            password="p",
            client=ClientSettings(rate_limit_backend="redis"),  # type: ignore[arg-type]
        )


def test_resource_runs_in_dagster_with_env_vars(start_mock, monkeypatch) -> None:
    mock = start_mock(error_rate=0, hang_rate=0, campaigns=12)
    monkeypatch.setenv("AD_PLATFORM_API_URL", mock.url)
    monkeypatch.setenv("AD_PLATFORM_EMAIL", DEFAULT_EMAIL)
    monkeypatch.setenv("AD_PLATFORM_PASSWORD", DEFAULT_PASSWORD)
    monkeypatch.setenv("AD_PLATFORM_CLIENT_ID", "default")
    resource = AdPlatformResource(
        base_url=dg.EnvVar("AD_PLATFORM_API_URL"),
        email=dg.EnvVar("AD_PLATFORM_EMAIL"),
        password=dg.EnvVar("AD_PLATFORM_PASSWORD"),
        client_id=dg.EnvVar("AD_PLATFORM_CLIENT_ID"),
        client=ClientSettings(
            time_scale=0.01,
            list_read_timeout_s=20,
            sync_read_timeout_s=20,
            rate_limit_backend="memory",
        ),
    )

    @dg.asset
    def campaign_probe(
        context: dg.AssetExecutionContext, ad_platform: AdPlatformResource
    ) -> dg.MaterializeResult:
        with ad_platform.get_client() as client:
            ids = [c.id for page in client.iter_campaign_pages() for c in page.campaigns]
            synced = sum(r.success for r in client.sync_campaigns(ids[:3]))
            return dg.MaterializeResult(
                metadata={"campaigns": len(ids), "synced": synced, **client.stats.as_metadata()}
            )

    instance = dg.DagsterInstance.ephemeral()
    result = dg.materialize(
        [campaign_probe], resources={"ad_platform": resource}, instance=instance
    )

    assert result.success
    [materialization] = result.asset_materializations_for_node("campaign_probe")
    metadata = {key: entry.value for key, entry in materialization.metadata.items()}
    assert metadata["campaigns"] == 12 and metadata["synced"] == 3
    assert metadata["requests.sync.200"] == 3 and metadata["token_refreshes"] == 1
    messages = [entry.user_message for entry in instance.all_logs(result.run_id)]
    assert not any(DEFAULT_PASSWORD in m for m in messages)
