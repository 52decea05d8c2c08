"""Single sign-on with OpenID Connect, against a real provider on 127.0.0.1 (tests/fake_oidc.py).

The browser's part (following redirects between Parley and the provider) is played by the test
client for Parley's side and `requests` for the provider's; Parley itself talks to the provider
over HTTP for discovery, the code exchange and the keys, as it would in production.
"""

from __future__ import annotations

import logging
import re
import socket
from datetime import timedelta
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient
from joserfc.jwk import OctKey
from sqlalchemy import func, select
from werkzeug.security import check_password_hash

from tests import fake_oidc
from tests.conftest import PASSWORD, Factory, csrf_token, login
from tests.fake_oidc import (
    CLIENT_ID,
    CLIENT_SECRET,
    MISSING,
    FakeIdentityProvider,
    NextToken,
    new_key,
)
from webapp.config import Config
from webapp.extensions import db
from webapp.models import AuditEvent, LoginFailure, User, UserSession
from webapp.web import sso as sso_web

provider = fake_oidc.provider  # the identity provider on 127.0.0.1, one per test
PARLEY = "http://parley.test"  # TestConfig's PUBLIC_BASE_URL: where the provider sends browsers back


@pytest.fixture
def sso_app(app: Flask, provider: FakeIdentityProvider) -> Flask:
    app.config.update(OIDC_ISSUER=provider.issuer, OIDC_CLIENT_ID=CLIENT_ID, OIDC_CLIENT_SECRET=CLIENT_SECRET)
    return app


@pytest.fixture
def people(make: Factory) -> dict[str, User]:
    make.office("Admissions")
    return {
        "sam": make.user("sam.standard@example.edu", "standard", name="Sam Standard"),
        "alex": make.user("alex@example.edu", "admin", name="Alex Admin"),
    }


def go_to_provider(client: FlaskClient, next_path: str | None = None) -> str:
    """Click Sign in with SSO: where Parley sends the browser (the provider's authorize URL)."""
    query = f"?{urlencode({'next': next_path})}" if next_path else ""
    response = client.get(f"/auth/oidc/login{query}")
    assert response.status_code == 302, response.get_data(as_text=True)
    return response.headers["Location"]


def come_back(authorize_url: str) -> str:
    """The provider signs the person in and sends the browser back: Parley's callback path+query."""
    answer = requests.get(authorize_url, allow_redirects=False, timeout=5)
    assert answer.status_code == 302, answer.text
    back = urlsplit(answer.headers["Location"])
    assert f"{back.scheme}://{back.netloc}{back.path}" == f"{PARLEY}/auth/oidc/callback"
    return f"{back.path}?{back.query}"


def sso_sign_in(client: FlaskClient, next_path: str | None = None):
    return client.get(come_back(go_to_provider(client, next_path)))


def signed_in_email(client: FlaskClient) -> str | None:
    """Whose account page this browser sees, if anyone's."""
    page = client.get("/account")
    if page.status_code != 200:
        return None
    emails = db.session.scalars(select(User.email)).all()
    return next(email for email in emails if email in page.get_data(as_text=True))


def refused(response, *phrases: str) -> str:
    page = response.get_data(as_text=True)
    assert response.status_code == 403, page
    for phrase in phrases:
        assert phrase in page, (phrase, page)
    assert "Nobody was signed in" in page
    return page


# Sign-in and the login page.


def test_the_login_page_offers_sso_only_when_it_is_configured(app, client, provider):
    assert "Sign in with SSO" not in client.get("/login").get_data(as_text=True)
    assert client.get("/auth/oidc/login").status_code == 404
    app.config.update(OIDC_ISSUER=provider.issuer, OIDC_CLIENT_ID=CLIENT_ID)
    page = client.get("/login?next=/texts/new").get_data(as_text=True)
    assert 'href="/auth/oidc/login?next=/texts/new">Sign in with SSO</a>' in page
    assert 'id="password"' in page  # the password form stays unless PASSWORD_LOGIN is off


def test_an_existing_user_signs_in_and_lands_where_they_were_going(sso_app, client, provider, people):
    provider.sign_in_as("Sam.Standard@Example.EDU")  # emails match whatever their case
    authorize_url = go_to_provider(client, "/texts/new")
    query = parse_qs(urlsplit(authorize_url).query)
    assert query["code_challenge_method"] == ["S256"] and query["code_challenge"][0]
    assert query["scope"] == ["openid email profile"]
    assert query["redirect_uri"] == [f"{PARLEY}/auth/oidc/callback"]
    assert query["state"][0] and query["nonce"][0]

    response = client.get(come_back(authorize_url))
    assert response.status_code == 302
    assert response.headers["Location"] == "/texts/new"
    assert client.get("/texts/new").status_code == 200
    assert signed_in_email(client) == "sam.standard@example.edu"
    session_row = db.session.scalar(select(UserSession))
    assert session_row.method == "sso"
    sam = db.session.get(User, people["sam"].id)
    assert sam.last_sign_in_method == "sso" and sam.last_sign_in_at is not None


