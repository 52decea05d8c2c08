"""Embed launch tokens: only an intact, fresh, single-use HS256 token for an active user, leading to a
path inside Parley, signs anyone in. Every other token gets 403 with a reason, and no session:
not a new one, and not the one the browser had before."""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import jwt
import pytest
from flask import Flask
from sqlalchemy import func, select

from tests.conftest import IsolatedClient, _empty_tables, make_app
from webapp.extensions import db
from webapp.models import UsedLaunchToken, UserSession

SECRET = "crm-launch-secret-" + "0123456789abcdef" * 3



@pytest.fixture
def app(database_url: str, tmp_path: Path) -> Iterator[Flask]:
    app = make_app(
        database_url, tmp_path, EMBED_SECRET=SECRET, EMBED_ALLOWED_ORIGINS=["https://crm.example.edu"]
    )
    app.test_client_class = IsolatedClient
    with app.app_context():
        yield app
        db.session.remove()
        _empty_tables()
        db.engine.dispose()


def token(secret: str = SECRET, **overrides: object) -> str:
    now = int(time.time())
    claims: dict[str, object] = {
        "sub": "standard@example.edu", "iat": now, "exp": now + 120, "jti": uuid.uuid4().hex,
    }  # fmt: skip
    claims.update(overrides)
    return jwt.encode(claims, secret, algorithm="HS256")


def unsigned(**overrides: object) -> str:
    """A token with `alg: none` and no signature, as an attacker would write it."""
    now = int(time.time())
    claims = {"sub": "admin@example.edu", "iat": now, "exp": now + 60, "jti": uuid.uuid4().hex}
    claims.update(overrides)
    parts = [{"alg": "none", "typ": "JWT"}, claims]
    encoded = [base64.urlsafe_b64encode(json.dumps(p).encode()).rstrip(b"=").decode() for p in parts]
    return ".".join(encoded) + "."


def launch(client, launch_token: str, dest: str | None = None):
    headers = {"Sec-Fetch-Dest": dest} if dest else {}
    return client.get("/embed/launch", query_string={"token": launch_token}, headers=headers)


def sessions() -> int:
    return db.session.scalar(select(func.count()).select_from(UserSession))


def assert_refused(client, launch_token: str, reason: str) -> None:
    """403 with the reason on the page, no secret in it, and nobody signed in afterwards."""
    kept = sessions()
    for dest in (None, "iframe", "document"):
        response = launch(client, launch_token, dest)
        assert response.status_code == 403, dest
        page = response.get_data(as_text=True)
        assert "Parley could not be opened" in page and reason in page, dest
        assert SECRET not in page
        inbox = client.get("/inbox")
        assert inbox.status_code == 302 and inbox.headers["Location"].startswith("/login"), dest
    assert sessions() <= kept


def lifetime(start: int, end: int) -> str:
    """A token issued `start` seconds from now that expires `end` seconds from now."""
    now = int(time.time())
    return token(iat=now + start, exp=now + end)


INSIDE = "must be a path inside Parley"
# Each case makes its token when the test runs, so the times in it are current.
REFUSED = {
    "wrong signature": (lambda: token(secret="another-secret-" + "x" * 50), "signature is not valid"),
    "alg none": (unsigned, "must be signed with HS256"),
    "alg none, own user": (lambda: unsigned(sub="standard@example.edu"), "must be signed with HS256"),
    "expired": (lambda: lifetime(-400, -100), "has expired"),
    "lives over 5 minutes": (lambda: lifetime(0, 301), "at most 5 minutes after iat"),
    "unknown user": (lambda: token(sub="nobody@example.edu"), "No Parley user"),
    "next on another site": (lambda: token(next="https://evil.example/inbox"), INSIDE),
    "next protocol-relative": (lambda: token(next="//evil.example"), INSIDE),
    "next with a backslash": (lambda: token(next="/\\evil.example"), INSIDE),
    "next javascript:": (lambda: token(next="javascript:alert(1)"), INSIDE),
}


@pytest.mark.parametrize("case", REFUSED, ids=list(REFUSED))
def test_a_bad_token_is_refused_and_signs_nobody_in(client, setup, case):
    make_token, reason = REFUSED[case]
    assert_refused(client, make_token(), reason)


def test_a_deactivated_user_is_refused(client, setup):
    setup["users"]["standard"].active = False
    db.session.commit()
    assert_refused(client, token(), "has been deactivated")


def test_a_used_jti_is_refused(app, client, setup):
    used = token()
    assert launch(client, used).status_code == 302
    assert client.get("/inbox").status_code == 200
    assert_refused(app.test_client(), used, "already used")
    # The same jti in a new, validly signed token is no better.
    jti = jwt.decode(used, SECRET, algorithms=["HS256"])["jti"]
    assert_refused(app.test_client(), token(jti=jti, next="/texts/new"), "already used")


def test_a_refused_launch_ends_the_session_the_browser_had(client, setup):
    assert launch(client, token()).status_code == 302
    assert client.get("/inbox").status_code == 200
    assert_refused(client, token(next="//evil.example"), INSIDE)


def test_a_refused_token_does_not_use_up_its_jti(client, setup):
    jti = uuid.uuid4().hex
    assert_refused(client, token(jti=jti, sub="nobody@example.edu"), "No Parley user")
    assert db.session.get(UsedLaunchToken, jti) is None


def test_a_good_token_still_signs_in(client, setup):
    """The refusals above are refusals of those tokens, not of every launch."""
    response = launch(client, token(next="/inbox?tab=participating"))
    assert response.status_code == 302
    assert response.headers["Location"] == "/inbox?tab=participating"
    assert client.get("/inbox").status_code == 200
