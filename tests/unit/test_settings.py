from __future__ import annotations

import pytest

from tenantry.settings import Settings, SettingsError


def test_defaults_and_environment() -> None:
    settings = Settings.from_env(
        {
            "TENANTRY_DATA_TABLE": "prod-data",
            "TENANTRY_AUTHORIZATION_SERVERS": "https://a.example.com, https://b.example.com",
            "TENANTRY_REGISTRY_CACHE_SECONDS": "60",
        }
    )
    assert settings.data_table == "prod-data"
    assert settings.authorization_servers == ["https://a.example.com", "https://b.example.com"]
    assert settings.registry_cache_seconds == 60
    assert settings.tenant_claim == "tenant_id" and settings.max_body_bytes == 1024 * 1024


def test_bad_values_name_the_variable() -> None:
    with pytest.raises(SettingsError, match="TENANTRY_MAX_BODY_BYTES"):
        Settings.from_env({"TENANTRY_MAX_BODY_BYTES": "lots"})
