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


def test_every_table_is_retained_protected_recoverable_encrypted_and_on_demand(custom: Synth) -> None:
    tables = custom.resources("AWS::DynamoDB::Table")
    assert len(tables) == 8  # registry, data + 2 cells, usage, audit, oauth state, members
    for name, table in tables.items():
        assert table["DeletionPolicy"] == "Retain", name
        assert table["UpdateReplacePolicy"] == "Retain", name
        props = table["Properties"]
        assert props["DeletionProtectionEnabled"] is True, name
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
    assert key["DeletionPolicy"] == "Retain"


def test_branding_bucket_is_private_tls_only_encrypted_and_retained(synth: Synth) -> None:
    (bucket,) = synth.resources("AWS::S3::Bucket").values()
    assert bucket["DeletionPolicy"] == "Retain"
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
