"""Every AWS request an operator command makes with the operator's own credentials, as IAM sees it.

botocore's event hooks on the command's session: `provide-client-params` keeps the caller's
parameters, `before-call` (which also gets the request signer) records them with the credentials
that sign the request. Calls a command makes as a tenant (the tenant access role's sessions, for
offboarding and secrets) are signed with other keys and left out: the tenant role's own policy
covers them (tests/infra/test_policy_evaluation.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import botocore.session

__all__ = ["OperatorRequest", "Recorder", "iam_requests"]


@dataclass(frozen=True)
class OperatorRequest:
    command: str
    service: str
    operation: str
    params: tuple[tuple[str, str], ...]  # the identifying parameters only (table, role, stack)

    def param(self, name: str) -> str:
        return dict(self.params).get(name, "")


_IDENTIFYING = ("TableName", "RoleArn", "StackName", "FunctionName", "ResourceArn", "IndexName")


class Recorder:
    def __init__(self) -> None:
        self.requests: list[OperatorRequest] = []
        self.command = ""

    def attach(self, session: botocore.session.Session) -> None:
        operator_key = session.get_credentials().access_key

        def keep_params(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
            context["tenantry_recorded_params"] = dict(params)

        def record(model: Any, request_signer: Any, context: dict[str, Any], **_: Any) -> None:
            credentials = getattr(request_signer, "_credentials", None)
            if credentials is None or credentials.access_key != operator_key:
                return  # a tenant session's request (assumed role), or an unsigned one
            params = context.get("tenantry_recorded_params", {})
            self._add(model.service_model.endpoint_prefix, model.name, params)

        session.register("provide-client-params", keep_params)
        session.register("before-call", record)

    def _add(self, service: str, operation: str, params: dict[str, Any]) -> None:
        if service == "dynamodb" and operation in {"TransactWriteItems", "BatchWriteItem", "BatchGetItem"}:
            # IAM authorizes each item of a batch or transaction as its own action on its own table.
            for inner, item_params in _expand(operation, params):
                self._add(service, inner, item_params)
            return
        kept = tuple((k, str(params[k])) for k in _IDENTIFYING if k in params)
        self.requests.append(OperatorRequest(self.command, service, operation, kept))
        # Tags on a request are authorized as an action of their own.
        tagging = {("dynamodb", "CreateTable"): "TagResource", ("sts", "AssumeRole"): "TagSession"}
        if params.get("Tags") and (service, operation) in tagging:
            self.requests.append(OperatorRequest(self.command, service, tagging[service, operation], kept))


def _expand(operation: str, params: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    if operation == "TransactWriteItems":
        names = {
            "Put": "PutItem",
            "Update": "UpdateItem",
            "Delete": "DeleteItem",
            "ConditionCheck": "ConditionCheckItem",
        }
        for item in params.get("TransactItems", []):
            ((kind, body),) = item.items()
            yield names[kind], {"TableName": body["TableName"]}
    elif operation == "BatchWriteItem":
        for table, writes in params.get("RequestItems", {}).items():
            for write in writes:
                yield ("PutItem" if "PutRequest" in write else "DeleteItem"), {"TableName": table}
    else:
        for table in params.get("RequestItems", {}):
            yield "BatchGetItem", {"TableName": table}


# The IAM action of an API operation where the two names differ.
_ACTIONS = {("sts", "GetCallerIdentity"): None}


def iam_requests(requests: list[OperatorRequest]) -> set[tuple[str, str, str]]:
    """(IAM action, the resource's kind, its name) for each request that IAM authorizes."""
    out = set()
    for request in requests:
        action = _ACTIONS.get((request.service, request.operation), f"{request.service}:{request.operation}")
        if action is None:
            continue  # GetCallerIdentity needs no permission
        if request.service == "dynamodb":
            # Tagging requests name the table by ARN (arn:...:table/NAME).
            name = request.param("TableName") or request.param("ResourceArn").rpartition(":table/")[2]
            index = request.param("IndexName")
            out.add((action, "table", f"{name}/index/{index}" if index else name))
        elif request.service == "sts":
            out.add((action, "role", request.param("RoleArn")))
        elif request.service == "cloudformation":
            out.add((action, "stack", request.param("StackName")))
        else:
            out.add((action, "*", ""))
    return out
