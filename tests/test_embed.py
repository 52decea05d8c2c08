"""Embedding in a CRM: launch tokens, embedded session cookies, the new-tab fallback, headers."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
from flask import Flask
from sqlalchemy import func, select

from tests.conftest import PASSWORD, IsolatedClient, csrf_token, login, make_app, serving
from webapp.extensions import db
from webapp.models import Conversation, Message, UsedLaunchToken, utcnow
from webapp.services import embedding

SECRET = "crm-launch-secret-" + "0123456789abcdef" * 3  # 66 bytes: long enough for HS512 too
CRM_ORIGIN = "https://crm.example.edu"


@pytest.fixture
def app(database_url: str, tmp_path: Path) -> Iterator[Flask]:
    """The app as a CRM embeds it: over HTTPS, with EMBED_SECRET and one allowed framing origin."""
    with serving(_embedding_app(database_url, tmp_path, "https://parley.example.edu")) as app:
        yield app


@pytest.fixture
def http_app(database_url: str, tmp_path: Path) -> Iterator[Flask]:
    """The same, served over plain HTTP (a test server, an intranet host)."""
    with serving(_embedding_app(database_url, tmp_path, "http://parley.test")) as app:
        yield app


def _embedding_app(database_url: str, tmp_path: Path, base_url: str) -> Flask:
    return make_app(
        database_url, tmp_path, EMBED_SECRET=SECRET, EMBED_ALLOWED_ORIGINS=[CRM_ORIGIN],
        PUBLIC_BASE_URL=base_url, SESSION_COOKIE_SECURE=base_url.startswith("https://"),
    )  # fmt: skip


def make_token(secret: str = SECRET, algorithm: str = "HS256", **overrides: object) -> str:
    now = int(time.time())
    claims: dict[str, object] = {
        "sub": "standard@example.edu",
        "iat": now,
        "exp": now + 120,
        "jti": uuid.uuid4().hex,
    }
    claims.update(overrides)
    claims = {key: value for key, value in claims.items() if value is not None}
    return jwt.encode(claims, secret, algorithm=algorithm)


def launch(client, token: str, dest: str | None = None):
    """GET the launch URL; `dest` plays the browser's Sec-Fetch-Dest (iframe, document)."""
    headers = {"Sec-Fetch-Dest": dest} if dest else {}
    return client.get("/embed/launch", query_string={"token": token}, headers=headers)


def follow(client, response, limit: int = 5):
    """Follow redirects one by one (the test client's own following drops our isolation)."""
    for _ in range(limit):
        if response.status_code not in (301, 302, 303):
            return response
        response = client.get(response.headers["Location"])
    return response


def assert_signed_out(client) -> None:
    response = client.get("/inbox")
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


def session_cookie_header(response) -> str:
    headers = [h for h in response.headers.getlist("Set-Cookie") if h.startswith("session=")]
    assert headers, "no session cookie was set"
    return headers[0]


# ---- A valid launch ----


def test_valid_launch_signs_in_and_redirects_to_next(client, setup):
    response = launch(client, make_token(next="/inbox?tab=participating"))
    assert response.status_code == 302
    assert response.headers["Location"] == "/inbox?tab=participating"
    page = client.get("/inbox").get_data(as_text=True)
    assert "Needs Attention" in page and "Sam Standard" in page


def test_next_defaults_to_the_inbox(client, setup):
    assert launch(client, make_token()).headers["Location"] == "/inbox"


def test_a_launch_framed_by_an_origin_not_allowed_is_refused_and_logged(client, setup, caplog):
    """The browser would not show Parley in that frame (frame-ancestors) yet would load the
    launch: refused like a bad token (an earlier session there ends), with the token unspent,
    and the log names the origin."""
    assert launch(client, make_token()).status_code == 302  # signed in beforehand
    token = make_token()
    foreign = {"Sec-Fetch-Dest": "iframe", "Referer": "http://127.0.0.1:5085/crm?record=1"}
    refused = client.get("/embed/launch", query_string={"token": token}, headers=foreign)
    assert refused.status_code == 403
    assert "http://127.0.0.1:5085 may not show Parley" in refused.get_data(as_text=True)
    assert "Embedded launch refused: http://127.0.0.1:5085 may not show Parley" in caplog.text
    assert_signed_out(client)

    # The same token from the CRM's page (its default port written out), or from Parley itself.
    for referer in (f"{CRM_ORIGIN}:443/records/7", "https://parley.example.edu/inbox"):
        allowed = {"Sec-Fetch-Dest": "iframe", "Referer": referer}
        response = client.get("/embed/launch", query_string={"token": token}, headers=allowed)
        assert response.status_code == 302 and response.headers["Location"].startswith("/embed/check?")
        token = make_token()


