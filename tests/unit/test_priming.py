"""Init warms the clients without sending anything, and leaves them sending for real afterwards."""

from __future__ import annotations

import botocore.session
import pytest
from botocore.config import Config
from botocore.exceptions import EndpointConnectionError

from tenantry.mcp_server.services import Services
from tests.examples import EXAMPLE_SETTINGS

# Nothing listens on the discard port: any request that leaves the process fails at once.
NOWHERE = "http://127.0.0.1:9"

SETTINGS = EXAMPLE_SETTINGS


@pytest.fixture
def services(monkeypatch: pytest.MonkeyPatch) -> Services:
    monkeypatch.setenv("AWS_ENDPOINT_URL", NOWHERE)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    return Services.create(SETTINGS, session=_session())


def _session() -> botocore.session.Session:
    session = botocore.session.get_session()
    session.set_config_variable("region", "us-east-1")
    return session


def test_init_priming_sends_nothing(services: Services) -> None:
    services.load_models()
    services.prime_clients()  # would raise EndpointConnectionError if a request left the process
    assert services.credentials.assumed == 0


def test_clients_send_for_real_after_priming(services: Services) -> None:
    services.prime_clients()
    client = services.session.create_client("dynamodb", config=Config(retries={"max_attempts": 1}))
    for target in (services.dynamodb, client):
        with pytest.raises(EndpointConnectionError):
            target.get_item(TableName="registry", Key={"tenant_id": {"S": "x"}})
    with pytest.raises(EndpointConnectionError):
        services.credentials.sts_client.get_caller_identity()


@pytest.mark.parametrize(("tenant_like", "built"), [(True, 1), (False, 0)])
def test_an_on_demand_init_builds_no_throwaway_tenant_client(
    services: Services, monkeypatch: pytest.MonkeyPatch, tenant_like: bool, built: int
) -> None:
    """On demand, the first call builds its tenant's client anyway: a primed throwaway one only adds to the wait."""
    created: list[str] = []
    create = services.session.create_client

    def counting(service: str, *args: object, **kwargs: object) -> object:
        created.append(service)
        return create(service, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(services.session, "create_client", counting)
    services.prime_clients(tenant_like=tenant_like)
    assert created == ["dynamodb"] * built
