"""Each tool's short code: the name its counters carry on the tenant's usage item.

Every admission rewrites the whole month item, and DynamoDB bills a write by the larger of the
item's size before and after it, in 1 KB units. With each tool's three counters named after the
tool (`t#send_booking_notification#errors`), a busy month of a tenant that used all thirteen tools
passed 1 KB, and every call from then on cost two write units instead of one. With a two-letter code
(`t#bn#e`) the same month is 691 B, which leaves room for about ten more tools before the item passes
1 KB (tests/integration/test_usage_item_size.py keeps it under).

A code is stored in usage items for a year: never change one or give it to another tool.
A new tool needs a line here; building the server fails without it (server.check_tool_features).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType

__all__ = ["TOOL_CODES", "code_of", "name_of", "valid_code"]

TOOL_CODES: Mapping[str, str] = MappingProxyType(
    {
        "create_customer": "cc",
        "get_customer": "gc",
        "list_customers": "lc",
        "update_customer": "uc",
        "delete_customer": "dc",
        "export_customers": "ec",
        "customer_analytics": "ca",
        "send_booking_notification": "bn",
        "list_integration_secrets": "is",
        "get_tenant_profile": "tp",
        "get_usage": "gu",
        "search": "se",
        "fetch": "fe",
    }
)
_NAMES = {code: name for name, code in TOOL_CODES.items()}
_CODE = re.compile(r"[a-z0-9]{1,4}")


def valid_code(code: str) -> bool:
    """1-4 lowercase letters or digits."""
    return bool(_CODE.fullmatch(code))


def code_of(tool: str) -> str:
    """The key a tool's counters are stored under: its code, or its own name if it has none."""
    return TOOL_CODES.get(tool, tool)


def name_of(key: str) -> str:
    """The tool a stored key stands for: a code's tool, or the key itself (a name, or an unknown code)."""
    return _NAMES.get(key, key)
