"""The CRM API's fixtures: the admin tests' two offices, a key of each, and a client that sends
requests the way a CRM's server does (JSON, a Bearer key, no cookies)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from flask.testing import FlaskClient

from tests.admin import conftest as admin_fixtures
from webapp.extensions import db
from webapp.services import api_keys

world = admin_fixtures.world


def new_key(name: str, office) -> str:
    secret = api_keys.create_key(name, office, created_by=None).secret
    db.session.commit()
    return secret


@dataclass
class Crm:
    """A CRM's server: every request carries its key."""

    client: FlaskClient
    key: str

    def headers(self, extra: dict | None = None) -> dict:
        return {"Authorization": f"Bearer {self.key}", **(extra or {})}

    def get(self, path: str, **kwargs):
        return self.client.get(path, headers=self.headers(kwargs.pop("headers", None)), **kwargs)

    def post(self, path: str, json=None, **kwargs):
        return self.client.post(
            path, json=json, headers=self.headers(kwargs.pop("headers", None)), **kwargs
        )

    def send(self, to: str = "(202) 555-0143", text: str = "Hello from the CRM", **kwargs):
        body = {"from": kwargs.pop("from_", "+12025550100"), "to": to, "text": text}
        return self.post("/api/v1/messages", json=body, **kwargs)


@pytest.fixture
def crm(app, world) -> Crm:
    """A CRM with a key of Admissions (number +12025550100)."""
    return Crm(app.test_client(use_cookies=False), new_key("Slate", world["office"]))


@pytest.fixture
def other_crm(app, world) -> Crm:
    """A CRM with a key of Financial Aid (number +12025550200)."""
    return Crm(app.test_client(use_cookies=False), new_key("FA CRM", world["other_office"]))


def assert_problem(response, status: int, kind: str | None = None) -> dict:
    assert response.status_code == status, (response.status_code, response.get_data(as_text=True))
    assert response.mimetype == "application/problem+json"
    body = response.get_json(force=True)
    assert body["status"] == status and body["title"] and body["detail"]
    if kind is not None:
        assert body["type"] == f"/api/v1/docs#problem-{kind}", body
    return body
