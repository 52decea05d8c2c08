"""Inbox rows and thread messages are rendered once per change of what they show
(webapp/web/fragments.py): a refresh renders only what changed, and what a row shows never
comes from another row, user or session."""

from __future__ import annotations

import re
from datetime import timedelta

from jinja2 import Environment, meta
from sqlalchemy import select

from tests.conftest import login
from webapp.extensions import db
from webapp.models import Conversation, Message, Status, utcnow

HTMX = {"HX-Request": "true"}
TAB = "/inbox?tab=attention"


def cache(app):
    return app.extensions["parley_fragments"].cache_info()


def test_a_refresh_renders_only_the_rows_that_changed(app, client, setup, sms_receive):
    for n, phone in enumerate(("+12025550141", "+12025550142", "+12025550143")):
        sms_receive(f"Question {n}", phone)
    login(client, "standard@example.edu")

    before = cache(app)
    first = client.get(TAB, headers=HTMX).get_data(as_text=True)
    assert cache(app).misses - before.misses == 3
    before = cache(app)
    assert client.get(TAB, headers=HTMX).get_data(as_text=True) == first
    assert (cache(app).hits - before.hits, cache(app).misses - before.misses) == (3, 0)

    sms_receive("Another question", "+12025550142")
    before = cache(app)
    body = client.get(TAB, headers=HTMX).get_data(as_text=True)
    assert (cache(app).hits - before.hits, cache(app).misses - before.misses) == (2, 1)
    assert "Another question" in body and "Question 1" not in body
    assert body.index("Another question") < body.index("Question 2")  # newest first


def test_each_session_gets_forms_with_its_own_token(app, setup, sms_receive):
    """A failed reply's Retry and a scheduled one's Cancel carry the viewer's CSRF token, though
    both users see the same messages."""
    sms_receive("When is the deadline?", "+12025550143")
    conversation = db.session.scalar(select(Conversation.id))
    for status, body in ((Status.FAILED, "Did not go"), (Status.SCHEDULED, "Goes tomorrow")):
        db.session.add(
            Message(
                conversation_id=conversation, direction="outbound", body=body, author_kind="agent",
                status=status.value, error_reason="carrier said no" if status == Status.FAILED else None,
                send_at=utcnow() + timedelta(days=1) if status == Status.SCHEDULED else None,
            )
        )  # fmt: skip
    db.session.commit()
    pages = {}
    for email in ("standard@example.edu", "admin@example.edu"):
        agent = app.test_client()
        login(agent, email)
        page = agent.get(f"/conversations/{conversation}", headers=HTMX).get_data(as_text=True)
        pages[email] = (agent, page)

    def form(page: str, action: str) -> tuple[str, str]:
        found = re.search(
            rf'action="(/conversations/\d+/messages/\d+/{action})".*?name="csrf_token" value="([^"]+)"',
            page,
            re.S,
        )
        assert found, f"no {action} form"
        return found.group(1), found.group(2)

    agent, page = pages["admin@example.edu"]
    url, token = form(page, "retry")
    assert agent.post(url, data={"csrf_token": token}, headers=HTMX).status_code == 200
    agent, page = pages["standard@example.edu"]
    url, token = form(page, "cancel")
    assert agent.post(url, data={"csrf_token": token}, headers=HTMX).status_code == 200
    statuses = db.session.scalars(select(Message.status).where(Message.direction == "outbound"))
    assert Status.SCHEDULED.value not in statuses and Status.FAILED.value not in statuses
    cancelled = db.session.scalar(select(Message.body).where(Message.status == Status.CANCELLED.value))
    assert cancelled == "Goes tomorrow"


def test_rows_are_not_shared_between_mounts(app, client, setup, sms_receive):
    """Links are relative to where the app is mounted, so the same row under another prefix is
    rendered for it."""
    sms_receive("When is the deadline?", "+12025550143")
    login(client, "standard@example.edu")
    plain = client.get(TAB, headers=HTMX).get_data(as_text=True)
    mounted = client.get(TAB, headers=HTMX, environ_overrides={"SCRIPT_NAME": "/parley"})
    assert 'href="/conversations/' in plain
    assert 'href="/parley/conversations/' in mounted.get_data(as_text=True)


def test_a_row_read_by_one_agent_stays_unread_for_a_colleague(app, client, setup, sms_receive):
    sms_receive("When is the deadline?", "+12025550143")
    conversation = db.session.scalar(select(Conversation.id))
    login(client, "standard@example.edu")
    colleague = app.test_client()
    login(colleague, "admin@example.edu")
    assert "is-unread" in client.get(TAB, headers=HTMX).get_data(as_text=True)
    assert "is-unread" in colleague.get(TAB, headers=HTMX).get_data(as_text=True)

    assert client.get(f"/conversations/{conversation}", headers=HTMX).status_code == 200
    assert "is-unread" not in client.get(TAB, headers=HTMX).get_data(as_text=True)
    assert "is-unread" in colleague.get(TAB, headers=HTMX).get_data(as_text=True)


def test_the_cached_macros_read_nothing_but_their_arguments(app):
    """A cached macro that read the request, the session or a per-request global (csrf_token)
    would show one viewer's markup to the next: only the app's own helpers are allowed."""
    source = app.jinja_env.loader.get_source(app.jinja_env, "inbox/_rows.html")[0]
    # A bare environment with the app's filters: it knows no globals, so it names every one read.
    bare = Environment()
    bare.filters.update(app.jinja_env.filters)
    undeclared = meta.find_undeclared_variables(bare.parse(source))
    assert undeclared == {"url_for", "icon", "avatar"}, undeclared


def test_nothing_is_kept_while_templates_reload(app, client, setup, sms_receive):
    """In debug, an edited template shows at once: rows are rendered every time, none kept."""
    sms_receive("When is the deadline?", "+12025550143")
    login(client, "standard@example.edu")
    app.jinja_env.auto_reload = True
    before = cache(app)
    for _ in range(2):
        assert "When is the deadline?" in client.get(TAB, headers=HTMX).get_data(as_text=True)
    assert (cache(app).hits, cache(app).misses, cache(app).currsize) == (
        before.hits, before.misses, before.currsize
    )
