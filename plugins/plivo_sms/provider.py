"""The Plivo SMS provider: sends through the real `plivo` SDK, verifies and parses Plivo's webhooks.

Configuration (from the app config, i.e. the environment): PLIVO_AUTH_ID, PLIVO_AUTH_TOKEN,
PLIVO_API_BASE_URL (default https://api.plivo.com) and optionally PLIVO_TIMEOUT_SECONDS (default 5),
PLIVO_MEDIA_BASE_URL (default https://media.plivo.com: where a contact's pictures are kept) and
PLIVO_ALLOW_V2_SIGNATURES (true: also accept webhooks signed only with the legacy V2 scheme).
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Mapping
from typing import Any

import plivo
import requests
from plivo import exceptions as plivo_errors

from plugins.plivo_sms import signatures
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

log = logging.getLogger("parley.plivo_sms")

DEFAULT_API_BASE_URL = "https://api.plivo.com"
DEFAULT_MEDIA_BASE_URL = "https://media.plivo.com"
AUTH_ID_PATTERN = re.compile(r"(MA|SA)[A-Z0-9]{18}")

# Plivo's message error codes (ErrorCode of failed/undelivered reports).
ERROR_REASONS = {
    "10": "Invalid message: the carrier rejected the message content",
    "20": "Network error at the carrier (temporary)",
    "30": "Blocked as spam by the carrier",
    "40": "Invalid source number: not SMS-enabled or not on this Plivo account",
    "50": "Invalid destination number",
    "200": "The recipient has opted out of texts from this number",
    "900": "The Plivo account has insufficient credit",
}
OPTED_OUT_ERROR_CODE = "200"
V2_REFUSED = (
    "Plivo V2 signatures are not accepted; enable V3 signatures for this Plivo application, or set "
    "PLIVO_ALLOW_V2_SIGNATURES=1 to accept V2 (it does not sign the message itself)"
)

# Plivo's report states as Parley's message statuses ("rejected" is the legacy "failed").
STATUSES = {
    "queued": "queued",
    "sent": "sent",
    "delivered": "delivered",
    "undelivered": "undelivered",
    "failed": "failed",
    "rejected": "failed",
}
INTENTS = frozenset({"optout", "optin", "help"})
MAX_ID_LENGTH = 100  # messages.provider_message_id is VARCHAR(100)


class _Client(plivo.RestClient):
    """A Plivo client bound to one API base URL.

    The SDK resets `base_uri` from the module constant `plivo.rest.client.PLIVO_API_BASE_URI` on
    every call. Pinning it per client, instead of rewriting that process-wide constant, keeps the
    setting in the plugin instance (two apps in one process may point at different endpoints).
    """

    def __init__(self, auth_id: str, auth_token: str, api_base_uri: str, timeout: float) -> None:
        super().__init__(auth_id, auth_token, timeout=timeout)
        self._api_base_uri = api_base_uri

    def create_request(self, method, path=None, data=None, **kwargs):
        self.base_uri = self._api_base_uri
        return super().create_request(method, path, data, **kwargs)


class PlivoSmsProvider(SmsProvider):
    label = "Plivo"
    # Plivo answers STOP/HELP on US/Canadian numbers itself: Parley must not send a second answer.
    handles_keywords = True
    supports_media = True

    def __init__(self, config: Mapping[str, Any]) -> None:
        super().__init__(config)
        self.auth_id, self.auth_token = required_settings(
            config, "Plivo", "PLIVO_AUTH_ID", "PLIVO_AUTH_TOKEN"
        )
        if not AUTH_ID_PATTERN.fullmatch(self.auth_id):
            raise ValueError(
                "PLIVO_AUTH_ID must be MA or SA followed by 18 capital letters or digits"
            )
        base_url = url_setting(config, "PLIVO_API_BASE_URL", DEFAULT_API_BASE_URL)
        self.api_base_uri = f"{base_url}/v1/Account"
        self.media_base_url = url_setting(config, "PLIVO_MEDIA_BASE_URL", DEFAULT_MEDIA_BASE_URL)
        self.timeout = float(config.get("PLIVO_TIMEOUT_SECONDS") or 5)
        # V2 signs only the URL and a nonce: with a captured one, anyone can post any text.
        self.allow_v2 = config.get("PLIVO_ALLOW_V2_SIGNATURES") in (True, "1")
        # One SDK client per worker thread: a requests.Session is not meant to be shared.
        self._local = threading.local()

    def _client(self) -> _Client:
        client = getattr(self._local, "client", None)
        if client is None:
            client = _Client(self.auth_id, self.auth_token, self.api_base_uri, self.timeout)
            self._local.client = client
        return client

    # Sending -----------------------------------------------------------------------------------

    def send(self, message: OutboundMessage) -> SendResult:
        try:
            response = self._client().messages.create(
                src=message.from_phone,
                dst=message.to_phone,
                text=message.body,
                url=message.status_callback_url,
                method="POST",
                # MMS when there are pictures (Plivo's media_urls), else a plain SMS
                **({"type_": "mms", "media_urls": list(message.media_urls)} if message.media_urls else {}),
            )
        except plivo_errors.PlivoRestError as exc:
            return _api_error(exc)
        except (requests.ReadTimeout, requests.exceptions.ChunkedEncodingError) as exc:
            # The request reached Plivo, which may have queued the text: not sent again blindly.
            slow = isinstance(exc, requests.ReadTimeout)
            return SendResult(
                status="failed",
                error_code="timeout" if slow else "network",
                error_reason=f"Plivo did not answer within {self.timeout:g} seconds" if slow
                else "Plivo's answer was cut off",
                may_have_gone=True,
            )
        # Mostly a connection never made (a connect timeout too): retried. A report that the
        # provider has it after all stops the retry.
        except requests.ConnectionError:
            return SendResult(
                status="failed",
                error_code="network",
                error_reason="Could not reach Plivo (network error)",
                transient=True,
            )
        except requests.RequestException as exc:  # a malformed URL and the like: configuration
            return SendResult(
                status="failed",
                error_code="request",
                error_reason=f"Could not call Plivo: {exc.__class__.__name__}",
            )
        uuids = getattr(response, "message_uuid", None)
        uuid = str(uuids[0]) if isinstance(uuids, list) and uuids else None
        if uuid is None:
            # A 2xx means Plivo queued the message; without an id the status report (which carries
            # our message_id) still finds it. Retrying could text the contact twice.
            log.warning("Plivo accepted message %s without a message_uuid", message.message_id)
        return SendResult(status="sent", provider_message_id=uuid)

    # Webhooks ----------------------------------------------------------------------------------

    def verify_webhook(self, request: WebhookRequest) -> bool:
        scheme = signatures.verify(
            request.method, request.url, request.headers, request.form, self.auth_token
        )
        if scheme == "v2" and not self.allow_v2:
            raise WebhookRefused(V2_REFUSED)
        return scheme is not None

    def replay_key(self, request: WebhookRequest) -> str | None:
        # The nonce is signed (V3 and V2 alike): a replay carries the same one.
        return signatures.nonce(request.headers) or None

    def parse_inbound(self, request: WebhookRequest) -> InboundMessage:
        form = request.form
        required_fields(form, "From", "To", "MessageUUID")
        intent = (form.get("MessageIntent") or "").strip().lower()
        return InboundMessage(
            from_phone=form["From"].strip(),
            to_phone=form["To"].strip(),
            # SMS carry "Text", MMS "Body"
            body=(form.get("Text") or form.get("Body") or "").replace("\x00", ""),
            provider_message_id=_message_uuid(form),
            media_urls=numbered_links(form, "Media"),
            intent=intent if intent in INTENTS else None,
        )

    def parse_status(self, request: WebhookRequest) -> StatusUpdate:
        form = request.form
        required_fields(form, "MessageUUID", "Status")
        reported = form["Status"].strip().lower()
        if reported not in STATUSES:
            raise ValueError(f"unknown Status {form['Status']!r}")
        status = STATUSES[reported]
        code = (form.get("ErrorCode") or "").strip()
        failed = status in ("failed", "undelivered")
        code = code if failed and code not in ("", "000") else None
        return StatusUpdate(
            provider_message_id=_message_uuid(form),
            status=status,
            parley_message_id=request.parley_message_id(),
            error_code=code,
            error_reason=(self.describe_error(code) if code else None) if failed else None,
            recipient_opted_out=code == OPTED_OUT_ERROR_CODE,
        )

    def describe_error(self, code: str) -> str:
        return ERROR_REASONS.get(str(code).strip(), f"Plivo error {code}")

    # A contact's pictures ----------------------------------------------------------------------

    def fetch_media(self, url: str, max_bytes: int) -> bytes:
        # Plivo's media links are public; the account's own API's need its credentials.
        if url_under(url, self.media_base_url):
            auth = None
        elif url_under(url, f"{self.api_base_uri}/{self.auth_id}"):
            auth = (self.auth_id, self.auth_token)
        else:
            raise MediaUnavailable("not a Plivo media link of this account")
        return fetch_file(url, max_bytes, self.timeout, auth=auth, provider="Plivo")


def _api_error(exc: plivo_errors.PlivoRestError) -> SendResult:
    """An HTTP error from Plivo (or the SDK's own validation) as a failed result."""
    detail = str(exc).strip()[:200] or exc.__class__.__name__
    if isinstance(exc, plivo_errors.PlivoServerError):
        status = 500
    elif isinstance(exc, plivo_errors.AuthenticationError):
        return SendResult(
            status="failed",
            error_code="http-401",
            error_reason="Plivo refused the credentials: check PLIVO_AUTH_ID and PLIVO_AUTH_TOKEN",
        )
    elif isinstance(exc, (plivo_errors.ForbiddenError, plivo_errors.GeoPermissionError)):
        status = 403
    elif isinstance(exc, plivo_errors.ResourceNotFoundError):
        status = 404
    elif isinstance(exc, (plivo_errors.ValidationError, plivo_errors.InvalidRequestError)):
        status = 400
    else:  # the SDK only says "Received status code N …" for the codes it has no class for
        found = re.search(r"status code (\d{3})", detail)
        status = int(found.group(1)) if found else 0
    if status == 429:
        return SendResult(
            status="failed",
            error_code="http-429",
            error_reason="Plivo is rate-limiting this account (HTTP 429)",
            transient=True,
        )
    if status >= 500:
        return SendResult(
            status="failed",
            error_code=f"http-{status}",
            error_reason=f"Plivo had a temporary problem (HTTP {status})",
            transient=True,
        )
    return SendResult(
        status="failed",
        error_code=f"http-{status}" if status else "rejected",
        error_reason=f"Plivo refused the message: {detail}",
    )


def _message_uuid(form: Mapping[str, str]) -> str:
    uuid = form["MessageUUID"].strip()
    if len(uuid) > MAX_ID_LENGTH:
        raise ValueError("MessageUUID is too long")
    return uuid