def test_which_origins_may_frame_parley():
    allowed = ["https://crm.example.edu", "https://*.partner.edu", "http://localhost:8080"]
    own = "https://parley.example.edu"
    for origin, verdict in [
        ("https://crm.example.edu", True), ("https://parley.example.edu", True),
        ("https://portal.partner.edu", True), ("https://a.b.partner.edu", True),
        ("https://partner.edu", False), ("http://portal.partner.edu", False),
        ("http://crm.example.edu", False), ("https://crm.example.edu:8443", False),
        ("http://localhost:8080", True), ("https://localhost:8080", True), ("http://localhost:8081", False),
    ]:  # fmt: skip
        assert embedding.may_frame(origin, allowed, own) is verdict, origin
    assert embedding.origin_of("HTTPS://CRM.Example.edu:443/x?y#z") == "https://crm.example.edu"
    assert embedding.origin_of("http://crm.example.edu:8080/") == "http://crm.example.edu:8080"
    assert embedding.origin_of("http://[::1]:5000/") == "http://[::1]:5000"
    for junk in (None, "", "/relative", "javascript:alert(1)", "https://host:99999/"):
        assert embedding.origin_of(junk) is None, junk


def test_framed_launch_checks_the_cookie_on_the_way(client, setup):
    response = launch(client, make_token(next="/inbox?tab=participating"), dest="iframe")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/embed/check?")
    response = client.get(response.headers["Location"])
    assert response.status_code == 302
    assert response.headers["Location"] == "/inbox?tab=participating"
    assert client.get("/inbox").status_code == 200


@pytest.mark.parametrize("dest", [None, "iframe"])
def test_embedded_session_cookie_is_none_secure_partitioned(client, setup, dest):
    cookie = session_cookie_header(launch(client, make_token(), dest=dest))
    assert "SameSite=None" in cookie
    assert "; Secure" in cookie
    assert "; Partitioned" in cookie
    assert "HttpOnly" in cookie


def test_top_level_launch_gets_a_first_party_cookie(client, setup):
    response = launch(client, make_token(next="/inbox"), dest="document")
    assert response.headers["Location"] == "/inbox"
    cookie = session_cookie_header(response)
    assert "SameSite=Lax" in cookie and "Partitioned" not in cookie
    assert client.get("/inbox").status_code == 200


def test_a_launch_over_plain_http_gets_a_cookie_that_comes_back(http_app, setup):
    """No Sec-Fetch-Dest (a script; browsers send none to such a host) on a server reached over
    http://: a Secure cookie would never come back."""
    client = http_app.test_client()
    response = launch(client, make_token(next="/inbox"))
    assert response.headers["Location"] == "/inbox"
    cookie = session_cookie_header(response)
    assert "SameSite=Lax" in cookie and "Secure" not in cookie and "Partitioned" not in cookie
    assert client.get("/inbox").status_code == 200


def test_plain_login_keeps_strict_cookie_defaults(client, setup):
    token = csrf_token(client)
    response = client.post(
        "/login", data={"email": "standard@example.edu", "password": "correct-horse-battery",
                        "csrf_token": token},
    )
    cookie = session_cookie_header(response)
    assert "SameSite=Lax" in cookie
    assert "Partitioned" not in cookie


