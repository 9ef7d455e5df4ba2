"""`tenantry`: the operator's and developer's command line.

`doctor` checks a deployment's discovery and sign-in chain from the outside.
Operator commands (`tenants`, `secrets`) run against the running local server or
a deployed stack (`--stack`); `local` and `token` belong to the laptop platform
and are imported only when used.
"""

from __future__ import annotations

import argparse
import sys

__all__ = ["main"]


def build_parser() -> argparse.ArgumentParser:
    from tenantry_admin.bulk_cli import register as register_bulk_commands
    from tenantry_admin.commands import register as register_admin_commands
    from tenantry_admin.doctor import register as register_doctor
    from tenantry_admin.fleet import register as register_fleet_commands
    from tenantry_admin.members_bulk import register as register_members_bulk

    parser = argparse.ArgumentParser(
        prog="tenantry",
        description="Tenantry: run the local platform, mint dev tokens, and operate tenants (local or --stack).",
    )
    parser.add_argument("--state-dir", default=".tenantry", help="where local state lives (default: .tenantry)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    try:
        from tenantry_local.cli import register as register_local_commands
    except ImportError:  # an operator install without the local extra: no `local`/`token`
        pass
    else:
        register_local_commands(sub)
    register_admin_commands(sub)
    register_bulk_commands(sub)
    register_fleet_commands(sub)
    register_members_bulk(sub)
    register_doctor(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
