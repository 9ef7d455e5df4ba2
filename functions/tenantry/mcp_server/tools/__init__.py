"""MCP tools: thin adapters that parse, call logic and shape the answer."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import wraps
from typing import ParamSpec, TypeVar

from botocore.exceptions import BotoCoreError, ClientError
from mcp.server.mcpserver.exceptions import ToolError

from tenantry.errors import TenantryError, dependency_error
from tenantry.observability import emit_metric, get_logger

__all__ = ["user_errors"]

P = ParamSpec("P")
R = TypeVar("R")


def user_errors(fn: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """Show our expected errors, and AWS faults that outlived botocore's retries, as tool errors.

    An AWS fault becomes a message that names the failing part and says whether to
    retry (never the raw AWS text); it is logged with its stack and counted. Anything
    else stays a crash, answered by the SDK.
    """

    @wraps(fn)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await fn(*args, **kwargs)
        except TenantryError as exc:
            raise ToolError(str(exc)) from exc
        except (ClientError, BotoCoreError) as exc:
            error = dependency_error(exc)
            emit_metric("DependencyErrors")
            get_logger().warning(
                "dependency failed",
                exc_info=True,
                extra={"event": "dependency_error", "aws_code": error.aws_code, "retryable": error.retryable},
            )
            raise ToolError(str(error)) from exc

    return wrapper
