"""The synthesized template's policies, with every intrinsic resolved to a concrete value.

CloudFormation would substitute Ref / Fn::GetAtt / Fn::Join / Fn::Sub at deploy time; here they are
resolved for one made-up account and region, the way AWS names each resource type, so a policy
evaluator can compare real ARNs. Anything this module cannot resolve (an unknown intrinsic, a
missing resource, a managed policy whose text is not known) raises PolicyNotFound: a proof that
silently skipped a policy would prove nothing.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

ACCOUNT = "123456789012"  # the account the custom context's e2e and operator ARNs name
REGION = "eu-west-1"
PARTITION = "aws"
STACK_NAME = "Tenantry"

# AWS-managed policies a role in the template may attach, by ARN suffix, with their text.
KNOWN_MANAGED_POLICIES: dict[str, dict[str, Any]] = {
    "service-role/AWSLambdaBasicExecutionRole": {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
                "Resource": "*",
            }
        ],
    },
}


class PolicyNotFound(LookupError):
    """A policy, resource or intrinsic the evaluation needs is not in the template (fail closed)."""


def _arn(service: str, resource: str, region: str = REGION, account: str = ACCOUNT) -> str:
    return f"arn:{PARTITION}:{service}:{region}:{account}:{resource}"


@dataclass
class Role:
    logical_id: str
    name: str
    arn: str
    identity: list[dict[str, Any]]
    trust: dict[str, Any]

    def session_arn(self, session: str) -> str:
        return f"arn:{PARTITION}:sts::{ACCOUNT}:assumed-role/{self.name}/{session}"


@dataclass
class StackPolicies:
    """Every policy the isolation proof consults, resolved, keyed by logical id."""

    raw: dict[str, Any]
    roles: dict[str, Role] = field(default_factory=dict)
    tables: dict[str, str] = field(default_factory=dict)  # logical id -> table ARN
    table_policies: dict[str, dict[str, Any]] = field(default_factory=dict)
    keys: dict[str, str] = field(default_factory=dict)  # logical id -> key ARN
    key_policies: dict[str, dict[str, Any]] = field(default_factory=dict)
    buckets: dict[str, str] = field(default_factory=dict)  # logical id -> bucket name
    bucket_policies: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def from_template(cls, template: dict[str, Any]) -> StackPolicies:
        resolver = Resolver(template)
        model = cls(raw=template)
        resources = template.get("Resources", {})
        for logical_id, resource in resources.items():
            type_, props = resource.get("Type"), resource.get("Properties", {})
            if type_ == "AWS::DynamoDB::Table":
                model.tables[logical_id] = resolver.get_att(logical_id, "Arn")
                policy = props.get("ResourcePolicy")
                if policy is not None:
                    model.table_policies[logical_id] = resolver.resolve(policy["PolicyDocument"])
            elif type_ == "AWS::KMS::Key":
                model.keys[logical_id] = resolver.get_att(logical_id, "Arn")
                if "KeyPolicy" not in props:
                    raise PolicyNotFound(f"{logical_id}: a KMS key without a KeyPolicy")
                model.key_policies[logical_id] = resolver.resolve(props["KeyPolicy"])
            elif type_ == "AWS::S3::Bucket":
                model.buckets[logical_id] = resolver.ref(logical_id)
        for logical_id, resource in resources.items():
            if resource.get("Type") == "AWS::S3::BucketPolicy":
                bucket = resource["Properties"]["Bucket"]
                bucket_id = bucket.get("Ref") if isinstance(bucket, dict) else None
                if bucket_id not in model.buckets:
                    raise PolicyNotFound(f"{logical_id}: bucket policy for a bucket not in the template: {bucket}")
                model.bucket_policies[bucket_id] = resolver.resolve(resource["Properties"]["PolicyDocument"])
        for logical_id, resource in resources.items():
            if resource.get("Type") == "AWS::IAM::Role":
                model.roles[logical_id] = _role(resolver, logical_id, resource["Properties"])
        return model

    def role(self, logical_id: str) -> Role:
        if logical_id not in self.roles:
            raise PolicyNotFound(f"role {logical_id} is not in the template")
        return self.roles[logical_id]

    def table_arn(self, logical_id: str) -> str:
        if logical_id not in self.tables:
            raise PolicyNotFound(f"table {logical_id} is not in the template")
        return self.tables[logical_id]

    def key(self, logical_id: str) -> tuple[str, dict[str, Any]]:
        if logical_id not in self.keys:
            raise PolicyNotFound(f"KMS key {logical_id} is not in the template")
        return self.keys[logical_id], self.key_policies[logical_id]

    def bucket(self, logical_id: str) -> tuple[str, dict[str, Any] | None]:
        if logical_id not in self.buckets:
            raise PolicyNotFound(f"bucket {logical_id} is not in the template")
        return self.buckets[logical_id], self.bucket_policies.get(logical_id)


def _role(resolver: Resolver, logical_id: str, props: dict[str, Any]) -> Role:
    identity: list[dict[str, Any]] = []
    for inline in props.get("Policies", []):
        identity.append(resolver.resolve(inline["PolicyDocument"]))
    for managed in props.get("ManagedPolicyArns", []):
        arn = resolver.resolve(managed)
        suffix = arn.split(":policy/", 1)[-1]
        if ":aws:policy/" not in arn or suffix not in KNOWN_MANAGED_POLICIES:
            raise PolicyNotFound(f"{logical_id}: managed policy {arn} has no known text (add it to the model)")
        identity.append(KNOWN_MANAGED_POLICIES[suffix])
    if props.get("PermissionsBoundary"):
        raise PolicyNotFound(f"{logical_id}: permission boundaries are not modelled")
    for resource in resolver.resources.values():
        if resource.get("Type") in {"AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"}:
            attached = resource["Properties"].get("Roles", [])
            if {"Ref": logical_id} in attached:
                identity.append(resolver.resolve(resource["Properties"]["PolicyDocument"]))
    return Role(
        logical_id=logical_id,
        name=resolver.ref(logical_id),
        arn=resolver.get_att(logical_id, "Arn"),
        identity=identity,
        trust=resolver.resolve(props["AssumeRolePolicyDocument"]),
    )


_PSEUDO = {
    "AWS::AccountId": ACCOUNT,
    "AWS::Region": REGION,
    "AWS::Partition": PARTITION,
    "AWS::URLSuffix": "amazonaws.com",
    "AWS::StackName": STACK_NAME,
}


class Resolver:
    def __init__(self, template: dict[str, Any]) -> None:
        self.resources: dict[str, Any] = template.get("Resources", {})

    def _resource(self, logical_id: str) -> tuple[str, dict[str, Any]]:
        if logical_id not in self.resources:
            raise PolicyNotFound(f"{logical_id} is referenced but not in the template")
        resource = self.resources[logical_id]
        return resource["Type"], resource.get("Properties", {})

    def _name(self, logical_id: str, prop: str, lower: bool = False) -> str:
        _, props = self._resource(logical_id)
        if prop in props:
            return str(self.resolve(props[prop]))
        return logical_id.lower() if lower else logical_id

    def ref(self, logical_id: str) -> str:
        if logical_id in _PSEUDO:
            return _PSEUDO[logical_id]
        type_, _ = self._resource(logical_id)
        names: dict[str, Callable[[], str]] = {
            "AWS::IAM::Role": lambda: self._name(logical_id, "RoleName"),
            "AWS::DynamoDB::Table": lambda: self._name(logical_id, "TableName"),
            "AWS::S3::Bucket": lambda: self._name(logical_id, "BucketName", lower=True),
            "AWS::KMS::Key": lambda: f"{logical_id.lower()}-0000-0000-0000-000000000000",
            "AWS::Logs::LogGroup": lambda: self._name(logical_id, "LogGroupName"),
            "AWS::Cognito::UserPool": lambda: f"{REGION}_{logical_id[:9]}",
            "AWS::Lambda::Function": lambda: self._name(logical_id, "FunctionName"),
            "AWS::SNS::Topic": lambda: _arn("sns", self._name(logical_id, "TopicName")),
            # A secret's Ref is its ARN (name plus the random suffix Secrets Manager adds).
            "AWS::SecretsManager::Secret": lambda: _arn("secretsmanager", f"secret:{logical_id}-AbCdEf"),
        }
        if type_ not in names:
            raise PolicyNotFound(f"Ref to {logical_id} ({type_}) is not modelled")
        return names[type_]()

    def get_att(self, logical_id: str, attribute: str) -> str:
        type_, _ = self._resource(logical_id)
        arns: dict[tuple[str, str], Callable[[], str]] = {
            ("AWS::IAM::Role", "Arn"): lambda: f"arn:{PARTITION}:iam::{ACCOUNT}:role/{self.ref(logical_id)}",
            ("AWS::DynamoDB::Table", "Arn"): lambda: _arn("dynamodb", f"table/{self.ref(logical_id)}"),
            ("AWS::S3::Bucket", "Arn"): lambda: f"arn:{PARTITION}:s3:::{self.ref(logical_id)}",
            ("AWS::KMS::Key", "Arn"): lambda: _arn("kms", f"key/{self.ref(logical_id)}"),
            ("AWS::Logs::LogGroup", "Arn"): lambda: _arn("logs", f"log-group:{self.ref(logical_id)}:*"),
            ("AWS::Cognito::UserPool", "Arn"): lambda: _arn("cognito-idp", f"userpool/{self.ref(logical_id)}"),
            ("AWS::Lambda::Function", "Arn"): lambda: _arn("lambda", f"function:{self.ref(logical_id)}"),
        }
        if (type_, attribute) not in arns:
            raise PolicyNotFound(f"Fn::GetAtt {logical_id}.{attribute} ({type_}) is not modelled")
        return arns[(type_, attribute)]()

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, arg),) = value.items()
            if key == "Ref":
                return self.ref(arg)
            if key == "Fn::GetAtt":
                logical_id, attribute = arg if isinstance(arg, list) else arg.split(".", 1)
                return self.get_att(logical_id, attribute)
            if key == "Fn::Join":
                separator, parts = arg
                return separator.join(str(self.resolve(p)) for p in self.resolve(parts))
            if key == "Fn::Sub":
                text, variables = (arg, {}) if isinstance(arg, str) else arg
                return self._sub(text, {k: self.resolve(v) for k, v in variables.items()})
            if key.startswith("Fn::") or key == "Condition":
                raise PolicyNotFound(f"intrinsic {key} is not modelled: {value}")
        return {k: self.resolve(v) for k, v in value.items()}

    def _sub(self, text: str, variables: dict[str, Any]) -> str:
        def one(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in variables:
                return str(variables[name])
            if name in _PSEUDO:
                return _PSEUDO[name]
            if "." in name:
                logical_id, attribute = name.split(".", 1)
                return self.get_att(logical_id, attribute)
            if name in self.resources:
                return self.ref(name)
            raise PolicyNotFound(f"Fn::Sub variable ${{{name}}} is not modelled")

        return re.sub(r"\$\{([^}]+)\}", one, text)


def mutated(template: dict[str, Any], change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    """A deep copy of the template with `change` applied: the original stays as synthesized."""
    copied = copy.deepcopy(template)
    change(copied)
    return copied
