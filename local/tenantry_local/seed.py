"""Demo tenants for the local server: two studios on different plans, a few customers each."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass

from tenantry.dal.customers import CustomerStore
from tenantry.tenancy.placement import Placement
from tenantry.tenancy.registry import Branding, TenantRecord, TenantRegistry

__all__ = ["DEMO_TENANTS", "seed"]


@dataclass(frozen=True)
class DemoTenant:
    record: TenantRecord
    customers: tuple[tuple[str, str, str, str], ...]  # id, name, email, membership


DEMO_TENANTS = (
    DemoTenant(
        TenantRecord(
            tenant_id="ironworks-gym",
            slug="ironworks",
            display_name="Ironworks Gym",
            plan="professional",
            branding=Branding(company_name="Ironworks Gym", primary_color="#C0392B"),
        ),
        (
            ("cus_0001", "Ada Strong", "ada@example.com", "annual"),
            ("cus_0002", "Ben Lift", "ben@example.com", "monthly"),
            ("cus_0003", "Cleo Squat", "cleo@example.com", "class_pack"),
        ),
    ),
    DemoTenant(
        TenantRecord(
            tenant_id="lotus-yoga",
            slug="lotus",
            display_name="Lotus Yoga Studio",
            plan="free",
            branding=Branding(company_name="Lotus Yoga", primary_color="#8E44AD"),
            placement=Placement(mode="cell", cell=1),
        ),
        (
            # The same id as at Ironworks on purpose: tenants never collide.
            ("cus_0001", "Dev Asana", "dev@example.com", "monthly"),
            ("cus_0002", "Eli Breath", "eli@example.com", "drop_in"),
        ),
    ),
    DemoTenant(
        TenantRecord(
            tenant_id="summit-climbing",
            slug="summit",
            display_name="Summit Climbing Co.",
            plan="business",
            branding=Branding(company_name="Summit Climbing", primary_color="#16A085"),
            placement=Placement(mode="silo"),
        ),
        (("cus_0001", "Fay Boulder", "fay@example.com", "annual"),),
    ),
)


def seed(registry: TenantRegistry, customers: CustomerStore, table_of: Callable[[TenantRecord], str]) -> None:
    """Write the demo tenants; customers only where they do not exist yet."""
    from tenantry.errors import ConflictError

    for demo in DEMO_TENANTS:
        try:  # through create, so the demo slugs are reserved like any onboarded tenant's
            registry.create(demo.record)
        except ConflictError:
            registry.put(demo.record)
        tenant = demo.record.context("seed", "seed", table_of(demo.record))
        for customer_id, name, email, membership in demo.customers:
            with contextlib.suppress(ConflictError):
                customers.create(tenant, customer_id, {"name": name, "email": email, "membership": membership})