@pytest.mark.parametrize("target", ["https://evil.example/inbox", "//evil.example/inbox", "/\\evil.example"])
def test_next_outside_the_app_becomes_the_inbox(sso_app, client, provider, people, target):
    provider.sign_in_as("sam.standard@example.edu")
    response = sso_sign_in(client, target)
    assert response.headers["Location"] == "/inbox"


def test_the_issuer_is_not_contacted_until_someone_signs_in_and_its_document_is_kept(
    sso_app, client, provider, people
):
    client.get("/login")
    assert provider.requests == []
    provider.sign_in_as("sam.standard@example.edu")
    for _ in range(2):
        assert sso_sign_in(sso_app.test_client()).status_code == 302
    assert provider.count("/.well-known/openid-configuration") == 1
    assert provider.count("/jwks") == 2  # at each Sign in with SSO: a provider that is down says so there


def test_an_issuer_that_went_down_is_named_at_the_link_not_after_it(sso_app, client, provider, people):
    provider.sign_in_as("sam.standard@example.edu")
    assert sso_sign_in(sso_app.test_client()).status_code == 302
    provider.stop()
    unavailable(client.get("/auth/oidc/login"), "could not be fetched")


def test_rotated_keys_are_fetched_again_without_a_restart(sso_app, client, provider, people):
    provider.sign_in_as("sam.standard@example.edu")
    assert sso_sign_in(client).status_code == 302
    provider.rotate_key("key-2")
    other = sso_app.test_client()
    assert sso_sign_in(other).status_code == 302
    assert signed_in_email(other) == "sam.standard@example.edu"
    assert provider.count("/jwks") == 2


def test_a_new_key_under_the_old_key_id_is_used_at_once(sso_app, client, provider, people):
    """An issuer (or a test provider restarted) that signs with a new key under the same key id:
    the keys fetched at the link are the new ones."""
    provider.sign_in_as("sam.standard@example.edu")
    assert sso_sign_in(client).status_code == 302
    provider.rotate_key("key-1")
    other = sso_app.test_client()
    assert sso_sign_in(other).status_code == 302
    assert signed_in_email(other) == "sam.standard@example.edu"
    assert provider.count("/jwks") == 2


# Who may sign in.


def test_an_unknown_email_is_refused_with_a_page_naming_it(sso_app, client, provider, people):
    provider.sign_in_as("stranger@example.edu")
    page = refused(sso_sign_in(client), "stranger@example.edu", "Ask an administrator")
    assert "<script" not in page.split("<main", 1)[-1]
    assert client.get("/inbox").status_code == 302
    assert db.session.scalar(select(User).where(User.email == "stranger@example.edu")) is None


def test_a_deactivated_user_is_refused(sso_app, client, provider, people):
    db.session.get(User, people["sam"].id).active = False
    db.session.commit()
    provider.sign_in_as("sam.standard@example.edu")
    refused(sso_sign_in(client), "sam.standard@example.edu", "Ask an administrator")
    assert client.get("/inbox").status_code == 302


def test_provisioning_creates_the_user_in_the_configured_role_and_office(sso_app, client, provider, people):
    sso_app.config.update(OIDC_PROVISION_ROLE="limited", OIDC_PROVISION_OFFICE="admissions")
    provider.sign_in_as("New.Person@example.edu", name="New Person")
    assert sso_sign_in(client).headers["Location"] == "/inbox"
    user = db.session.scalar(select(User).where(User.email == "new.person@example.edu"))
    assert (user.name, user.role, [o.name for o in user.offices]) == ("New Person", "limited", ["Admissions"])
    assert client.get("/inbox").status_code == 200
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.kind == "user.created"))
    assert event.actor_id is None and "new.person@example.edu" in event.summary
    assert "single sign-on" in event.summary
    # The next sign-in finds the user; nobody is created twice.
    assert sso_sign_in(sso_app.test_client()).status_code == 302
    assert len(db.session.scalars(select(User).where(User.email == "new.person@example.edu")).all()) == 1


def test_a_provisioned_name_that_cannot_be_shown_gives_way_to_the_email(sso_app, client, provider, people):
    sso_app.config.update(OIDC_PROVISION_ROLE="limited", OIDC_PROVISION_OFFICE="admissions")
    provider.sign_in_as("new.person@example.edu", name="New\x1bPerson")
    assert sso_sign_in(client).headers["Location"] == "/inbox"
    user = db.session.scalar(select(User).where(User.email == "new.person@example.edu"))
    assert user.name == "new.person"


