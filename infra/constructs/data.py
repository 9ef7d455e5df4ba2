"""DynamoDB tables: tenant registry, pooled tenant data (plus cells), usage and audit.

Silo tables (`<prefix>-silo-<tenant_id>`) are created by the operator CLI when a
tenant on a silo plan is onboarded, not here; tenant_access.py grants on their name pattern.
"""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as ddb
from constructs import Construct

__all__ = ["KEEP", "TenantData", "retained_table"]

_S = ddb.AttributeType.STRING

# CloudFormation's RetainExceptOnCreate: kept when the stack is updated (replacement) or deleted, but
# deleted when the deploy that created it rolls back. A failed first deploy then leaves nothing behind
# and can simply be run again; with plain Retain the next attempt failed on the fixed names ("already
# exists"). Every resource holding customer data or what decrypts or proves it uses this.
KEEP = RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE


class TenantData(Construct):
    def __init__(
        self, scope: Construct, id: str, *, name_prefix: str, cells: int, deletion_protection: bool = False
    ) -> None:
        super().__init__(scope, id)
        self.name_prefix = name_prefix
        self.deletion_protection = deletion_protection
        self.registry = self._table("Registry", f"{name_prefix}-tenants", ddb.Attribute(name="tenant_id", type=_S))
        # pk is exactly the tenant id, so IAM's dynamodb:LeadingKeys can pin a session to one tenant.
        self.data = self._tenant_table("Data", f"{name_prefix}-data")
        # Cell 0 is the data table; cells 1..N-1 are more pooled tables of the same shape.
        self.cells = [self.data] + [
            self._tenant_table(f"DataCell{n}", f"{name_prefix}-data-cell-{n}") for n in range(1, cells)
        ]
        self.usage = self._tenant_table("Usage", f"{name_prefix}-usage", ttl="expires_at")
        self.audit = self._tenant_table("Audit", f"{name_prefix}-audit", ttl="expires_at")
        self.silo_table_prefix = f"{name_prefix}-silo-"

    @property
    def tenant_tables(self) -> list[ddb.Table]:
        """Tables the tenant access role reaches (never the function role)."""
        return list(self.cells)

    def _tenant_table(self, id: str, name: str, ttl: str | None = None) -> ddb.Table:
        return self._table(id, name, ddb.Attribute(name="pk", type=_S), ddb.Attribute(name="sk", type=_S), ttl)

    def _table(
        self,
        id: str,
        name: str,
        partition_key: ddb.Attribute,
        sort_key: ddb.Attribute | None = None,
        ttl: str | None = None,
    ) -> ddb.Table:
        return retained_table(self, id, name, partition_key, sort_key, ttl, self.deletion_protection)


def retained_table(
    scope: Construct,
    id: str,
    name: str,
    partition_key: ddb.Attribute,
    sort_key: ddb.Attribute | None = None,
    ttl: str | None = None,
    deletion_protection: bool = False,
) -> ddb.Table:
    """On demand, encrypted, recoverable; kept when the stack goes (not when its creation rolls back).

    Deletion protection (the `deletion_protection` context value) also refuses CloudFormation's own
    DeleteTable, so while it is on a failed creating deploy cannot roll its tables back: it is off
    until the first deploy has succeeded (docs/deploy.md, "Retries, teardown and deletion protection").
    """
    # Every table holds customer data or its history (the authorization server's: sign-ins and grants).
    return ddb.Table(
        scope,
        id,
        table_name=name,
        partition_key=partition_key,
        sort_key=sort_key,
        billing_mode=ddb.BillingMode.PAY_PER_REQUEST,
        point_in_time_recovery_specification=ddb.PointInTimeRecoverySpecification(point_in_time_recovery_enabled=True),
        encryption=ddb.TableEncryption.AWS_MANAGED,
        deletion_protection=deletion_protection,
        removal_policy=KEEP,
        time_to_live_attribute=ttl,
    )
