"""CSRF tokens (Flask-WTF's CSRFProtect): a token is valid only in its own session, with an intact
signature and, over HTTPS, in a post from a page of ours. Every state-changing route checks it (read
from `app.url_map`), in a form field or in htmx's X-CSRFToken header; only the signed provider
webhooks do without."""

from __future__ import annotations

import re

import pytest
from flask import url_for
from sqlalchemy import select

from tests.admin import conftest as admin_fixtures
from tests.conftest import PASSWORD, csrf_token, login
from tests.security.office_objects import OfficeObjects, all_rows, office_objects
from webapp.extensions import db
from webapp.models import Conversation, Message

HTTPS = "https://parley.example.edu"

# The admin tests' two offices (and their cheap password hashing).
world = admin_fixtures.world


def post_text(client, token: str, number_id: int, body: str, **kwargs):
    data = {"csrf_token": token, "number_id": number_id, "to": "2025550143", "body": body}
    return client.post("/texts/new", data=data, **kwargs)


def bodies() -> list[str]:
    return db.session.scalars(select(Message.body).order_by(Message.id)).all()


def test_a_used_token_is_refused_in_another_session(app, client, setup):
    login(client, "standard@example.edu")
    token = csrf_token(client, "/texts/new")
    assert post_text(client, token, setup["number"].id, "Mine").status_code == 303

    other = app.test_client()
    login(other, "admin@example.edu")
    assert post_text(other, token, setup["number"].id, "Borrowed token").status_code == 400
    assert bodies() == ["Mine"]


def test_a_used_token_is_refused_once_its_session_ends(client, setup):
    login(client, "standard@example.edu")
    token = csrf_token(client, "/texts/new")
    assert post_text(client, token, setup["number"].id, "Before").status_code == 303
    assert client.post("/logout", data={"csrf_token": token}).status_code in (302, 303)
    login(client, "standard@example.edu")
    assert post_text(client, token, setup["number"].id, "After").status_code == 400
    assert bodies() == ["Before"]


def test_a_tampered_token_is_refused(client, setup):
    login(client, "standard@example.edu")
    token = csrf_token(client, "/texts/new")
    assert post_text(client, token, setup["number"].id, "Good").status_code == 303
    forged = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    assert post_text(client, forged, setup["number"].id, "Forged").status_code == 400
    assert bodies() == ["Good"]


def test_over_https_a_valid_token_still_needs_a_post_from_our_pages(client, setup):
    ours = {"Referer": f"{HTTPS}/texts/new"}
    page = client.get("/login", base_url=HTTPS).get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    response = client.post(
        "/login",
        data={"email": "standard@example.edu", "password": PASSWORD, "csrf_token": token},
        base_url=HTTPS,
        headers=ours,
    )
    assert response.status_code == 302
    page = client.get("/texts/new", base_url=HTTPS).get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    number_id = setup["number"].id
    assert post_text(client, token, number_id, "Ours", base_url=HTTPS, headers=ours).status_code == 303
    foreign = {"Referer": "https://evil.example/page"}
    assert post_text(client, token, number_id, "Foreign", base_url=HTTPS, headers=foreign).status_code == 400
    assert post_text(client, token, number_id, "No referrer", base_url=HTTPS).status_code == 400
    assert bodies() == ["Ours"]


# ---- Every state-changing route checks the token ----

# POST routes that do not use CSRF tokens: the providers' webhooks prove themselves with their
# signatures instead (the embed launch is a GET that proves itself with its signed token), and the
# CRM API with its Bearer key: it never reads the session cookie, so a forged cross-site request
# carries nothing that authorises it (tests/api/test_api_keys.py shows a session alone gets 401).
EXEMPT_ENDPOINTS = {"webhooks.inbound_message", "webhooks.delivery_report", "api.send_message"}
CSRF_REFUSAL = "This form has expired"


@pytest.fixture
def admissions(world) -> OfficeObjects:
    return office_objects(
        world["users"]["admin"], world["users"]["standard"], world["office"], world["number"],
        world["campaign"].id, contact="+12025550143", opted_out="+12025550199",
    )  # fmt: skip


def url_values(objects: OfficeObjects) -> dict[str, object]:
    """Real ids of one office's objects: without the token check, each post would change them."""
    return {
        "campaign_id": objects.campaign, "action": "launch", "import_id": objects.import_job,
        "office_id": objects.office, "entry_id": objects.entry, "number_id": objects.number,
        "user_id": objects.user, "phone": objects.opted_out, "conversation_id": objects.conversation,
        "message_id": objects.message, "provider": "console", "key_id": objects.api_key,
        "endpoint_id": objects.webhook, "delivery_id": objects.webhook_delivery,
        "reply_id": objects.saved_reply,
    }  # fmt: skip


