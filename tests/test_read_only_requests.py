"""GET requests read without waiting for writers; the one GET that writes (marking read) still
writes; a writer waits for another's lock, then succeeds. On both databases."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import insert

from tests.conftest import login
from tests.test_web_flow import compose, reply_from_contact
from webapp.extensions import db
from webapp.models import Office
from webapp.transactions import WriteInReadOnlyRequest


def unread_dot(client, location: str) -> bool:
    row = client.get("/inbox?tab=attention").get_data(as_text=True).split(f'href="{location}"')[0]
    return "is-unread" in row.rsplit("<li", 1)[-1]


def test_opening_a_conversation_marks_it_read_until_the_next_reply(client, setup):
    login(client, "standard@example.edu")
    location = compose(client, setup["number"].id, "2025550143", "Hello").headers["Location"]
    reply_from_contact("+12025550143", text="When is the deadline?")
    assert unread_dot(client, location)

    assert client.get(location).status_code == 200
    assert not unread_dot(client, location)
    assert client.get(location).status_code == 200  # already read: nothing to write
    assert not unread_dot(client, location)

    reply_from_contact("+12025550143", text="And the fee?")
    assert unread_dot(client, location)
    client.get(location, headers={"HX-Request": "true"})
    assert not unread_dot(client, location)


# The tables a compose writes. On PostgreSQL, EXCLUSIVE mode blocks their writes, not their reads.
WRITTEN = "conversations, messages, conversation_participants, conversation_reads"


@contextmanager
def another_writer() -> Iterator[object]:
    """Another process in the middle of writing: it holds SQLite's write lock, or on PostgreSQL
    the tables a compose writes. Yields the connection: its rollback() lets go."""
    db.session.commit()
    if db.engine.dialect.name == "sqlite":
        writer = sqlite3.connect(db.engine.url.database, isolation_level=None, check_same_thread=False)
        writer.execute("BEGIN IMMEDIATE")
    else:
        writer = db.engine.raw_connection()
        writer.cursor().execute(f"LOCK TABLE {WRITTEN} IN EXCLUSIVE MODE")
    try:
        yield writer
    finally:
        writer.rollback()
        writer.close()


def test_reads_do_not_wait_for_a_writer(client, setup):
    login(client, "standard@example.edu")
    location = compose(client, setup["number"].id, "2025550143", "Hello").headers["Location"]
    with another_writer():
        started = time.monotonic()
        for path in ("/inbox", "/inbox?tab=participating", location, "/contacts/lookup?phone=2025550143"):
            assert client.get(path).status_code == 200, path
        assert time.monotonic() - started < 4.5  # under the 5 s that even one waiting read would take


def test_a_write_in_a_read_only_request_fails_at_once(app):
    with app.test_request_context("/inbox", method="GET"):
        with pytest.raises(WriteInReadOnlyRequest, match="GET /inbox wrote to the database"):
            db.session.execute(insert(Office).values(name="Sneaky"))
        db.session.rollback()
    with app.test_request_context("/inbox", method="POST"):
        db.session.execute(insert(Office).values(name="Allowed"))
        db.session.commit()


def test_a_writer_waits_for_the_write_lock_then_succeeds(client, setup):
    login(client, "standard@example.edu")
    with another_writer() as writer:
        release = threading.Timer(0.3, writer.rollback)
        started = time.monotonic()
        release.start()
        response = compose(client, setup["number"].id, "2025550143", "Hello")
        release.join()
    assert response.status_code == 303
    assert 0.2 < time.monotonic() - started < 4.5  # it waited for the lock, not the 5 s timeout


def test_reads_and_conversation_actions_load_the_signed_in_user_as_a_plain_row(app, client, setup):
    """The ORM User is loaded only where a view may link it to other rows (an admin page)."""
    from flask import request, request_finished
    from flask_login import current_user

    loaded: dict[tuple[str, str], str] = {}

    def note(sender, response, **extra) -> None:
        if current_user.is_authenticated:
            loaded[request.method, request.endpoint] = type(current_user._get_current_object()).__name__

    request_finished.connect(note, app)
    try:
        login(client, "admin@example.edu")
        location = compose(client, setup["number"].id, "2025550143", "Hello").headers["Location"]
        client.get(location)
        token = client.get(location).get_data(as_text=True).split('name="csrf_token" value="')[1]
        token = token.split('"')[0]
        client.post(f"{location}/messages", data={"body": "More", "csrf_token": token})
        client.post("/admin/offices", data={"name": "Registrar", "csrf_token": token})
    finally:
        request_finished.disconnect(note, app)
    assert loaded["GET", "conversations.show"] == "SignedInUser"
    assert loaded["POST", "compose.new"] == "SignedInUser"
    assert loaded["POST", "conversations.reply"] == "SignedInUser"
    assert loaded["POST", "admin.offices_index"] == "User"
