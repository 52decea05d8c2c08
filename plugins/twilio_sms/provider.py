"""The Twilio SMS provider: sends through the real `twilio` SDK, verifies and parses Twilio's webhooks.

Configuration (from the app config, i.e. the environment): TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN,
TWILIO_API_BASE_URL (default https://api.twilio.com) and optionally TWILIO_TIMEOUT_SECONDS
(default 5).
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import requests
from twilio.base.exceptions import TwilioException, TwilioRestException, TwilioServiceException
from twilio.http.http_client import TwilioHttpClient
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from webapp.plugin_api import (
    InboundMessage,
    MediaUnavailable,
    OutboundMessage,
    SendResult,
    SmsProvider,
    StatusUpdate,
    WebhookRefused,
    WebhookRequest,
    fetch_file,
    numbered_links,
    required_fields,
    required_settings,
    url_setting,
    url_under,
)

log = logging.getLogger("parley.twilio_sms")

DEFAULT_API_BASE_URL = "https://api.twilio.com"
ACCOUNT_SID_PATTERN = re.compile(r"AC[0-9a-fA-F]{32}")
SIGNATURE_HEADER = "X-Twilio-Signature"
# Present when a webhook is signed with a SharedKey secret instead of the account's Auth Token.
SHARED_KEY_HEADER = "X-Twilio-Webhooks-Signature-Settings"
SHARED_KEY_REFUSED = (
    "This Twilio webhook is signed with a webhook SharedKey; Parley checks signatures made with "
    "the account's Auth Token (TWILIO_AUTH_TOKEN). Remove the SharedKey from these webhooks."
)

# Twilio's error codes (API answers and ErrorCode of failed/undelivered reports) in plain words.
OPTED_OUT_ERROR_CODE = "21610"
ERROR_REASONS = {
    "20003": "Twilio refused the credentials: check TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN",
    "20429": "Twilio is rate-limiting this account (too many requests)",
    "21211": "Invalid destination number",
    "21408": "Texting this country is not enabled on the Twilio account",
    "21606": "The sending number is not a message-capable number of this Twilio account",
    "21610": "The recipient has opted out of texts from this number (replied STOP)",
    "21612": "Twilio cannot send a message between these two numbers",
    "21614": "The destination is not a mobile number",
    "21617": "The message is too long (over 1,600 characters)",
    "21620": "A picture's URL could not be used (it must be public)",
    "30001": "Twilio's queue for this number overflowed; the message was not sent",
    "30002": "The Twilio account is suspended",
    "30003": "The recipient's phone is unreachable (switched off or out of coverage)",
    "30004": "Blocked by the recipient or their carrier",
    "30005": "Unknown destination number (it may no longer exist)",
    "30006": "The destination is a landline or its carrier cannot receive texts",
    "30007": "Blocked as spam by the carrier",
    "30008": "Unknown error at the carrier",
    "30032": "The toll-free sending number is not verified",
    "30034": "Blocked: the sending number is not registered for US A2P 10DLC",
}
# Twilio's MessageStatus values as Parley's message statuses. "read" is a delivery receipt of
# channels that have one; "canceled" is a scheduled message withdrawn before it went.
STATUSES = {
    "accepted": "queued",
    "scheduled": "queued",
    "queued": "queued",
    "sending": "queued",
    "sent": "sent",
    "delivered": "delivered",
    "read": "delivered",
    "undelivered": "undelivered",
    "failed": "failed",
    "canceled": "failed",
}
# Twilio's Advanced Opt-Out marks keyword messages with OptOutType.
INTENTS = {"STOP": "optout", "START": "optin", "HELP": "help"}
MAX_ID_LENGTH = 100  # messages.provider_message_id is VARCHAR(100)


class _HttpClient(TwilioHttpClient):
    """Twilio's documented custom HTTP client, sending every request to TWILIO_API_BASE_URL.

    The SDK has no base-URL setting; a custom HTTP client is its supported way to reach a
    compatible endpoint (staging, tests). With the default base URL nothing is rewritten, so the
    SDK's own region and edge settings keep working.
    """

    def __init__(self, base_url: str | None, timeout: float) -> None:
        super().__init__(timeout=timeout)
        self.base_url = base_url

    def request(self, method: str, url: str, *args: Any, **kwargs: Any):
        if self.base_url:
            parts = urlsplit(url)
            url = self.base_url + parts.path + (f"?{parts.query}" if parts.query else "")
        return super().request(method, url, *args, **kwargs)


class TwilioSmsProvider(SmsProvider):
    label = "Twilio"
    # Twilio answers STOP/START/HELP itself (its default opt-out handling): Parley records the
    # opt-out but sends no second answer.
    handles_keywords = True
    supports_media = True
    # Twilio sends a plain-text answer to the contact as a text, and acts on TwiML: an empty
    # Response does nothing. Parley's replies go through the send pipeline only.
    inbound_answer = ("<Response/>", "text/xml")
    # No replay_key: Twilio's signature has no nonce, and Twilio retries a webhook with the very
    # same one. Handling makes a second delivery harmless instead: an inbound text is stored once
    # per MessageSid, and a status report never moves a message's status back.

    def __init__(self, config: Mapping[str, Any]) -> None:
        super().__init__(config)
        self.account_sid, self.auth_token = required_settings(
            config, "Twilio", "TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN"
        )
        if not ACCOUNT_SID_PATTERN.fullmatch(self.account_sid):
            raise ValueError(
                "TWILIO_ACCOUNT_SID must be AC followed by 32 hexadecimal characters "
                "(the Account SID in the Twilio console)"
            )
        base_url = url_setting(config, "TWILIO_API_BASE_URL", DEFAULT_API_BASE_URL)
        self.api_base_url = None if base_url == DEFAULT_API_BASE_URL else base_url
        # A contact's pictures: Media resources of this account, behind its credentials.
        self.media_base_url = f"{base_url}/2010-04-01/Accounts/{self.account_sid}"
        self.timeout = float(config.get("TWILIO_TIMEOUT_SECONDS") or 5)
        self.validator = RequestValidator(self.auth_token)
        # One SDK client per worker thread: a requests.Session is not meant to be shared.
        self._local = threading.local()

    def _client(self) -> Client:
        client = getattr(self._local, "client", None)
        if client is None:
            http_client = _HttpClient(self.api_base_url, self.timeout)
            client = Client(self.account_sid, self.auth_token, http_client=http_client)
            self._local.client = client
        return client

    # Sending -----------------------------------------------------------------------------------

    def send(self, message: OutboundMessage) -> SendResult:
        options: dict[str, Any] = {}
        if message.status_callback_url:
            options["status_callback"] = message.status_callback_url
        if message.media_urls:
            options["media_url"] = list(message.media_urls)
        try:
            created = self._client().messages.create(
                to=message.to_phone, from_=message.from_phone, body=message.body, **options
            )
        except (TwilioRestException, TwilioServiceException) as exc:
            return self._api_error(exc)
        except (requests.ReadTimeout, requests.exceptions.ChunkedEncodingError) as exc:
            # The request reached Twilio, which may have queued the text: not sent again blindly.
            slow = isinstance(exc, requests.ReadTimeout)
            return SendResult(
                status="failed",
                error_code="timeout" if slow else "network",
                error_reason=f"Twilio did not answer within {self.timeout:g} seconds" if slow
                else "Twilio's answer was cut off",
                may_have_gone=True,
            )
        # Mostly a connection never made (a connect timeout too): retried. A report that the
        # provider has it after all stops the retry.
        except requests.ConnectionError:
            return SendResult(
                status="failed",
                error_code="network",
                error_reason="Could not reach Twilio (network error)",
                transient=True,
            )
        except (requests.RequestException, TwilioException) as exc:  # configuration, not Twilio
            return SendResult(
                status="failed",
                error_code="request",
                error_reason=f"Could not call Twilio: {exc.__class__.__name__}",
            )
        sid = (created.sid or "").strip() or None
        if sid is None:
            # A 2xx means Twilio took the message; its status report (which carries our message
            # id) still finds it. Retrying could text the contact twice.
            log.warning("Twilio accepted message %s without a sid", message.message_id)
        return SendResult(status="sent", provider_message_id=sid)

    def _api_error(self, exc: TwilioRestException | TwilioServiceException) -> SendResult:
        """An HTTP error from Twilio as a failed result: 429 and 5xx may pass later, others never."""
        status = int(exc.status or 0)
        code = str(exc.code) if exc.code and exc.code != status else None
        if isinstance(exc, TwilioServiceException):
            detail = exc.detail or exc.title or ""
        else:  # the SDK prefixes Twilio's message with what it was doing
            detail = str(exc.msg or "").removeprefix("Unable to create record: ")
        detail = detail.strip()[:200] or f"HTTP {status}"
        if status == 429 or code == "20429":
            return SendResult(
                status="failed",
                error_code=code or "http-429",
                error_reason="Twilio is rate-limiting this account (HTTP 429)",
                transient=True,
            )
        if status >= 500:
            return SendResult(
                status="failed",
                error_code=f"http-{status}",
                error_reason=f"Twilio had a temporary problem (HTTP {status})",
                transient=True,
            )
        if status == 401:
            code = code or "20003"
        reason = ERROR_REASONS.get(code or "") or f"Twilio refused the message: {detail}"
        return SendResult(
            status="failed",
            error_code=code or f"http-{status}",
            error_reason=reason,
            recipient_opted_out=code == OPTED_OUT_ERROR_CODE,
        )

    # Webhooks ----------------------------------------------------------------------------------

    def verify_webhook(self, request: WebhookRequest) -> bool:
        """Twilio signs the public URL it called and the form with the account's Auth Token."""
        headers = {key.lower(): value for key, value in request.headers.items()}
        signature = headers.get(SIGNATURE_HEADER.lower(), "").strip()
        if not signature:
            return False
        if headers.get(SHARED_KEY_HEADER.lower()):
            raise WebhookRefused(SHARED_KEY_REFUSED)
        return self.validator.validate(request.url, dict(request.form), signature)

    def parse_inbound(self, request: WebhookRequest) -> InboundMessage:
        form = request.form
        required_fields(form, "From", "To", "MessageSid")
        opt_out_type = (form.get("OptOutType") or "").strip().upper()
        return InboundMessage(
            from_phone=form["From"].strip(),
            to_phone=form["To"].strip(),
            body=(form.get("Body") or "").replace("\x00", ""),
            provider_message_id=_message_sid(form),
            media_urls=numbered_links(form, "MediaUrl"),
            intent=INTENTS.get(opt_out_type),
        )

    def parse_status(self, request: WebhookRequest) -> StatusUpdate:
        form = request.form
        required_fields(form, "MessageSid", "MessageStatus")
        reported = form["MessageStatus"].strip().lower()
        if reported not in STATUSES:
            raise ValueError(f"unknown MessageStatus {form['MessageStatus']!r}")
        status = STATUSES[reported]
        failed = status in ("failed", "undelivered")
        code = (form.get("ErrorCode") or "").strip() if failed else ""
        return StatusUpdate(
            provider_message_id=_message_sid(form),
            status=status,
            parley_message_id=request.parley_message_id(),
            error_code=code or None,
            error_reason=self.describe_error(code) if code else None,
            recipient_opted_out=code == OPTED_OUT_ERROR_CODE,
        )

    def describe_error(self, code: str) -> str:
        return ERROR_REASONS.get(str(code).strip(), f"Twilio error {code}")

    def fetch_media(self, url: str, max_bytes: int) -> bytes:
        # Twilio's media links need the account's credentials; they redirect to a storage host.
        if not url_under(url, self.media_base_url):
            raise MediaUnavailable("not a Twilio media link of this account")
        auth = (self.account_sid, self.auth_token)
        return fetch_file(url, max_bytes, self.timeout, auth=auth, provider="Twilio")


def _message_sid(form: Mapping[str, str]) -> str:
    sid = form["MessageSid"].strip()
    if len(sid) > MAX_ID_LENGTH:
        raise ValueError("MessageSid is too long")
    return sid
