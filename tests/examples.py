"""Example values shared by tests that need a deployment's settings without a platform."""

from __future__ import annotations

from tenantry.settings import Settings

__all__ = ["EXAMPLE_SETTINGS"]

# What a deployed function's environment holds (names only; nothing is reached with them).
EXAMPLE_SETTINGS = Settings(
    registry_table="registry",
    data_table="data",
    usage_table="usage",
    audit_table="audit",
    tenant_role_arn="arn:aws:iam::123456789012:role/tenant",
    secrets_key_arn="arn:aws:kms:us-east-1:123456789012:key/k",
    branding_bucket="branding",
    resource_url="https://mcp.example.com/mcp",
)
