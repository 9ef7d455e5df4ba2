"""Customer use cases for a studio: every call acts for the current tenant only."""

from __future__ import annotations

import csv
import io
import secrets
from collections import Counter
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from tenantry.dal.customers import CustomerRecord, CustomerStore, Membership
from tenantry.dal.keys import validate_entity_id
from tenantry.errors import InvalidInputError
from tenantry.lazymodels import BUILT_WHEN_USED
from tenantry.tenancy.context import current_tenant

__all__ = [
    "EMAIL_PATTERN",
    "MULTI_LINE_PATTERN",
    "ONE_LINE_PATTERN",
    "VERSION_MAX",
    "ClearableField",
    "Customer",
    "CustomerAnalytics",
    "CustomerChanges",
    "CustomerExport",
    "CustomerFields",
    "CustomerInsights",
    "CustomerPage",
    "CustomerService",
    "DeletedCustomer",
    "Email",
    "Name",
    "Notes",
    "Phone",
    "Version",
]

EMAIL_PATTERN = r"^[^@\s]{1,64}@[^@\s]{1,190}\.[^@\s]{1,63}$"
# Text is printable: no NUL or other control characters (C0, DEL, C1). Notes may hold line breaks and tabs.
ONE_LINE_PATTERN = r"^[^\x00-\x1f\x7f-\x9f]*$"
MULTI_LINE_PATTERN = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*$"
# A version far beyond any real count, and well inside DynamoDB's 38 significant digits.
VERSION_MAX = 10**12

# Constrained field types, shared by the models below and the tool signatures,
# so the JSON schema a client sees is the validation the server applies.
Name = Annotated[
    str, Field(min_length=1, max_length=200, pattern=ONE_LINE_PATTERN, description="Full name of the customer.")
]
Email = Annotated[str, Field(pattern=EMAIL_PATTERN, max_length=254, description="E-mail address.")]
Phone = Annotated[str, Field(pattern=r"^[0-9+()\-. ]{3,32}$", description="Phone number.")]
Notes = Annotated[
    str,
    Field(
        max_length=2000, pattern=MULTI_LINE_PATTERN, description="Free-text notes for staff (no control characters)."
    ),
]
Version = Annotated[
    int, Field(ge=1, le=VERSION_MAX, description="Only update if the customer is still at this version.")
]
# Optional fields update_customer can clear (a name cannot be cleared; membership clears to 'none').
ClearableField = Literal["email", "phone", "membership", "notes"]


class Customer(BaseModel):
    """A customer as tools show it (the public schema); built from the stored record."""

    customer_id: str
    name: str
    email: str | None = None
    phone: str | None = None
    membership: Membership = "none"
    notes: str | None = None
    created_at: str
    updated_at: str
    version: int = Field(default=1, description="Increases by one on every update.")

    @classmethod
    def of(cls, record: CustomerRecord) -> Customer:
        return cls.model_validate(record.model_dump(include=set(cls.model_fields)))


class CustomerPage(BaseModel):
    model_config = BUILT_WHEN_USED
    customers: list[Customer]
    next_cursor: str | None = Field(default=None, description="Pass back to get the next page; absent on the last.")


class CustomerFields(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, defer_build=True)  # lazymodels.py

    name: Name
    email: Email | None = None
    phone: Phone | None = None
    membership: Membership = "none"
    notes: Notes | None = None


