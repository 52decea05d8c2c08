"""A Parley to test a provider plugin against, driven only through what outside systems use.

It is set up with the `flask` commands (an office, a number of the provider under test, an API
key), texts are sent with the CRM API, provider webhooks are posted to their public routes, and
results are read back through the CRM API. So the kit checks what Parley does with a provider,
not how Parley is built inside, and a plugin that passes keeps passing as Parley changes.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from webapp.plugin_api.interfaces import SmsProvider

PUBLIC_BASE_URL = "https://parley.example.org"
OFFICE = "Conformance"
NUMBER = "+12025550100"  # the provider's number under test (555-01xx: fictional)
CONTACT = "+12025550143"


def build_app(database_url: str, instance: Path, settings: Mapping[str, Any]) -> Flask:
    """Parley's own app on `database_url`, its queue running tasks at once, `settings` applied."""
    from webapp import create_app  # the composition root; see the import-linter contracts
    from webapp.config import TestConfig

    config = TestConfig(str(instance), database_url)
    for key, value in {"PUBLIC_BASE_URL": PUBLIC_BASE_URL, **settings}.items():
        setattr(config, key, value)
    return create_app(config)


def migrate(database_url: str, instance: Path) -> None:
    """Build Parley's schema on an empty database, with its migrations."""
    from flask_migrate import upgrade

    app = build_app(database_url, instance, {})
    with app.app_context():
        upgrade()
    dispose(app)


def dispose(app: Flask) -> None:
    """Close the app's database connections (its files can then be copied or removed)."""
    with app.app_context():
        app.extensions["sqlalchemy"].engine.dispose()


@dataclass
class Parley:
    """A running Parley with one office, one number of the provider under test and an API key."""

    app: Flask
    provider_name: str
    api_key: str = ""
    number: str = NUMBER
    contact: str = CONTACT

    @classmethod
    def start(cls, app: Flask, provider_name: str) -> Parley:
        parley = cls(app, provider_name)
        parley.command("offices", "create", OFFICE)
        parley.command(
            "numbers", "add", NUMBER, "--office", OFFICE, "--provider", provider_name,
            "--backing", "agent", "--inbox", OFFICE, "--label", "Conformance",
        )  # fmt: skip
        # The key is printed alone on the last line.
        parley.api_key = parley.command("api-keys", "create", "conformance", "--office", OFFICE)[-1]
        return parley

    @property
    def provider(self) -> SmsProvider:
        """The provider plugin as Parley loaded it (from its entry point, with the settings)."""
        return self.app.extensions["parley"].provider(self.provider_name)

    def client(self) -> FlaskClient:
        return self.app.test_client()

    def command(self, *args: str) -> list[str]:
        """Run `flask --app webapp ARGS…`; its output lines. Fails the test when it fails."""
        with self.app.app_context():
            result = self.app.test_cli_runner().invoke(args=list(args))
        assert result.exit_code == 0, f"flask {' '.join(args)} failed:\n{result.output}"
        return result.output.strip().splitlines()

    # The CRM API --------------------------------------------------------------------------------

    def api(self, method: str, path: str, body: Mapping[str, Any] | None = None) -> TestResponse:
        headers = {"Authorization": f"Bearer {self.api_key}"}
        return self.client().open(f"/api/v1{path}", method=method, json=body, headers=headers)

    def send(self, text: str, to: str | None = None) -> dict[str, Any]:
        """A text from the number through the CRM API; the message as the API shows it after the
        queue has run the send (the kit's queue runs tasks at once)."""
        answer = self.api("POST", "/messages", {"from": self.number, "to": to or self.contact, "text": text})
        assert answer.status_code == 202, f"the CRM API refused a send: {answer.get_data(as_text=True)}"
        return self.message(answer.get_json()["id"])

    def message(self, message_id: int) -> dict[str, Any]:
        answer = self.api("GET", f"/messages/{message_id}")
        assert answer.status_code == 200, answer.get_data(as_text=True)
        return answer.get_json()

    def inbound_messages(self, phone: str | None = None) -> list[dict[str, Any]]:
        """Every message the contact sent, oldest first."""
        found = self.api("GET", f"/conversations?phone={phone or self.contact}").get_json()["data"]
        messages = []
        for conversation in found:
            page = self.api("GET", f"/conversations/{conversation['id']}/messages?limit=100").get_json()
            messages += [m for m in page["data"] if m["direction"] == "inbound"]
        return messages

    def conversation_count(self, phone: str | None = None) -> int:
        return len(self.api("GET", f"/conversations?phone={phone or self.contact}").get_json()["data"])

    def opted_out(self, phone: str | None = None) -> bool:
        answer = self.api("GET", f"/contacts/lookup?phone={phone or self.contact}")
        assert answer.status_code == 200, answer.get_data(as_text=True)
        return answer.get_json()["opted_out"]

    # Provider webhooks ----------------------------------------------------------------------------

    def inbound_url(self) -> str:
        return f"{PUBLIC_BASE_URL}/webhooks/{self.provider_name}/inbound"

    def status_url(self, message_id: int) -> str:
        """The status callback Parley gives the provider for a message."""
        return f"{PUBLIC_BASE_URL}/webhooks/{self.provider_name}/status?message_id={message_id}"

    def post(self, url: str, form: Mapping[str, str], headers: Mapping[str, str]) -> TestResponse:
        """POST a webhook to the public URL `url`, as the provider would reach Parley there."""
        parts = urlsplit(url)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        return self.client().post(path, data=dict(form), headers=dict(headers))


@contextmanager
def running(app: Flask, provider_name: str):
    """A Parley set up on `app`; its connections closed afterwards."""
    try:
        yield Parley.start(app, provider_name)
    finally:
        dispose(app)
