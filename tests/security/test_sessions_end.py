"""Sessions end for good: at logout, and for every other session of a user whose password, role or
active state changes, or who signs out everywhere. A copied session cookie signs nobody in after."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import jwt
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from tests.conftest import PASSWORD, IsolatedClient, _empty_tables, csrf_token, login, make_app
from webapp.extensions import db
from webapp.models import UserSession

EMBED_SECRET = "crm-launch-secret-" + "0123456789abcdef" * 3
HTMX = {"HX-Request": "true"}
NEW_PASSWORD = "a-brand-new-password"


@pytest.fixture
def app(database_url: str, tmp_path: Path) -> Iterator[Flask]:
    """The app with embedded launches enabled, so both kinds of session can be tested."""
    # Over HTTPS, as a CRM embeds it (the embedded session's cookie is Secure).
    app = make_app(
        database_url, tmp_path, EMBED_SECRET=EMBED_SECRET,
        PUBLIC_BASE_URL="https://parley.example.edu", SESSION_COOKIE_SECURE=True,
    )  # fmt: skip
    app.test_client_class = IsolatedClient
    with app.app_context():
        yield app
        db.session.remove()
        _empty_tables()
        db.engine.dispose()


def signed_in_as(app: Flask, email: str) -> FlaskClient:
    client = app.test_client()
    assert login(client, email).status_code == 302
    assert client.get("/inbox").status_code == 200
    return client


def copy_of_cookie(app: Flask, client: FlaskClient) -> FlaskClient:
    """Another browser holding a copy of `client`'s session cookie."""
    copy = app.test_client()
    copy.set_cookie("session", client.get_cookie("session").value)
    return copy


def post(client: FlaskClient, path: str, data: dict | None = None, page: str = "/inbox"):
    return client.post(path, data={"csrf_token": csrf_token(client, page), **(data or {})})


def assert_signed_out(client: FlaskClient) -> None:
    page = client.get("/inbox")
    assert page.status_code == 302 and "/login" in page.headers["Location"]
    fragment = client.get("/inbox?tab=attention", headers=HTMX)
    assert fragment.status_code == 401 and "/login" in fragment.headers["HX-Redirect"]


def assert_signed_in(client: FlaskClient) -> None:
    assert client.get("/inbox").status_code == 200
    assert client.get("/inbox?tab=attention", headers=HTMX).status_code == 200


def test_a_cookie_copied_before_logout_signs_nobody_in_after_it(app, setup):
    browser = signed_in_as(app, "standard@example.edu")
    thief = copy_of_cookie(app, browser)
    assert_signed_in(thief)
    assert post(browser, "/logout").status_code == 302
    assert_signed_out(browser)
    assert_signed_out(thief)


def test_a_copied_embedded_session_cookie_ends_at_logout_too(app, setup):
    now = int(time.time())
    token = jwt.encode(
        {"sub": "standard@example.edu", "iat": now, "exp": now + 120, "jti": uuid.uuid4().hex},
        EMBED_SECRET,
        algorithm="HS256",
    )
    frame = app.test_client()
    launched = frame.get("/embed/launch", query_string={"token": token})
    assert launched.status_code == 302 and launched.headers["Location"] == "/inbox"
    assert "Partitioned" in launched.headers["Set-Cookie"]  # an embedded session
    thief = copy_of_cookie(app, frame)
    assert_signed_in(thief)
    assert post(frame, "/logout").status_code == 302
    assert_signed_out(frame)
    assert_signed_out(thief)


def test_logging_in_again_does_not_revive_a_logged_out_cookie(app, setup):
    browser = signed_in_as(app, "standard@example.edu")
    thief = copy_of_cookie(app, browser)
    post(browser, "/logout")
    assert login(browser, "standard@example.edu").status_code == 302
    assert_signed_in(browser)
    assert_signed_out(thief)


def test_a_cookie_from_before_server_side_sessions_is_signed_out(app, setup):
    user_id = setup["users"]["standard"].id
    old = app.session_interface.get_signing_serializer(app).dumps({"_user_id": str(user_id)})
    client = app.test_client()
    client.set_cookie("session", old)
    assert_signed_out(client)


def test_changing_my_password_signs_out_my_other_sessions_but_not_this_one(app, setup):
    here = signed_in_as(app, "standard@example.edu")
    elsewhere = signed_in_as(app, "standard@example.edu")
    page = here.get("/account").get_data(as_text=True)
    assert "Change password" in page and "Sign out everywhere" in page
    changed = post(
        here, "/account/password",
        {"current_password": PASSWORD, "new_password": NEW_PASSWORD}, page="/account",
    )
    assert changed.status_code == 303
    assert_signed_in(here)
    assert_signed_out(elsewhere)
    assert login(app.test_client(), "standard@example.edu", NEW_PASSWORD).status_code == 302
    assert login(app.test_client(), "standard@example.edu", PASSWORD).status_code == 401


