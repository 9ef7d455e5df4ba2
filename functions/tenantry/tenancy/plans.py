"""Plans, features and quotas: defaults in code, per-tenant overrides in the registry."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Plan = Literal["free", "starter", "professional", "business"]

__all__ = [
    "FEATURES",
    "PLANS",
    "PLAN_ORDER",
    "EffectiveConfig",
    "Feature",
    "Plan",
    "PlanDefaults",
    "QuotaOverrides",
    "cheapest_plan_with",
    "effective_config",
]

Feature = Literal["customers", "profile", "integrations", "export", "analytics", "usage"]
FEATURES: tuple[Feature, ...] = ("customers", "profile", "integrations", "export", "analytics", "usage")
PLAN_ORDER: tuple[Plan, ...] = ("free", "starter", "professional", "business")


class PlanDefaults(BaseModel):
    model_config = ConfigDict(frozen=True)

    features: frozenset[Feature]
    monthly_tool_calls: int
    calls_per_minute: int
    max_customers: int
    # Users who may sign in for the tenant (memberships); enforced by `tenantry members add|import`.
    max_members: int


_BASE: frozenset[Feature] = frozenset({"customers", "profile", "usage"})
PLANS: dict[Plan, PlanDefaults] = {
    "free": PlanDefaults(
        features=_BASE, monthly_tool_calls=1_000, calls_per_minute=30, max_customers=100, max_members=2
    ),
    "starter": PlanDefaults(
        features=_BASE | {"integrations"},
        monthly_tool_calls=20_000,
        calls_per_minute=120,
        max_customers=2_000,
        max_members=10,
    ),
    "professional": PlanDefaults(
        features=_BASE | {"integrations", "export"},
        monthly_tool_calls=200_000,
        calls_per_minute=600,
        max_customers=25_000,
        max_members=50,
    ),
    "business": PlanDefaults(
        features=_BASE | {"integrations", "export", "analytics"},
        monthly_tool_calls=2_000_000,
        calls_per_minute=3_000,
        max_customers=250_000,
        max_members=500,
    ),
}

# Bounds an operator may set, so a typo cannot turn a limit off or into a denial of service.
QUOTA_MAX = 100_000_000


class QuotaOverrides(BaseModel):
    model_config = ConfigDict(extra="forbid")

    monthly_tool_calls: int | None = Field(default=None, ge=0, le=QUOTA_MAX)
    calls_per_minute: int | None = Field(default=None, ge=1, le=1_000_000)
    max_customers: int | None = Field(default=None, ge=0, le=QUOTA_MAX)
    max_members: int | None = Field(default=None, ge=0, le=QUOTA_MAX)


class EffectiveConfig(BaseModel):
    model_config = ConfigDict(frozen=True)

    plan: Plan
    features: frozenset[Feature]
    monthly_tool_calls: int
    calls_per_minute: int
    max_customers: int
    max_members: int


def effective_config(plan: Plan, feature_overrides: dict[str, bool], quotas: QuotaOverrides) -> EffectiveConfig:
    defaults = PLANS[plan]
    features = set(defaults.features)
    for name, enabled in feature_overrides.items():
        if name in FEATURES:
            (features.add if enabled else features.discard)(name)
    return EffectiveConfig(
        plan=plan,
        features=frozenset(features),
        monthly_tool_calls=defaults.monthly_tool_calls
        if quotas.monthly_tool_calls is None
        else quotas.monthly_tool_calls,
        calls_per_minute=defaults.calls_per_minute if quotas.calls_per_minute is None else quotas.calls_per_minute,
        max_customers=defaults.max_customers if quotas.max_customers is None else quotas.max_customers,
        max_members=defaults.max_members if quotas.max_members is None else quotas.max_members,
    )


def cheapest_plan_with(feature: Feature) -> Plan | None:
    return next((plan for plan in PLAN_ORDER if feature in PLANS[plan].features), None)
