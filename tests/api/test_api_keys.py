"""API keys: made by `flask api-keys create` or the admin console, shown once and kept as a hash,
revoked by either, audited; every API call needs one, and a browser's session never stands in."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from tests.admin.conftest import as_admin, post
from tests.api.conftest import Crm, assert_problem
from tests.security.office_objects import all_rows
from webapp.extensions import db
from webapp.models import ApiKey, AuditEvent


def run(app, *args: str):
    result = app.test_cli_runner().invoke(args=list(args))
    db.session.rollback()  # see what the command committed
    return result


def test_the_cli_prints_the_key_on_its_last_line_and_keeps_only_its_hash(app, world):
    result = run(app, "api-keys", "create", "Slate", "--office", "Admissions")
    assert result.exit_code == 0, result.output
    secret = result.output.strip().splitlines()[-1]
    assert secret.startswith("parley_") and len(secret) > 40
    assert secret not in repr(all_rows())  # no table holds the key itself
    key = db.session.scalar(select(ApiKey).where(ApiKey.name == "Slate"))
    assert key.office_id == world["office"].id and key.last_used_at is None

    crm = Crm(app.test_client(use_cookies=False), secret)
    assert crm.get("/api/v1/contacts/lookup?phone=2025550143").status_code == 200
    db.session.expire_all()
    assert db.session.get(ApiKey, key.id).last_used_at is not None
    kinds = db.session.scalars(select(AuditEvent.kind).order_by(AuditEvent.id)).all()
    assert "api_key.created" in kinds

    result = run(app, "api-keys", "revoke", "Slate")
    assert result.exit_code == 0, result.output
    body = assert_problem(crm.get("/api/v1/contacts/lookup?phone=2025550143"), 401, "unauthorized")
    assert "revoked" in body["detail"]
    assert "api_key.revoked" in db.session.scalars(select(AuditEvent.kind)).all()


def test_the_cli_refuses_bad_input_without_changing_anything(app, world):
    before = all_rows()
    for args, message in [
        (("api-keys", "create", "Slate", "--office", "Nowhere"), "No office named 'Nowhere'"),
        (("api-keys", "create", " ", "--office", "Admissions"), "Give the key a name"),
        (("api-keys", "revoke", "Nobody"), "No active API key named 'Nobody'"),
    ]:
        result = run(app, *args)
        assert result.exit_code == 1 and message in result.output, result.output
    assert all_rows() == before
    assert run(app, "api-keys", "create", "Slate", "--office", "Admissions").exit_code == 0
    twice = run(app, "api-keys", "create", "Slate", "--office", "Admissions")
    assert twice.exit_code == 1 and "Admissions has an active key named 'Slate' already" in twice.output
    # Once revoked, the name is free again.
    assert run(app, "api-keys", "revoke", "Slate").exit_code == 0
    assert run(app, "api-keys", "create", "Slate", "--office", "Admissions").exit_code == 0


@pytest.mark.parametrize(
    ("name", "error"),
    [
        ("a\nb", "A key's name cannot contain control characters"),
        ("\u202eyek", "A key's name cannot contain characters that reverse the direction of text."),
    ],
)
def test_the_cli_refuses_a_key_name_that_does_not_read_as_typed(app, world, name, error):
    before = all_rows()
    result = run(app, "api-keys", "create", name, "--office", "Admissions")
    assert result.exit_code == 1 and error in result.output, result.output
    assert all_rows() == before


def test_two_offices_may_name_a_key_alike_and_revoking_it_says_which(app, world):
    """Offices sharing one CRM name their keys after it; `revoke NAME` then asks which office's."""
    for office in ("Admissions", "Financial Aid"):
        result = run(app, "api-keys", "create", "Slate", "--office", office)
        assert result.exit_code == 0, result.output
    keys = db.session.scalars(select(ApiKey).where(ApiKey.name == "Slate").order_by(ApiKey.id)).all()
    assert [key.office_id for key in keys] == [world["office"].id, world["other_office"].id]

    before = all_rows()
    ambiguous = run(app, "api-keys", "revoke", "Slate")
    assert ambiguous.exit_code == 1
    assert "(Admissions, Financial Aid); say which with --office" in ambiguous.output
    result = run(app, "api-keys", "revoke", "Slate", "--office", "Nowhere")
    assert result.exit_code == 1 and "No office named 'Nowhere'" in result.output
    assert all_rows() == before

    result = run(app, "api-keys", "revoke", "Slate", "--office", "Financial Aid")
    assert result.exit_code == 0, result.output
    db.session.expire_all()
    assert [key.revoked_at is None for key in keys] == [True, False]
    again = run(app, "api-keys", "revoke", "Slate", "--office", "Financial Aid")
    assert again.exit_code == 1 and "No active API key named 'Slate' in Financial Aid." in again.output
    # One key of that name is left: the name alone says which.
    assert run(app, "api-keys", "revoke", "Slate").exit_code == 0
    db.session.expire_all()
    assert all(key.revoked_at is not None for key in keys)


