"""`tenantry secrets set|rotate|delete|list`: values from stdin or a hidden prompt, never argv, never echoed."""

from __future__ import annotations

import getpass
import io
import sys
from typing import Any

import pytest

from tenantry_admin.cli import main
from tenantry_admin.tenants import TenantAdmin
from tenantry_local.platform import LocalPlatform
from tests.cli.conftest import one_line_error

VALUE = "whsec_live_4f9c2d8a"


@pytest.fixture
def studio(tenantry: Any, tenant_id: str) -> str:
    assert (
        tenantry("tenants", "create", "--id", tenant_id, "--slug", tenant_id, "--name", "S", "--plan", "starter").code
        == 0
    )
    return tenant_id


def _reveal(platform: LocalPlatform, tenant_id: str, name: str) -> str:
    s = platform.services
    admin = TenantAdmin(s.registry, s.audit, s.secret_store, s.dynamodb, platform.settings, "test")
    return s.secret_store.reveal(admin.context_for(admin.get(tenant_id)), name)


def test_set_rotate_list_delete(tenantry: Any, studio: str, platform: LocalPlatform) -> None:
    run = tenantry("secrets", "set", "--tenant", studio, "booking_webhook_secret", stdin=VALUE + "\n")
    assert run.code == 0, run.err
    assert "version 1, sha256:" in run.out
    assert VALUE not in run.out + run.err
    assert _reveal(platform, studio, "booking_webhook_secret") == VALUE  # the trailing newline is not part of it

    rotated = tenantry("secrets", "rotate", "--tenant", studio, "booking_webhook_secret", stdin="whsec_new")
    assert rotated.code == 0 and "Rotated secret booking_webhook_secret" in rotated.out and "version 2" in rotated.out
    assert _reveal(platform, studio, "booking_webhook_secret") == "whsec_new"

    listed = tenantry("secrets", "list", "--tenant", studio, "--json").json()
    assert [(s["name"], s["version"]) for s in listed] == [("booking_webhook_secret", 2)]
    assert listed[0]["fingerprint"].startswith("sha256:") and "value" not in listed[0]
    table = tenantry("secrets", "list", "--tenant", studio).out
    assert "booking_webhook_secret" in table and "whsec" not in table

    deleted = tenantry("secrets", "delete", "--tenant", studio, "booking_webhook_secret")
    assert deleted.code == 0 and "its ciphertext is gone" in deleted.out
    assert tenantry("secrets", "list", "--tenant", studio, "--json").json() == []

    audit = tenantry("tenants", "audit", studio, "--json").json()
    secret_events = [(e["action"], e["resource"]) for e in audit if e["action"].startswith("admin:secrets")]
    assert secret_events == [
        ("admin:secrets.delete", "secret/booking_webhook_secret"),
        ("admin:secrets.rotate", "secret/booking_webhook_secret"),
        ("admin:secrets.set", "secret/booking_webhook_secret"),
    ]
    assert not any("whsec" in e["reason"] for e in audit)


@pytest.mark.parametrize(
    ("argv", "stdin", "says"),
    [
        (["rotate", "--tenant", "{t}", "never_set"], "v", "No secret named 'never_set' to rotate"),
        (["delete", "--tenant", "{t}", "never_set"], None, "No secret named 'never_set'"),
        (["set", "--tenant", "{t}", "Bad-Name"], "v", "secret name is 1-64 characters"),
        (["set", "--tenant", "{t}", "empty_value"], "", "No secret value given"),
        (["set", "--tenant", "{t}", "too_big"], "x" * 5000, "1 to 4096 bytes"),
        (["set", "--tenant", "no-such-tenant", "api_key"], "v", "No tenant 'no-such-tenant'"),
    ],
)
def test_bad_secret_input_is_one_line(
    tenantry: Any, studio: str, argv: list[str], stdin: str | None, says: str
) -> None:
    run = tenantry("secrets", *[a.replace("{t}", studio) for a in argv], stdin=stdin)
    assert says in one_line_error(run)


def test_setting_twice_is_refused(tenantry: Any, studio: str) -> None:
    assert tenantry("secrets", "set", "--tenant", studio, "api_key", stdin="one").code == 0
    assert "exists already; rotate it instead" in one_line_error(
        tenantry("secrets", "set", "--tenant", studio, "api_key", stdin="two")
    )


def test_a_value_on_the_command_line_is_refused(tenantry: Any, studio: str) -> None:
    run = tenantry("secrets", "set", "--tenant", studio, "api_key", "sk_live_on_argv", stdin="")
    assert run.code == 2 and "unrecognized arguments" in run.err
    assert tenantry("secrets", "list", "--tenant", studio, "--json").json() == []


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_on_a_terminal_the_value_comes_from_a_hidden_prompt(
    studio: str, state_dir: Any, platform: LocalPlatform, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    prompts: list[str] = []

    def hidden(prompt: str = "") -> str:
        prompts.append(prompt)
        return "typed-not-echoed"

    monkeypatch.setattr(sys, "stdin", _Terminal())
    monkeypatch.setattr(getpass, "getpass", hidden)
    assert main(["--state-dir", str(state_dir), "secrets", "set", "--tenant", studio, "crm_api_key"]) == 0
    assert prompts == [f"Value for {studio}/crm_api_key (not echoed): "]
    assert "typed-not-echoed" not in capsys.readouterr().out
    assert _reveal(platform, studio, "crm_api_key") == "typed-not-echoed"
