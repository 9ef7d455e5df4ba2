"""The S3 bucket for tenant branding assets (logos), one prefix per tenant: tenants/<tenant_id>/."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_s3 as s3
from constructs import Construct

from infra.nag import acknowledge

__all__ = ["BrandingBucket", "tenant_prefix_pattern"]


def tenant_prefix_pattern() -> str:
    """The key prefix a tenant session may touch; IAM substitutes the session's tenant tag."""
    return "tenants/${aws:PrincipalTag/tenant_id}/"


class BrandingBucket(Construct):
    def __init__(self, scope: Construct, id: str) -> None:
        super().__init__(scope, id)
        self.bucket = s3.Bucket(
            self,
            "Bucket",
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            encryption=s3.BucketEncryption.S3_MANAGED,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            versioned=True,
            removal_policy=RemovalPolicy.RETAIN,
        )
        acknowledge(
            self.bucket,
            "AwsSolutions-S1",
            "Branding holds tenants' public logos; writes go through the tenant role and are "
            "audited in the app's audit table, so a second access-log bucket adds cost without insight.",
        )