@pytest.mark.parametrize(
    "look_alike", ["\u212aim", "\uff4bim", "k\u0131m"], ids=["Kelvin sign", "full-width", "dotless i"]
)
def test_an_email_of_look_alike_letters_is_not_a_users(sso_app, client, provider, people, make, look_alike):
    """The provider vouches for another address; lowercased, the Kelvin sign would read as kim's."""
    make.user("kim@example.edu", "admin", ("Admissions",), name="Kim Admin")
    provider.sign_in_as(f"{look_alike}@example.edu")
    response = sso_sign_in(client)
    assert client.get("/inbox").status_code == 302, "signed in as someone"
    assert response.status_code == 403


def test_an_email_with_a_nul_is_no_email(sso_app, client, provider, people):
    provider.sign_in_as("sam.standard@example.edu\x00")
    refused(sso_sign_in(client), "did not say which email you use")


def test_provisioning_never_brings_back_a_deactivated_user(sso_app, client, provider, people):
    sso_app.config.update(OIDC_PROVISION_ROLE="standard", OIDC_PROVISION_OFFICE="Admissions")
    db.session.get(User, people["sam"].id).active = False
    db.session.commit()
    provider.sign_in_as("sam.standard@example.edu")
    refused(sso_sign_in(client), "sam.standard@example.edu")
    assert db.session.get(User, people["sam"].id).active is False


def test_provisioning_into_a_missing_office_refuses_and_logs(sso_app, client, provider, people, caplog):
    sso_app.config.update(OIDC_PROVISION_ROLE="standard", OIDC_PROVISION_OFFICE="Registrar")
    provider.sign_in_as("new.person@example.edu")
    refused(sso_sign_in(client), "new.person@example.edu", "Registrar")
    assert db.session.scalar(select(User).where(User.email == "new.person@example.edu")) is None
    assert "Registrar" in caplog.text


@pytest.mark.parametrize("verified", [False, "false", "False", "yes", 1, MISSING])
def test_an_unverified_email_is_refused(sso_app, client, provider, people, verified):
    provider.sign_in_as("sam.standard@example.edu")
    provider.next_token = NextToken(claims={"email_verified": verified})
    page = refused(sso_sign_in(client), "not verified", "sam.standard@example.edu")
    assert client.get("/inbox").status_code == 302
    # Nobody is signed in: the page leads to the login page, not to an inbox that would refuse.
    assert 'href="/login">Log in</a>' in page and "Go to the inbox" not in page


@pytest.mark.parametrize("verified", [True, "true", "TRUE"])
def test_email_verified_sent_as_a_string_counts(sso_app, client, provider, people, verified):
    """Some identity providers send the boolean claim as the string "true"."""
    provider.sign_in_as("sam.standard@example.edu")
    provider.next_token = NextToken(claims={"email_verified": verified})
    assert sso_sign_in(client).headers["Location"] == "/inbox"
    assert client.get("/inbox").status_code == 200


def test_entra_ids_verified_domain_claim_stands_in_only_when_email_verified_is_absent(
    sso_app, client, provider, people
):
    provider.sign_in_as("sam.standard@example.edu")
    provider.next_token = NextToken(claims={"email_verified": False, "xms_edov": True})
    refused(sso_sign_in(client), "not verified")
    provider.next_token = NextToken(claims={"email_verified": MISSING, "xms_edov": False})
    refused(sso_sign_in(client), "not verified")
    provider.next_token = NextToken(claims={"email_verified": MISSING, "xms_edov": True})
    assert sso_sign_in(client).headers["Location"] == "/inbox"


def test_a_token_without_email_is_refused(sso_app, client, provider, people):
    provider.sign_in_as("sam.standard@example.edu")
    provider.next_token = NextToken(claims={"email": MISSING})
    refused(sso_sign_in(client), "did not say which email")


# Forged and mismatched answers: each a clear 403, nobody signed in.

FORGERIES = {
    "signed by another key (same kid)": (
        lambda: NextToken(key=new_key("key-1")),
        "is not signed with the identity provider",
    ),
    "signed by an unknown key": (lambda: NextToken(key=new_key("attacker")), "not signed"),
    # The classic confusion: HMAC with a secret the relying party knows, under the real key's kid.
    "HS256 with the client secret": (
        lambda: NextToken(key=OctKey.import_key(CLIENT_SECRET.encode() * 2)),
        "an algorithm the issuer does not use",
    ),
    "wrong audience": (lambda: NextToken(claims={"aud": "another-app"}), "another application"),
    "wrong audience among several": (
        lambda: NextToken(claims={"aud": ["another-app", "third-app"]}),
        "another application",
    ),
    "expired": (lambda: NextToken(claims={"exp": 1_700_000_000, "iat": 1_699_999_000}), "expired"),
    "mismatched nonce": (lambda: NextToken(claims={"nonce": "someone-elses"}), "nonce"),
    "missing nonce": (lambda: NextToken(claims={"nonce": MISSING}), "nonce"),
    "another issuer": (lambda: NextToken(claims={"iss": "https://evil.example"}), "wrong iss claim"),
}


