"""A request that fails only because the database was out of reach for a moment gets 503 with
Retry-After (a client, load balancer or provider retries it); any other failure stays a 500."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import OperationalError

from tests.conftest import login
from webapp.services import inbox


def _lost_connection(*_args, **_kwargs):
    lost = Exception("server closed the connection unexpectedly")
    raise OperationalError("SELECT 1", {}, lost, connection_invalidated=True)


def _refused(*_args, **_kwargs):
    # What connecting raises while the server is down or restarting: no statement ran.
    raise OperationalError(None, None, Exception("connection failed: Connection refused"))


def _locked(*_args, **_kwargs):
    raise OperationalError("INSERT INTO messages", {}, Exception("database is locked"))


def _bug(*_args, **_kwargs):
    raise OperationalError("SELECT nonsense", {}, Exception("no such column: nonsense"))


@pytest.fixture
def failing_inbox(app, client, setup, monkeypatch):
    app.config["PROPAGATE_EXCEPTIONS"] = False  # answer as in production, not raise in the test
    login(client, "standard@example.edu")

    def fail_with(error):
        monkeypatch.setattr(inbox, "list_tab", error)
        return client.get("/inbox")

    return fail_with


@pytest.mark.parametrize(
    "error",
    [_lost_connection, _refused, _locked],
    ids=["connection lost", "connection refused", "write lock"],
)
def test_a_moment_without_the_database_is_503_with_retry_after(failing_inbox, error):
    response = failing_inbox(error)
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "1"
    assert "Try again in a moment" in response.get_data(as_text=True)


def test_any_other_database_error_is_a_500(failing_inbox):
    response = failing_inbox(_bug)
    assert response.status_code == 500
    assert "Retry-After" not in response.headers
