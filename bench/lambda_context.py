"""A stand-in for the Lambda context object; stdlib only, so the cold child can import it for free."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["FakeLambdaContext"]


@dataclass
class FakeLambdaContext:
    aws_request_id: str = "bench"
    function_name: str = "tenantry-mcp-bench"
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 1024
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:000000000000:function:tenantry-mcp-bench"
    log_group_name: str = "/aws/lambda/tenantry-mcp-bench"
    log_stream_name: str = "bench"

    def get_remaining_time_in_millis(self) -> int:
        return 29_000
