"""Which Host names the emulated API answers: the ones a deployed API would be reached by.

Deployed, API Gateway routes a request to this API only under its own names: its
execute-api host, its custom domain and, with tenant subdomains, `*.<domain>`. Locally that
is the address the emulator was started on, the loopback spellings of it, and
`<slug>.<base_domain>` tenant hosts (`*.localhost`). Any other Host is refused before routing.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from urllib.parse import urlsplit

__all__ = ["HostPolicy"]

_LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1"})


@dataclass(frozen=True)
class HostPolicy:
    # The API's own origin (its host name is always served).
    base_url: str
    # Tenant subdomains: `<slug>.<base_domain>` (empty: none).
    base_domain: str = ""

    def serves(self, host_header: str) -> bool:
        try:
            name = urlsplit(f"//{host_header}").hostname or ""
        except ValueError:
            return False
        own = urlsplit(self.base_url).hostname or ""
        if name in (own, *_LOOPBACK):
            return True
        if own in ("0.0.0.0", "::") and _is_ip(name):  # noqa: S104 - comparing, not binding
            # Bound to every interface (`--host 0.0.0.0`): the machine's addresses are the API's names.
            return True
        domain = self.base_domain.lower().strip(".")
        if not domain or not name.endswith("." + domain):
            return False
        # One label in front of the domain, as `*.<domain>` matches on a certificate and a mapping.
        label = name[: -len(domain) - 1]
        return bool(label) and "." not in label


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True