def test_a_wrong_current_password_changes_nothing(app, setup):
    here = signed_in_as(app, "standard@example.edu")
    elsewhere = signed_in_as(app, "standard@example.edu")
    refused = post(
        here, "/account/password",
        {"current_password": "not-my-password", "new_password": NEW_PASSWORD}, page="/account",
    )
    assert refused.status_code == 422
    assert "not your current password" in refused.get_data(as_text=True)
    assert_signed_in(here)
    assert_signed_in(elsewhere)
    assert login(app.test_client(), "standard@example.edu", PASSWORD).status_code == 302


def test_a_new_password_must_follow_the_admin_consoles_length_rule(app, setup):
    here = signed_in_as(app, "standard@example.edu")
    elsewhere = signed_in_as(app, "standard@example.edu")
    refused = post(
        here, "/account/password", {"current_password": PASSWORD, "new_password": "short"},
        page="/account",
    )
    assert refused.status_code == 422
    assert "at least 8 characters" in refused.get_data(as_text=True)
    assert_signed_in(elsewhere)
    assert login(app.test_client(), "standard@example.edu", PASSWORD).status_code == 302


def test_sign_out_everywhere_ends_my_other_sessions_and_keeps_this_one(app, setup):
    here = signed_in_as(app, "standard@example.edu")
    phone = signed_in_as(app, "standard@example.edu")
    laptop = signed_in_as(app, "standard@example.edu")
    colleague = signed_in_as(app, "limited@example.edu")
    response = post(here, "/account/sign-out-everywhere", page="/account")
    assert response.status_code == 303
    assert "Signed out everywhere else" in here.get("/account").get_data(as_text=True)
    assert_signed_in(here)
    assert_signed_out(phone)
    assert_signed_out(laptop)
    assert_signed_in(colleague)  # someone else's sessions are not touched


def test_an_admin_setting_a_password_signs_the_user_out_everywhere(app, setup):
    standard = setup["users"]["standard"]
    victim = signed_in_as(app, "standard@example.edu")
    admin = signed_in_as(app, "admin@example.edu")
    response = post(admin, f"/admin/users/{standard.id}/password", {"new_password": NEW_PASSWORD})
    assert response.status_code == 303
    assert_signed_out(victim)
    assert_signed_in(admin)


def test_an_admin_setting_their_own_password_stays_signed_in_where_they_did(app, setup):
    admin_id = setup["users"]["admin"].id
    here = signed_in_as(app, "admin@example.edu")
    elsewhere = signed_in_as(app, "admin@example.edu")
    response = post(here, f"/admin/users/{admin_id}/password", {"new_password": NEW_PASSWORD})
    assert response.status_code == 303
    assert_signed_in(here)
    assert_signed_out(elsewhere)


def test_deactivation_signs_the_user_out_everywhere(app, setup):
    standard = setup["users"]["standard"]
    victim = signed_in_as(app, "standard@example.edu")
    admin = signed_in_as(app, "admin@example.edu")
    assert post(admin, f"/admin/users/{standard.id}/active", {"active": "0"}).status_code == 303
    assert_signed_out(victim)
    # Reactivated, the old session stays ended: the user signs in afresh.
    assert post(admin, f"/admin/users/{standard.id}/active", {"active": "1"}).status_code == 303
    assert_signed_out(victim)
    assert login(victim, "standard@example.edu").status_code == 302
    assert_signed_in(victim)


def test_a_role_change_signs_the_user_out_everywhere(app, setup):
    standard = setup["users"]["standard"]
    victim = signed_in_as(app, "standard@example.edu")
    admin = signed_in_as(app, "admin@example.edu")
    office = str(setup["office"].id)
    renamed = {"name": "Sam Renamed", "role": "standard", "office_ids": office}
    assert post(admin, f"/admin/users/{standard.id}", renamed).status_code == 303
    assert_signed_in(victim)  # a new name alone ends nothing
    demoted = {"name": "Sam Renamed", "role": "limited", "office_ids": office}
    assert post(admin, f"/admin/users/{standard.id}", demoted).status_code == 303
    assert_signed_out(victim)
    assert_signed_in(admin)


def test_the_csrf_token_of_the_anonymous_session_dies_at_login(app, setup):
    client = app.test_client()
    before = csrf_token(client, "/login")
    response = client.post(
        "/login",
        data={"email": "standard@example.edu", "password": PASSWORD, "csrf_token": before},
    )
    assert response.status_code == 302
    after = re.search(r'"X-CSRFToken": "([^"]+)"', client.get("/inbox").get_data(as_text=True))
    assert after and after.group(1) != before
    # The old token is refused (and changes nothing: still signed in); the new one works.
    refused = client.post("/logout", data={"csrf_token": before})
    assert refused.status_code == 400
    assert_signed_in(client)
    assert client.post("/logout", data={"csrf_token": after.group(1)}).status_code == 302
    assert_signed_out(client)


def age_sessions(by: timedelta) -> None:
    """As if every session had begun `by` earlier."""
    for row in db.session.scalars(select(UserSession)):
        row.created_at -= by
    db.session.commit()


