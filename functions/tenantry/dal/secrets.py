"""Per-tenant integration secrets, encrypted with KMS under {tenant_id, secret_name}.

The encryption context binds each ciphertext to its tenant and name: KMS
refuses to decrypt it under any other context, and IAM lets a tenant's
credentials use the key only with its own tenant_id in the context. So a
ciphertext copied into another tenant's partition is useless there.
Plaintext never leaves this module except to the code that uses the secret.
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError
from pydantic import BaseModel

from tenantry.dal.items import from_attrs, to_attrs
from tenantry.dal.keys import PK, SK, secret_key, secret_prefix
from tenantry.errors import (
    ConflictError,
    InvalidInputError,
    NotFoundError,
    SecretUnavailableError,
    aws_error_code,
)
from tenantry.isolation.clients import TenantClients
from tenantry.lazymodels import BUILT_WHEN_USED
from tenantry.tenancy.context import TenantContext

__all__ = ["SECRET_NAME_PATTERN", "SecretInfo", "SecretStore", "SecretUnavailableError"]

SECRET_NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
MAX_SECRET_BYTES = 4096  # KMS Encrypt takes at most 4 KiB of plaintext


class SecretInfo(BaseModel):
    """What may be shown about a secret: never its value."""

    model_config = BUILT_WHEN_USED

    name: str
    fingerprint: str
    version: int
    updated_at: str


def _fingerprint(value: str) -> str:
    return "sha256:" + hashlib.sha256(value.encode()).hexdigest()[:12]


def _check_name(name: str) -> str:
    if not SECRET_NAME_PATTERN.fullmatch(name):
        raise InvalidInputError(
            "A secret name is 1-64 characters: a lower-case letter, then lower-case letters, digits or '_'."
        )
    return name


class SecretStore:
    def __init__(self, clients: TenantClients, key_id: str) -> None:
        self._clients = clients
        self._key_id = key_id

    def set(self, tenant: TenantContext, name: str, value: str, *, rotate: bool = False) -> SecretInfo:
        """Create (rotate=False: must not exist) or rotate (rotate=True: must exist)."""
        _check_name(name)
        data = value.encode()
        if not data or len(data) > MAX_SECRET_BYTES:
            raise InvalidInputError(f"A secret value must be 1 to {MAX_SECRET_BYTES} bytes.")
        ciphertext = self._clients.kms(tenant).encrypt(
            KeyId=self._key_id, Plaintext=data, EncryptionContext=self._context(tenant, name)
        )["CiphertextBlob"]
        now = datetime.now(UTC).isoformat(timespec="seconds")
        condition = "attribute_exists(#pk)" if rotate else "attribute_not_exists(#pk)"
        try:
            response = self._clients.dynamodb(tenant).update_item(
                TableName=tenant.data_table,
                Key=to_attrs(secret_key(tenant, name)),
                UpdateExpression="SET ciphertext = :c, fingerprint = :f, updated_at = :u, #n = :n ADD version :one",
                ConditionExpression=condition,
                ExpressionAttributeNames={"#pk": PK, "#n": "name"},
                ExpressionAttributeValues=to_attrs(
                    {":c": ciphertext, ":f": _fingerprint(value), ":u": now, ":n": name, ":one": 1}
                ),
                ReturnValues="ALL_NEW",
            )
        except ClientError as exc:
            if aws_error_code(exc) != "ConditionalCheckFailedException":
                raise
            if rotate:
                raise NotFoundError(f"No secret named '{name}' to rotate; set it first.") from None
            raise ConflictError(f"A secret named '{name}' exists already; rotate it instead.") from None
        return self._info(response["Attributes"])

    def reveal(self, tenant: TenantContext, name: str) -> str:
        """The plaintext, for code that uses it (a webhook call); never for a model or a log."""
        item = self._item(tenant, name)
        try:
            plaintext = self._clients.kms(tenant).decrypt(
                CiphertextBlob=bytes(item["ciphertext"]),
                EncryptionContext=self._context(tenant, name),
                KeyId=self._key_id,
            )["Plaintext"]
        except ClientError as exc:
            code = aws_error_code(exc)
            if code in ("InvalidCiphertextException", "AccessDeniedException", "IncorrectKeyException"):
                raise SecretUnavailableError(
                    f"The secret '{name}' cannot be decrypted for your organisation; set it again."
                ) from None
            raise
        return bytes(plaintext).decode()

    def list(self, tenant: TenantContext) -> list[SecretInfo]:
        partition, prefix = secret_prefix(tenant)
        response = self._clients.dynamodb(tenant).query(
            TableName=tenant.data_table,
            KeyConditionExpression="#pk = :pk AND begins_with(#sk, :prefix)",
            ExpressionAttributeNames={"#pk": PK, "#sk": SK},
            ExpressionAttributeValues=to_attrs({":pk": partition, ":prefix": prefix}),
        )
        return [self._info(item) for item in response.get("Items", [])]

    def delete(self, tenant: TenantContext, name: str) -> None:
        _check_name(name)
        try:
            self._clients.dynamodb(tenant).delete_item(
                TableName=tenant.data_table,
                Key=to_attrs(secret_key(tenant, name)),
                ConditionExpression="attribute_exists(#pk)",
                ExpressionAttributeNames={"#pk": PK},
            )
        except ClientError as exc:
            if aws_error_code(exc) == "ConditionalCheckFailedException":
                raise NotFoundError(f"No secret named '{name}'.") from None
            raise

    def _item(self, tenant: TenantContext, name: str) -> dict[str, Any]:
        _check_name(name)
        item = (
            self._clients.dynamodb(tenant)
            .get_item(TableName=tenant.data_table, Key=to_attrs(secret_key(tenant, name)), ConsistentRead=True)
            .get("Item")
        )
        if not item:
            raise NotFoundError(f"No secret named '{name}' is set for your organisation.")
        return from_attrs(item)

    @staticmethod
    def _context(tenant: TenantContext, name: str) -> dict[str, str]:
        return {"tenant_id": tenant.tenant_id, "secret_name": name}

    @staticmethod
    def _info(item: dict[str, Any]) -> SecretInfo:
        values = from_attrs(item) if "pk" in item and isinstance(item["pk"], dict) else item
        return SecretInfo(
            name=values["name"],
            fingerprint=values["fingerprint"],
            version=int(values["version"]),
            updated_at=values["updated_at"],
        )
