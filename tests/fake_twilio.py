"""A fake Twilio API on 127.0.0.1 for the real SDK to talk to, and Twilio's webhook signing.

`FakeTwilio` speaks the Create Message wire format (POST /2010-04-01/Accounts/{AccountSid}/Messages.json,
HTTP Basic auth, a form body with To, From, Body, StatusCallback and repeated MediaUrl; 201 with
the message's JSON and its `sid`) and checks every request the SDK makes. Tests choose how it
answers: accept, a Twilio error (HTTP status and Twilio's code), slowly, or not at all.

`sign` is the tests' own implementation of Twilio's algorithm, deliberately not the SDK's
RequestValidator, so the app's verification is checked against an independent reading of it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs

from tests.fake_http import FakeHttpApi

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "fake-twilio-auth-token"


@dataclass
class Reply:
    """How the fake answers one send: HTTP status, Twilio error code and message (for errors),
    after `delay` seconds (None: hang until the client gives up)."""

    status: int = 201
    code: int | None = None
    message: str = ""
    delay: float | None = 0.0


@dataclass
class SentRequest:
    path: str
    form: dict[str, list[str]]  # as posted: MediaUrl may repeat
    sid: str | None

    def value(self, name: str) -> str | None:
        values = self.form.get(name)
        return values[0] if values else None


@dataclass
class FakeTwilio(FakeHttpApi):
    account_sid: str = ACCOUNT_SID
    auth_token: str = AUTH_TOKEN
    requests: list[SentRequest] = field(default_factory=list)
    # Anything the SDK sent that Twilio would refuse.
    problems: list[str] = field(default_factory=list)
    replies: list[Reply] = field(default_factory=list)  # consumed in order; then 201
    # Called with the posted form and the new sid before the answer goes out (an early report).
    before_reply: Callable[[dict[str, list[str]], str], None] | None = None

    def __post_init__(self) -> None:
        self._serve()

    def answer_next(self, *replies: Reply) -> None:
        self.replies.extend(replies)

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length).decode()
        form = parse_qs(raw, keep_blank_values=True)
        problem = self._check(handler, form)
        if problem:
            with self._lock:
                self.problems.append(problem)
            status = 401 if "auth" in problem else 404 if "path" in problem else 400
            self._respond(handler, status, {"code": 20001, "message": problem, "status": status})
            return
        with self._lock:
            reply = self.replies.pop(0) if self.replies else Reply()
            sid = "SM" + secrets.token_hex(16) if reply.status == 201 else None
            self.requests.append(SentRequest(handler.path, form, sid))
        if self.before_reply is not None and sid:
            self.before_reply(form, sid)
        if not self._wait(reply.delay):
            return
        if sid:
            payload: dict[str, Any] = {
                "sid": sid,
                "account_sid": self.account_sid,
                "from": form["From"][0],
                "to": form["To"][0],
                "body": form.get("Body", [""])[0],
                "status": "queued",
                "num_media": str(len(form.get("MediaUrl", []))),
                "direction": "outbound-api",
                "api_version": "2010-04-01",
                "error_code": None,
                "error_message": None,
                "uri": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}.json",
            }
        else:
            payload = {
                "code": reply.code,
                "message": reply.message or f"fake error {reply.status}",
                "more_info": f"https://www.twilio.com/docs/errors/{reply.code}",
                "status": reply.status,
            }
        self._respond(handler, reply.status, payload)

    def _check(self, handler: BaseHTTPRequestHandler, form: dict[str, list[str]]) -> str | None:
        if handler.path != f"/2010-04-01/Accounts/{self.account_sid}/Messages.json":
            return f"unexpected path {handler.path}"
        expected = base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        if handler.headers.get("Authorization") != f"Basic {expected}":
            return "bad auth: Basic credentials do not match"
        if not (handler.headers.get("Content-Type") or "").startswith(
            "application/x-www-form-urlencoded"
        ):
            return "body is not a form"
        for key in ("To", "From"):
            if len(form.get(key, [])) != 1 or not form[key][0].startswith("+"):
                return f"missing or bad {key}"
        if not form.get("Body") and not form.get("MediaUrl"):
            return "a message needs a Body or a MediaUrl"
        return None


# Signing, as Twilio does it ---------------------------------------------------------------------


def sign(url: str, form: dict[str, str], token: str = AUTH_TOKEN) -> str:
    """X-Twilio-Signature: base64(HMAC-SHA1(token, the URL Twilio called + each form key and its
    value, keys sorted))."""
    signed = url + "".join(key + form[key] for key in sorted(form))
    return base64.b64encode(hmac.new(token.encode(), signed.encode(), hashlib.sha1).digest()).decode()


def signed_headers(url: str, form: dict[str, str], token: str = AUTH_TOKEN) -> dict[str, str]:
    return {"X-Twilio-Signature": sign(url, form, token)}


def new_sid(prefix: str = "SM") -> str:
    return prefix + secrets.token_hex(16)
