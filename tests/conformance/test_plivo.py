"""The Plivo provider passes the conformance kit, against the fake Plivo API."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import pytest

from tests.conformance.conftest import OnTheSuitesDatabase
from tests.fake_plivo import AUTH_ID, AUTH_TOKEN, FakePlivo, Reply, new_nonce, sign_v3
from webapp.plugin_api.testing import ProviderConformance, SentMessage

INTENTS = {"optout": "optout", "optin": "optin", "help": "help"}


class TestPlivoProvider(OnTheSuitesDatabase, ProviderConformance):
    provider_name = "plivo"
    required_settings = ("PLIVO_AUTH_ID", "PLIVO_AUTH_TOKEN")
    opted_out_error_code = "200"

    @pytest.fixture
    def provider_api(self) -> Iterator[FakePlivo]:
        with FakePlivo() as fake:
            yield fake

    def provider_settings(self, provider_api: FakePlivo) -> dict:
        return {
            "PLIVO_AUTH_ID": AUTH_ID,
            "PLIVO_AUTH_TOKEN": AUTH_TOKEN,
            "PLIVO_API_BASE_URL": provider_api.url,
            "PLIVO_TIMEOUT_SECONDS": 5,
        }

    def sent_messages(self, provider_api: FakePlivo) -> list[SentMessage]:
        return [
            SentMessage(
                from_phone=r.json["src"], to_phone=r.json["dst"], text=r.json["text"],
                status_callback_url=r.json.get("url"), provider_message_id=r.message_uuid,
                media_urls=tuple(r.json.get("media_urls") or ()),
            )  # fmt: skip
            for r in provider_api.requests
        ]

    def fail_next_send(self, provider_api: FakePlivo, kind: str) -> None:
        replies = {
            "transient": Reply(503),
            "permanent": Reply(400, {"api_id": "fake", "error": "invalid dst number"}),
        }
        if kind not in replies:  # Plivo reports an opted-out recipient in the status report
            raise NotImplementedError
        provider_api.answer_next(replies[kind])

    def sign(self, url: str, form: Mapping[str, str], *, forged: bool = False) -> dict[str, str]:
        nonce = new_nonce()
        token = "someone-else" if forged else AUTH_TOKEN
        return {
            "X-Plivo-Signature-V3": sign_v3(url, dict(form), nonce, token),
            "X-Plivo-Signature-V3-Nonce": nonce,
        }

    def inbound_form(self, *, from_phone, to_phone, text, message_id, media_urls=(), intent=None):
        form = {
            "From": from_phone.removeprefix("+"),  # Plivo sends digits without "+"
            "To": to_phone.removeprefix("+"),
            "Type": "mms" if media_urls else "sms",
            "Text" if not media_urls else "Body": text,
            "MessageUUID": message_id,
            "Units": "1",
        }
        if media_urls:
            form["MediaCount"] = str(len(media_urls))
            form.update({f"Media{i}": url for i, url in enumerate(media_urls, start=1)})
        if intent:
            form["MessageIntent"] = INTENTS[intent]
        return form

    def status_form(self, sent: SentMessage, status: str, error_code: str | None = None) -> dict[str, str]:
        form = {
            "MessageUUID": sent.provider_message_id or "",
            "Status": status,
            "To": sent.to_phone.removeprefix("+"),
            "From": sent.from_phone.removeprefix("+"),
            "Units": "1",
        }
        if error_code:
            form["ErrorCode"] = error_code
        return form