@pytest.mark.parametrize("forgery", list(FORGERIES))
def test_forged_or_mismatched_id_tokens_are_refused(sso_app, client, provider, people, forgery, caplog):
    make_token, phrase = FORGERIES[forgery]
    provider.sign_in_as("sam.standard@example.edu")
    provider.next_token = make_token()
    with caplog.at_level(logging.WARNING):
        refused(sso_sign_in(client), phrase)
    assert client.get("/inbox").status_code == 302
    assert db.session.scalar(select(UserSession)) is None
    assert "Single sign-on refused" in caplog.text


def test_an_unknown_key_makes_parley_fetch_the_keys_again_once(sso_app, client, provider, people):
    provider.sign_in_as("sam.standard@example.edu")
    provider.next_token = NextToken(key=new_key("attacker"))
    refused(sso_sign_in(client), "not signed")
    assert provider.count("/jwks") == 2  # at the link, then once more for the unknown kid


def not_started_here(response) -> None:
    page = response.get_data(as_text=True)
    assert response.status_code == 403, page
    assert "This sign-in was already used or did not start here" in page
    assert "Nothing was changed" in page and "Nobody was signed in" not in page


def test_a_replayed_state_is_refused_and_changes_nothing(sso_app, client, provider, people):
    provider.sign_in_as("sam.standard@example.edu")
    callback = come_back(go_to_provider(client))
    assert client.get(callback).status_code == 302
    not_started_here(client.get(callback))
    assert signed_in_email(client) == "sam.standard@example.edu"  # the replay signed nobody out
    # In another browser (no state in its session) the same answer is refused as well.
    elsewhere = sso_app.test_client()
    not_started_here(elsewhere.get(callback))
    assert signed_in_email(elsewhere) is None


def test_a_state_that_did_not_start_here_is_refused(sso_app, client, provider, people):
    provider.sign_in_as("sam.standard@example.edu")
    callback = come_back(go_to_provider(sso_app.test_client()))
    not_started_here(client.get(callback))
    not_started_here(client.get("/auth/oidc/callback"))
    assert signed_in_email(client) is None


def test_a_link_made_elsewhere_neither_signs_out_nor_speaks_on_parleys_page(sso_app, client, people):
    """Another site links to the callback with an error of its own wording: the person signed in
    stays signed in, and the words are not shown as the identity provider's."""
    login(client, "sam.standard@example.edu")
    words = "Your account is locked. Call 555-0100"
    query = urlencode({"error": "access_denied", "error_description": words})
    response = client.get(f"/auth/oidc/callback?{query}")
    not_started_here(response)
    assert "555-0100" not in response.get_data(as_text=True)
    assert signed_in_email(client) == "sam.standard@example.edu"


def test_two_sign_ins_started_in_one_browser_each_keep_where_they_were_going(
    sso_app, client, provider, people
):
    """Two tabs each click Sign in with SSO: the first to come back lands where it was going, and the
    other, whose sign-in that one replaced, is refused without signing anybody out."""
    provider.sign_in_as("sam.standard@example.edu")
    first = go_to_provider(client, "/inbox?tab=participating")
    second = go_to_provider(client, "/texts/new")
    first_back, second_back = come_back(first), come_back(second)
    assert client.get(first_back).headers["Location"] == "/inbox?tab=participating"
    not_started_here(client.get(second_back))
    assert signed_in_email(client) == "sam.standard@example.edu"


def test_the_provider_saying_no_is_a_clear_refusal(sso_app, client, provider, people):
    go_to_provider(client)
    state = parse_qs(urlsplit(go_to_provider(client)).query)["state"][0]
    query = urlencode({"error": "access_denied", "error_description": "User cancelled", "state": state})
    refused(client.get(f"/auth/oidc/callback?{query}"), "access_denied", "User cancelled")


def test_an_answer_without_a_code_is_a_clear_refusal(sso_app, client, provider, people):
    state = parse_qs(urlsplit(go_to_provider(client)).query)["state"][0]
    refused(client.get(f"/auth/oidc/callback?state={state}"), "missing_code")
    assert client.get("/inbox").status_code == 302