def test_a_new_secret_key_signs_sessions_out_unless_the_old_one_is_a_fallback(client, setup, app):
    """Session cookies are checked against the app's keys as they are now (the signing serializer
    is kept between requests, so it must follow a change of keys)."""
    login(client, "standard@example.edu")
    assert client.get("/inbox").status_code == 200
    old = app.secret_key
    app.config["SECRET_KEY_FALLBACKS"] = [old]
    app.secret_key = "a-rotated-secret-key-for-this-test"
    assert client.get("/inbox").status_code == 200  # signed with the old key: still accepted
    app.config["SECRET_KEY_FALLBACKS"] = []
    assert client.get("/inbox").status_code == 302  # the old key is gone: signed out
    login(client, "standard@example.edu")
    assert client.get("/inbox").status_code == 200


def test_launch_to_a_conversation(client, setup):
    login(client, "standard@example.edu")
    client.post(
        "/texts/new",
        data={"csrf_token": csrf_token(client, "/texts/new"), "number_id": setup["number"].id,
              "to": "2025550143", "body": "Hello"},
    )
    conversation_id = db.session.scalar(select(Conversation.id))
    other = client.application.test_client()
    response = follow(other, launch(other, make_token(next=f"/conversations/{conversation_id}")))
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "Hello" in page and "(202) 555-0143" in page


def test_launch_to_compose_prefilled(client, setup):
    response = follow(client, launch(client, make_token(next="/texts/new?to=2025550143")))
    page = response.get_data(as_text=True)
    assert "Create 1:1 Text" in page
    assert 'value="2025550143"' in page


def test_launch_to_compose_gives_limited_users_the_lookup(client, setup):
    token = make_token(sub="limited@example.edu", next="/texts/new?to=(202) 555-0143")
    response = launch(client, token)
    response = client.get(response.headers["Location"])  # next: compose, refused with the lookup
    assert response.status_code == 403
    page = response.get_data(as_text=True)
    assert "Contact lookup" in page and "(202) 555-0143" in page
    assert "not start them" in page
    assert "Text this contact" not in page


def test_embedded_session_can_post_forms_with_csrf(client, setup):
    follow(client, launch(client, make_token()))
    response = client.post(
        "/texts/new",
        data={"csrf_token": csrf_token(client, "/texts/new"), "number_id": setup["number"].id,
              "to": "2025550143", "body": "From the CRM"},
    )
    assert response.status_code == 303
    response = client.post(
        "/texts/new", data={"number_id": setup["number"].id, "to": "2025550143", "body": "No token"}
    )
    assert response.status_code == 400
    assert db.session.scalars(select(Message.body)).all() == ["From the CRM"]


def test_sub_matches_email_case_insensitively(client, setup):
    follow(client, launch(client, make_token(sub="  Standard@Example.EDU ")))
    assert client.get("/inbox").status_code == 200


def test_launch_replaces_an_earlier_session(client, setup):
    login(client, "admin@example.edu")
    follow(client, launch(client, make_token(sub="limited@example.edu")))
    assert "Lee Limited" in client.get("/inbox").get_data(as_text=True)


def test_used_jti_is_stored_until_expiry_and_expired_ones_are_purged(client, setup):
    stale = UsedLaunchToken(jti="old", expires_at=utcnow() - timedelta(minutes=1))
    db.session.add(stale)
    db.session.commit()
    jti = uuid.uuid4().hex
    launch(client, make_token(jti=jti))
    db.session.expire_all()
    assert db.session.scalars(select(UsedLaunchToken.jti)).all() == [jti]
    row = db.session.get(UsedLaunchToken, jti)
    assert row.expires_at > utcnow() + timedelta(seconds=60)


# ---- Refused launches: 403, a reason, and no session ----


def _refused(client, token: str, reason: str) -> None:
    response = launch(client, token)
    assert response.status_code == 403
    page = response.get_data(as_text=True)
    assert "Parley could not be opened" in page
    assert reason in page
    assert SECRET not in page
    assert_signed_out(client)


def test_expired_token_is_refused(client, setup):
    now = int(time.time())
    _refused(client, make_token(iat=now - 400, exp=now - 100), "has expired")


def test_a_token_issued_by_a_clock_a_little_ahead_is_tolerated(client, setup):
    now = int(time.time())
    follow(client, launch(client, make_token(iat=now + 20, exp=now + 200)))  # the CRM's clock: +20 s
    assert client.get("/inbox").status_code == 200


