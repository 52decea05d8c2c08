"""Session cookies (Flask's signed cookies): they expire with the session's lifetime, and a cookie
whose signature was changed signs nobody in."""

from __future__ import annotations

import time
from datetime import timedelta

from flask import Flask
from flask.testing import FlaskClient

from tests.conftest import login


def session_cookie(client: FlaskClient) -> str:
    cookie = client.get_cookie("session")
    assert cookie is not None, "not signed in"
    return cookie.value


def test_a_session_cookie_expires(client, setup, app: Flask, monkeypatch) -> None:
    login(client, "standard@example.edu")
    assert client.get("/inbox").status_code == 200
    lifetime = app.permanent_session_lifetime
    later = time.time() + lifetime.total_seconds() + 5
    monkeypatch.setattr(time, "time", lambda: later)
    response = client.get("/inbox")
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


def test_a_session_cookie_follows_a_shorter_lifetime(client, setup, app: Flask, monkeypatch) -> None:
    login(client, "standard@example.edu")
    assert client.get("/inbox").status_code == 200
    app.permanent_session_lifetime = timedelta(hours=1)
    assert client.get("/inbox").status_code == 200
    later = time.time() + 2 * 3600
    monkeypatch.setattr(time, "time", lambda: later)
    assert client.get("/inbox").status_code == 302


def test_a_tampered_cookie_is_refused(client, setup) -> None:
    login(client, "standard@example.edu")
    assert client.get("/inbox").status_code == 200
    good = session_cookie(client)
    body, _, signature = good.rpartition(".")
    forged = f"{body}.{'A' if signature[0] != 'A' else 'B'}{signature[1:]}"
    client.set_cookie("session", forged)
    assert client.get("/inbox").status_code == 302
    client.set_cookie("session", good)
    assert client.get("/inbox").status_code == 200
