"""The S3 bucket for tenant branding assets (logos), one prefix per tenant: tenants/<tenant_id>/."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_s3 as s3
from constructs import Construct

from infra.constructs.data import KEEP
from infra.nag import acknowledge

__all__ = ["NONCURRENT_DAYS", "BrandingBucket", "tenant_prefix_pattern"]

# How long a replaced or deleted branding file stays recoverable as a noncurrent version.
NONCURRENT_DAYS = 30


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
            removal_policy=KEEP,
            # Versioning keeps a replaced or deleted logo as a noncurrent version: recoverable for a
            # while, then gone, so offboarding's deletes (which remove versions explicitly) and
            # ordinary replacements do not keep a tenant's files for ever.
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="ExpireNoncurrentVersions",
                    noncurrent_version_expiration=Duration.days(NONCURRENT_DAYS),
                    expired_object_delete_marker=True,
                    abort_incomplete_multipart_upload_after=Duration.days(1),
                )
            ],
        )
        acknowledge(
            self.bucket,
            "AwsSolutions-S1",
            "Branding holds tenants' public logos; writes go through the tenant role and are "
            "audited in the app's audit table, so a second access-log bucket adds cost without insight.",
        )
