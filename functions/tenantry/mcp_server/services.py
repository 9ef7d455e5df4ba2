"""The container's long-lived objects: settings, AWS clients, stores, services."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config

from tenantry.dal.customers import CustomerStore
from tenantry.logic.customers import CustomerService
from tenantry.logic.profile import ProfileService
from tenantry.settings import Settings
from tenantry.tenancy.registry import TenantRegistry
from tenantry.tenancy.resolver import TenantResolver

__all__ = ["Services"]

_BOTO_CONFIG = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=2, read_timeout=5)


@dataclass
class Services:
    settings: Settings
    dynamodb: Any
    registry: TenantRegistry
    resolver: TenantResolver
    customers: CustomerService
    profile: ProfileService

    @classmethod
    def create(cls, settings: Settings, session: boto3.Session | None = None) -> Services:
        # AWS_ENDPOINT_URL (honoured by botocore itself) points these at moto locally.
        dynamodb = (session or boto3.Session()).client("dynamodb", config=_BOTO_CONFIG)
        registry = TenantRegistry(dynamodb, settings.registry_table, ttl_seconds=settings.registry_cache_seconds)
        return cls(
            settings=settings,
            dynamodb=dynamodb,
            registry=registry,
            resolver=TenantResolver(registry, settings.tenant_claim, settings.base_domain),
            customers=CustomerService(CustomerStore(dynamodb, settings.data_table), settings.page_size_max),
            profile=ProfileService(registry),
        )
