"""Powertools logger shared by the runtime; created once per container."""

from __future__ import annotations

from functools import lru_cache

from aws_lambda_powertools import Logger

__all__ = ["get_logger"]


@lru_cache(maxsize=1)
def get_logger() -> Logger:
    # Never log request bodies or tool arguments: they hold customers' personal data.
    return Logger(service="tenantry")
