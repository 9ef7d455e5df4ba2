"""`tenantry doctor`: walk a deployment's discovery and sign-in chain as an MCP client does.

Written against the standards, not against either authorization server's code:
RFC 9728 (protected resource metadata), RFC 8414 and OpenID discovery, JWKS,
RFC 7591 (dynamic client registration), client ID metadata documents (CIMD),
RFC 8707 (`resource`), PKCE S256. Each check is one line with PASS, FAIL, WARN
or SKIP; a failure says what was expected, what came back and the likely fix.
docs/chatgpt.md explains every check and the `--json` output.

One module per stage: report (the models and their rendering), context (what
the stages share), discovery (steps 1-3), registration (4), sign_in (5),
calls (6), command (the argparse command and `diagnose`), net (the fenced HTTP
client and the loopback listener).
"""

from tenantry_admin.doctor.command import diagnose, open_browser, register
from tenantry_admin.doctor.context import Browser, DoctorOptions
from tenantry_admin.doctor.report import STEPS, Check, DoctorReport, render

__all__ = [
    "STEPS",
    "Browser",
    "Check",
    "DoctorOptions",
    "DoctorReport",
    "diagnose",
    "open_browser",
    "register",
    "render",
]
