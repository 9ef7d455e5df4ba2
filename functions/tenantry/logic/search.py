"""`search` and `fetch` over the current tenant's customers (OpenAI's connector convention).

ChatGPT's knowledge and deep-research connectors call two tools by these names:
search(query) -> results of {id, title, url}, then fetch(id) -> {id, title, text, url, metadata}.
Both read through the same tenant-scoped store as every other customer tool, so they can
only ever see the signed-in tenant's customers.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field

from tenantry.dal.customers import CustomerRecord, CustomerStore
from tenantry.lazymodels import BUILT_WHEN_USED
from tenantry.tenancy.context import current_tenant

__all__ = ["SEARCH_RESULTS_MAX", "SEARCH_SCAN_MAX", "FetchedCustomer", "SearchHit", "SearchResults", "SearchService"]

# There is no search index: a query scans up to this many customers (id order) and says so when it stopped early.
SEARCH_SCAN_MAX = 5_000
SEARCH_RESULTS_MAX = 20

Query = Annotated[str, Field(min_length=1, max_length=200, description="Words to look for in names, e-mails, notes.")]


class SearchHit(BaseModel):
    model_config = BUILT_WHEN_USED
    id: str = Field(description="Pass to fetch to get the whole record.")
    title: str
    url: str = Field(description="Identifies the record for citations; Tenantry has no web page per customer.")


class SearchResults(BaseModel):
    model_config = BUILT_WHEN_USED
    results: list[SearchHit]
    truncated: bool = Field(default=False, description="True if only the first 5,000 customers were searched.")


class FetchedCustomer(BaseModel):
    model_config = BUILT_WHEN_USED
    id: str
    title: str
    text: str
    url: str
    metadata: dict[str, str] = Field(default_factory=dict)


def customer_url(customer_id: str) -> str:
    return f"tenantry://customers/{customer_id}"


def _haystack(record: CustomerRecord) -> str:
    parts = [record.customer_id, record.name, record.email, record.phone, record.notes, record.membership]
    return " ".join(part for part in parts if part).casefold()


class SearchService:
    def __init__(self, store: CustomerStore) -> None:
        self._store = store

    def search(self, query: str) -> SearchResults:
        """Customers whose details contain every word of the query, at most 20, in id order."""
        words = query.casefold().split()
        records, truncated = self._store.all(current_tenant(), SEARCH_SCAN_MAX)
        hits = [r for r in records if words and all(word in _haystack(r) for word in words)]
        return SearchResults(
            results=[
                SearchHit(id=r.customer_id, title=r.name, url=customer_url(r.customer_id))
                for r in hits[:SEARCH_RESULTS_MAX]
            ],
            truncated=truncated,
        )

    def fetch(self, customer_id: str) -> FetchedCustomer:
        record = self._store.get(current_tenant(), customer_id)
        lines = [f"Name: {record.name}", f"Membership: {record.membership.replace('_', ' ')}"]
        lines += [f"{label}: {value}" for label, value in (("Email", record.email), ("Phone", record.phone)) if value]
        lines.append(f"Customer since: {record.created_at[:10]}")
        if record.notes:
            lines.append(f"Notes: {record.notes}")
        return FetchedCustomer(
            id=record.customer_id,
            title=record.name,
            text="\n".join(lines),
            url=customer_url(record.customer_id),
            metadata={
                "membership": record.membership,
                "created_at": record.created_at,
                "updated_at": record.updated_at,
                "version": str(record.version),
            },
        )