def test_requests_without_a_valid_key_get_401_problems(app, crm):
    anonymous = app.test_client(use_cookies=False)
    for headers in ({}, {"Authorization": "Basic dXNlcjpwYXNz"}, {"Authorization": "Bearer "},
                    {"Authorization": "Bearer parley_not-a-key"}):  # fmt: skip
        for method, path in [("get", "/api/v1/messages/1"), ("post", "/api/v1/messages")]:
            response = getattr(anonymous, method)(path, headers=headers, json={})
            body = assert_problem(response, 401, "unauthorized")
            assert response.headers["WWW-Authenticate"].startswith("Bearer")
            assert "Authorization" in body["detail"] or "not valid" in body["detail"]


def test_a_signed_in_browser_session_alone_never_authorises_an_api_call(app, client, crm, world):
    as_admin(client)
    assert client.get("/inbox").status_code == 200
    assert_problem(client.get("/api/v1/contacts/lookup?phone=2025550143"), 401)
    body = {"from": "+12025550100", "to": "2025550143", "text": "Forged from a page"}
    assert_problem(client.post("/api/v1/messages", json=body), 401)
    token = re.search(r'"X-CSRFToken": "([^"]+)"', client.get("/inbox").get_data(as_text=True))[1]
    assert_problem(client.post("/api/v1/messages", json=body, headers={"X-CSRFToken": token}), 401)
    assert "Forged" not in repr(all_rows())


def test_an_admin_creates_a_key_in_the_console_and_sees_it_once(app, client, world):
    as_admin(client)
    response = post(client, "/admin/api-keys", {"name": "Salesforce", "office_id": world["office"].id})
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    secret = re.search(r'id="new-api-key" type="text" readonly value="(parley_[^"]+)"', page)[1]
    assert "it is not shown again" in page

    listing = client.get("/admin/api-keys").get_data(as_text=True)
    assert "Salesforce" in listing and secret not in listing and secret[:11] in listing
    key = db.session.scalar(select(ApiKey).where(ApiKey.name == "Salesforce"))
    assert key.created_by_id == world["users"]["admin"].id

    crm = Crm(app.test_client(use_cookies=False), secret)
    assert crm.get("/api/v1/conversations?phone=2025550143").status_code == 200
    assert "Never" not in client.get("/admin/api-keys").get_data(as_text=True)  # last used shown

    response = post(client, f"/admin/api-keys/{key.id}/revoke")
    assert response.status_code in (302, 303)
    assert "revoked" in client.get("/admin/api-keys").get_data(as_text=True)
    assert_problem(crm.get("/api/v1/conversations?phone=2025550143"), 401)
    audit = client.get("/admin/audit").get_data(as_text=True)
    assert "API key Salesforce created for Admissions" in audit
    assert "API key Salesforce revoked" in audit


def test_the_console_refuses_bad_input_and_other_offices(app, client, world):
    as_admin(client)
    before = all_rows()
    response = post(client, "/admin/api-keys", {"name": "", "office_id": world["office"].id})
    assert response.status_code == 422 and "Give the key a name" in response.get_data(as_text=True)
    response = post(client, "/admin/api-keys", {"name": "X", "office_id": world["other_office"].id})
    assert response.status_code == 422 and "Choose one of your offices" in response.get_data(as_text=True)
    assert all_rows() == before

    # A key of another office is not there for this admin.
    from tests.api.conftest import new_key

    new_key("FA CRM", world["other_office"])
    other = db.session.scalar(select(ApiKey).where(ApiKey.name == "FA CRM"))
    assert post(client, f"/admin/api-keys/{other.id}/revoke").status_code == 404
    assert client.get(f"/admin/api-keys/{other.id}/revoke").status_code == 404
    assert "FA CRM" not in client.get("/admin/api-keys").get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(ApiKey, other.id).revoked_at is None

    # Nor is its name in the way, or named: a name is taken only within the office.
    form = {"name": "FA CRM", "office_id": world["office"].id}
    assert post(client, "/admin/api-keys", form).status_code == 200
    before = all_rows()
    response = post(client, "/admin/api-keys", form)
    assert response.status_code == 422
    assert "Admissions has an active key named &#39;FA CRM&#39; already" in response.get_data(as_text=True)
    assert all_rows() == before


