"""A fake Plivo API on 127.0.0.1 for the real SDK to talk to, and Plivo's webhook signing.

`FakePlivo` speaks the Send Message wire format (POST /v1/Account/{auth_id}/Message/, Basic auth,
JSON body; 202 with a message_uuid list) and checks every request the SDK makes. Tests choose how
it answers: accept, an HTTP error, slowly, or not at all (the client times out).

The signing helpers are the tests' own implementation of Plivo's algorithm, deliberately not
`plivo.utils`, so the app's verification is checked against an independent reading of it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qsl, urlsplit

from tests.fake_http import FakeHttpApi

AUTH_ID = "MA" + "X" * 18
AUTH_TOKEN = "fake-plivo-auth-token"
TRUE_FALSE = ("true", "false")  # the SDK sends `log` as a string


@dataclass
class Reply:
    """How the fake answers one send: status and JSON body, after `delay` seconds (None: hang)."""

    status: int = 202
    body: dict | None = None
    delay: float | None = 0.0


@dataclass
class SentRequest:
    path: str
    json: dict
    message_uuid: str | None


@dataclass
class FakePlivo(FakeHttpApi):
    auth_id: str = AUTH_ID
    auth_token: str = AUTH_TOKEN
    requests: list[SentRequest] = field(default_factory=list)
    # Anything the SDK sent that Plivo would refuse.
    problems: list[str] = field(default_factory=list)
    replies: list[Reply] = field(default_factory=list)  # consumed in order; then 202
    # Called with the request's JSON before the answer goes out (e.g. an early status report).
    before_reply: Callable[[dict, str], None] | None = None
    # As Plivo does with an MMS: fetch each of its media_urls, recorded as (url, status, bytes).
    fetch_media: bool = False
    fetched: list[tuple[str, int, bytes]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._serve()

    def answer_next(self, *replies: Reply) -> None:
        self.replies.extend(replies)

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length)
        problem = self._check(handler, raw)
        if problem:
            with self._lock:
                self.problems.append(problem)
            status = 401 if "auth" in problem else 404 if "path" in problem else 400
            self._respond(handler, status, {"api_id": "fake", "error": problem})
            return
        body = json.loads(raw)
        with self._lock:
            reply = self.replies.pop(0) if self.replies else Reply()
        message_uuid = str(uuid.uuid4()) if reply.status == 202 else None
        with self._lock:
            self.requests.append(SentRequest(handler.path, body, message_uuid))
        if self.before_reply is not None and message_uuid:
            self.before_reply(body, message_uuid)
        if self.fetch_media and message_uuid:
            for url in body.get("media_urls") or ():
                self._fetch(url)
        if not self._wait(reply.delay):
            return
        payload = reply.body
        if payload is None:
            payload = (
                {"api_id": "fake", "message": "message(s) queued", "message_uuid": [message_uuid]}
                if message_uuid
                else {"api_id": "fake", "error": f"fake error {reply.status}"}
            )
        self._respond(handler, reply.status, payload)

    def _fetch(self, url: str) -> None:
        try:
            with urllib.request.urlopen(url, timeout=10) as answer:
                result = (url, answer.status, answer.read())
        except urllib.error.HTTPError as exc:
            result = (url, exc.code, b"")
        with self._lock:
            self.fetched.append(result)

    def _check(self, handler: BaseHTTPRequestHandler, raw: bytes) -> str | None:
        if handler.path != f"/v1/Account/{self.auth_id}/Message/":
            return f"unexpected path {handler.path}"
        expected = base64.b64encode(f"{self.auth_id}:{self.auth_token}".encode()).decode()
        if handler.headers.get("Authorization") != f"Basic {expected}":
            return "bad auth: Basic credentials do not match"
        if not (handler.headers.get("Content-Type") or "").startswith("application/json"):
            return "body is not JSON"
        try:
            body = json.loads(raw)
        except ValueError:
            return "body is not valid JSON"
        # Plivo requires text for an SMS; an MMS may be pictures alone.
        required = ("src", "dst") if body.get("type") == "mms" else ("src", "dst", "text")
        for key in required:
            if not isinstance(body.get(key), str) or not body[key]:
                return f"missing {key}"
        if body.get("type", "sms") not in ("sms", "mms") or body.get("log") not in TRUE_FALSE:
            return "bad type or log"
        return None


# Signing, as Plivo does it ---------------------------------------------------------------------


def _b64_hmac(token: str, text: str) -> str:
    digest = hmac.new(token.encode(), text.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def sign_v3(url: str, form: dict[str, str], nonce: str, token: str = AUTH_TOKEN) -> str:
    """Plivo V3 for a POST: URL without query, "?" + sorted query, "." if both, sorted key+value."""
    parts = urlsplit(url)
    signed = parts.scheme + "://" + parts.netloc + parts.path
    query = "&".join(k + "=" + v for k, v in sorted(parse_qsl(parts.query)))
    if form:
        signed += "?" + query + ("." if query else "")
        for key in sorted(form):
            signed += key + form[key]
    elif query:
        signed += "?" + query
    return _b64_hmac(token, signed + "." + nonce)


def sign_v2(url: str, nonce: str, token: str = AUTH_TOKEN) -> str:
    """Plivo's legacy V2: the URL without its query, then the nonce."""
    parts = urlsplit(url)
    return _b64_hmac(token, parts.scheme + "://" + parts.netloc + parts.path + nonce)


def v3_headers(url: str, form: dict[str, str], nonce: str | None = None) -> dict:
    """V3 headers as Plivo sends them: a fresh 20-digit nonce per request unless one is given
    (Parley accepts each nonce once)."""
    nonce = nonce or new_nonce()
    return {
        "X-Plivo-Signature-V3": sign_v3(url, form, nonce),
        "X-Plivo-Signature-V3-Nonce": nonce,
    }


def new_nonce() -> str:
    return str(secrets.randbelow(10**20)).zfill(20)
