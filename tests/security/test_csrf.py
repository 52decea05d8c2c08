"""CSRF tokens: a token found valid is remembered (`webapp.csrf`), and what makes a token valid
stays the same: its own session, an intact signature and, over HTTPS, a post from a page of ours."""

from __future__ import annotations

import re

from flask_wtf import csrf as flask_wtf_csrf
from sqlalchemy import select

from tests.conftest import PASSWORD, csrf_token, login
from webapp.extensions import db
from webapp.models import Message

HTTPS = "https://parley.example.edu"


def post_text(client, token: str, number_id: int, body: str, **kwargs):  # noqa: ANN001, ANN003, ANN201
    data = {"csrf_token": token, "number_id": number_id, "to": "2025550143", "body": body}
    return client.post("/texts/new", data=data, **kwargs)


def bodies() -> list[str]:
    return db.session.scalars(select(Message.body).order_by(Message.id)).all()


def test_a_token_is_verified_once_per_session(client, setup, monkeypatch):
    login(client, "standard@example.edu")
    token = csrf_token(client, "/texts/new")
    verified = []
    check = flask_wtf_csrf.validate_csrf
    monkeypatch.setattr(flask_wtf_csrf, "validate_csrf", lambda data: verified.append(data) or check(data))
    for body in ("First", "Second", "Third"):
        assert post_text(client, token, setup["number"].id, body).status_code == 303
    # Once at most: the login's post may have checked the same token already (signed the same second).
    assert verified in ([], [token])
    assert bodies() == ["First", "Second", "Third"]


def test_a_remembered_token_is_refused_in_another_session(app, client, setup):
    login(client, "standard@example.edu")
    token = csrf_token(client, "/texts/new")
    assert post_text(client, token, setup["number"].id, "Mine").status_code == 303

    other = app.test_client()
    login(other, "admin@example.edu")
    assert post_text(other, token, setup["number"].id, "Borrowed token").status_code == 400
    assert bodies() == ["Mine"]


def test_a_remembered_token_is_refused_once_its_session_ends(client, setup):
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


def test_over_https_a_remembered_token_still_needs_a_post_from_our_pages(client, setup):
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
