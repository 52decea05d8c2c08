"""Example SMS: a provider plugin for Parley, for a small fictional HTTP API.

The API it speaks:

- Send: `POST {base}/v1/messages` with `Authorization: Bearer {API key}` and a JSON body
  `{"from", "to", "text", "media_urls", "callback_url"}`; 201 `{"id": …}`. A refusal is a 4xx with
  `{"error": {"code", "message"}}`; 429 and 5xx are temporary.
- Webhooks (form posts): inbound texts carry `id`, `from`, `to`, `text`, `media_url_1…N`; delivery
  reports carry `id`, `status` (queued, sent, delivered, undelivered, failed) and `error_code`
  (`opted_out` when the recipient opted out with Example SMS). Each is signed:
  `X-Example-Nonce` (new for every request) and `X-Example-Signature`, the hex HMAC-SHA256, with the
  webhook secret, of `nonce + "\\n" + the URL called + "\\n" + the form urlencoded with keys sorted`.

Settings (Parley hands the plugin its configuration; settings Parley does not define itself come
from environment variables of the same name): EXAMPLE_SMS_API_KEY, EXAMPLE_SMS_WEBHOOK_SECRET and
EXAMPLE_SMS_API_BASE_URL (default https://api.sms.example.com).
"""

from __future__ import annotations

import hashlib
import hmac
import threading
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

import requests

from webapp.plugin_api import (
    InboundMessage,
    OutboundMessage,
    SendResult,
    SmsProvider,
    StatusUpdate,
    WebhookRequest,
    numbered_links,
    required_fields,
    required_settings,
    url_setting,
)

STATUSES = frozenset({"queued", "sent", "delivered", "undelivered", "failed"})
REASONS = {
    "opted_out": "The recipient has opted out of texts with Example SMS",
    "invalid_number": "Invalid destination number",
    "blocked": "Blocked by the recipient's carrier",
}
KEYWORDS = {"stop": "optout", "start": "optin", "help": "help"}


def signature(secret: str, nonce: str, url: str, form: Mapping[str, str]) -> str:
    """Example SMS's webhook signature (the API's documentation gives this recipe)."""
    signed = f"{nonce}\n{url}\n{urlencode(sorted(form.items()))}"
    return hmac.new(secret.encode(), signed.encode(), hashlib.sha256).hexdigest()


class ExampleSmsProvider(SmsProvider):
    label = "Example SMS"
    supports_media = True
    # Example SMS does not answer STOP or HELP itself: Parley answers HELP with the office's text.
    handles_keywords = False

    def __init__(self, config: Mapping[str, Any]) -> None:
        super().__init__(config)
        # Without them, the ValueError these raise stops Parley's start-up, naming the setting.
        self.api_key, self.webhook_secret = required_settings(
            config, "Example SMS", "EXAMPLE_SMS_API_KEY", "EXAMPLE_SMS_WEBHOOK_SECRET"
        )
        self.base_url = url_setting(config, "EXAMPLE_SMS_API_BASE_URL", "https://api.sms.example.com")
        self._local = threading.local()  # one HTTP session per worker thread

    def send(self, message: OutboundMessage) -> SendResult:
        session = getattr(self._local, "session", None) or requests.Session()
        self._local.session = session
        body = {
            "from": message.from_phone,
            "to": message.to_phone,
            "text": message.body,
            "media_urls": list(message.media_urls),
            "callback_url": message.status_callback_url,
        }
        try:
            answer = session.post(
                f"{self.base_url}/v1/messages",
                json=body,
                headers={"Authorization": f"Bearer {self.api_key}"},
                timeout=5,
            )
        except requests.RequestException as exc:  # network trouble: worth another try
            reason = f"Could not reach Example SMS ({exc.__class__.__name__})"
            return SendResult("failed", error_code="network", error_reason=reason, transient=True)
        if answer.status_code == 429 or answer.status_code >= 500:
            code = f"http-{answer.status_code}"
            reason = f"Example SMS is busy or down (HTTP {answer.status_code})"
            return SendResult("failed", error_code=code, error_reason=reason, transient=True)
        if answer.status_code != 201:
            error = _json(answer).get("error") or {}
            code = str(error.get("code") or f"http-{answer.status_code}")
            reason = REASONS.get(code) or f"Example SMS refused the message: {error.get('message') or code}"
            return SendResult("failed", error_code=code, error_reason=reason,
                              recipient_opted_out=code == "opted_out")  # fmt: skip
        return SendResult("sent", provider_message_id=str(_json(answer).get("id") or "") or None)

    def verify_webhook(self, request: WebhookRequest) -> bool:
        nonce = request.headers.get("X-Example-Nonce", "")
        given = request.headers.get("X-Example-Signature", "")
        expected = signature(self.webhook_secret, nonce, request.url, request.form)
        return bool(nonce) and hmac.compare_digest(expected.encode(), given.encode("utf-8", "replace"))

    def replay_key(self, request: WebhookRequest) -> str | None:
        return request.headers.get("X-Example-Nonce") or None  # signed, and new for every request

    def parse_inbound(self, request: WebhookRequest) -> InboundMessage:
        form = _checked(request.form, "id", "from", "to")
        return InboundMessage(
            from_phone=form["from"],
            to_phone=form["to"],
            body=form.get("text", ""),
            provider_message_id=form["id"],
            media_urls=numbered_links(form, "media_url_"),
            intent=KEYWORDS.get(form.get("keyword", "").lower()),
        )

    def parse_status(self, request: WebhookRequest) -> StatusUpdate:
        form = _checked(request.form, "id", "status")
        if form["status"] not in STATUSES:
            raise ValueError(f"unknown status {form['status']!r}")
        code = form.get("error_code") or None
        return StatusUpdate(
            provider_message_id=form["id"],
            status=form["status"],
            parley_message_id=request.parley_message_id(),
            error_code=code,
            error_reason=self.describe_error(code) if code else None,
            recipient_opted_out=code == "opted_out",
        )

    def describe_error(self, code: str) -> str:
        return REASONS.get(code, f"Example SMS error {code}")


def _checked(form: Mapping[str, str], *names: str) -> Mapping[str, str]:
    """The form, when it has every field (a ValueError becomes Parley's precise 400 otherwise)."""
    required_fields(form, *names)
    if len(form["id"]) > 100:
        raise ValueError("id is too long")
    return form


def _json(answer: requests.Response) -> dict:
    try:
        payload = answer.json()
    except ValueError:
        return {}
    return payload if isinstance(payload, dict) else {}