def test_a_token_past_its_exp_is_refused_at_once(client, setup):
    now = int(time.time())
    _refused(client, make_token(iat=now - 200, exp=now - 1), "has expired")


def test_token_living_longer_than_five_minutes_is_refused(client, setup):
    now = int(time.time())
    _refused(client, make_token(iat=now, exp=now + 301), "at most 5 minutes after iat")


def test_token_issued_in_the_future_is_refused(client, setup):
    now = int(time.time())
    _refused(client, make_token(iat=now + 120, exp=now + 300), "not valid yet")


def test_reused_jti_is_refused(client, setup, app):
    token = make_token()
    follow(client, launch(client, token))
    assert client.get("/inbox").status_code == 200
    other = app.test_client()
    _refused(other, token, "already used")


def test_bad_signature_is_refused(client, setup):
    _refused(client, make_token(secret="another-secret-" + "x" * 50),
             "signature is not valid")


def test_tampered_payload_is_refused(client, setup):
    header, payload, signature = make_token().split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["sub"] = "admin@example.edu"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    _refused(client, f"{header}.{forged}.{signature}", "signature is not valid")


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def test_alg_none_is_refused(client, setup):
    now = int(time.time())
    claims = {"sub": "standard@example.edu", "iat": now, "exp": now + 60, "jti": "none-1"}
    for alg in ("none", "None", "NONE"):
        token = f"{_b64({'alg': alg, 'typ': 'JWT'})}.{_b64(claims)}."
        _refused(client, token, "must be signed with HS256")


@pytest.mark.parametrize("algorithm", ["HS512", "HS384"])
def test_other_algorithms_are_refused(client, setup, algorithm):
    _refused(client, make_token(algorithm=algorithm), "must be signed with HS256")


@pytest.mark.parametrize(
    "token", ["not-a-token", "a.b.c", "....", "e30", "eyJhbGciOiJIUzI1NiJ9.%%%.abc"]
)
def test_malformed_token_is_refused(client, setup, token):
    _refused(client, token, "malformed")


@pytest.mark.parametrize("header", [{"kid": 7}, {"crit": ["exp"]}])
def test_a_signed_token_with_a_header_pyjwt_refuses_is_refused(client, setup, header):
    """Signed with the right secret, but with a header PyJWT will not read (a kid that is no
    string, an extension it does not know): refused as malformed, where it failed with a 500."""
    now = int(time.time())
    claims = {"sub": "standard@example.edu", "iat": now, "exp": now + 60, "jti": uuid.uuid4().hex}
    signing_input = f"{_b64({'alg': 'HS256', 'typ': 'JWT', **header})}.{_b64(claims)}"
    digest = hmac.new(SECRET.encode(), signing_input.encode(), hashlib.sha256).digest()
    token = f"{signing_input}.{base64.urlsafe_b64encode(digest).rstrip(b'=').decode()}"
    response = client.get(f"/embed/launch?token={token}")
    assert response.status_code == 403
    assert_signed_out(client)


def test_missing_token_is_refused(client, setup):
    response = client.get("/embed/launch")
    assert response.status_code == 403
    assert "carries no token" in response.get_data(as_text=True)
    assert_signed_out(client)


def test_oversized_token_is_refused(client, setup):
    _refused(client, make_token(padding="x" * 4200), "too large")


@pytest.mark.parametrize("claim", ["sub", "iat", "exp", "jti"])
def test_missing_claims_are_refused(client, setup, claim):
    _refused(client, make_token(**{claim: None}), f"lacks the {claim} claim")


