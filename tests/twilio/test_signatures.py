"""The tests' signer, the SDK's RequestValidator (which the plugin uses) and the plugin agree."""

from __future__ import annotations

import pytest
from twilio.request_validator import RequestValidator

from plugins.twilio_sms import TwilioSmsProvider
from tests.fake_twilio import ACCOUNT_SID, AUTH_TOKEN, sign
from webapp.plugin_api import WebhookRequest

CASES = [
    ("https://parley.example.edu/webhooks/twilio/inbound", {"From": "+12025550143", "Body": "Hi"}),
    ("https://parley.example.edu/webhooks/twilio/status?message_id=42", {"MessageStatus": "sent"}),
    ("https://parley.example.edu:8443/p/webhooks/twilio/inbound", {"Body": "Größe ✓ & = ?", "A": ""}),
    ("https://parley.example.edu/webhooks/twilio/status?message_id=7", {}),
]


@pytest.fixture
def provider() -> TwilioSmsProvider:
    return TwilioSmsProvider({"TWILIO_ACCOUNT_SID": ACCOUNT_SID, "TWILIO_AUTH_TOKEN": AUTH_TOKEN})


@pytest.mark.parametrize(("url", "form"), CASES)
def test_signer_matches_the_sdk_and_the_plugin(provider, url, form):
    signature = sign(url, form)
    assert RequestValidator(AUTH_TOKEN).validate(url, form, signature)
    request = WebhookRequest("POST", url, {"X-Twilio-Signature": signature}, form)
    assert provider.verify_webhook(request)
    assert provider.replay_key(request) is None  # Twilio retries with the same signature
    tampered = WebhookRequest("POST", url, {"x-twilio-signature": signature}, {**form, "Extra": "1"})
    assert not provider.verify_webhook(tampered)
