"""Every response carries the security headers, every route but a short allow-list needs a signed-in
user, and everything under /admin/ is for Texting - Administrative users only.

The routes are read from `app.url_map`, so a route added later is checked without anyone
remembering to list it: a new public route must be added to PUBLIC_ENDPOINTS below, on purpose.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask, url_for
from flask.testing import FlaskClient
from werkzeug.routing import Rule

from tests.conftest import IsolatedClient, _empty_tables, csrf_token, login, make_app
from webapp.extensions import db

CRM_ORIGINS = ["https://crm.example.edu", "https://crm2.example.org:8443"]


# The only endpoints a visitor without a session may reach. Webhooks prove themselves with the
# provider's signature, the embed launch with its signed token.
PUBLIC_ENDPOINTS = {
    "auth.login",
    "static",
    "health.healthz",
    "health.readyz",
    "embed.launch",
    "embed.check",
    # Single sign-on: the link that sends a visitor to the identity provider, and its answer (proved
    # by the state kept in the visitor's session and the ID token's signature).
    "sso.start",
    "sso.callback",
    "webhooks.inbound_message",
    "webhooks.delivery_report",
    # The CRM API's reference: its OpenAPI document and the page that renders it.
    "api.openapi",
    "api.docs",
    # A picture's link for the provider that sends it: signed, and it expires (tests/test_pictures.py).
    "media.public",
}

# The CRM API's operations need no session but an API key: without one they answer 401 with a
# problem document, never the login page (a CRM's server does not sign in). Checked below.
API_PREFIX = "api."

# A value for each URL variable, so every rule can be built; a new variable needs one here.
URL_VALUES = {
    "action": "archive",
    "phone": "+12025550143",
    "provider": "console",
    "filename": "css/app.css",
    "table": "summary",
    "token": "not-a-picture-token",
    "signed": "not-a-signed-link",
}


@pytest.fixture
def app(database_url: str, tmp_path: Path) -> Iterator[Flask]:
    """The app as a CRM embeds it: two origins allowed to frame it."""
    app = make_app(
        database_url, tmp_path, EMBED_SECRET="s" * 64, EMBED_ALLOWED_ORIGINS=CRM_ORIGINS
    )
    app.test_client_class = IsolatedClient
    with app.app_context():
        yield app
        db.session.remove()
        _empty_tables()
        db.engine.dispose()


def routes(app: Flask) -> list[tuple[Rule, str]]:
    """(rule, method) for every GET and POST the app answers."""
    found = []
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: (r.rule, r.endpoint)):
        for method in sorted((rule.methods or set()) & {"GET", "POST"}):
            found.append((rule, method))
    return found


def path_of(app: Flask, rule: Rule) -> str:
    values = {}
    for name in rule.arguments:
        if name in URL_VALUES:
            values[name] = URL_VALUES[name]
        else:
            assert name.endswith("_id"), f"add a sample value for <{name}> ({rule.rule}) to URL_VALUES"
            values[name] = 1
    with app.test_request_context():
        return url_for(rule.endpoint, **values)


def send(client: FlaskClient, method: str, path: str, token: str, htmx: bool = False):
    """A request as a browser would send it: a POST carries a valid CSRF token, so whatever refuses
    it is the login or role check, not the token check."""
    headers = {"HX-Request": "true"} if htmx else {}
    if method == "GET":
        return client.get(path, headers=headers)
    return client.post(path, data={"csrf_token": token}, headers=headers)


def frame_ancestors(response) -> list[str]:
    csp = response.headers["Content-Security-Policy"]
    directives = {d.split()[0]: d.split()[1:] for d in (p.strip() for p in csp.split(";")) if d}
    return directives["frame-ancestors"]


def assert_security_headers(response, origins: list[str], where: str) -> None:
    csp = response.headers.get("Content-Security-Policy", "")
    assert len(response.headers.getlist("Content-Security-Policy")) == 1, where
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "unsafe-eval" not in csp, where
    assert "object-src 'none'" in csp and "base-uri 'none'" in csp, where
    assert frame_ancestors(response) == ["'self'", *origins], where
    assert "X-Frame-Options" not in response.headers, where
    assert response.headers.get("X-Content-Type-Options") == "nosniff", where


# ---- Login required ----


def test_the_allow_list_names_only_routes_that_exist(app):
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()}
    assert PUBLIC_ENDPOINTS <= endpoints, PUBLIC_ENDPOINTS - endpoints


def test_every_non_public_route_sends_visitors_without_a_session_to_login(app, client, setup):
    token = csrf_token(client, "/login")
    checked = []
    for rule, method in routes(app):
        if rule.endpoint in PUBLIC_ENDPOINTS or rule.endpoint.startswith(API_PREFIX):
            continue
        path = path_of(app, rule)
        where = f"{method} {path}"
        response = send(client, method, path, token)
        assert response.status_code == 302, (where, response.status_code)
        assert response.headers["Location"].startswith("/login"), where
        assert_security_headers(response, CRM_ORIGINS, where)

        # htmx follows redirects inside the page: it is told to load the login page instead.
        response = send(client, method, path, token, htmx=True)
        assert response.status_code == 401, where
        assert response.headers["HX-Redirect"].startswith("/login"), where
        checked.append(where)
    # The walk really walked: the main screens and actions were among the routes.
    for where in ("GET /inbox", "POST /texts/new", "GET /admin/users", "POST /logout"):
        assert where in checked


def test_every_api_operation_answers_401_without_a_key_even_to_a_signed_in_browser(app, client, setup):
    checked = []
    for signed_in in (False, True):
        if signed_in:
            login(client, "admin@example.edu")
        for rule, method in routes(app):
            if not rule.endpoint.startswith(API_PREFIX) or rule.endpoint in PUBLIC_ENDPOINTS:
                continue
            path = path_of(app, rule)
            where = f"{method} {path} signed in: {signed_in}"
            response = client.open(path, method=method, json={} if method == "POST" else None)
            assert response.status_code == 401, (where, response.status_code)
            assert response.mimetype == "application/problem+json", where
            assert response.headers["WWW-Authenticate"].startswith("Bearer"), where
            assert_security_headers(response, CRM_ORIGINS, where)
            checked.append(f"{method} {path}")
    for where in ("POST /api/v1/messages", "GET /api/v1/messages/1", "GET /api/v1/contacts/lookup"):
        assert where in checked


def admin_routes(app: Flask) -> list[tuple[Rule, str]]:
    return [(rule, method) for rule, method in routes(app) if rule.rule.startswith("/admin")]


@pytest.mark.parametrize("email", ["standard@example.edu", "limited@example.edu"])
def test_admin_routes_answer_403_to_everyone_but_admins(app, client, setup, email):
    login(client, email)
    token = csrf_token(client, "/inbox")
    checked = admin_routes(app)
    assert len(checked) > 20  # offices, users, numbers, campaigns, opt-outs, knowledge base, audit
    for rule, method in checked:
        path = path_of(app, rule)
        response = send(client, method, path, token)
        where = f"{method} {path}"
        assert response.status_code == 403, (where, response.status_code)
        # The refusal says who may, so the person knows whom to ask.
        assert "Texting - Administrative" in response.get_data(as_text=True), where
        assert_security_headers(response, CRM_ORIGINS, where)


def test_admins_do_get_in(client, setup):
    login(client, "admin@example.edu")
    assert client.get("/admin/").status_code == 200
    assert client.get("/admin/opt-outs/").status_code == 200


@pytest.mark.real_password_hashing
def test_passwords_are_stored_with_scrypt_and_only_the_right_one_signs_in(client, setup):
    assert setup["users"]["standard"].password_hash.startswith("scrypt:")
    refused = login(client, "standard@example.edu", "wrong").get_data(as_text=True)
    assert "Email or password is incorrect." in refused
    assert login(client, "standard@example.edu").headers["Location"].endswith("/inbox")


# ---- Security headers ----


def test_every_page_of_a_signed_in_admin_carries_the_security_headers(app, client, setup):
    login(client, "admin@example.edu")
    for rule, method in routes(app):
        if method != "GET":
            continue
        path = path_of(app, rule)
        response = client.get(path)
        assert response.status_code < 500, path
        assert_security_headers(response, CRM_ORIGINS, path)


@pytest.mark.parametrize(
    "path",
    [
        "/login",
        "/healthz",
        "/readyz",
        "/static/css/app.css",
        "/embed/launch?token=not-a-token",
        "/no-such-page",
    ],
)
def test_public_answers_carry_the_security_headers_too(client, setup, path):
    assert_security_headers(client.get(path), CRM_ORIGINS, path)


def test_a_refused_webhook_and_a_refused_form_carry_them_too(client, setup):
    refused = client.post("/webhooks/plivo/inbound", data={"From": "12025550143"})
    assert refused.status_code in (403, 404)
    assert_security_headers(refused, CRM_ORIGINS, "webhook")
    no_token = client.post("/login", data={"email": "standard@example.edu", "password": "x"})
    assert no_token.status_code == 400
    assert_security_headers(no_token, CRM_ORIGINS, "login without a token")


def test_without_allowed_origins_only_the_app_itself_may_frame_it(database_url, tmp_path, setup):
    plain = make_app(database_url, tmp_path / "plain")
    with plain.app_context():
        for path in ("/login", "/inbox", "/no-such-page"):
            response = plain.test_client().get(path)
            assert_security_headers(response, [], path)
        db.session.remove()


@pytest.mark.parametrize(
    "origin", ["https://crm.example; script-src *", "crm.example.edu", "'unsafe-inline'", "*"]
)
def test_an_allowed_origin_that_is_not_an_origin_stops_the_app_from_starting(
    database_url, tmp_path, origin
):
    with pytest.raises(ValueError, match="EMBED_ALLOWED_ORIGINS"):
        make_app(database_url, tmp_path, EMBED_ALLOWED_ORIGINS=[origin])
