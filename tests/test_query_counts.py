"""Inbox requests run a bounded number of SQL queries whatever the data size (no N+1).

Each request is counted with 5 rows of data, then again after adding 45 more: the counts must match.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from sqlalchemy import event

from tests.conftest import login
from webapp.extensions import db
from webapp.models import (
    Campaign,
    CampaignContact,
    Conversation,
    Message,
    OptOut,
    Participant,
    ReadMark,
)

HTMX = {"HX-Request": "true"}


@contextmanager
def counting():
    statements: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany):
        if not statement.startswith("BEGIN"):  # SQLite's transaction control, not a query
            statements.append(statement)

    db.session.commit()  # the test's own transaction is not the request's
    event.listen(db.engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(db.engine, "before_cursor_execute", count)


def add_conversations(setup: dict, start: int, count: int) -> list[Conversation]:
    """Conversations on the inbox number, alternately needing attention or joined by the agent."""
    campaign = Campaign(name=f"Fall {start}", office=setup["office"], status="launched",
                        launched_at=datetime.now(UTC))
    db.session.add(campaign)
    db.session.flush()
    base = datetime.now(UTC) - timedelta(days=1)
    made = []
    agent_id = setup["users"]["standard"].id
    for k in range(start, start + count):
        phone = f"+1202555{1000 + k:04d}"
        conversation = Conversation(
            number=setup["number"], contact_phone=phone, needs_attention=k % 2 == 0,
            last_activity_at=base + timedelta(minutes=k), last_inbound_at=base + timedelta(minutes=k),
            last_message_preview=f"Message {k}",
        )
        db.session.add(conversation)
        db.session.add(
            CampaignContact(campaign_id=campaign.id, first_name="Pat", last_name=f"Doe{k}", phone=phone)
        )
        db.session.flush()
        if k % 2:
            db.session.add(Participant(conversation_id=conversation.id, user_id=agent_id))
        if k % 3 == 0:
            db.session.add(ReadMark(conversation_id=conversation.id, user_id=agent_id))
        if k % 7 == 0:
            db.session.add(OptOut(phone=phone, source="keyword"))
        made.append(conversation)
    db.session.commit()
    return made


def add_messages(conversation: Conversation, count: int) -> None:
    for k in range(count):
        inbound = k % 2 == 0
        db.session.add(Message(
            conversation_id=conversation.id, direction="inbound" if inbound else "outbound",
            body=f"Message {k}", author_kind="contact" if inbound else "agent",
            status="received" if inbound else "delivered",
        ))
    db.session.commit()


def measure(client, paths: dict[str, tuple[str, dict]]) -> dict[str, int]:
    counts = {}
    for name, (path, headers) in paths.items():
        with counting() as statements:
            response = client.get(path, headers=headers)
        assert response.status_code == 200, name
        counts[name] = len(statements)
    return counts


def test_inbox_and_conversation_query_counts_do_not_grow_with_data(client, setup):
    login(client, "standard@example.edu")
    first = add_conversations(setup, 0, 5)
    opened = first[0]
    add_messages(opened, 5)
    paths = {
        "inbox page": ("/inbox", {}),
        "needs attention fragment": ("/inbox?tab=attention", HTMX),
        "participating fragment": ("/inbox?tab=participating", HTMX),
        "conversation fragment": (f"/conversations/{opened.id}", HTMX),
        "conversation page": (f"/conversations/{opened.id}", {}),
    }
    small = measure(client, paths)

    add_conversations(setup, 5, 45)
    add_messages(opened, 45)
    large = measure(client, paths)

    assert large == small
    # And the numbers stay small: the statements themselves, not a loop.
    # the user with their numbers (one statement), the page with both tabs' counts, names
    assert small["inbox page"] == 3, small
    # the same, but the page before it asked for the names, which hold while the directory does
    assert small["needs attention fragment"] == 2, small
    # the tag its refresh would answer (which the pane carries), user, the conversation with its
    # number, read mark and opt-out (visibility included), names, messages
    assert small["conversation fragment"] <= 5, small
    assert max(small.values()) <= 9, small  # the full conversation page: its inbox list too


def test_compose_runs_a_fixed_handful_of_statements(client, setup, app):
    """user; number access, opt-out and an earlier submit; conversation; message. On SQLite the
    user and the checks are read without the write lock, which is taken for the writes alone; on
    PostgreSQL, where reading takes no lock, they begin the transaction."""
    from tests.test_web_flow import compose

    queued: list[int] = []  # the worker's side is not the compose's: hold its tasks
    app.extensions["parley.tasks"] = replace(app.extensions["parley.tasks"], send_message=queued.append)
    login(client, "standard@example.edu")
    compose(client, setup["number"].id, "2025550143", "Hello")  # the conversation exists now
    token_page = client.get("/texts/new").get_data(as_text=True)
    token = token_page.split('name="csrf_token" value="')[1].split('"')[0]
    form = {"csrf_token": token, "number_id": str(setup["number"].id), "to": "2025550143"}
    read_only: list[bool] = []  # per statement: did it run where writing is refused?
    seen_by_sqlite: list[str] = []  # what SQLite itself ran, transaction control included
    traced_sql: list[str] = []
    traced = []

    def noted(conn, cursor, statement, parameters, context, executemany) -> None:
        if not statement.startswith("BEGIN"):
            read_only.append(bool(conn.info.get("read_only")))

    def trace(sql: str) -> None:
        if sql.startswith("--"):
            return  # a virtual table's own statements (the FTS5 index a trigger writes to)
        if traced_sql and traced_sql[-1] == sql:
            return  # SQLite traces a statement again for each trigger it fires
        traced_sql.append(sql)
        word = sql.split(None, 1)[0].upper()
        if word in ("BEGIN", "COMMIT", "ROLLBACK"):
            seen_by_sqlite.append(sql.strip().upper())
        elif word in ("SELECT", "INSERT", "UPDATE", "DELETE"):
            seen_by_sqlite.append("read" if word == "SELECT" else "write")

    def checked_out(dbapi_connection, record, proxy) -> None:
        if hasattr(dbapi_connection, "set_trace_callback"):
            dbapi_connection.set_trace_callback(trace)
            traced.append(dbapi_connection)

    event.listen(db.engine, "before_cursor_execute", noted)
    event.listen(db.engine, "checkout", checked_out)
    try:
        with counting() as statements:
            response = client.post("/texts/new", data={**form, "body": "Again"})
    finally:
        event.remove(db.engine, "before_cursor_execute", noted)
        event.remove(db.engine, "checkout", checked_out)
        for dbapi_connection in traced:
            dbapi_connection.set_trace_callback(None)
    assert response.status_code == 303 and len(queued) == 2
    # The agent is already in the conversation and has read it: no participation or read mark.
    assert len(statements) == 4, statements
    writes = ("INSERT INTO conversation_participants", "INSERT INTO conversation_reads")
    assert not [s for s in statements if s.startswith(writes)], statements
    if db.engine.dialect.name == "sqlite":
        assert read_only == [True, True, False, False]  # user and checks; conversation, message
        # The reads run in autocommit; the write lock is taken for the two writes alone.
        expected = ["read", "read", "BEGIN IMMEDIATE", "write", "write", "COMMIT"]
        assert seen_by_sqlite == expected, seen_by_sqlite
    else:
        assert read_only == [False] * 4  # reading takes no lock: the reads begin the transaction
    # The form's own key (was this form submitted before?) is asked within the checks' statement.
    with counting() as keyed:
        first = client.post("/texts/new", data={**form, "body": "Keyed", "idempotency_key": "k" * 32})
    assert len(keyed) == 4 and len(queued) == 3, keyed
    # A second submit of that form finds the first one's message and queues nothing more.
    with counting() as again:
        repeat = client.post("/texts/new", data={**form, "body": "Keyed", "idempotency_key": "k" * 32})
    assert repeat.status_code == 303 and len(queued) == 3, again
    assert repeat.headers["Location"] == first.headers["Location"]
    assert len(again) == 2, again  # the user and the checks: nothing is written
