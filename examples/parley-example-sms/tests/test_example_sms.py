"""The example provider against Parley's conformance kit, with a fake Example SMS API.

Run from Parley's folder with `pytest examples/parley-example-sms/tests` (Parley's own `make test`
runs it too). The fake is a real HTTP server on 127.0.0.1: the plugin's real HTTP code is tested,
and no test reaches the internet.
"""

from __future__ import annotations

import json
import secrets
import threading
from collections.abc import Iterator, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from parley_example_sms import signature

from webapp.plugin_api.testing import ProviderConformance, SentMessage

API_KEY = "example-api-key"
WEBHOOK_SECRET = "example-webhook-secret"


class FakeExampleSms:
    """Example SMS's send endpoint: records what it gets, answers 201, or the failure asked for."""

    def __init__(self) -> None:
        self.sent: list[tuple[dict, str]] = []  # (the JSON body, the id given)
        self.next_failures: list[tuple[int, dict]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if self.path != "/v1/messages" or self.headers["Authorization"] != f"Bearer {API_KEY}":
                    self._answer(401, {"error": {"code": "unauthorized", "message": "bad key"}})
                elif fake.next_failures:
                    self._answer(*fake.next_failures.pop(0))
                else:
                    message_id = "ex-" + secrets.token_hex(8)
                    fake.sent.append((body, message_id))
                    self._answer(201, {"id": message_id})

            def _answer(self, status: int, payload: dict) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


class TestExampleSmsProvider(ProviderConformance):
    provider_name = "example"
    required_settings = ("EXAMPLE_SMS_API_KEY", "EXAMPLE_SMS_WEBHOOK_SECRET")
    opted_out_error_code = "opted_out"

    @pytest.fixture
    def provider_api(self) -> Iterator[FakeExampleSms]:
        fake = FakeExampleSms()
        yield fake
        fake.server.shutdown()
        fake.server.server_close()

    def provider_settings(self, provider_api: FakeExampleSms) -> dict:
        return {
            "EXAMPLE_SMS_API_KEY": API_KEY,
            "EXAMPLE_SMS_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "EXAMPLE_SMS_API_BASE_URL": provider_api.url,
        }

    def sent_messages(self, provider_api: FakeExampleSms) -> list[SentMessage]:
        return [
            SentMessage(body["from"], body["to"], body["text"], body["callback_url"], message_id,
                        tuple(body["media_urls"]))  # fmt: skip
            for body, message_id in provider_api.sent
        ]

    def fail_next_send(self, provider_api: FakeExampleSms, kind: str) -> None:
        provider_api.next_failures.append(
            {
                "transient": (503, {"error": {"code": "unavailable", "message": "try later"}}),
                "permanent": (400, {"error": {"code": "invalid_number", "message": "no such number"}}),
                "opted_out": (400, {"error": {"code": "opted_out", "message": "recipient opted out"}}),
            }[kind]
        )

    def sign(self, url: str, form: Mapping[str, str], *, forged: bool = False) -> dict[str, str]:
        nonce = secrets.token_hex(12)
        secret = "not-the-secret" if forged else WEBHOOK_SECRET
        return {"X-Example-Nonce": nonce, "X-Example-Signature": signature(secret, nonce, url, form)}

    def inbound_form(self, *, from_phone, to_phone, text, message_id, media_urls=(), intent=None):
        form = {"id": message_id, "from": from_phone, "to": to_phone, "text": text}
        form.update({f"media_url_{i}": url for i, url in enumerate(media_urls, start=1)})
        if intent:
            form["keyword"] = {"optout": "stop", "optin": "start", "help": "help"}[intent]
        return form

    def status_form(self, sent: SentMessage, status: str, error_code: str | None = None) -> dict[str, str]:
        form = {"id": sent.provider_message_id or "", "status": status}
        if error_code:
            form["error_code"] = error_code
        return form
