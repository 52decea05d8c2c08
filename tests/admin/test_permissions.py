"""The permission matrix: every admin page and action × the three roles × own and other office.

All requests aim at the Admissions office's objects. "own" actors are Admissions members, "other"
actors are Financial Aid members. Only an Admissions admin gets through; a Financial Aid admin gets
404 (or a refused form), everyone else 403, and anonymous visitors go to the login page. A refused
request changes nothing.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import pytest
from sqlalchemy import func, select

from tests.admin.conftest import CONTACTS_CSV
from tests.conftest import csrf_token, login
from webapp.extensions import db
from webapp.models import (
    AuditEvent,
    Campaign,
    CampaignImport,
    Office,
    ReusableNumber,
    User,
)
from webapp.services.admin import campaigns as imports


@dataclass(frozen=True)
class Route:
    name: str
    method: str
    path: str  # formatted with the target ids
    data: dict | None = None  # formatted likewise; values may be lists
    scoped: bool = True  # names an object of one office (404 for an outsider)
    success: int = 200


ROUTES = [
    Route("home", "GET", "/admin/", scoped=False),
    Route("offices", "GET", "/admin/offices", scoped=False),
    Route("office", "GET", "/admin/offices/{office}"),
    Route("users", "GET", "/admin/users", scoped=False),
    Route("user-new-form", "GET", "/admin/users/new", scoped=False),
    Route("user", "GET", "/admin/users/{user}"),
    Route("numbers", "GET", "/admin/numbers", scoped=False),
    Route("number-new-form", "GET", "/admin/numbers/new", scoped=False),
    Route("number", "GET", "/admin/numbers/{number}"),
    Route("campaigns", "GET", "/admin/campaigns", scoped=False),
    Route("campaign-new-form", "GET", "/admin/campaigns/new", scoped=False),
    Route("campaign", "GET", "/admin/campaigns/{campaign}"),
    Route("import", "GET", "/admin/campaigns/imports/{import}"),
    Route("import-progress", "GET", "/admin/campaigns/imports/{import}/progress"),
    Route("audit", "GET", "/admin/audit", scoped=False),
    Route("office-create", "POST", "/admin/offices", {"name": "Registrar"}, False, 303),
    Route("office-rename", "POST", "/admin/offices/{office}", {"name": "Undergrad"}, success=303),
    Route(
        "user-create", "POST", "/admin/users/new",
        {"name": "Nia New", "email": "nia@example.edu", "role": "standard",
         "office_ids": ["{office}"], "password": "long-enough-password"},
        scoped=False, success=303,
    ),
    Route(
        "user-update", "POST", "/admin/users/{user}",
        {"name": "Sam Standard", "role": "limited", "office_ids": ["{office}"]}, success=303,
    ),
    Route(
        "user-password", "POST", "/admin/users/{user}/password",
        {"new_password": "another-password"}, success=303,
    ),
    Route("user-deactivate", "POST", "/admin/users/{user}/active", {"active": "0"}, success=303),
    Route(
        "number-add", "POST", "/admin/numbers/new",
        {"phone": "+12025550300", "office_id": "{office}", "label": "New line", "description": "",
         "provider": "console", "backing": "agent", "inbox_ids": ["{office}"]},
        scoped=False, success=303,
    ),
    Route(
        "number-edit", "POST", "/admin/numbers/{number}",
        {"office_id": "{office}", "label": "Renamed", "description": "", "provider": "console"},
        success=303,
    ),
    Route(
        "number-settings", "POST", "/admin/numbers/{number}/settings",
        {"backing": "bot", "inbox_ids": ["{office}"]}, success=303,
    ),
    Route(
        "number-deactivate", "POST", "/admin/numbers/{number}/active", {"active": "0"}, success=303
    ),
    Route(
        "campaign-upload", "POST", "/admin/campaigns/new",
        {"name": "Upload", "office_id": "{office}"}, scoped=False, success=303,
    ),
    Route("import-save", "POST", "/admin/campaigns/imports/{import}/save", {}, success=303),
    Route("import-cancel", "POST", "/admin/campaigns/imports/{import}/cancel", {}, success=303),
    Route("campaign-launch", "POST", "/admin/campaigns/{campaign}/launch", {}, success=303),
    Route("campaign-archive", "POST", "/admin/campaigns/{campaign}/archive", {}, success=303),
]  # fmt: skip

ACTORS = {
    ("admin", "own"): "admin@example.edu",
    ("standard", "own"): "standard@example.edu",
    ("limited", "own"): "limited@example.edu",
    ("admin", "other"): "fa-admin@example.edu",
    ("standard", "other"): "fa-staff@example.edu",
    ("limited", "other"): "fa-limited@example.edu",
}


@pytest.fixture
def targets(world: dict) -> dict:
    """Admissions' objects, plus an uploaded (checked, not saved) contact list of Admissions."""
    job_id = imports.start_import(
        world["users"]["admin"], "Pending list", world["office"].id,
        io.BytesIO(CONTACTS_CSV.encode()), "pending.csv",
    )  # fmt: skip
    return {
        "office": world["office"].id,
        "user": world["users"]["standard"].id,
        "number": world["number"].id,
        "campaign": world["campaign"].id,
        "import": job_id,
    }