def test_a_session_ends_when_the_cookie_lifetime_has_passed(app, setup):
    """However often a copy of its cookie is used, a session signs in for PERMANENT_SESSION_LIFETIME
    (31 days) at most, and a new sign-in clears away sessions that old."""
    client = signed_in_as(app, "standard@example.edu")
    age_sessions(app.permanent_session_lifetime - timedelta(minutes=1))
    assert_signed_in(client)
    assert post(client, "/account/sign-out-everywhere").status_code == 303

    age_sessions(timedelta(minutes=2))
    assert_signed_out(client)
    response = post(client, "/account/sign-out-everywhere", page="/login")
    assert response.status_code == 302 and "/login" in response.headers["Location"]

    signed_in_as(app, "admin@example.edu")
    kept = db.session.scalars(select(UserSession.user_id)).all()
    assert kept == [setup["users"]["admin"].id]


def test_an_ended_session_sends_an_htmx_poll_back_to_its_page_after_login(app, setup):
    """The poll's own URL is a fragment: after logging in again the user returns to the page they
    were on (htmx's HX-Current-URL, kept only as a path inside the app), told why they were out."""
    from urllib.parse import parse_qs, urlsplit

    from webapp.plugin_api import InboundMessage
    from webapp.services import inbound

    conversation_id = inbound.receive(
        InboundMessage("+12025550143", setup["number"].phone, "Hello"), "console"
    ).conversation_id
    db.session.commit()
    page = f"/conversations/{conversation_id}?tab=attention"
    here = signed_in_as(app, "standard@example.edu")
    browser = signed_in_as(app, "standard@example.edu")
    assert post(here, "/account/sign-out-everywhere", page="/account").status_code == 303

    def login_url(current_url: str | None) -> tuple[str, dict]:
        headers = {**HTMX, **({"HX-Current-URL": current_url} if current_url else {})}
        refused = browser.get(f"/conversations/{conversation_id}/live", headers=headers)
        assert refused.status_code == 401
        url = refused.headers["HX-Redirect"]
        return url, parse_qs(urlsplit(url).query)

    url, query = login_url("https://parley.example.edu" + page)
    assert query["next"] == [page]
    login_page = browser.get(url).get_data(as_text=True)
    assert "Your session ended. Log in again." in login_page
    token = re.search(r'name="csrf_token" value="([^"]+)"', login_page)[1]
    form = {"email": "standard@example.edu", "password": PASSWORD, "csrf_token": token}
    response = browser.post(url, data=form)
    assert response.status_code == 302 and response.headers["Location"] == page

    # Another site's page, a path that would leave the app, or no header at all: the inbox.
    elsewhere = ("https://evil.example/conversations/1", "https://parley.example.edu//evil.example/x")
    for current_url in (*elsewhere, None):
        assert post(here, "/account/sign-out-everywhere", page="/account").status_code == 303
        assert login_url(current_url)[1]["next"] == ["/inbox"], current_url
        assert login(browser, "standard@example.edu").status_code == 302

    # After an ordinary logout, the login page has nothing to explain.
    assert post(browser, "/logout").status_code == 302
    refused = browser.get("/inbox")
    assert "ended" not in refused.headers["Location"]
    assert "Your session ended" not in browser.get(refused.headers["Location"]).get_data(as_text=True)


def test_a_form_sent_after_the_session_ended_comes_back_to_its_page_after_login(app, setup):
    """A plain form's action is no page (a GET of it is a 405): after logging in again the user
    returns to the page the form was on (its Referer, kept only as a path inside the app)."""
    from urllib.parse import parse_qs, urlsplit

    here = signed_in_as(app, "standard@example.edu")
    browser = signed_in_as(app, "standard@example.edu")
    token = csrf_token(browser, "/account")
    assert post(here, "/account/sign-out-everywhere", page="/account").status_code == 303

    def refused(referrer: str | None) -> str:
        headers = {"Referer": referrer} if referrer else {}
        form = {"csrf_token": token, "current_password": PASSWORD, "new_password": NEW_PASSWORD}
        response = browser.post("/account/password", data=form, headers=headers)
        assert response.status_code == 302
        return response.headers["Location"]

    url = refused("https://parley.example.edu/account?from=menu")
    assert parse_qs(urlsplit(url).query)["next"] == ["/account?from=menu"]
    login_page = browser.get(url).get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', login_page)[1]
    form = {"email": "standard@example.edu", "password": PASSWORD, "csrf_token": token}
    response = browser.post(url, data=form)
    assert response.status_code == 302 and response.headers["Location"] == "/account?from=menu"
    assert browser.get("/account?from=menu").status_code == 200

    # Another site's page, or no Referer at all: the inbox. The refused form changed nothing.
    token = csrf_token(browser, "/account")
    assert post(here, "/account/sign-out-everywhere", page="/account").status_code == 303
    # A form refused before was shown at its action's address, which takes POSTs alone: no page.
    for referrer in ("https://evil.example/account", None, "https://parley.example.edu/account/password"):
        assert parse_qs(urlsplit(refused(referrer)).query)["next"] == ["/inbox"], referrer
    # A page's address without its final slash is still that page.
    assert parse_qs(urlsplit(refused("https://parley.example.edu/admin")).query)["next"] == ["/admin"]
    assert login(browser, "standard@example.edu").status_code == 302
