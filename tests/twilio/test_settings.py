"""Twilio's settings: an enabled Twilio without usable ones stops start-up, naming the setting."""

from __future__ import annotations

import pytest

from tests.conftest import make_app
from tests.fake_twilio import ACCOUNT_SID
from webapp.plugin_api.registry import PluginError


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({}, "Twilio is enabled but TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN are not set"),
        ({"TWILIO_ACCOUNT_SID": ACCOUNT_SID}, "TWILIO_AUTH_TOKEN is not set"),
        ({"TWILIO_AUTH_TOKEN": "s3cret-token"}, "TWILIO_ACCOUNT_SID is not set"),
        ({"TWILIO_ACCOUNT_SID": "MA123", "TWILIO_AUTH_TOKEN": "s3cret-token"},
         "TWILIO_ACCOUNT_SID must be AC followed by 32 hexadecimal characters"),
        ({"TWILIO_ACCOUNT_SID": ACCOUNT_SID, "TWILIO_AUTH_TOKEN": "s3cret-token",
          "TWILIO_API_BASE_URL": "api.twilio.com"}, "TWILIO_API_BASE_URL must be an http(s) URL"),
    ],
)  # fmt: skip
def test_twilio_enabled_without_usable_settings_stops_startup(database_url, tmp_path, settings, message):
    blank = {"TWILIO_ACCOUNT_SID": "", "TWILIO_AUTH_TOKEN": ""}
    with pytest.raises(PluginError) as error:
        make_app(database_url, tmp_path, SMS_PROVIDERS=["console", "twilio"], **{**blank, **settings})
    assert "'twilio'" in str(error.value)
    assert message in str(error.value)
    assert "s3cret-token" not in str(error.value)  # secrets never end up in messages or logs

