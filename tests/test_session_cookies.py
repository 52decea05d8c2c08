"""Session cookies: a cookie whose signature checked out is remembered, and still behaves as Flask's."""

from __future__ import annotations

import time
from datetime import timedelta

from flask import Flask

from tests.conftest import login


def session_cookie(client) -> str:  # noqa: ANN001
    cookie = client.get_cookie("session")
    assert cookie is not None, "not signed in"
    return cookie.value


def test_a_remembered_cookie_still_expires(client, setup, app: Flask, monkeypatch) -> None:
    login(client, "standard@example.edu")
    assert client.get("/inbox").status_code == 200  # checked once, and remembered
    assert client.get("/inbox").status_code == 200
    lifetime = app.permanent_session_lifetime
    later = time.time() + lifetime.total_seconds() + 5
    monkeypatch.setattr(time, "time", lambda: later)
    response = client.get("/inbox")
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


def test_a_remembered_cookie_follows_a_shorter_lifetime(client, setup, app: Flask, monkeypatch) -> None:
    login(client, "standard@example.edu")
    assert client.get("/inbox").status_code == 200
    app.permanent_session_lifetime = timedelta(hours=1)
    assert client.get("/inbox").status_code == 200
    later = time.time() + 2 * 3600
    monkeypatch.setattr(time, "time", lambda: later)
    assert client.get("/inbox").status_code == 302


def test_a_tampered_cookie_is_refused_after_the_real_one_was_remembered(client, setup) -> None:
    login(client, "standard@example.edu")
    assert client.get("/inbox").status_code == 200
    good = session_cookie(client)
    body, _, signature = good.rpartition(".")
    forged = f"{body}.{'A' if signature[0] != 'A' else 'B'}{signature[1:]}"
    client.set_cookie("session", forged)
    assert client.get("/inbox").status_code == 302
    client.set_cookie("session", good)
    assert client.get("/inbox").status_code == 200


def test_each_request_gets_its_own_copy_of_a_remembered_session(app: Flask) -> None:
    """A request that changes its session (and whose new cookie the browser never stores) leaves
    the next request with the same cookie as it was signed, nested values (flashed messages) too."""
    interface = app.session_interface
    signed = {"_user_id": "1", "_flashes": [["message", "Saved."]]}
    cookie = interface.get_signing_serializer(app).dumps(signed)
    with app.test_request_context("/inbox", headers={"Cookie": f"session={cookie}"}) as ctx:
        first = interface.open_session(app, ctx.request)
        first["_flashes"].append(["message", "Sent."])
        first["_user_id"] = "2"
        second = interface.open_session(app, ctx.request)
    assert dict(second) == signed