def test_a_code_the_provider_refuses_is_a_clear_refusal(sso_app, client, provider, people):
    provider.sign_in_as("sam.standard@example.edu")
    callback = come_back(go_to_provider(client))
    code = parse_qs(urlsplit(callback).query)["code"][0]
    provider.client_secret = "rotated-secret"  # Parley's secret is now wrong
    refused(client.get(callback), "invalid_client")
    assert code


# A misconfigured or unreachable issuer never takes the app down.


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def unavailable(response, *phrases: str) -> str:
    page = response.get_data(as_text=True)
    assert response.status_code == 503, page
    assert "Single sign-on is unavailable" in page
    for phrase in phrases:
        assert phrase in page, (phrase, page)
    return page


def test_an_unreachable_issuer_shows_a_page_and_password_login_keeps_working(app, client, people, caplog):
    issuer = f"http://127.0.0.1:{closed_port()}"
    app.config.update(OIDC_ISSUER=issuer, OIDC_CLIENT_ID=CLIENT_ID, OIDC_TIMEOUT_SECONDS=1)
    assert "Sign in with SSO" in client.get("/login").get_data(as_text=True)
    page = unavailable(client.get("/auth/oidc/login"), "could not be fetched", "connection failed")
    assert "log in with your password" in page
    assert f"{issuer}/.well-known/openid-configuration" in caplog.text
    assert login(client, "sam.standard@example.edu").status_code == 302
    assert client.get("/inbox").status_code == 200


BAD_DISCOVERY = {
    "not JSON": (b"<html>oops</html>", "not a JSON object"),
    "no JWKS": ({}, "no jwks_uri"),
    "another issuer": ({"issuer": "https://elsewhere.example"}, "names issuer"),
    "plain http endpoint": ({"token_endpoint": "http://idp.example/token"}, "must be an https:// URL"),
    "only HMAC signatures": ({"id_token_signing_alg_values_supported": ["HS256"]}, "none of"),
}


@pytest.mark.parametrize("case", list(BAD_DISCOVERY))
def test_a_bad_discovery_document_is_named_and_logged(sso_app, client, provider, people, case, caplog):
    change, phrase = BAD_DISCOVERY[case]
    good = requests.get(f"{provider.issuer}/.well-known/openid-configuration", timeout=5).json()
    if isinstance(change, bytes):
        provider.discovery_override = change
    else:
        document = {**good, **change}
        if case == "no JWKS":
            del document["jwks_uri"]
        provider.discovery_override = document
    unavailable(client.get("/auth/oidc/login"), phrase)
    assert phrase in caplog.text
    # Fixed at the issuer: the next click works, no restart.
    provider.discovery_override = None
    provider.sign_in_as("sam.standard@example.edu")
    assert sso_sign_in(client).status_code == 302


@pytest.mark.parametrize(
    ("jwks", "phrase"),
    [
        ({"keys": []}, "holds no keys"),
        (b"nope", "not a valid JSON Web Key Set"),
        ({"keys": [{"kty": "XX"}]}, "not a valid"),
    ],
)
def test_a_bad_key_set_is_named_before_anyone_is_sent_away(sso_app, client, provider, people, jwks, phrase):
    provider.jwks_override = jwks
    unavailable(client.get("/auth/oidc/login"), phrase)
    provider.jwks_override = None
    provider.sign_in_as("sam.standard@example.edu")
    assert sso_sign_in(client).status_code == 302


def test_an_issuer_that_goes_down_mid_sign_in_is_a_clear_page(sso_app, client, provider, people):
    provider.sign_in_as("sam.standard@example.edu")
    authorize_url = go_to_provider(client)
    callback = come_back(authorize_url)
    provider.stop()
    unavailable(client.get(callback), "could not be reached")
    assert client.get("/inbox").status_code == 302
    assert state_data(client, state_of(authorize_url)) is None  # that sign-in is over: nothing kept


# PASSWORD_LOGIN=off.


def test_with_password_login_off_sso_is_the_only_way_in(sso_app, client, provider, people):
    sso_app.config["PASSWORD_LOGIN"] = False
    page = client.get("/login").get_data(as_text=True)
    assert 'id="password"' not in page and "Log in</button>" not in page
    assert "Sign in with SSO" in page
    # Refused as what it is, with the page's token (its htmx headers carry one) or with none: the
    # page has no form to take a token from.
    token = csrf_token(client, "/login")
    for form_token in (token, None):
        data = {"email": "sam.standard@example.edu", "password": PASSWORD}
        response = client.post("/login", data={**data, "csrf_token": form_token} if form_token else data)
        assert response.status_code == 403
        assert "Password sign-in is off" in response.get_data(as_text=True)
    assert client.get("/inbox").status_code == 302
    provider.sign_in_as("sam.standard@example.edu")
    assert sso_sign_in(client).status_code == 302
    assert client.get("/inbox").status_code == 200