class CustomerChanges(BaseModel):
    """Fields to change; a field set to null is cleared (name cannot be cleared)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, defer_build=True)  # lazymodels.py

    name: Name | None = None
    email: Email | None = None
    phone: Phone | None = None
    membership: Membership | None = None
    notes: Notes | None = None

    @classmethod
    def of(cls, given: dict[str, Any], clear: list[ClearableField] | None = None) -> CustomerChanges:
        """Changes from tool arguments: values given (None = not given) and fields named in `clear`."""
        both = sorted(name for name in clear or [] if given.get(name) is not None)
        if both:
            raise InvalidInputError(f"{', '.join(both)}: give a new value or clear it, not both.")
        return cls(**{k: v for k, v in given.items() if v is not None}, **dict.fromkeys(clear or []))

    def as_changes(self) -> dict[str, Any]:
        changes = {name: getattr(self, name) for name in self.model_fields_set}
        if "name" in changes and changes["name"] is None:
            raise InvalidInputError("A customer's name cannot be cleared; give a new name instead.")
        if "membership" in changes and changes["membership"] is None:
            changes["membership"] = "none"
        return changes


class DeletedCustomer(BaseModel):
    model_config = BUILT_WHEN_USED
    customer_id: str
    deleted: bool = True


class CustomerService:
    def __init__(self, store: CustomerStore, page_size_max: int = 100) -> None:
        self._store = store
        self._page_size_max = page_size_max

    def create(self, fields: CustomerFields, customer_id: str | None = None) -> Customer:
        tenant = current_tenant()
        new_id = validate_entity_id("customer", customer_id) if customer_id else "cus_" + secrets.token_hex(6)
        return Customer.of(self._store.create(tenant, new_id, fields.model_dump()))

    def get(self, customer_id: str) -> Customer:
        return Customer.of(self._store.get(current_tenant(), customer_id))

    def list(self, limit: int = 20, cursor: str | None = None) -> CustomerPage:
        if not 1 <= limit <= self._page_size_max:
            raise InvalidInputError(f"limit must be between 1 and {self._page_size_max}.")
        page = self._store.list(current_tenant(), limit, cursor or None)
        return CustomerPage(customers=[Customer.of(r) for r in page.records], next_cursor=page.next_cursor)

    def update(self, customer_id: str, changes: CustomerChanges, expected_version: int | None = None) -> Customer:
        values = changes.as_changes()
        if not values:
            raise InvalidInputError("Nothing to update: give at least one field to change.")
        return Customer.of(self._store.update(current_tenant(), customer_id, values, expected_version))

    def delete(self, customer_id: str) -> DeletedCustomer:
        removed = self._store.delete(current_tenant(), customer_id)
        return DeletedCustomer(customer_id=removed.customer_id)


class CustomerExport(BaseModel):
    model_config = BUILT_WHEN_USED
    format: str = "csv"
    rows: int
    truncated: bool
    csv: str


class MembershipCount(BaseModel):
    model_config = BUILT_WHEN_USED
    membership: str
    customers: int


class CustomerAnalytics(BaseModel):
    model_config = BUILT_WHEN_USED
    total_customers: int
    by_membership: list[MembershipCount]
    new_by_month: dict[str, int]
    with_email: int
    with_phone: int


EXPORT_MAX_ROWS = 5_000
ANALYTICS_MAX_ROWS = 50_000


class CustomerInsights:
    """The gated extras: a CSV export (professional+) and analytics (business)."""

    def __init__(self, store: CustomerStore) -> None:
        self._store = store

    def export(self) -> CustomerExport:
        customers, truncated = self._store.all(current_tenant(), EXPORT_MAX_ROWS)
        out = io.StringIO()
        writer = csv.writer(out)
        columns = ["customer_id", "name", "email", "phone", "membership", "created_at", "updated_at"]
        writer.writerow(columns)
        for customer in customers:
            row = customer.model_dump()
            # A leading =,+,-,@ would run as a formula when the file is opened in a spreadsheet.
            writer.writerow([_spreadsheet_safe(row[c]) for c in columns])
        return CustomerExport(rows=len(customers), truncated=truncated, csv=out.getvalue())

    def analytics(self) -> CustomerAnalytics:
        customers, _ = self._store.all(current_tenant(), ANALYTICS_MAX_ROWS)
        memberships = Counter(c.membership for c in customers)
        months = Counter(c.created_at[:7] for c in customers)
        return CustomerAnalytics(
            total_customers=len(customers),
            by_membership=[MembershipCount(membership=m, customers=n) for m, n in sorted(memberships.items())],
            new_by_month=dict(sorted(months.items())),
            with_email=sum(1 for c in customers if c.email),
            with_phone=sum(1 for c in customers if c.phone),
        )


def _spreadsheet_safe(value: Any) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text
