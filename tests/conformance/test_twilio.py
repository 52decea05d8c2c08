"""The Twilio provider passes the conformance kit, against the fake Twilio API."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import pytest

from tests.conformance.conftest import OnTheSuitesDatabase
from tests.fake_twilio import ACCOUNT_SID, AUTH_TOKEN, FakeTwilio, Reply, signed_headers
from tests.twilio.conftest import twilio_settings
from webapp.plugin_api.testing import ProviderConformance, SentMessage

OPT_OUT_TYPES = {"optout": "STOP", "optin": "START", "help": "HELP"}


class TestTwilioProvider(OnTheSuitesDatabase, ProviderConformance):
    provider_name = "twilio"
    required_settings = ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN")
    opted_out_error_code = "21610"

    @pytest.fixture
    def provider_api(self) -> Iterator[FakeTwilio]:
        with FakeTwilio() as fake:
            yield fake

    def provider_settings(self, provider_api: FakeTwilio) -> dict:
        return twilio_settings(provider_api)

    def sent_messages(self, provider_api: FakeTwilio) -> list[SentMessage]:
        return [
            SentMessage(
                from_phone=r.value("From"), to_phone=r.value("To"), text=r.value("Body") or "",
                status_callback_url=r.value("StatusCallback"), provider_message_id=r.sid,
                media_urls=tuple(r.form.get("MediaUrl", [])),
            )  # fmt: skip
            for r in provider_api.requests
        ]

    def fail_next_send(self, provider_api: FakeTwilio, kind: str) -> None:
        provider_api.answer_next(
            {
                "transient": Reply(503),
                "permanent": Reply(400, 21211, "The 'To' number is not a valid phone number."),
                "opted_out": Reply(400, 21610, "Attempt to send to unsubscribed recipient"),
            }[kind]
        )

    def sign(self, url: str, form: Mapping[str, str], *, forged: bool = False) -> dict[str, str]:
        return signed_headers(url, dict(form), token="someone-else" if forged else AUTH_TOKEN)

    def inbound_form(self, *, from_phone, to_phone, text, message_id, media_urls=(), intent=None):
        form = {
            "MessageSid": message_id,
            "SmsMessageSid": message_id,
            "AccountSid": ACCOUNT_SID,
            "From": from_phone,
            "To": to_phone,
            "Body": text,
            "NumMedia": str(len(media_urls)),
            "NumSegments": "1",
            "ApiVersion": "2010-04-01",
        }
        form.update({f"MediaUrl{i}": url for i, url in enumerate(media_urls)})
        if intent:
            form["OptOutType"] = OPT_OUT_TYPES[intent]
        return form

    def status_form(self, sent: SentMessage, status: str, error_code: str | None = None) -> dict[str, str]:
        form = {
            "MessageSid": sent.provider_message_id or "",
            "MessageStatus": status,
            "SmsStatus": status,
            "AccountSid": ACCOUNT_SID,
            "From": sent.from_phone,
            "To": sent.to_phone,
            "ApiVersion": "2010-04-01",
        }
        if error_code:
            form["ErrorCode"] = error_code
        return form