# Sessions started by single sign-on follow the rules of every session.


def test_the_newest_sign_ins_started_in_one_browser_are_the_ones_kept(sso_app, client, provider, people):
    states = [parse_qs(urlsplit(go_to_provider(client, f"/inbox?n={n}")).query)["state"][0] for n in range(8)]
    with client.session_transaction() as session:
        kept = session[sso_web.PENDING_KEY]
    assert [state for state, _, _ in kept] == states[-sso_web.MAX_PENDING :]
    assert [path for _, path, _ in kept] == [f"/inbox?n={n}" for n in range(8)][-sso_web.MAX_PENDING :]


def test_unfinished_sign_ins_never_grow_the_cookie_past_what_browsers_keep(sso_app, client, provider, people):
    """Inside the CRM's frame many providers refuse to show their page, so sign-ins are started and
    never finished: with each one dropped its state data goes too, and the session cookie stays small
    enough for the browser to keep (it ignores a cookie over 4 KB, refusing every later sign-in)."""
    for n in range(30):
        started = client.get(f"/auth/oidc/login?next=/inbox?n={n}")
        assert started.status_code == 302
        assert len(started.headers["Set-Cookie"]) < 4093, n
    provider.sign_in_as("sam.standard@example.edu")
    back = client.get(come_back(go_to_provider(client, "/texts/new")))
    assert back.headers["Location"] == "/texts/new"
    assert len(back.headers["Set-Cookie"]) < 4093
    assert signed_in_email(client) == "sam.standard@example.edu"


def state_of(authorize_url: str) -> str:
    return parse_qs(urlsplit(authorize_url).query)["state"][0]


def state_data(client: FlaskClient, state: str):
    """What Authlib keeps in this browser's session for a state, if anything."""
    with client.session_transaction() as session:
        return sso_web.STATE_DATA.get_state_data(session, state)


def test_a_sign_in_started_more_than_ten_minutes_ago_is_refused(sso_app, client, provider, people, clock):
    login(client, "alex@example.edu")
    provider.sign_in_as("sam.standard@example.edu")
    late = go_to_provider(client, "/texts/new")
    late_back = come_back(late)
    clock.shift(timedelta(minutes=11))
    response = client.get(late_back)
    page = response.get_data(as_text=True)
    assert response.status_code == 403, page
    assert "This sign-in was started too long ago" in page and "Nothing was changed" in page
    assert signed_in_email(client) == "alex@example.edu"  # whoever was signed in stays
    assert state_data(client, state_of(late)) is None  # forgotten, with Authlib's data for it
    not_started_here(client.get(late_back))

    in_time = go_to_provider(client, "/texts/new")
    in_time_back = come_back(in_time)
    clock.shift(timedelta(minutes=9))
    assert client.get(in_time_back).headers["Location"] == "/texts/new"
    assert signed_in_email(client) == "sam.standard@example.edu"


def test_sign_ins_older_than_ten_minutes_are_dropped_at_the_next_one(
    sso_app, client, provider, people, clock
):
    old = state_of(go_to_provider(client))
    clock.shift(timedelta(minutes=11))
    new = state_of(go_to_provider(client))
    with client.session_transaction() as session:
        assert [state for state, _, _ in session[sso_web.PENDING_KEY]] == [new]
    assert state_data(client, old) is None and state_data(client, new) is not None


@pytest.mark.parametrize("old_format", [lambda state: [[state, "/texts/new"]], lambda state: [state]])
def test_a_sign_in_kept_by_an_older_cookie_counts_as_too_old(sso_app, client, provider, people, old_format):
    """Sign-ins started before their start time was kept are refused in words, not with an error."""
    provider.sign_in_as("sam.standard@example.edu")
    started = go_to_provider(client, "/texts/new")
    with client.session_transaction() as session:
        session[sso_web.PENDING_KEY] = old_format(state_of(started))
    response = client.get(come_back(started))
    assert response.status_code == 403
    assert "This sign-in was started too long ago" in response.get_data(as_text=True)
    assert state_data(client, state_of(started)) is None
    assert sso_sign_in(client, "/texts/new").headers["Location"] == "/texts/new"


