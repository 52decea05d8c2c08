"""Plivo tests: the app has the console and Plivo providers enabled, Plivo pointed at a fake API."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from tests.conftest import IsolatedClient, make_app, serving
from tests.fake_plivo import AUTH_ID, AUTH_TOKEN, FakePlivo, v3_headers

PLIVO_NUMBER = "+12025550199"
CONTACT = "+12025550143"


@pytest.fixture
def fake_plivo() -> Iterator[FakePlivo]:
    with FakePlivo() as server:
        yield server


BASE = "https://parley.example.edu"


def plivo_app(database_url: str, instance: Path, fake_plivo: FakePlivo, **overrides: object) -> Flask:
    """The app on the suite's database with the console and Plivo providers, Plivo at the fake API."""
    settings: dict[str, object] = {
        "SMS_PROVIDERS": ["console", "plivo"],
        "PLIVO_AUTH_ID": AUTH_ID,
        "PLIVO_AUTH_TOKEN": AUTH_TOKEN,
        "PLIVO_API_BASE_URL": fake_plivo.url,
        "PLIVO_MEDIA_BASE_URL": f"{fake_plivo.url}/media",
        # The product's default: a busy test machine must not turn a slow answer into a timeout.
        # The timeout tests ask for a short one.
        "PLIVO_TIMEOUT_SECONDS": 5,
        "PUBLIC_BASE_URL": BASE,
    }
    app = make_app(database_url, instance, **(settings | overrides))
    app.test_client_class = IsolatedClient
    return app


@pytest.fixture
def plivo_timeout() -> float:
    """Seconds the app waits for the fake API; a test parametrizes this to time out quickly."""
    return 5


@pytest.fixture
def app(database_url: str, tmp_path: Path, fake_plivo: FakePlivo, plivo_timeout: float) -> Iterator[Flask]:
    """Overrides the suite's `app`: the same database and isolation, Plivo enabled."""
    app = plivo_app(database_url, tmp_path, fake_plivo, PLIVO_TIMEOUT_SECONDS=plivo_timeout)
    with serving(app) as app:
        yield app


@pytest.fixture
def plivo_number(setup: dict, make):
    """A Plivo-backed number in the Admissions inbox (beside the setup's console number)."""
    return make.number(
        PLIVO_NUMBER, provider="plivo", inboxes=("Admissions",), label="Admissions Plivo"
    )


def post_signed(
    client: FlaskClient, path: str, form: dict[str, str], headers: dict | None = None
) -> TestResponse:
    """POST a form as Plivo would: V3-signed for the public URL, unless `headers` are given."""
    if headers is None:
        headers = v3_headers(BASE + path, form)
    return client.post(path, data=form, headers=headers)
