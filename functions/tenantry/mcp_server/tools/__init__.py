"""MCP tools: thin adapters that parse, call logic and shape the answer."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import wraps
from typing import ParamSpec, TypeVar

from mcp.server.mcpserver.exceptions import ToolError

from tenantry.errors import TenantryError

__all__ = ["user_errors"]

P = ParamSpec("P")
R = TypeVar("R")


def user_errors(fn: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """Show our expected errors to the model as tool errors; anything else stays a crash."""

    @wraps(fn)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await fn(*args, **kwargs)
        except TenantryError as exc:
            raise ToolError(str(exc)) from exc

    return wrapper