def test_a_password_login_as_a_user_without_password_costs_a_real_hash(
    sso_app, client, provider, people, monkeypatch
):
    """No telling, by the time a login takes, which emails are accounts made at a first sign-on."""
    sso_app.config.update(OIDC_PROVISION_ROLE="standard", OIDC_PROVISION_OFFICE="Admissions")
    provider.sign_in_as("new.person@example.edu")
    sso_sign_in(sso_app.test_client())
    hashes = []

    def recorded(pwhash: str, password: str) -> bool:
        hashes.append(pwhash)
        return check_password_hash(pwhash, password)

    monkeypatch.setattr("webapp.models.org.check_password_hash", recorded)
    token = csrf_token(client, "/login")
    form = {"email": "new.person@example.edu", "password": "guess", "csrf_token": token}
    assert client.post("/login", data=form).status_code == 401
    assert len(hashes) == 1 and hashes[0] != User.NO_PASSWORD and hashes[0].startswith(("scrypt:", "pbkdf2:"))


def test_a_user_made_at_first_sign_in_has_no_password_until_an_admin_sets_one(
    sso_app, client, provider, people
):
    sso_app.config.update(OIDC_PROVISION_ROLE="standard", OIDC_PROVISION_OFFICE="Admissions")
    provider.sign_in_as("new.person@example.edu", name="New Person")
    sso_sign_in(client)
    page = client.get("/account").get_data(as_text=True)
    assert "Current password" not in page
    assert "have no Parley password. An administrator can set one" in page
    token = csrf_token(client, "/account")
    data = {"current_password": "guess", "new_password": "another-password-1", "csrf_token": token}
    response = client.post("/account/password", data=data)
    assert response.status_code == 403 and "No password to change" in response.get_data(as_text=True)
    assert db.session.scalar(select(LoginFailure)) is None  # no guess counted against them
    # Nobody can log in as them with a password meanwhile, whatever is typed.
    other = sso_app.test_client()
    form = {"email": "new.person@example.edu", "password": "!", "csrf_token": csrf_token(other, "/login")}
    assert other.post("/login", data=form).status_code == 401

    # An admin sets one: the form is theirs to use.
    user = db.session.scalar(select(User).where(User.email == "new.person@example.edu"))
    user.set_password("their-own-password-1")
    db.session.commit()
    assert "Current password" in client.get("/account").get_data(as_text=True)


def test_an_email_too_long_to_keep_is_refused_in_words(sso_app, client, provider, people):
    sso_app.config.update(OIDC_PROVISION_ROLE="standard", OIDC_PROVISION_OFFICE="Admissions")
    provider.sign_in_as("x" * 300 + "@example.edu")
    refused(sso_sign_in(client), "Your email is too long for Parley", "keeps at most 254")
    assert db.session.scalar(select(func.count()).select_from(User)) == 2


def test_sso_inside_the_crms_frame_keeps_the_frames_cookie(sso_app, client, provider, people):
    """Framed by the CRM (another site), only the embedded cookie (SameSite=None, Partitioned) comes
    back: the login page checks the frame keeps one, and the SSO link and its answer keep using it."""
    sso_app.config["PASSWORD_LOGIN"] = False  # SSO the only way in
    framed = {"Sec-Fetch-Dest": "iframe", "Sec-Fetch-Site": "cross-site"}
    check = client.get("/login?next=/inbox", headers=framed)
    assert check.status_code == 302 and "framed=1" in check.headers["Location"]
    assert "SameSite=None" in check.headers["Set-Cookie"]
    assert "Sign in with SSO" in client.get(check.headers["Location"], headers=framed).get_data(as_text=True)
    provider.sign_in_as("sam.standard@example.edu")
    started = client.get("/auth/oidc/login?next=/inbox", headers=framed)
    assert started.status_code == 302 and "SameSite=None" in started.headers["Set-Cookie"]
    back = client.get(come_back(started.headers["Location"]), headers=framed)
    assert back.headers["Location"] == "/inbox"
    cookie = back.headers["Set-Cookie"]
    assert "SameSite=None" in cookie and "Secure" in cookie and "Partitioned" in cookie
    assert signed_in_email(client) == "sam.standard@example.edu"


def test_with_password_login_off_there_is_no_password_to_change(sso_app, client, provider, people):
    sso_app.config["PASSWORD_LOGIN"] = False
    provider.sign_in_as("sam.standard@example.edu")
    sso_sign_in(client)
    page = client.get("/account").get_data(as_text=True)
    assert "Current password" not in page and "no Parley password to change" in page
    token = csrf_token(client, "/account")
    data = {"current_password": PASSWORD, "new_password": "another-password-1", "csrf_token": token}
    response = client.post("/account/password", data=data)
    assert response.status_code == 403
    db.session.expire_all()
    assert db.session.get(User, people["sam"].id).check_password(PASSWORD)
    assert client.get("/inbox").status_code == 200  # still signed in


