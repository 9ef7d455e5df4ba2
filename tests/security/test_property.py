"""Property: any interleaving of operations by several tenants leaves each tenant's view
equal to a model of that tenant's own operations, whatever the others did.

Driven through the service layer in process (CustomerService in a tenant_scope, the
production store, assumed credentials and guard, against moto) for speed. The three
tenants share one id space on purpose, so every id collides across tenants; two share
the pooled table and the third is placed in another cell.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tenantry.errors import ConflictError, NotFoundError
from tenantry.logic.customers import CustomerChanges, CustomerFields
from tenantry.tenancy.context import tenant_scope
from tenantry_local.platform import LocalPlatform
from tests.conftest import context_for
from tests.security.conftest import make_tenant

IDS = ["c1", "c2", "c3", "c4"]
TENANTS = 3

operation = st.one_of(
    st.tuples(st.just("create"), st.integers(0, TENANTS - 1), st.sampled_from(IDS), st.text("abcxyz", min_size=1)),
    st.tuples(st.just("update"), st.integers(0, TENANTS - 1), st.sampled_from(IDS), st.text("abcxyz", min_size=1)),
    st.tuples(st.just("delete"), st.integers(0, TENANTS - 1), st.sampled_from(IDS), st.none()),
    st.tuples(st.just("get"), st.integers(0, TENANTS - 1), st.sampled_from(IDS), st.none()),
    st.tuples(st.just("list"), st.integers(0, TENANTS - 1), st.none(), st.integers(1, 3)),
)


@pytest.fixture(scope="module")
def tenants(platform: LocalPlatform) -> list[Any]:
    return [
        make_tenant(platform, plan="free"),
        make_tenant(platform, plan="starter"),
        make_tenant(platform, plan="business", placement={"mode": "cell", "cell": 1}),
    ]


def _list_all(service: Any, page_size: int) -> dict[str, str]:
    seen: dict[str, str] = {}
    cursor = None
    while True:
        page = service.list(limit=page_size, cursor=cursor)
        for customer in page.customers:
            assert customer.customer_id not in seen, "a page repeated a customer"
            seen[customer.customer_id] = customer.name
        cursor = page.next_cursor
        if not cursor:
            return seen


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(operations=st.lists(operation, min_size=1, max_size=25))
def test_v43_property_interleaved_tenants_each_see_only_their_own_model(
    platform: LocalPlatform, tenants: list[Any], operations: list[tuple[str, int, Any, Any]]
) -> None:
    service = platform.services.customers
    contexts = [context_for(record, platform) for record in tenants]
    for context in contexts:  # each example starts from empty tenants
        with tenant_scope(context):
            for customer_id in _list_all(service, 100):
                service.delete(customer_id)
    models: list[dict[str, str]] = [{} for _ in tenants]

    for kind, who, customer_id, arg in operations:
        model = models[who]
        with tenant_scope(contexts[who]):
            if kind == "create":
                if customer_id in model:
                    with pytest.raises(ConflictError):
                        service.create(CustomerFields(name=arg), customer_id)
                else:
                    assert service.create(CustomerFields(name=arg), customer_id).name == arg
                    model[customer_id] = arg
            elif kind == "update":
                if customer_id in model:
                    assert service.update(customer_id, CustomerChanges(name=arg)).name == arg
                    model[customer_id] = arg
                else:
                    with pytest.raises(NotFoundError):
                        service.update(customer_id, CustomerChanges(name=arg))
            elif kind == "delete":
                if customer_id in model:
                    assert service.delete(customer_id).customer_id == customer_id
                    del model[customer_id]
                else:
                    with pytest.raises(NotFoundError):
                        service.delete(customer_id)
            elif kind == "get":
                if customer_id in model:
                    assert service.get(customer_id).name == model[customer_id]
                else:
                    with pytest.raises(NotFoundError):
                        service.get(customer_id)
            else:
                assert _list_all(service, arg) == model

    for context, model in zip(contexts, models, strict=True):
        with tenant_scope(context):
            assert _list_all(service, 2) == model
