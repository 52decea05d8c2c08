"""Twilio tests: the app has the console and Twilio providers enabled, Twilio pointed at a fake API."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from tests.conftest import make_app, serving
from tests.fake_twilio import ACCOUNT_SID, AUTH_TOKEN, FakeTwilio, signed_headers

TWILIO_NUMBER = "+12025550188"
CONTACT = "+12025550143"
BASE = "https://parley.example.edu"


@pytest.fixture
def fake_twilio() -> Iterator[FakeTwilio]:
    with FakeTwilio() as server:
        yield server


def twilio_settings(fake_twilio: FakeTwilio, timeout: float = 5) -> dict[str, object]:
    # The product's default timeout: a busy test machine must not turn a slow answer into a
    # timeout. The timeout tests ask for a short one.
    return {
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "TWILIO_API_BASE_URL": fake_twilio.url,
        "TWILIO_TIMEOUT_SECONDS": timeout,
    }


@pytest.fixture
def twilio_timeout() -> float:
    """Seconds the app waits for the fake API; a test parametrizes this to time out quickly."""
    return 5


@pytest.fixture
def app(database_url: str, tmp_path: Path, fake_twilio: FakeTwilio, twilio_timeout: float) -> Iterator[Flask]:
    """Overrides the suite's `app`: the same database and isolation, Twilio enabled."""
    settings = twilio_settings(fake_twilio, twilio_timeout)
    settings.update(SMS_PROVIDERS=["console", "twilio"], PUBLIC_BASE_URL=BASE)
    with serving(make_app(database_url, tmp_path, **settings)) as app:
        yield app


@pytest.fixture
def twilio_number(setup: dict, make):
    """A Twilio-backed number in the Admissions inbox (beside the setup's console number)."""
    return make.number(
        TWILIO_NUMBER, provider="twilio", inboxes=("Admissions",), label="Admissions Twilio"
    )


def post_signed(
    client: FlaskClient, path: str, form: dict[str, str], headers: dict | None = None
) -> TestResponse:
    """POST a form as Twilio would: signed for the public URL, unless `headers` are given."""
    if headers is None:
        headers = signed_headers(BASE + path, form)
    return client.post(path, data=form, headers=headers)