def test_an_sso_session_ends_for_good_at_logout(sso_app, client, provider, people):
    provider.sign_in_as("sam.standard@example.edu")
    sso_sign_in(client)
    copy = sso_app.test_client()
    copy.set_cookie("session", client.get_cookie("session").value)
    assert copy.get("/inbox").status_code == 200
    token = csrf_token(client, "/inbox")
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302
    assert client.get("/inbox").status_code == 302
    assert copy.get("/inbox").status_code == 302


def test_deactivation_ends_an_sso_session(sso_app, client, provider, people):
    provider.sign_in_as("sam.standard@example.edu")
    sso_sign_in(client)
    assert client.get("/inbox").status_code == 200
    admin = sso_app.test_client()
    login(admin, "alex@example.edu")
    token = csrf_token(admin, f"/admin/users/{people['sam'].id}")
    response = admin.post(
        f"/admin/users/{people['sam'].id}/active", data={"active": "0", "csrf_token": token}
    )
    assert response.status_code in (200, 302, 303)
    assert client.get("/inbox").status_code == 302


def test_the_admin_console_shows_how_a_user_last_signed_in(sso_app, client, provider, people):
    admin = sso_app.test_client()
    login(admin, "alex@example.edu")
    page = admin.get(f"/admin/users/{people['sam'].id}").get_data(as_text=True)
    assert "Last sign-in: Never" in page
    provider.sign_in_as("sam.standard@example.edu")
    sso_sign_in(client)
    page = admin.get(f"/admin/users/{people['sam'].id}").get_data(as_text=True)
    assert re.search(r"Last sign-in: <time[^>]*>[^<]+</time> with single sign-on", page), page
    page = admin.get(f"/admin/users/{people['alex'].id}").get_data(as_text=True)
    assert re.search(r"Last sign-in: <time[^>]*>[^<]+</time> with a password", page)


# The command line: the first admin, and the break-glass password.


def test_with_password_login_off_the_cli_still_creates_users_and_sets_passwords(sso_app, client, people):
    sso_app.config["PASSWORD_LOGIN"] = False
    runner = sso_app.test_cli_runner()
    result = runner.invoke(
        args=["users", "create", "first@example.edu", "--role", "admin", "--password", PASSWORD]
    )
    assert result.exit_code == 0, result.output
    signed_in = sso_app.test_client()
    sso_app.config["PASSWORD_LOGIN"] = True
    login(signed_in, "sam.standard@example.edu")
    assert signed_in.get("/inbox").status_code == 200

    result = runner.invoke(
        args=["users", "set-password", "Sam.Standard@example.edu"], input="new-password-9\n" * 2
    )
    assert result.exit_code == 0, result.output
    assert "their sessions have ended" in result.output
    assert signed_in.get("/inbox").status_code == 302  # the old session ended
    assert login(client, "sam.standard@example.edu", "new-password-9").status_code == 302
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.kind == "user.password_set"))
    assert event.actor_id is None and "command line" in event.summary


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nobody@example.edu", "--password", "long-enough-1"], "No user with email"),
        (["sam.standard@example.edu", "--password", "   "], "cannot be empty"),
    ],
)
def test_set_password_refuses_bad_input_and_changes_nothing(sso_app, people, args, message):
    before = db.session.get(User, people["sam"].id).password_hash
    result = sso_app.test_cli_runner().invoke(args=["users", "set-password", *args])
    assert result.exit_code == 1 and message in result.output
    db.session.expire_all()
    assert db.session.get(User, people["sam"].id).password_hash == before


# Configuration.


def test_settings_come_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("OIDC_ISSUER", "https://login.example.edu/")
    monkeypatch.setenv("OIDC_CLIENT_ID", "parley")
    monkeypatch.setenv("OIDC_PROVISION_ROLE", "Limited")
    monkeypatch.setenv("OIDC_PROVISION_OFFICE", "Admissions")
    monkeypatch.setenv("PASSWORD_LOGIN", "off")
    config = Config(str(tmp_path))
    assert (config.OIDC_ISSUER, config.OIDC_CLIENT_ID) == ("https://login.example.edu/", "parley")
    assert (config.OIDC_PROVISION_ROLE, config.OIDC_PROVISION_OFFICE) == ("limited", "Admissions")
    assert config.PASSWORD_LOGIN is False


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"OIDC_PROVISION_ROLE": "admin", "OIDC_PROVISION_OFFICE": "Admissions"}, "standard or limited"),
        ({"OIDC_PROVISION_ROLE": "standard"}, "set together"),
        ({"PASSWORD_LOGIN": "maybe"}, "on or off"),
    ],
)
def test_settings_that_make_no_sense_stop_the_app_with_a_message(monkeypatch, tmp_path, env, message):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ValueError, match=message):
        Config(str(tmp_path))
