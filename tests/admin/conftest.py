"""Two offices, so every admin rule can be checked from inside and from outside an office."""

from __future__ import annotations

import io

import pytest

from tests.conftest import Factory, csrf_token, login
from webapp.extensions import db
from webapp.services import campaigns
from webapp.services.directory import office_by_name

CONTACTS_CSV = "first_name,last_name,phone\nMaria,Garcia,(202) 555-0143\nJames,Smith,202-555-0178\n"


@pytest.fixture
def world(setup: dict, make: Factory) -> dict:
    """Admissions (from `setup`) and Financial Aid, each with its own admin, number and campaign."""
    make.office("Financial Aid")
    other_admin = make.user("fa-admin@example.edu", "admin", ("Financial Aid",), name="Fay Admin")
    other_user = make.user("fa-staff@example.edu", "standard", ("Financial Aid",), name="Finn Staff")
    make.user("fa-limited@example.edu", "limited", ("Financial Aid",), name="Flo Limited")
    other_number = make.number(
        "+12025550200", office="Financial Aid", inboxes=("Financial Aid",), label="FA Main"
    )
    campaigns.import_campaign("Admissions List", "Admissions", io.BytesIO(CONTACTS_CSV.encode()))
    campaigns.import_campaign("FA List", "Financial Aid", io.BytesIO(CONTACTS_CSV.encode()))
    db.session.commit()
    return {
        **setup,
        "other_office": office_by_name("Financial Aid"),
        "other_admin": other_admin,
        "other_user": other_user,
        "other_number": other_number,
        "campaign": campaigns.campaign_by_name("Admissions List"),
        "other_campaign": campaigns.campaign_by_name("FA List"),
    }


def post(client, path: str, data: dict | None = None, htmx: bool = False, page: str | None = None):
    """A form post with the session's CSRF token (any page carries it: the inbox by default)."""
    token = csrf_token(client, page or "/inbox")
    headers = {"HX-Request": "true"} if htmx else {}
    return client.post(path, data={"csrf_token": token, **(data or {})}, headers=headers)


def as_admin(client, email: str = "admin@example.edu"):
    response = login(client, email)
    assert response.status_code == 302
    return client


def upload(
    client,
    name: str,
    office_id: int,
    content: bytes,
    filename: str = "contacts.csv",
    htmx: bool = False,
):
    """Post a contact-list CSV to the upload form, as a browser would (multipart)."""
    token = csrf_token(client, "/inbox")
    data = {
        "csrf_token": token,
        "name": name,
        "office_id": str(office_id),
        "file": (io.BytesIO(content), filename),
    }
    headers = {"HX-Request": "true"} if htmx else {}
    return client.post("/admin/campaigns/new", data=data, headers=headers, content_type="multipart/form-data")


def switch(client, email: str):
    """Log out whoever is signed in on this client, then sign in as `email`."""
    client.post("/logout", data={"csrf_token": csrf_token(client, "/inbox")})
    return login(client, email)
