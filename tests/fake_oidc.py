"""A small, real OpenID Connect provider for the tests, served on 127.0.0.1 from a thread.

It serves discovery, authorize, token and JWKS as an identity provider does: the authorize endpoint
signs in whoever `signed_in` names at once (no login form) and sends the browser back with a code;
the token endpoint checks the client's secret, the redirect URI and the PKCE verifier, uses each
code once, and answers with an RS256 ID token carrying the request's nonce. Tests steer the next ID
token (`next_token`: claims to change or drop, a key of its own to sign with) to forge or mismatch
it, rotate the signing key, or break the discovery document and key set.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import pytest
from joserfc import jwt
from joserfc.jwk import OctKey, RSAKey
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from tests.server_threads import server_thread

CLIENT_ID = "parley-tests"
CLIENT_SECRET = "test-client-secret"
MISSING = object()  # in `next_token.claims`: leave this claim out


def new_key(kid: str | None = None) -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": kid or secrets.token_hex(4), "use": "sig"})


@dataclass
class NextToken:
    """How the next ID token differs from a good one; used once."""

    claims: dict[str, Any] = field(default_factory=dict)
    key: RSAKey | OctKey | None = None  # sign with this key instead of the published one (HS256 if Oct)


class FakeIdentityProvider:
    def __init__(self, client_id: str = CLIENT_ID, client_secret: str = CLIENT_SECRET) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.signing_key = new_key("key-1")
        self.published = [self.signing_key]  # what the JWKS lists
        # Who the authorize endpoint signs in, as ID token claims.
        self.signed_in: dict[str, Any] = {"email": "", "email_verified": True, "name": ""}
        self.next_token: NextToken | None = None
        self.discovery_override: Any = None  # a document (or bytes) served instead of the real one
        self.jwks_override: Any = None
        self.requests: list[str] = []  # paths asked for, in order
        self._codes: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self._server = make_server("127.0.0.1", 0, self._app, threaded=True)
        self.issuer = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = server_thread(self._server, "fake-oidc")

    def start(self) -> FakeIdentityProvider:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def sign_in_as(self, email: str, name: str = "", verified: bool = True) -> None:
        self.signed_in = {"email": email, "email_verified": verified, "name": name or email.split("@")[0]}

    def rotate_key(self, kid: str) -> None:
        """Sign with a new key and publish only it, as an issuer does once the old one retires."""
        self.signing_key = new_key(kid)
        self.published = [self.signing_key]

    def count(self, path: str) -> int:
        return self.requests.count(path)

    # The WSGI application.

    @Request.application
    def _app(self, request: Request) -> Response:
        self.requests.append(request.path)
        routes = {
            "/.well-known/openid-configuration": self._discovery,
            "/authorize": self._authorize,
            "/token": self._token,
            "/jwks": self._jwks,
        }
        handler = routes.get(request.path)
        return handler(request) if handler else Response("not found", status=404)

    def _discovery(self, request: Request) -> Response:
        if self.discovery_override is not None:
            return _json_or_raw(self.discovery_override)
        return _json(
            {
                "issuer": self.issuer,
                "authorization_endpoint": f"{self.issuer}/authorize",
                "token_endpoint": f"{self.issuer}/token",
                "jwks_uri": f"{self.issuer}/jwks",
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "scopes_supported": ["openid", "email", "profile"],
                "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
                "code_challenge_methods_supported": ["S256"],
            }
        )

    def _jwks(self, request: Request) -> Response:
        if self.jwks_override is not None:
            return _json_or_raw(self.jwks_override)
        return _json({"keys": [key.as_dict(private=False) for key in self.published]})

    def _authorize(self, request: Request) -> Response:
        args = request.args
        if args.get("client_id") != self.client_id or args.get("response_type") != "code":
            return Response("unknown client or response type", status=400)
        if args.get("code_challenge_method") != "S256" or not args.get("code_challenge"):
            return Response("PKCE (S256) is required", status=400)
        if "openid" not in (args.get("scope") or "").split():
            return Response("openid scope missing", status=400)
        code = secrets.token_urlsafe(16)
        with self._lock:
            self._codes[code] = {
                "redirect_uri": args["redirect_uri"],
                "challenge": args["code_challenge"],
                "nonce": args.get("nonce"),
                "claims": dict(self.signed_in),
            }
        query = urlencode({"code": code, "state": args.get("state", "")})
        return Response(status=302, headers={"Location": f"{args['redirect_uri']}?{query}"})

    def _token(self, request: Request) -> Response:
        auth = request.authorization
        form = request.form
        secret = (form.get("client_id"), form.get("client_secret"))  # client_secret_post
        client = (auth.username, auth.password) if auth else secret
        if client != (self.client_id, self.client_secret):
            return _json({"error": "invalid_client"}, 401)
        with self._lock:
            grant = self._codes.pop(request.form.get("code", ""), None)  # each code works once
        if grant is None or request.form.get("redirect_uri") != grant["redirect_uri"]:
            return _json({"error": "invalid_grant", "error_description": "unknown or used code"}, 400)
        verifier = request.form.get("code_verifier", "")
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        if challenge != grant["challenge"]:
            return _json({"error": "invalid_grant", "error_description": "PKCE verifier mismatch"}, 400)
        return _json(
            {
                "access_token": secrets.token_urlsafe(16),
                "token_type": "Bearer",
                "expires_in": 3600,
                "id_token": self.id_token(grant["claims"], grant["nonce"]),
            }
        )

    def id_token(self, person: dict[str, Any], nonce: str | None) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "sub": "sub-" + hashlib.sha256(person["email"].encode()).hexdigest()[:12],
            "aud": self.client_id,
            "iat": now,
            "exp": now + 300,
            "nonce": nonce,
            **person,
        }
        tweak, self.next_token = self.next_token or NextToken(), None
        claims.update(tweak.claims)
        claims = {name: value for name, value in claims.items() if value is not MISSING}
        key = tweak.key or self.signing_key
        alg = "HS256" if isinstance(key, OctKey) else "RS256"
        return jwt.encode({"alg": alg, "kid": key.kid or "key-1"}, claims, key, algorithms=[alg])


@pytest.fixture
def provider() -> Iterator[FakeIdentityProvider]:
    """A fresh provider for one test (import it into a test module to use it)."""
    provider = FakeIdentityProvider().start()
    yield provider
    provider.stop()


def _json(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body), status=status, mimetype="application/json")


def _json_or_raw(body: Any) -> Response:
    if isinstance(body, bytes):
        return Response(body, mimetype="application/json")
    return _json(body)