def form_for(objects: OfficeObjects) -> dict[str, object]:
    """Fields of every form, with values each form would accept."""
    office = str(objects.office)
    return {
        "name": "Changed Name", "email": "new-person@example.edu", "role": "limited",
        "office_ids": [office], "office_id": office, "inbox_ids": [office],
        "password": "long-enough-password", "new_password": "another-long-password", "active": "0",
        "phone": "2025550177", "label": "Changed label", "description": "", "provider": "console",
        "backing": "bot", "body": "Forged message", "number_id": str(objects.number),
        "to": "2025550143", "question": "forged question", "answer": "forged answer",
        "action": "message", "message": "forged idk", "note": "forged", "title": "Forged",
    }  # fmt: skip


def post_routes(app) -> list[tuple[str, set[str]]]:
    rules = [rule for rule in app.url_map.iter_rules() if "POST" in (rule.methods or set())]
    return sorted((rule.endpoint, set(rule.arguments)) for rule in rules)


def foreign_token(app) -> str:
    """A real token, from another signed-in browser."""
    other = app.test_client()
    login(other, "standard@example.edu")
    return csrf_token(other, "/inbox")


def test_every_post_route_refuses_a_missing_or_wrong_token(app, client, admissions):
    login(client, "admin@example.edu")
    own = csrf_token(client, "/inbox")
    forged = own[:-2] + ("AA" if not own.endswith("AA") else "BB")
    form = form_for(admissions)
    values = url_values(admissions)
    wrong_tokens = {"missing": None, "garbage": "not-a-token", "tampered": forged,
                    "another session's": foreign_token(app)}  # fmt: skip
    before = all_rows()
    checked = []
    for endpoint, arguments in post_routes(app):
        if endpoint in EXEMPT_ENDPOINTS:
            continue
        assert arguments <= values.keys(), f"add a real value for {arguments - values.keys()}"
        with app.test_request_context():
            path = url_for(endpoint, **{name: values[name] for name in arguments})
        for kind, token in wrong_tokens.items():
            data = dict(form) if token is None else {**form, "csrf_token": token}
            for headers in ({}, {"HX-Request": "true"}):
                response = client.post(path, data=data, headers=headers)
                where = f"POST {path} with {kind} token {headers}"
                assert response.status_code == 400, (where, response.status_code)
                assert CSRF_REFUSAL in response.get_data(as_text=True), where
        # Nor may a wrong token in htmx's header stand in for the form's.
        response = client.post(path, data=form, headers={"HX-Request": "true", "X-CSRFToken": forged})
        assert response.status_code == 400, path
        checked.append(endpoint)
    assert all_rows() == before
    assert client.get("/inbox").status_code == 200  # the refused logout did not sign anyone out
    for endpoint in ("auth.login", "auth.logout", "compose.new", "conversations.reply",
                     "admin.user_password", "optouts_admin.remove", "knowledge_base.delete_entry"):
        assert endpoint in checked


def test_only_the_webhooks_do_without_a_token(app, client, setup):
    """The webhooks answer for their signature, not for a token: a post without either is refused
    by the signature check (the console provider signs nothing, so it refuses every webhook), and
    nothing else is exempt (the walk above covers the rest)."""
    assert {endpoint for endpoint, _ in post_routes(app)} >= EXEMPT_ENDPOINTS
    before = all_rows()
    for path in ("/webhooks/console/inbound", "/webhooks/console/status"):
        response = client.post(path, data={"From": "12025550143", "To": "12025550100", "Text": "Hi"})
        assert response.status_code == 403, path
        assert CSRF_REFUSAL not in response.get_data(as_text=True)
    assert all_rows() == before


def test_the_api_does_without_a_token_because_a_session_never_authorises_it(app, client, setup):
    """The CRM API answers for its Bearer key: a signed-in browser's post (all a forged cross-site
    request could carry) is refused without one, as any post without a key is."""
    login(client, "admin@example.edu")
    before = all_rows()
    body = {"from": setup["number"].phone, "to": "2025550143", "text": "Forged"}
    response = client.post("/api/v1/messages", json=body)
    assert response.status_code == 401
    assert response.mimetype == "application/problem+json"
    assert all_rows() == before


def htmx_token(page: str) -> str:
    """The token htmx sends: the one in `<body hx-headers>`."""
    match = re.search(r'"X-CSRFToken": "([^"]+)"', page)
    assert match, "no X-CSRFToken in the page's hx-headers"
    return match.group(1)


def test_htmx_posts_with_the_header_token_work(client, admissions):
    login(client, "standard@example.edu")
    location = f"/conversations/{admissions.conversation}"
    headers = {"HX-Request": "true", "X-CSRFToken": htmx_token(client.get(location).get_data(as_text=True))}
    response = client.post(f"{location}/messages", data={"body": "Sent by htmx"}, headers=headers)
    assert response.status_code == 200
    assert "Sent by htmx" in bodies()
    response = client.post(f"{location}/attention", headers=headers)
    assert response.status_code == 200
    db.session.expire_all()
    assert db.session.get(Conversation, admissions.conversation).needs_attention is False

    headers["X-CSRFToken"] = "not-a-token"
    response = client.post(f"{location}/messages", data={"body": "Forged by htmx"}, headers=headers)
    assert response.status_code == 400
    assert "Forged by htmx" not in bodies()