@pytest.mark.parametrize("claim", ["iat", "exp", "nbf"])
def test_times_written_as_strings_are_refused(client, setup, claim):
    now = int(time.time())
    value = {"iat": now, "exp": now + 60, "nbf": now}[claim]
    _refused(client, make_token(**{claim: str(value)}), f"{claim} claim must be a JSON number")


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        ({"exp": float("inf")}, "not valid: Expiration Time claim (exp) must be an integer."),
        ({"nbf": float("nan")}, "not valid: Not Before claim (nbf) must be an integer."),
        ({"iat": float("inf")}, "not valid: Issued At claim (iat) must be an integer."),
    ],
)
def test_times_that_are_no_number_of_seconds_are_refused_by_name(client, setup, claims, reason):
    _refused(client, make_token(**claims), reason)
    assert "integer.." not in launch(client, make_token(**claims)).get_data(as_text=True)


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        ({"sub": "standard@example.edu\x00"}, "sub claim must be the user"),
        ({"sub": "\ud800"}, "sub claim must be the user"),
        ({"jti": "launch\x00one"}, "jti must be a unique string"),
        ({"jti": "\udfff"}, "jti must be a unique string"),
    ],
)
def test_claims_no_database_can_keep_are_refused(client, setup, claims, reason):
    """A NUL (PostgreSQL refuses it) or a lone surrogate, as JSON's escapes can write them."""
    _refused(client, make_token(**claims), reason)
    assert db.session.scalar(select(func.count()).select_from(UsedLaunchToken)) == 0


def test_unknown_user_is_refused(client, setup):
    _refused(client, make_token(sub="nobody@example.edu"), "No Parley user")


def test_deactivated_user_is_refused(client, setup):
    setup["users"]["standard"].active = False
    db.session.commit()
    _refused(client, make_token(), "has been deactivated")


@pytest.mark.parametrize(
    "target",
    [
        "//evil.example",
        "//evil.example/inbox",
        "https://evil.example",
        "http://evil.example/inbox",
        "javascript:alert(1)",
        "JavaScript:alert(1)",
        "/\\evil.example",
        "\\\\evil.example",
        "/\t/evil.example",
        "/\n/evil.example",
        "inbox",
        "data:text/html,hi",
        " /inbox",
        42,
    ],
)
def test_foreign_next_is_refused(client, setup, target):
    _refused(client, make_token(next=target), "must be a path inside Parley")


def test_refused_launch_ends_an_existing_session(client, setup):
    follow(client, launch(client, make_token()))
    assert client.get("/inbox").status_code == 200
    _refused(client, make_token(next="//evil.example"), "must be a path inside Parley")


def test_refused_launch_does_not_use_up_the_jti(client, setup):
    jti = uuid.uuid4().hex
    _refused(client, make_token(jti=jti, sub="nobody@example.edu"), "No Parley user")
    assert db.session.get(UsedLaunchToken, jti) is None


def test_launch_without_embed_secret_is_refused(database_url, tmp_path, setup):
    plain = make_app(database_url, tmp_path / "plain", EMBED_SECRET="")
    plain.test_client_class = IsolatedClient
    with plain.app_context():
        client = plain.test_client()
        response = launch(client, make_token())
        assert response.status_code == 403
        assert "EMBED_SECRET is not configured" in response.get_data(as_text=True)
        assert_signed_out(client)
        db.session.remove()


# ---- The cookie check and the new-tab fallback ----


def _check_url(client) -> str:
    response = launch(client, make_token(next="/inbox?tab=participating"), dest="iframe")
    return response.headers["Location"]


def test_browser_without_the_cookie_gets_the_new_tab_fallback(client, setup, app):
    check_url = _check_url(client)
    cookieless = app.test_client()  # the frame whose browser dropped the cookie
    response = cookieless.get(check_url)
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "Open Parley in a new tab" in page
    match = re.search(r'href="(/embed/launch\?token=[^"]+)" target="_blank" rel="noopener"', page)
    assert match
    new_tab = app.test_client()
    response = new_tab.get(match.group(1).replace("&amp;", "&"))
    assert response.status_code == 302
    assert response.headers["Location"] == "/inbox?tab=participating"
    cookie = session_cookie_header(response)
    assert "SameSite=Lax" in cookie and "Partitioned" not in cookie  # a top-level tab
    assert new_tab.get("/inbox").status_code == 200
    # The fallback link works once.
    again = app.test_client()
    assert again.get(match.group(1).replace("&amp;", "&")).status_code == 403


