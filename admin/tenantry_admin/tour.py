"""`./dev tour`: isolation in action against the running local server, in a few seconds.

Two studios with the same customer id, another studio's id answered exactly like a missing one,
a plan refusal, and a suspension that the very next call meets, then a resume. Every step
checks what it shows and the tour exits non-zero if one does not hold, so it doubles as a
smoke test of a fresh `./dev local`.
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

__all__ = ["Tour", "TourError", "main"]

OWNER = "ironworks-gym"  # professional plan
OTHER = "lotus-yoga"  # free plan: no export


class TourError(Exception):
    """A step did not show what it should; the message says which and what came back."""


@dataclass
class Answer:
    status: int
    body: dict[str, Any]

    @property
    def result(self) -> dict[str, Any]:
        result: dict[str, Any] = self.body.get("result") or {}
        return result

    @property
    def text(self) -> str:
        if "error" in self.body:
            return str(self.body["error"].get("message", ""))
        return " ".join(str(part.get("text", "")) for part in self.result.get("content", []))

    @property
    def refused(self) -> bool:
        return self.status != 200 or "error" in self.body or bool(self.result.get("isError"))


class Tour:
    def __init__(
        self, url: str, tokens: dict[str, str], operator: Callable[[list[str]], int], out: TextIO | None = None
    ) -> None:
        self.url = url
        self.tokens = tokens
        self.operator = operator
        self.out = out or sys.stdout  # looked up now, not at import (tests capture stdout)
        self._id = 0

    # -- plumbing --------------------------------------------------------------------------
    def call(self, tenant: str, tool: str, arguments: dict[str, Any] | None = None) -> Answer:
        self._id += 1
        payload = {
            "jsonrpc": "2.0",
            "id": self._id,
            "method": "tools/call",
            "params": {"name": tool, "arguments": arguments or {}},
        }
        request = urllib.request.Request(  # noqa: S310 (the local server's http URL)
            self.url,
            data=json.dumps(payload).encode(),
            method="POST",
            headers={
                "authorization": f"Bearer {self.tokens[tenant]}",
                "content-type": "application/json",
                "accept": "application/json, text/event-stream",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
                return Answer(response.status, json.loads(response.read() or b"{}"))
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            try:
                body = json.loads(raw) if raw else {}
            except ValueError:
                body = {"error": {"message": raw.decode(errors="replace")[:200]}}
            return Answer(exc.code, body)

    def say(self, text: str = "") -> None:
        print(text, file=self.out, flush=True)

    def show(self, tenant: str, what: str, answer: Answer) -> None:
        if answer.refused:
            how = "tool error" if answer.status == 200 else f"HTTP {answer.status}"
            shown = f"refused ({how}): {answer.text.removeprefix(f'Error executing tool {what.split()[0]}: ')}"
        else:
            content = answer.result.get("structuredContent") or {}
            picked = {k: content[k] for k in ("customer_id", "name", "rows", "customers") if k in content}
            shown = json.dumps(picked or content, separators=(", ", ": "))[:90]
        self.say(f"   {tenant:<14} {what:<34} -> {shown}")

    @staticmethod
    def expect(condition: bool, step: str, answer: Answer) -> None:
        if not condition:
            raise TourError(f"{step}: unexpected answer (HTTP {answer.status}): {json.dumps(answer.body)[:300]}")

    # -- the tour --------------------------------------------------------------------------
    def run(self) -> None:
        self.say(f"Tenantry tour against {self.url}\n")
        self.same_ids()
        self.foreign_ids()
        self.plans()
        self.suspension()
        self.say("\nEvery step held: the tenant comes from the token, and nothing crosses between tenants.")

    def same_ids(self) -> None:
        self.say("1. Two studios, the same customer id, two different customers")
        names = []
        for tenant in (OWNER, OTHER):
            answer = self.call(tenant, "get_customer", {"customer_id": "cus_0001"})
            self.show(tenant, "get_customer cus_0001", answer)
            self.expect(not answer.refused, "same ids", answer)
            names.append(answer.result["structuredContent"]["name"])
        if names[0] == names[1]:
            raise TourError(f"same ids: both studios returned {names[0]!r}")

    def foreign_ids(self) -> None:
        self.say("\n2. Another studio's customer is 'not found', word for word like a missing one")
        customer_id = "tour_" + secrets.token_hex(4)
        created = self.call(OWNER, "create_customer", {"name": "Tour Guest", "customer_id": customer_id})
        self.show(OWNER, f"create_customer {customer_id}", created)
        self.expect(not created.refused, "create", created)
        try:
            foreign = self.call(OTHER, "get_customer", {"customer_id": customer_id})
            self.show(OTHER, f"get_customer {customer_id}", foreign)
            missing_id = "tour_" + secrets.token_hex(4)
            missing = self.call(OTHER, "get_customer", {"customer_id": missing_id})
            self.show(OTHER, f"get_customer {missing_id}", missing)
            self.expect(foreign.refused and "no customer" in foreign.text.lower(), "foreign id", foreign)
            same = foreign.text.replace(customer_id, "<id>") == missing.text.replace(missing_id, "<id>")
            self.expect(same, "foreign id answered like a missing one", missing)
            self.say("   (same text for both: the answer does not reveal that the id exists elsewhere)")
        finally:
            self.call(OWNER, "delete_customer", {"customer_id": customer_id})

    def plans(self) -> None:
        self.say("\n3. Plans: a tool the plan lacks is hidden and refused, naming the plan that has it")
        answer = self.call(OTHER, "export_customers")
        self.show(OTHER, "export_customers (free plan)", answer)
        self.expect(answer.refused and "professional" in answer.text, "plan refusal", answer)
        allowed = self.call(OWNER, "export_customers")
        self.show(OWNER, "export_customers (professional)", allowed)
        self.expect(not allowed.refused, "plan allows", allowed)

    def suspension(self) -> None:
        self.say(f"\n4. Suspension takes effect on the next call; so does resume  (tenantry tenants suspend {OTHER})")
        if self.operator(["tenants", "suspend", OTHER]) != 0:
            raise TourError(f"could not suspend {OTHER}")
        try:
            refused = self.call(OTHER, "list_customers", {"limit": 1})
            self.show(OTHER, "list_customers (suspended)", refused)
            self.expect(refused.refused and "suspended" in refused.text, "suspension", refused)
        finally:
            resumed = self.operator(["tenants", "resume", OTHER])
        if resumed != 0:
            raise TourError(f"could not resume {OTHER}: run `./dev tenantry tenants resume {OTHER}`")
        served = self.call(OTHER, "list_customers", {"limit": 1})
        self.show(OTHER, "list_customers (resumed)", served)
        self.expect(not served.refused, "resume", served)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="./dev tour", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--state-dir", default=".tenantry", help="where `./dev local` wrote local.json")
    args = parser.parse_args(argv)
    described = Path(args.state_dir) / "local.json"
    if not described.exists():
        print(f"tour: no {described}: start `./dev local` in another terminal first", file=sys.stderr)
        return 2
    info = json.loads(described.read_text())
    tokens = {tenant: str(entry["token"]) for tenant, entry in info.get("tenants", {}).items()}
    if not {OWNER, OTHER} <= set(tokens):
        print(f"tour: {described} lacks the demo tenants {OWNER} and {OTHER}; restart `./dev local`", file=sys.stderr)
        return 2

    from tenantry_admin.cli import main as tenantry

    def operator(command: list[str]) -> int:
        return tenantry(["--state-dir", args.state_dir, *command])

    try:
        Tour(str(info["url"]), tokens, operator).run()
    except TourError as exc:
        print(f"\ntour: {exc}", file=sys.stderr)
        return 1
    except urllib.error.URLError as exc:
        print(
            f"\ntour: the local server is not answering at {info['url']} ({exc.reason}); start `./dev local`",
            file=sys.stderr,
        )
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
