"""The MCP Apps widget shipped with the function: its `ui://` address and its built HTML.

The HTML is built from widgets/ by `node widgets/build.mjs` and committed (the
Lambda asset has no Node); tests/unit/test_widget_build.py fails if it drifts.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any

__all__ = ["BRANDING_META_KEY", "CUSTOMERS_WIDGET", "customers_widget_html", "widget_meta"]

CUSTOMERS_WIDGET = "ui://tenantry/customers.html"
# Where a widget tool's result carries the tenant's look (result `_meta`: the widget sees it, the model does not).
BRANDING_META_KEY = "io.tenantry/branding"


@cache
def customers_widget_html() -> str:
    return resources.files("tenantry.mcp_server").joinpath("ui/customers.html").read_text(encoding="utf-8")


def widget_meta(uri: str) -> dict[str, Any]:
    """The tool `_meta` that links a tool to its widget (MCP Apps `_meta.ui.resourceUri`)."""
    return {"ui": {"resourceUri": uri}}
