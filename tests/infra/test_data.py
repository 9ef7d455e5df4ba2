"""Tables: key schemas the local emulator also uses, and nothing that holds customer data can vanish."""

from __future__ import annotations

from tenantry_local.aws import TABLES
from tests.infra.conftest import Synth

ROLES = {
    "Data/Registry": "registry",
    "Data/Data": "data",
    "Data/Usage": "usage",
    "Data/Audit": "audit",
    # The authorization server's state and the memberships it reads (infra/constructs/auth.py).
    "Auth/State": "oauth",
    "Auth/Members": "members",
}


def test_key_schemas_match_the_local_tables(synth: Synth, custom: Synth) -> None:
    for variant in (synth, custom):
        for construct, role in ROLES.items():
            props = variant.raw["Resources"][variant.logical_id(construct)]["Properties"]
            assert props["KeySchema"] == TABLES[role]["KeySchema"], role
            assert props["AttributeDefinitions"] == TABLES[role]["AttributeDefinitions"], role
    assert set(ROLES.values()) == set(TABLES)  # every table the emulator creates is deployed
    cells = [custom.raw["Resources"][custom.logical_id(f"Data/DataCell{n}")]["Properties"] for n in (1, 2)]
    assert [c["TableName"] for c in cells] == ["tenantry-data-cell-1", "tenantry-data-cell-2"]
    assert all(c["KeySchema"] == TABLES["data"]["KeySchema"] for c in cells)


# Everything that holds customer data, decrypts it or proves who may read it.
RETAINED_TYPES = {"AWS::DynamoDB::Table", "AWS::KMS::Key", "AWS::Cognito::UserPool", "AWS::S3::Bucket"}


def test_retained_resources_survive_updates_and_deletes_but_not_a_failed_create(synth: Synth, custom: Synth) -> None:
    # RetainExceptOnCreate: a rolled-back first deploy deletes what it created, so running it again
    # does not fail on "already exists"; an update (replacement) or a stack delete keeps everything.
    for variant in (synth, custom):
        retained = {
            name: resource
            for name, resource in variant.raw["Resources"].items()
            if resource.get("DeletionPolicy", "Delete") != "Delete"
        }
        # The custom variant signs users in elsewhere: no user pool.
        expected = RETAINED_TYPES - ({"AWS::Cognito::UserPool"} if variant is custom else set())
        assert {r["Type"] for r in retained.values()} == expected
        for name, resource in retained.items():
            assert resource["DeletionPolicy"] == "RetainExceptOnCreate", name
            assert resource["UpdateReplacePolicy"] == "Retain", name
        for type_ in RETAINED_TYPES:
            for name in variant.resources(type_):
                assert name in retained, f"{name} ({type_}) would be deleted with the stack"


def test_deletion_protection_is_off_until_asked_so_a_failed_create_can_roll_back(synth: Synth, custom: Synth) -> None:
    # A protected table or pool refuses CloudFormation's own delete, which a create rollback needs.
    for variant, protected in ((synth, False), (custom, True)):
        for name, table in variant.resources("AWS::DynamoDB::Table").items():
            assert table["Properties"]["DeletionProtectionEnabled"] is protected, name
    (pool,) = synth.resources("AWS::Cognito::UserPool").values()
    assert pool["Properties"]["DeletionProtection"] == "INACTIVE"


def test_every_table_is_recoverable_encrypted_and_on_demand(custom: Synth) -> None:
    tables = custom.resources("AWS::DynamoDB::Table")
    assert len(tables) == 8  # registry, data + 2 cells, usage, audit, oauth state, members
    for name, table in tables.items():
        props = table["Properties"]
        assert props["BillingMode"] == "PAY_PER_REQUEST", name
        assert props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True, name
        assert props["SSESpecification"]["SSEEnabled"] is True, name


def test_usage_audit_and_oauth_state_age_out_through_expires_at(synth: Synth) -> None:
    # The OAuth state's codes, sessions, spent refresh tokens and unused clients all carry expires_at.
    for construct in ("Data/Usage", "Data/Audit", "Auth/State"):
        props = synth.raw["Resources"][synth.logical_id(construct)]["Properties"]
        assert props["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    for construct in ("Data/Registry", "Data/Data", "Auth/Members"):
        assert "TimeToLiveSpecification" not in synth.raw["Resources"][synth.logical_id(construct)]["Properties"]
    assert synth.raw["Resources"][synth.logical_id("Auth/State")]["Properties"]["TableName"] == "tenantry-oauth"
    assert synth.raw["Resources"][synth.logical_id("Auth/Members")]["Properties"]["TableName"] == "tenantry-members"


def test_secrets_key_rotates_and_outlives_the_stack(synth: Synth) -> None:
    key = synth.raw["Resources"][synth.logical_id("Secrets/Key")]
    assert key["Properties"]["EnableKeyRotation"] is True
    assert key["DeletionPolicy"] == "RetainExceptOnCreate"


def test_branding_bucket_is_private_tls_only_encrypted_and_retained(synth: Synth) -> None:
    (bucket,) = synth.resources("AWS::S3::Bucket").values()
    assert bucket["DeletionPolicy"] == "RetainExceptOnCreate"
    assert bucket["Properties"]["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert bucket["Properties"]["BucketEncryption"]["ServerSideEncryptionConfiguration"][0][
        "ServerSideEncryptionByDefault"
    ] == {"SSEAlgorithm": "AES256"}
    (policy,) = synth.resources("AWS::S3::BucketPolicy").values()
    (deny,) = policy["Properties"]["PolicyDocument"]["Statement"]
    assert deny["Effect"] == "Deny"
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_noncurrent_branding_versions_expire(synth: Synth) -> None:
    from infra.constructs.branding import NONCURRENT_DAYS

    (bucket,) = synth.resources("AWS::S3::Bucket").values()
    assert bucket["Properties"]["VersioningConfiguration"] == {"Status": "Enabled"}
    (rule,) = bucket["Properties"]["LifecycleConfiguration"]["Rules"]
    assert rule["Status"] == "Enabled"
    assert rule["NoncurrentVersionExpiration"] == {"NoncurrentDays": NONCURRENT_DAYS}
    assert rule["ExpiredObjectDeleteMarker"] is True
