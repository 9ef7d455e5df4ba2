"""Numbers are bounded, text is printable, optional fields can be cleared, a limit of 0 admits nothing."""

from __future__ import annotations

from typing import Any

import pytest

from tenantry.dal.items import to_attrs
from tenantry.errors import InvalidInputError
from tenantry.logic.customers import VERSION_MAX
from tenantry.tenancy.plans import QuotaOverrides
from tenantry_local.platform import LocalPlatform
from tests.conftest import context_for, mcp_client


def _customer(platform: LocalPlatform, record: Any, customer_id: str) -> dict[str, Any] | None:
    page = platform.services.customer_store.list(context_for(record), 100, None)
    found = [c for c in page.records if c.customer_id == customer_id]
    return found[0].model_dump() if found else None


def _limited(platform: LocalPlatform, record: Any, **quotas: int) -> Any:
    record = record.model_copy(update={"quota_overrides": QuotaOverrides(**quotas)})
    platform.services.registry.put(record)
    for container in platform.emulator.containers:
        container.app.services.registry.invalidate(record.tenant_id)
    return record


@pytest.mark.parametrize("version", [10**40, int("9" * 400)], ids=["1e40", "400-digits"])
async def test_a_huge_expected_version_is_a_clear_error_not_a_crash(
    platform: LocalPlatform, new_tenant: Any, version: int
) -> None:
    tenant = new_tenant()
    async with mcp_client(platform, platform.token(tenant.tenant_id)) as client:
        await client.call_tool("create_customer", {"name": "Ann", "customer_id": "ann"})
        result = await client.call_tool(
            "update_customer", {"customer_id": "ann", "name": "Bea", "expected_version": version}
        )
    text = result.content[0].text
    # Refused by the tool's input schema (the bound is in tools/list), before any code of ours runs.
    assert result.is_error and text.startswith("Error executing tool update_customer: 1 validation error"), text
    assert f"expected_version\n  Input should be less than or equal to {VERSION_MAX} [type=less_than_equal" in text
    assert _customer(platform, tenant, "ann")["name"] == "Ann"  # type: ignore[index]


def test_the_storage_layer_refuses_numbers_dynamodb_cannot_hold() -> None:
    with pytest.raises(InvalidInputError, match="too large"):
        to_attrs({"n": 10**40 + 1})


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ({"name": "Eve\x00Mallory"}, "name"),
        ({"name": "Bell\x07"}, "name"),
        ({"name": "C1\x85control"}, "name"),
        ({"name": "Ok", "notes": "tab\tand\nline are fine, but \x1b[31m is not"}, "notes"),
    ],
)
async def test_control_characters_in_text_are_refused_and_nothing_is_stored(
    platform: LocalPlatform, new_tenant: Any, arguments: dict[str, Any], field: str
) -> None:
    tenant = new_tenant()
    async with mcp_client(platform, platform.token(tenant.tenant_id)) as client:
        result = await client.call_tool("create_customer", {**arguments, "customer_id": "ctl"})
    assert result.is_error and field in result.content[0].text
    assert _customer(platform, tenant, "ctl") is None


async def test_notes_keep_line_breaks_and_tabs(platform: LocalPlatform, new_tenant: Any) -> None:
    tenant = new_tenant()
    async with mcp_client(platform, platform.token(tenant.tenant_id)) as client:
        result = await client.call_tool("create_customer", {"name": "N", "customer_id": "n", "notes": "a\tb\r\nc"})
    assert not result.is_error
    assert _customer(platform, tenant, "n")["notes"] == "a\tb\r\nc"  # type: ignore[index]


async def test_update_customer_clears_optional_fields(platform: LocalPlatform, new_tenant: Any) -> None:
    tenant = new_tenant()
    async with mcp_client(platform, platform.token(tenant.tenant_id)) as client:
        await client.call_tool(
            "create_customer",
            {"name": "Cy", "customer_id": "cy", "phone": "555-0100", "notes": "VIP", "membership": "annual"},
        )
        result = await client.call_tool(
            "update_customer", {"customer_id": "cy", "clear": ["phone", "notes", "membership"]}
        )
        both = await client.call_tool("update_customer", {"customer_id": "cy", "phone": "555", "clear": ["phone"]})
    assert not result.is_error, result.content[0].text
    stored = _customer(platform, tenant, "cy")
    assert stored is not None
    assert stored["phone"] is None and stored["notes"] is None and stored["membership"] == "none"
    assert stored["name"] == "Cy" and stored["version"] == 2
    assert both.is_error and "not both" in both.content[0].text


async def test_name_cannot_be_cleared(platform: LocalPlatform, new_tenant: Any) -> None:
    tenant = new_tenant()
    async with mcp_client(platform, platform.token(tenant.tenant_id)) as client:
        await client.call_tool("create_customer", {"name": "Di", "customer_id": "di"})
        result = await client.call_tool("update_customer", {"customer_id": "di", "clear": ["name"]})
    assert result.is_error and "clear" in result.content[0].text


async def test_a_customer_limit_of_zero_refuses_the_first_customer(platform: LocalPlatform, new_tenant: Any) -> None:
    tenant = _limited(platform, new_tenant(), max_customers=0)
    async with mcp_client(platform, platform.token(tenant.tenant_id)) as client:
        result = await client.call_tool("create_customer", {"name": "First", "customer_id": "first"})
    assert result.is_error and "Customer limit reached: 0 customers" in result.content[0].text
    assert _customer(platform, tenant, "first") is None


async def test_a_monthly_quota_of_zero_refuses_the_first_call(platform: LocalPlatform, new_tenant: Any) -> None:
    tenant = _limited(platform, new_tenant(), monthly_tool_calls=0)
    async with mcp_client(platform, platform.token(tenant.tenant_id)) as client:
        result = await client.call_tool("list_customers", {})
    assert result.is_error and "Monthly limit reached: 0 tool calls" in result.content[0].text
    from datetime import UTC, datetime

    usage = platform.services.usage.month(tenant.tenant_id, datetime.now(UTC).strftime("%Y-%m"))
    assert usage.calls == 0