def test_working_cookie_burns_the_fallback_token(client, setup, app):
    check_url = _check_url(client)
    handoff = parse_qs(urlsplit(check_url).query)["handoff"][0]
    assert client.get(check_url).headers["Location"] == "/inbox?tab=participating"
    _refused(app.test_client(), handoff, "already used")


def test_check_never_redirects_away(client, setup):
    follow(client, launch(client, make_token()))
    response = client.get("/embed/check", query_string={"next": "//evil.example"})
    assert response.headers["Location"] == "/inbox"


def test_handoff_token_lives_two_minutes(app, setup):
    from webapp.models import User

    user = db.session.scalar(select(User).where(User.email == "standard@example.edu"))
    claims = jwt.decode(
        embedding.mint_handoff(SECRET, user, "/inbox"), SECRET, algorithms=["HS256"]
    )
    assert claims["exp"] - claims["iat"] == 120
    assert claims["sub"] == "standard@example.edu"


def test_a_handoff_token_past_its_exp_is_not_honoured(app, setup):
    """The clock leeway is for the CRM's tokens; Parley's own handoff ends when it says."""
    from webapp.models import User

    user = db.session.scalar(select(User).where(User.email == "standard@example.edu"))
    fresh = embedding.mint_handoff(SECRET, user, "/inbox")
    assert embedding.read_handoff(fresh, SECRET) is not None
    late = embedding.mint_handoff(SECRET, user, "/inbox", now=utcnow() - timedelta(seconds=121))
    assert embedding.read_handoff(late, SECRET) is None  # expired a second ago


def test_logout_inside_the_frame_deletes_the_partitioned_cookie(client, setup):
    follow(client, launch(client, make_token()))
    response = client.post("/logout", data={"csrf_token": csrf_token(client, "/inbox")})
    cookies = [h for h in response.headers.getlist("Set-Cookie") if h.startswith("session=")]
    assert any("Partitioned" in h for h in cookies)
    assert_signed_out(client)


def test_login_page_inside_a_frame_offers_a_new_tab(client, setup):
    framed = client.get("/login", headers={"Sec-Fetch-Dest": "iframe"}).get_data(as_text=True)
    assert "open Parley in a new tab" in framed and 'target="_blank"' in framed
    assert "open Parley in a new tab" not in client.get("/login").get_data(as_text=True)


CROSS_SITE_FRAME = {"Sec-Fetch-Dest": "iframe", "Sec-Fetch-Site": "cross-site"}


def test_a_login_page_framed_by_another_site_gets_an_embedded_cookie_and_signs_in(client, setup):
    first = client.get("/login?next=/texts/new", headers=CROSS_SITE_FRAME)
    assert first.status_code == 302 and "framed=1" in first.headers["Location"]
    assert "SameSite=None" in session_cookie_header(first)
    page = client.get(first.headers["Location"], headers=CROSS_SITE_FRAME)
    assert 'name="password"' in page.get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True))[1]
    signed_in = client.post(
        first.headers["Location"],
        data={"email": "standard@example.edu", "password": PASSWORD, "csrf_token": token},
    )
    assert signed_in.status_code == 302 and signed_in.headers["Location"] == "/texts/new"
    assert "Partitioned" in session_cookie_header(signed_in)  # still works inside the frame
    assert client.get("/texts/new").status_code == 200


def test_a_framed_login_page_whose_cookie_did_not_stick_offers_a_new_tab_not_a_form(
    client, setup, app
):
    # The browser refused the cookie the first visit set: the check comes back without it.
    refused = app.test_client().get("/login?framed=1&next=/inbox", headers=CROSS_SITE_FRAME)
    html = refused.get_data(as_text=True)
    assert "Reopen Parley from your CRM" in html
    link = 'href="/login?next=%2Finbox" target="_blank" rel="noopener">Open Parley in a new tab'
    assert link in html or link.replace("%2F", "/") in html
    assert 'name="password"' not in html


