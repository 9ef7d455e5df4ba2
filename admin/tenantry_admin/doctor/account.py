"""Step 8 of `tenantry doctor --stack`: can the account's Lambda concurrency hold the stack's reservations?

A reservation is refused (and a deploy that sets one fails) when it would leave the account fewer
than 100 unreserved concurrent executions, and new accounts start with a quota of 10: there any
reservation fails. The check reads the quota (GetAccountSettings) and each of the stack's
functions' reservation (GetFunctionConcurrency), and warns when they do not fit.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tenantry_admin.doctor.report import Check

__all__ = ["LAMBDA_MIN_UNRESERVED", "STACK_FUNCTIONS", "concurrency"]

# Lambda keeps at least this many executions unreserved for the account's other functions.
LAMBDA_MIN_UNRESERVED = 100
# The stack's outputs naming its functions, and what each is called in the report.
STACK_FUNCTIONS = {
    "FunctionName": "MCP function",
    "PremiumFunctionName": "premium MCP function",
    "AuthorizationServerFunctionName": "authorization server",
}


def concurrency(lambda_client: Any, outputs: Mapping[str, str]) -> Check:
    """WARN when the quota cannot hold the reservations plus Lambda's unreserved minimum."""
    limits = lambda_client.get_account_settings()["AccountLimit"]
    quota = int(limits["ConcurrentExecutions"])
    reserved: dict[str, int] = {}
    for output, label in STACK_FUNCTIONS.items():
        name = outputs.get(output)
        if name:
            value = lambda_client.get_function_concurrency(FunctionName=name).get("ReservedConcurrentExecutions")
            if value:
                reserved[label] = int(value)
    total = sum(reserved.values())
    shown = ", ".join(f"{label} {n}" for label, n in reserved.items()) or "none"
    detail = f"account quota {quota}; reserved: {shown}; unreserved {limits.get('UnreservedConcurrentExecutions')}"
    if total and quota - total < LAMBDA_MIN_UNRESERVED:
        return Check(
            step=8,
            title="Lambda concurrency",
            status="WARN",
            detail=detail,
            expected=f"a quota of at least {total + LAMBDA_MIN_UNRESERVED} (reservations + {LAMBDA_MIN_UNRESERVED})",
            got=f"{quota}",
            fix="request a higher 'Concurrent executions' quota (Service Quotas, AWS Lambda), or lower the "
            "reservations: -c auth_reserved_concurrency=0, reserved_concurrency, premium_reserved_concurrency",
        )
    return Check(step=8, title="Lambda concurrency", status="PASS", detail=detail)
