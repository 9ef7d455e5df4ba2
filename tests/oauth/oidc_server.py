"""A small OpenID Connect provider on 127.0.0.1 for the real upstream client (tenantry.oauth.upstream.OidcProvider).

It speaks what OidcProvider uses: discovery, a JWKS, an authorization endpoint that signs in
whoever the test names (no page: it redirects straight back with a code) and a token endpoint
that answers with an ID token. A test chooses the next sign-in's claims and, to play an
attacker, how its ID token is forged.
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

CLIENT_ID = "tenantry-as"
CLIENT_SECRET = "dev-secret"
_KID = "provider-key-1"

# How the next ID token is made: "signed" (valid), "unsigned" (alg none), "other-key" (signed by a key
# the JWKS does not hold, under its kid), "tampered" (a valid token whose payload was edited after
# signing), "wrong-audience" (signed, for another client), "wrong-nonce" (signed, for another sign-in).
FORGERIES = ("unsigned", "other-key", "tampered", "wrong-audience", "wrong-nonce")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class OidcTestProvider:
    base: str = ""
    claims: dict[str, Any] = field(default_factory=dict)  # the next sign-in's claims, besides iss/aud/exp/nonce
    forge: str = "signed"
    key: rsa.RSAPrivateKey = field(
        default_factory=lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )
    pending: dict[str, str] = field(default_factory=dict)  # code -> nonce

    def jwks(self) -> dict[str, Any]:
        public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
        return {"keys": [public | {"kid": _KID, "use": "sig", "alg": "RS256"}]}

    def id_token(self, nonce: str) -> str:
        now = int(time.time())
        payload = {"iss": self.base, "aud": CLIENT_ID, "iat": now, "exp": now + 300, "nonce": nonce} | self.claims
        if self.forge == "wrong-audience":
            payload["aud"] = "another-client"
        if self.forge == "wrong-nonce":
            payload["nonce"] = secrets.token_urlsafe(16)
        if self.forge == "unsigned":
            header = _b64(json.dumps({"alg": "none", "typ": "JWT", "kid": _KID}).encode())
            return f"{header}.{_b64(json.dumps(payload).encode())}."
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048) if self.forge == "other-key" else self.key
        token = jwt.encode(payload, key, algorithm="RS256", headers={"kid": _KID})
        if self.forge == "tampered":
            header, _, signature = token.split(".")
            return f"{header}.{_b64(json.dumps(payload | {'forged': True}).encode())}.{signature}"
        return token

    @classmethod
    @contextmanager
    def serving(cls) -> Iterator[OidcTestProvider]:
        provider = cls()

        class Handler(BaseHTTPRequestHandler):
            def _json(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                if parts.path == "/.well-known/openid-configuration":
                    base = provider.base
                    self._json(
                        200,
                        {
                            "issuer": base,
                            "authorization_endpoint": base + "/authorize",
                            "token_endpoint": base + "/token",
                            "jwks_uri": base + "/jwks",
                        },
                    )
                elif parts.path == "/jwks":
                    self._json(200, provider.jwks())
                elif parts.path == "/authorize":
                    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
                    code = secrets.token_urlsafe(16)
                    provider.pending[code] = query["nonce"]
                    self.send_response(302)
                    back = urlencode({"code": code, "state": query["state"]})
                    self.send_header("location", f"{query['redirect_uri']}?{back}")
                    self.send_header("content-length", "0")
                    self.end_headers()
                else:
                    self._json(404, {})

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                expected = "Basic " + base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
                nonce = provider.pending.pop(form.get("code", ""), None)
                if self.path != "/token" or self.headers.get("authorization") != expected or nonce is None:
                    self._json(400, {"error": "invalid_grant"})
                    return
                self._json(200, {"id_token": provider.id_token(nonce), "token_type": "Bearer"})

            def log_message(self, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        provider.base = f"http://127.0.0.1:{server.server_address[1]}"
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield provider
        finally:
            server.shutdown()
            server.server_close()