def test_key_names_differ_in_more_than_letter_case(app, client, world):
    """Messages are authored by the key's name: "Slate CRM" and "slate crm" could not be told apart."""
    assert run(app, "api-keys", "create", "Slate CRM", "--office", "Admissions").exit_code == 0
    as_admin(client)
    before = all_rows()
    again = run(app, "api-keys", "create", "slate  crm", "--office", "Admissions")
    assert again.exit_code == 1 and "Admissions has an active key named 'Slate CRM' already" in again.output
    for name in ("SLATE CRM", "Slate ＣＲＭ"):  # any case, width forms too, as office names are compared
        response = post(client, "/admin/api-keys", {"name": name, "office_id": world["office"].id})
        page = response.get_data(as_text=True)
        assert response.status_code == 422
        assert "Admissions has an active key named &#39;Slate CRM&#39; already" in page
    assert all_rows() == before
    # Another office's key may share the name; and `revoke` finds a key whatever the case.
    assert run(app, "api-keys", "create", "slate crm", "--office", "Financial Aid").exit_code == 0
    ambiguous = run(app, "api-keys", "revoke", "SLATE CRM")
    assert ambiguous.exit_code == 1
    assert "(Admissions, Financial Aid); say which with --office" in ambiguous.output
    result = run(app, "api-keys", "revoke", "SLATE CRM", "--office", "Admissions")
    assert result.exit_code == 0 and "Revoked API key 'Slate CRM'." in result.output
    assert run(app, "api-keys", "revoke", "Slate crm").exit_code == 0
    assert db.session.scalars(select(ApiKey).where(ApiKey.revoked_at.is_(None))).all() == []


def test_revoke_names_the_key_that_reads_so_exactly_where_two_made_before_read_alike(app, world):
    """Keys made before case was compared may read alike in one office: the exact name says which."""
    for name in ("Slate", "slate"):
        db.session.add(ApiKey(name=name, office_id=world["office"].id, key_hash=name * 8, prefix="parley_x"))
    db.session.commit()
    # Written another way still, the command cannot tell which is meant, and says so.
    for office in ((), ("--office", "Admissions")):
        unsure = run(app, "api-keys", "revoke", "SLATE", *office)
        assert unsure.exit_code == 1
        assert "Admissions has several active API keys named alike ('Slate', 'slate')" in unsure.output
    assert run(app, "api-keys", "revoke", "slate").exit_code == 0
    assert db.session.scalars(select(ApiKey.name).where(ApiKey.revoked_at.is_(None))).all() == ["Slate"]


def test_the_console_shows_every_fields_error_at_once(client, world):
    as_admin(client)
    response = post(client, "/admin/api-keys", {"name": " ", "office_id": ""})
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "Give the key a name" in page and "Choose one of your offices" in page


def test_revoking_in_the_console_asks_first(client, world):
    """Revoking stops the CRM using the key at once: the page asks, and asking revokes nothing."""
    from tests.api.conftest import new_key

    new_key("Slate", world["office"])
    key = db.session.scalar(select(ApiKey).where(ApiKey.name == "Slate"))
    as_admin(client)
    revoking = f'method="post" action="/admin/api-keys/{key.id}/revoke"'
    assert revoking not in client.get("/admin/api-keys").get_data(as_text=True)
    asked = client.get(f"/admin/api-keys/{key.id}/revoke").get_data(as_text=True)
    assert "Revoke Slate?" in asked and "Its next request gets 401" in asked and revoking in asked
    db.session.expire_all()
    assert db.session.get(ApiKey, key.id).revoked_at is None
    assert post(client, f"/admin/api-keys/{key.id}/revoke").status_code in (302, 303)
    db.session.expire_all()
    assert db.session.get(ApiKey, key.id).revoked_at is not None


def test_only_admins_reach_the_api_keys_page(app, client, world):
    post_login = as_admin(client, "standard@example.edu")
    assert post_login.get("/admin/api-keys").status_code == 403
