"""The plugin's signature check, the tests' signer and the Plivo SDK agree on the algorithm."""

from __future__ import annotations

import pytest
from plivo.utils import validate_signature, validate_v3_signature

from plugins.plivo_sms import signatures
from tests.fake_plivo import AUTH_TOKEN, sign_v2, sign_v3

NONCE = "27182818284590452353"
CASES = [
    ("https://parley.example.edu/webhooks/plivo/inbound", {"From": "12025550143", "Text": "Hi"}),
    ("https://parley.example.edu/webhooks/plivo/status?message_id=42", {"Status": "sent"}),
    ("https://parley.example.edu/webhooks/plivo/status?b=2&a=1&a=0", {"Z": "1", "A": "x y"}),
    ("https://parley.example.edu:8443/p/webhooks/plivo/inbound", {"Text": "Größe ✓ & = ?"}),
    ("https://parley.example.edu/webhooks/plivo/status?message_id=7", {}),
]


@pytest.mark.parametrize(("url", "form"), CASES)
def test_v3_signer_matches_the_sdk_and_the_plugin(url, form):
    signature = sign_v3(url, form, NONCE)
    assert validate_v3_signature("POST", url, NONCE, AUTH_TOKEN, signature, dict(form))
    headers = {"X-Plivo-Signature-V3": signature, "X-Plivo-Signature-V3-Nonce": NONCE}
    assert signatures.verify("POST", url, headers, form, AUTH_TOKEN) == "v3"
    assert signatures.verify("POST", url, headers, {**form, "Extra": "1"}, AUTH_TOKEN) is None


@pytest.mark.parametrize(("url", "form"), CASES[:2])
def test_v2_signer_matches_the_sdk_and_the_plugin(url, form):
    signature = sign_v2(url, NONCE)
    assert validate_signature(url, NONCE, signature, AUTH_TOKEN)
    headers = {"x-plivo-signature-v2": signature, "x-plivo-signature-v2-nonce": NONCE}
    assert signatures.verify("POST", url, headers, form, AUTH_TOKEN) == "v2"
