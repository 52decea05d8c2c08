"""GET requests read without SQLite's write lock; the one GET that writes (marking read) still does."""

from __future__ import annotations

import sqlite3
import threading
import time

import pytest
from sqlalchemy import insert

from tests.conftest import login
from tests.test_web_flow import compose, reply_from_contact
from webapp.db_access import WriteInReadOnlyRequest
from webapp.extensions import db
from webapp.models import Office


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


def test_reads_do_not_wait_for_a_writer(client, setup):
    if db.engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL readers never wait for writers")
    login(client, "standard@example.edu")
    location = compose(client, setup["number"].id, "2025550143", "Hello").headers["Location"]
    db.session.commit()
    writer = sqlite3.connect(db.engine.url.database, isolation_level=None)
    try:
        writer.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        started = time.monotonic()
        for path in ("/inbox", "/inbox?tab=participating", location, "/contacts/lookup?phone=2025550143"):
            assert client.get(path).status_code == 200, path
        assert time.monotonic() - started < 2  # well under the 5 s busy timeout a writer waits
    finally:
        writer.rollback()
        writer.close()


def test_a_write_in_a_read_only_request_fails_at_once(app):
    if db.engine.dialect.name != "sqlite":
        pytest.skip("only SQLite transactions are read-only")
    with app.test_request_context("/inbox", method="GET"):
        with pytest.raises(WriteInReadOnlyRequest, match="GET /inbox wrote to the database"):
            db.session.execute(insert(Office).values(name="Sneaky"))
        db.session.rollback()
    with app.test_request_context("/inbox", method="POST"):
        db.session.execute(insert(Office).values(name="Allowed"))
        db.session.commit()


def test_a_writer_waits_for_the_write_lock_then_succeeds(client, setup):
    if db.engine.dialect.name != "sqlite":
        pytest.skip("SQLite's single write lock")
    login(client, "standard@example.edu")
    db.session.commit()
    writer = sqlite3.connect(db.engine.url.database, isolation_level=None, check_same_thread=False)
    writer.execute("BEGIN IMMEDIATE")  # another process is writing for a moment
    release = threading.Timer(0.3, writer.rollback)
    release.start()
    try:
        started = time.monotonic()
        response = compose(client, setup["number"].id, "2025550143", "Hello")
        assert response.status_code == 303
        assert 0.2 < time.monotonic() - started < 3
    finally:
        release.join()
        writer.close()