def _format(value, ids: dict):
    if isinstance(value, list):
        return [_format(item, ids) for item in value]
    return value.format(**ids)


def _request(client, route: Route, ids: dict):
    path = route.path.format(**ids)
    if route.method == "GET":
        return client.get(path)
    data = {key: _format(value, ids) for key, value in (route.data or {}).items()}
    data["csrf_token"] = csrf_token(client, "/inbox")
    kwargs = {}
    if route.name == "campaign-upload":
        data["file"] = (io.BytesIO(CONTACTS_CSV.encode()), "contacts.csv")
        kwargs["content_type"] = "multipart/form-data"
    return client.post(path, data=data, **kwargs)


def snapshot() -> tuple:
    """Everything an admin action could change."""
    db.session.expire_all()
    return (
        db.session.scalar(select(func.count()).select_from(AuditEvent)),
        tuple(db.session.execute(select(Office.id, Office.name, Office.help_text).order_by(Office.id))),
        tuple(
            db.session.execute(
                select(User.id, User.name, User.role, User.active, User.password_hash).order_by(User.id)
            )
        ),
        tuple(
            db.session.execute(
                select(
                    ReusableNumber.id,
                    ReusableNumber.label,
                    ReusableNumber.backing,
                    ReusableNumber.active,
                    ReusableNumber.office_id,
                ).order_by(ReusableNumber.id)
            )
        ),  # fmt: skip
        tuple(db.session.execute(select(Campaign.id, Campaign.status).order_by(Campaign.id))),
        tuple(
            db.session.execute(select(CampaignImport.id, CampaignImport.status).order_by(CampaignImport.id))
        ),
        tuple((user.id, tuple(o.id for o in user.offices)) for user in db.session.scalars(select(User))),
        tuple(
            (n.id, tuple(a.id for a in n.agents), tuple(o.id for o in n.inboxes))
            for n in db.session.scalars(select(ReusableNumber))
        ),
    )


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: r.name)
def test_anonymous_visitors_are_sent_to_login(client, world, targets, route):
    before = snapshot()
    if route.method == "GET":
        response = client.get(route.path.format(**targets))
    else:
        token = csrf_token(client, "/login")
        response = client.post(route.path.format(**targets), data={"csrf_token": token})
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")
    assert snapshot() == before


@pytest.mark.parametrize("relation", ["own", "other"])
@pytest.mark.parametrize("role", ["admin", "standard", "limited"])
@pytest.mark.parametrize("route", ROUTES, ids=lambda r: r.name)
def test_permission_matrix(client, world, targets, route, role, relation):
    login(client, ACTORS[(role, relation)])
    before = snapshot()
    response = _request(client, route, targets)
    body = response.get_data(as_text=True)

    if role != "admin":
        assert response.status_code == 403, body
        assert "Texting - Administrative" in body
        assert snapshot() == before
    elif relation == "own":
        assert response.status_code == route.success, body
        if route.method == "POST":
            assert snapshot() != before
    elif route.scoped:
        assert response.status_code == 404, body
        assert snapshot() == before
    elif route.method == "POST" and route.name != "office-create":
        # Naming another office's id in a form is refused like any bad input.
        assert response.status_code == 422, body
        assert snapshot() == before
    else:
        assert response.status_code == route.success, body
        for admissions_data in ("Admissions", "Pending list", "Sam Standard", "555-0100"):
            assert admissions_data not in body  # nothing of Admissions shows on their pages


def test_htmx_request_without_session_is_sent_to_login(client, world):
    response = client.get("/admin/users", headers={"HX-Request": "true"})
    assert response.status_code == 401
    assert response.headers["HX-Redirect"].startswith("/login")


def test_forms_need_a_csrf_token(client, world):
    login(client, "admin@example.edu")
    response = client.post("/admin/offices", data={"name": "Registrar"})
    assert response.status_code == 400
    assert db.session.scalar(select(Office.id).where(Office.name == "Registrar")) is None


def test_header_links_to_admin_only_for_admins(client, world):
    login(client, "standard@example.edu")
    assert 'href="/admin/"' not in client.get("/inbox").get_data(as_text=True)
    client.post("/logout", data={"csrf_token": csrf_token(client, "/inbox")})
    login(client, "admin@example.edu")
    page = client.get("/inbox").get_data(as_text=True)
    assert '<a href="/admin/"' in page and ">Admin</a>" in page


def test_admin_front_page_links_to_every_section(client, world):
    login(client, "admin@example.edu")
    page = client.get("/admin/").get_data(as_text=True)
    for path in (
        "/admin/offices",
        "/admin/users",
        "/admin/numbers",
        "/admin/campaigns",
        "/admin/opt-outs/",
        "/admin/kb",
        "/admin/audit",
    ):
        assert f'href="{path}"' in page