def test_a_form_refused_inside_another_sites_frame_does_not_advise_a_reload(client, setup):
    response = client.post(
        "/login", data={"email": "a@b.c", "password": "x"}, headers={"Sec-Fetch-Dest": "iframe"}
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "Reload the page" not in html and "Reopen Parley from your CRM" in html
    assert 'target="_blank" rel="noopener">Open Parley in a new tab' in html
    plain = client.post("/login", data={"email": "a@b.c", "password": "x"})
    assert "Reload the page and try again" in plain.get_data(as_text=True)
    # An htmx form in the frame (compose's Send): the page's script says it is framed.
    framed_htmx = {"HX-Request": "true", "Parley-Framed": "1"}
    htmx = client.post("/texts/new", data={"body": "Hi"}, headers=framed_htmx)
    assert htmx.status_code == 400 and "Reopen Parley from your CRM" in htmx.get_data(as_text=True)


# ---- Framing policy and security headers ----


@pytest.mark.parametrize("path", ["/login", "/inbox", "/embed/launch?token=x", "/nowhere"])
def test_frame_ancestors_on_every_page(client, setup, path):
    response = client.get(path)
    csp = response.headers["Content-Security-Policy"]
    assert f"frame-ancestors 'self' {CRM_ORIGIN}" in csp
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert "X-Frame-Options" not in response.headers
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert "Permissions-Policy" in response.headers


def test_without_allowed_origins_only_self_may_frame(database_url, tmp_path, setup):
    plain = make_app(database_url, tmp_path / "plain")
    with plain.app_context():
        response = plain.test_client().get("/login")
        assert response.headers["Content-Security-Policy"].endswith("frame-ancestors 'self'")
        db.session.remove()


@pytest.mark.parametrize(
    "origin", ["https://crm.example; script-src *", "crm.example.edu", "'unsafe-inline'", "*"]
)
def test_allowed_origins_must_be_origins(database_url, tmp_path, origin):
    with pytest.raises(ValueError, match="EMBED_ALLOWED_ORIGINS"):
        make_app(database_url, tmp_path, EMBED_ALLOWED_ORIGINS=[origin])


def test_allowed_origins_may_be_written_in_capitals(database_url, tmp_path):
    """Schemes and host names are case-insensitive, and a default port is no port: an origin
    typed so is the browser's origin still."""
    app = make_app(database_url, tmp_path, EMBED_ALLOWED_ORIGINS=["HTTPS://CRM.Example.edu:443/"])
    with app.app_context():
        policy = app.test_client().get("/login").headers["Content-Security-Policy"]
        assert policy.endswith("frame-ancestors 'self' https://crm.example.edu")
        db.session.remove()


def test_pages_have_no_inline_scripts_or_styles(client, setup):
    follow(client, launch(client, make_token()))
    for path in ("/inbox", "/texts/new", "/contacts/lookup?phone=2025550143", "/"):
        page = client.get(path).get_data(as_text=True)
        for tag in re.findall(r"<script\b[^>]*>", page):
            assert "src=" in tag, (path, tag)
        assert not re.search(r"\son[a-z]+\s*=", page), path
        assert not re.search(r"\sstyle\s*=", page), path
        assert "<style" not in page, path


# ---- Page weight ----

# Bytes, uncompressed: HTML + CSS + JS of the first inbox load with a full page of conversations,
# inside the CRM frame: the same 100 KB budget as tests/test_page_weight.py checks outside it.
PAGE_WEIGHT_BUDGET = 100 * 1024


def test_first_inbox_load_stays_small(client, setup):
    from webapp.plugin_api import InboundMessage
    from webapp.services import inbound

    for i in range(30):  # more than a page of conversations needing attention
        inbound.receive(
            InboundMessage(from_phone=f"+1202555{1000 + i}", to_phone="+12025550100",
                           body="When is the application deadline for the fall term?"),
            "console",
        )
    follow(client, launch(client, make_token()))
    html = client.get("/inbox").data
    assets = re.findall(rb'(?:href|src)="(/static/[^"]+\.(?:css|js))"', html)
    assert len(assets) >= 3  # app.css, htmx, app.js
    sizes = {url.decode(): len(client.get(url.decode()).data) for url in assets}
    total = len(html) + sum(sizes.values())
    assert total < PAGE_WEIGHT_BUDGET, f"HTML {len(html):,} B + {sizes} = {total:,} B"
