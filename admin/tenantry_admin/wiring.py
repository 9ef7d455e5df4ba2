"""The operator's object graph: the stores admin commands act through, and nothing of the MCP server.

Built by the runtime's own factory (tenantry/stores.py), so an operator writes exactly what the
function reads, on the operator's own botocore session: the running local server's moto, or a
deployed stack's account.
"""

from __future__ import annotations

from dataclasses import dataclass

import botocore.session
from botocore.config import Config

from tenantry.settings import Settings
from tenantry.stores import Stores, open_stores

__all__ = ["OperatorServices"]

# An operator at a terminal can wait longer than a tool call can: more attempts, longer reads.
_OPERATOR_BOTO = Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=5, read_timeout=30)


@dataclass
class OperatorServices(Stores):
    """The function's stores with the operator's retries, and the registry read uncached."""

    @classmethod
    def create(cls, settings: Settings, session: botocore.session.Session) -> OperatorServices:
        # Admin paths read the registry uncached (load/all); the TTL only matters to the request path.
        return cls(**open_stores(settings, session, _OPERATOR_BOTO, registry_ttl_seconds=0).parts())
