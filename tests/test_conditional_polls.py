"""Polls are free while nothing changed (SPEC 10): the tab fragment and the open conversation's
refresh carry an ETag, the same poll sent back with it gets 304 with no body, and any change the
user would see (made by anyone: the contact, another agent, a status report, an admin) brings 200
with new content and a new ETag."""

from __future__ import annotations

from datetime import timedelta

import pytest
from jinja2 import ChoiceLoader, DictLoader
from sqlalchemy import delete, func, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import OperationalError

from tests.conftest import csrf_token, login
from webapp.extensions import db
from webapp.models import Message, ReadMark, Status, office_memberships, utcnow
from webapp.plugin_api import StatusUpdate
from webapp.services import delivery_reports

HTMX = {"HX-Request": "true"}
TAB = "/inbox?tab=attention"
CONTACT = "+12025550143"


@pytest.fixture
def sms_receive(app):
    """A contact's text, through the real `flask sms receive` command."""

    def receive(text: str, from_phone: str = CONTACT, to: str = "+12025550100") -> None:
        db.session.commit()
        result = app.test_cli_runner().invoke(
            args=["sms", "receive", "--from", from_phone, "--to", to, "--text", text]
        )
        assert result.exit_code == 0, result.output

    return receive


def poll(client, path: str, etag: str | None = None):
    headers = dict(HTMX, **({"If-None-Match": etag} if etag else {}))
    return client.get(path, headers=headers)


def fresh(client, path: str, etag: str | None = None):
    """A poll that must bring new content; returns it with its ETag."""
    response = poll(client, path, etag)
    assert response.status_code == 200, response.status_code
    assert response.headers["ETag"] != etag
    return response.get_data(as_text=True), response.headers["ETag"]


def unchanged(client, path: str, etag: str) -> None:
    response = poll(client, path, etag)
    assert response.status_code == 304, response.status_code
    assert response.get_data() == b""
    assert response.headers["ETag"] == etag


def reply(client, conversation_id: int, body: str) -> None:
    token = csrf_token(client, f"/conversations/{conversation_id}")
    response = client.post(
        f"/conversations/{conversation_id}/messages", data={"body": body, "csrf_token": token}
    )
    assert response.status_code == 200


def conversation_of(contact: str = CONTACT) -> int:
    from webapp.models import Conversation

    return db.session.scalar(select(Conversation.id).where(Conversation.contact_phone == contact))


@pytest.fixture
def agent(client, setup, sms_receive):
    """The standard agent, signed in, with one conversation in Needs Attention."""
    sms_receive("When is the deadline?")
    login(client, "standard@example.edu")
    return client


def test_an_unchanged_tab_poll_is_a_bodiless_304_that_only_its_user_can_revalidate(agent, app):
    body, etag = fresh(agent, TAB)
    assert "When is the deadline?" in body
    first = poll(agent, TAB)
    assert first.headers["Cache-Control"] == "no-cache, private"
    assert {"HX-Request", "Cookie"} <= set(first.vary)
    assert etag.startswith('W/"')

    unchanged(agent, TAB, etag)
    not_modified = poll(agent, TAB, etag)
    assert not_modified.headers["Cache-Control"] == "no-cache, private"
    assert {"HX-Request", "Cookie"} <= set(not_modified.vary)

    # The other tab is another answer; another user's (or session's) inbox is another tag.
    assert poll(agent, "/inbox?tab=participating", etag).status_code == 200
    colleague = app.test_client()
    login(colleague, "limited@example.edu")  # sees the same conversations
    assert poll(colleague, TAB, etag).status_code == 200
    again = app.test_client()
    login(again, "standard@example.edu")  # the same user, another session (its own CSRF token)
    assert poll(again, TAB, etag).status_code == 200


def test_a_held_tag_with_a_time_that_is_no_number_brings_the_content(agent):
    _, etag = fresh(agent, TAB)
    for until in ("²", "①", "soon"):  # isdigit() takes the first two, int() none
        fresh(agent, TAB, f'{etag[:-1]}-{until}"')


def test_new_markup_makes_held_tags_stale(agent, app):
    """After a deploy that changes how a row or a message is drawn (not only the page's own
    template), the next poll brings the new markup instead of a 304 for the old."""
    _, tab_etag = fresh(agent, TAB)
    live = f"/conversations/{conversation_of()}/live"
    _, live_etag = fresh(agent, live)
    rows = app.jinja_env.loader.get_source(app.jinja_env, "inbox/_rows.html")[0]
    redrawn = DictLoader({"inbox/_rows.html": rows.replace('class="msg ', 'class="msg redrawn ')})
    original = app.jinja_env.loader
    app.jinja_env.loader = ChoiceLoader([redrawn, original])
    app.extensions.pop("parley.poll_markup", None)  # as a restarted server starts
    app.extensions["parley_fragments"].cache_clear()
    try:
        fresh(agent, TAB, tab_etag)
        body, _ = fresh(agent, live, live_etag)
        assert "msg redrawn" in body
    finally:
        app.jinja_env.loader = original
        app.extensions.pop("parley.poll_markup", None)
        app.extensions["parley_fragments"].cache_clear()


def test_a_held_tag_with_a_time_of_any_length_is_answered(agent):
    """An If-None-Match entry with a time too long to be one (over the 4,300 digits Python's int()
    reads) is no held tag: the content comes, as for any other stale tag."""
    _, etag = fresh(agent, TAB)
    digest = etag.removeprefix('W/"').removesuffix('"').partition("-")[0]
    fresh(agent, TAB, f'W/"{digest}-{"9" * 4301}"')


def test_a_page_load_and_load_more_are_never_conditional(agent):
    _, etag = fresh(agent, TAB)
    page = agent.get("/inbox?tab=attention", headers={"If-None-Match": etag})
    assert page.status_code == 200 and "ETag" not in page.headers
    assert page.headers["Cache-Control"] == "no-store"


def test_a_reply_from_the_contact_changes_the_tab_and_the_thread(agent, sms_receive):
    conversation = conversation_of()
    live = f"/conversations/{conversation}/live"
    _, live_etag = fresh(agent, live)  # opening it reads it: the tab shows that
    _, tab_etag = fresh(agent, TAB)
    unchanged(agent, TAB, tab_etag)
    unchanged(agent, live, live_etag)

    sms_receive("Is it March 1st?")
    body, _ = fresh(agent, TAB, tab_etag)
    assert "Is it March 1st?" in body
    body, _ = fresh(agent, live, live_etag)
    assert "Is it March 1st?" in body


def test_a_new_conversation_and_an_opt_out_change_the_tab(agent, sms_receive):
    _, etag = fresh(agent, TAB)
    sms_receive("Hello from someone new", from_phone="+12025550199")
    body, etag = fresh(agent, TAB, etag)
    assert "Hello from someone new" in body
    assert "Opted out" not in body

    conversation = conversation_of()
    live = f"/conversations/{conversation}/live"
    _, live_etag = fresh(agent, live)
    _, etag = fresh(agent, TAB, etag)  # the conversation was read when it opened
    sms_receive("STOP")
    body, _ = fresh(agent, TAB, etag)
    assert "Opted out" in body
    assert "Opted out" in fresh(agent, live, live_etag)[0]


def test_another_agents_reply_changes_my_tab_and_thread(agent, app):
    conversation = conversation_of()
    live = f"/conversations/{conversation}/live"
    _, live_etag = fresh(agent, live)
    _, tab_etag = fresh(agent, TAB)

    colleague = app.test_client()
    login(colleague, "admin@example.edu")
    reply(colleague, conversation, "The deadline is March 1st.")

    body, _ = fresh(agent, TAB, tab_etag)
    assert "When is the deadline?" not in body  # answered: it left Needs Attention
    body, _ = fresh(agent, live, live_etag)
    assert "The deadline is March 1st." in body


def test_replies_in_a_conversation_that_needs_no_attention_leave_needs_attention_alone(
    agent, app, sms_receive
):
    """The office's other replies do not re-render my Needs Attention tab: it shows none of them.
    Whoever takes part sees them in Participating, and a new text brings it back to mine."""
    other = "+12025550144"
    sms_receive("Can I visit on Friday?", from_phone=other)
    conversation = conversation_of(other)
    colleague = app.test_client()
    login(colleague, "admin@example.edu")
    reply(colleague, conversation, "Yes, at 10.")  # answered: it leaves Needs Attention
    body, etag = fresh(agent, TAB)
    assert "Can I visit on Friday?" not in body and "When is the deadline?" in body
    participating = "/inbox?tab=participating"
    body, theirs = fresh(colleague, participating)
    assert "Yes, at 10." in body

    reply(colleague, conversation, "Bring your ID.")
    unchanged(agent, TAB, etag)
    body, theirs = fresh(colleague, participating, theirs)
    assert "Bring your ID." in body

    sms_receive("Thanks! Where do I park?", from_phone=other)
    body, _ = fresh(agent, TAB, etag)
    assert "Thanks! Where do I park?" in body


def test_a_delivery_report_changes_the_thread_and_leaves_the_tab_alone(agent):
    conversation = conversation_of()
    reply(agent, conversation, "We will check.")
    live = f"/conversations/{conversation}/live"
    body, live_etag = fresh(agent, live)
    assert "status-sent" in body
    _, tab_etag = fresh(agent, TAB)
    sent = db.session.execute(
        select(Message.id, Message.provider_message_id).where(Message.status == Status.SENT)
    ).one()

    delivery_reports.record(
        StatusUpdate(provider_message_id=sent.provider_message_id, status="delivered"), "console"
    )
    body, _ = fresh(agent, live, live_etag)
    assert "status-delivered" in body
    unchanged(agent, TAB, tab_etag)  # the list shows no delivery status


def test_the_tab_poll_checks_the_open_conversation_on_its_behalf(agent):
    """An open inbox polls once: the list's poll names the open conversation and holds its tag
    too; a change only the thread shows keeps the list's 304 and tells the conversation to
    refresh itself (HX-Trigger), which then brings the change."""
    conversation = conversation_of()
    reply(agent, conversation, "We will check.")
    live = f"/conversations/{conversation}/live"
    _, live_etag = fresh(agent, live)
    both = f"{TAB}&open={conversation}"
    _, tab_etag = fresh(agent, both)
    quiet = poll(agent, both, f"{tab_etag}, {live_etag}")
    assert quiet.status_code == 304 and "HX-Trigger" not in quiet.headers

    sent = db.session.execute(
        select(Message.provider_message_id).where(Message.status == Status.SENT)
    ).scalar_one()
    delivery_reports.record(StatusUpdate(provider_message_id=sent, status="delivered"), "console")
    told = poll(agent, both, f"{tab_etag}, {live_etag}")
    assert told.status_code == 304 and told.get_data() == b""  # the list shows no status
    assert told.headers["HX-Trigger"] == "open-conversation-changed"
    assert told.headers["ETag"] == tab_etag
    # Until the conversation holds its new tag, every poll says so again.
    assert poll(agent, both, tab_etag).headers["HX-Trigger"] == "open-conversation-changed"

    refreshed = poll(agent, live, live_etag)
    body, new_live_etag = refreshed.get_data(as_text=True), refreshed.headers["ETag"]
    assert "status-delivered" in body
    # A refresh is no action: the list is not asked to refresh after it.
    assert refreshed.headers["HX-Trigger"] == "thread-changed"
    assert "HX-Trigger-After-Swap" not in refreshed.headers
    settled = poll(agent, both, f"{tab_etag}, {new_live_etag}")
    assert settled.status_code == 304 and "HX-Trigger" not in settled.headers


def test_a_change_both_show_brings_the_list_and_tells_the_conversation(agent, sms_receive):
    conversation = conversation_of()
    live = f"/conversations/{conversation}/live"
    _, live_etag = fresh(agent, live)
    both = f"{TAB}&open={conversation}"
    _, tab_etag = fresh(agent, both)

    sms_receive("Also, is there an application fee?")
    changed = poll(agent, both, f"{tab_etag}, {live_etag}")
    assert changed.status_code == 200 and changed.headers["ETag"] != tab_etag
    assert "Also, is there an application fee?" in changed.get_data(as_text=True)
    assert changed.headers["HX-Trigger"] == "open-conversation-changed"
    assert "Also, is there an application fee?" in fresh(agent, live, live_etag)[0]


def test_the_pane_carries_its_refreshs_tag_so_opening_or_acting_asks_no_refresh(agent):
    """The conversation pane, opened or answered after an action, carries the tag its refresh
    would answer: the tab's next poll finds it current and tells it nothing."""
    import html
    import re

    conversation = conversation_of()
    both = f"{TAB}&open={conversation}"

    def carried(body: str) -> str:
        return html.unescape(re.search(r'id="conversation-live"[^>]* data-poll-tag="([^"]+)"', body)[1])

    opened = carried(agent.get(f"/conversations/{conversation}", headers=HTMX).get_data(as_text=True))
    _, tab_etag = fresh(agent, both)
    quiet = poll(agent, both, f"{tab_etag}, {opened}")
    assert quiet.status_code == 304 and "HX-Trigger" not in quiet.headers
    unchanged(agent, f"/conversations/{conversation}/live", opened)

    token = csrf_token(agent, f"/conversations/{conversation}")
    noted = agent.post(
        f"/conversations/{conversation}/notes", data={"note": "Call back Monday", "csrf_token": token},
        headers=HTMX,
    )  # fmt: skip
    assert "Call back Monday" in noted.get_data(as_text=True)
    # The list refreshes once the new pane is in, so that its poll sends the new pane's tag.
    assert noted.headers["HX-Trigger-After-Swap"] == "inbox-changed"
    assert "HX-Trigger" not in noted.headers
    after_note = carried(noted.get_data(as_text=True))
    assert after_note != opened  # the thread shows the note
    told = poll(agent, both, f"{tab_etag}, {opened}")
    assert told.headers["HX-Trigger"] == "open-conversation-changed"  # the tag from before
    quiet = poll(agent, both, f"{tab_etag}, {after_note}")
    assert quiet.status_code == 304 and "HX-Trigger" not in quiet.headers


def test_the_lists_tag_does_not_depend_on_which_conversation_is_open(agent, sms_receive):
    sms_receive("A second contact's question", from_phone="+12025550144")
    first, second = conversation_of(), conversation_of("+12025550144")
    _, tab_etag = fresh(agent, f"{TAB}&open={first}")
    unchanged(agent, f"{TAB}&open={second}", tab_etag)
    unchanged(agent, TAB, tab_etag)


@pytest.mark.parametrize("named", ["abc", "-1", "99999999999999999999", "0", "999999"])
def test_an_open_conversation_that_names_none_is_ignored(agent, named):
    """Junk, an id too large for the database, or a conversation that does not exist: the list's
    poll answers as without it."""
    _, tab_etag = fresh(agent, f"{TAB}&open={named}")
    quiet = poll(agent, f"{TAB}&open={named}", tab_etag)
    assert quiet.status_code == 304 and "HX-Trigger" not in quiet.headers


def test_the_tab_poll_says_nothing_of_a_conversation_its_user_may_not_see(
    app, client, setup, make, sms_receive
):
    make.number("+12025550101", inboxes=(), label="Dean's line")
    sms_receive("A question for the dean", to="+12025550101")
    hidden = conversation_of()
    login(client, "standard@example.edu")  # not on that number, not taking part
    both = f"{TAB}&open={hidden}"
    _, tab_etag = fresh(client, both)
    quiet = poll(client, both, tab_etag)
    assert quiet.status_code == 304 and "HX-Trigger" not in quiet.headers


def test_the_tab_poll_of_a_user_without_numbers_says_nothing_of_a_conversation(agent, app, make):
    make.user("unplaced@example.edu", offices=())  # in no office: no numbers, no inbox
    unplaced = app.test_client()
    login(unplaced, "unplaced@example.edu")
    both = f"{TAB}&open={conversation_of()}"
    _, tab_etag = fresh(unplaced, both)
    quiet = poll(unplaced, both, f'{tab_etag}, W/"a tag from before"')
    assert quiet.status_code == 304 and "HX-Trigger" not in quiet.headers


def test_reading_changes_the_readers_tab_only(agent, app):
    colleague = app.test_client()
    login(colleague, "limited@example.edu")
    mine, my_etag = fresh(agent, TAB)
    _, their_etag = fresh(colleague, TAB)
    assert "is-unread" in mine

    assert agent.get(f"/conversations/{conversation_of()}", headers=HTMX).status_code == 200
    mine, _ = fresh(agent, TAB, my_etag)
    assert "is-unread" not in mine
    unchanged(colleague, TAB, their_etag)


PARTICIPATING = "/inbox?tab=participating"
VISITOR = "+12025550144"


def clear_attention(client, conversation_id: int) -> None:
    token = csrf_token(client, f"/conversations/{conversation_id}")
    response = client.post(f"/conversations/{conversation_id}/attention", data={"csrf_token": token})
    assert response.status_code == 200


@pytest.fixture
def answered(agent, sms_receive) -> int:
    """A visitor's conversation the agent answered: it is in their Participating tab."""
    sms_receive("Can I visit on Friday?", from_phone=VISITOR)
    conversation = conversation_of(VISITOR)
    reply(agent, conversation, "Yes, at 10.")
    return conversation


def test_reading_in_needs_attention_leaves_participating_alone(agent, app, answered, sms_receive):
    """Participating lists only conversations that need no attention and counts conversations, not
    unread ones: a read in Needs Attention changes nothing it shows. When the conversation moves
    there, it shows read."""
    sms_receive("Great, see you then!", from_phone=VISITOR)  # back in Needs Attention, unread
    body, participating = fresh(agent, PARTICIPATING)
    assert "Great, see you then!" not in body
    body, etag = fresh(agent, TAB)
    assert body.count("is-unread") == 2

    assert agent.get(f"/conversations/{answered}", headers=HTMX).status_code == 200
    body, etag = fresh(agent, TAB, etag)
    assert body.count("is-unread") == 1
    unchanged(agent, PARTICIPATING, participating)

    colleague = app.test_client()
    login(colleague, "admin@example.edu")
    clear_attention(colleague, answered)
    body, _ = fresh(agent, PARTICIPATING, participating)
    assert "Great, see you then!" in body and "is-unread" not in body
    assert "Great, see you then!" not in fresh(agent, TAB, etag)[0]


def test_reading_in_participating_leaves_needs_attention_alone(agent, app, answered, sms_receive):
    sms_receive("Is parking free?", from_phone=VISITOR)
    colleague = app.test_client()
    login(colleague, "admin@example.edu")
    clear_attention(colleague, answered)  # out of Needs Attention, still unread for the agent
    body, participating = fresh(agent, PARTICIPATING)
    assert "Is parking free?" in body and "is-unread" in body
    _, etag = fresh(agent, TAB)

    assert agent.get(f"/conversations/{answered}", headers=HTMX).status_code == 200
    body, _ = fresh(agent, PARTICIPATING, participating)
    assert "Is parking free?" in body and "is-unread" not in body
    unchanged(agent, TAB, etag)


def test_a_move_to_participating_during_a_read_shows_the_read(agent, app, answered, setup, sms_receive):
    """Another agent's Does Not Need Attention, committed while this agent's read is being
    written: once both are in, Participating shows the conversation read."""
    # PostgreSQL only: there two transactions write at once, so the read mark and the move can
    # overlap. SQLite takes one writer at a time, so the race this test stages cannot happen there;
    # CI runs the suite on PostgreSQL too, where it runs.
    if db.engine.dialect.name != "postgresql":
        pytest.skip("SQLite writes one transaction at a time: a read and a move never overlap")
    sms_receive("Great, see you then!", from_phone=VISITOR)
    _, participating = fresh(agent, PARTICIPATING)
    clear = text("UPDATE conversations SET needs_attention = false WHERE id = :id")

    def move(wait: str) -> bool:
        with db.engine.connect() as other:
            other.execute(text(f"SET LOCAL lock_timeout = '{wait}'"))
            try:
                other.execute(clear, {"id": answered})
            except OperationalError:
                return False  # it waits for the read to commit
            other.commit()
            return True

    read = {"user_id": setup["users"]["standard"].id, "conversation_id": answered, "read_at": utcnow()}
    with db.engine.connect() as reader:  # the read, written and not yet committed
        reader.execute(
            insert(ReadMark.__table__)
            .values(read)
            .on_conflict_do_update(index_elements=["user_id", "conversation_id"], set_=read)
        )
        moved = move("500ms")
        if moved:  # a poll between the two commits lists it unread
            body, participating = fresh(agent, PARTICIPATING, participating)
            assert "is-unread" in body
        reader.commit()
    assert moved or move("5s")
    body, _ = fresh(agent, PARTICIPATING, participating)
    assert "Great, see you then!" in body and "is-unread" not in body


def test_leaving_the_office_changes_the_tab_and_hides_the_thread(agent, setup):
    conversation = conversation_of()
    live = f"/conversations/{conversation}/live"
    _, live_etag = fresh(agent, live)
    body, etag = fresh(agent, TAB)
    assert "When is the deadline?" in body

    agent_id = setup["users"]["standard"].id
    db.session.execute(delete(office_memberships).where(office_memberships.c.user_id == agent_id))
    db.session.commit()
    body, _ = fresh(agent, TAB, etag)
    assert "When is the deadline?" not in body
    assert poll(agent, live, live_etag).status_code == 404


def test_a_queued_message_turns_delayed_without_any_write(agent, monkeypatch):
    """The thread says "sending is delayed" after a while: its tag holds only until then."""
    conversation = conversation_of()
    db.session.add(
        Message(
            conversation_id=conversation, direction="outbound", body="Stuck in the queue",
            author_kind="agent", status=Status.QUEUED.value,
            created_at=utcnow() - timedelta(seconds=15),  # "delayed" at 30 s
        )
    )  # fmt: skip
    db.session.commit()
    live = f"/conversations/{conversation}/live"
    body, etag = fresh(agent, live)
    assert "sending is delayed" not in body
    unchanged(agent, live, etag)

    import webapp.services.conversations as conversations_service

    later = utcnow() + timedelta(seconds=20)
    monkeypatch.setattr(conversations_service, "utcnow", lambda: later)
    monkeypatch.setattr("webapp.web.polling.time.time", lambda: later.timestamp())
    body, _ = fresh(agent, live, etag)
    assert "sending is delayed" in body


def test_an_unchanged_poll_is_one_statement(agent):
    """The 304 is the cheap path: the user's session and the version, read together; nothing is
    rendered."""
    from sqlalchemy import event

    live = f"/conversations/{conversation_of()}/live"
    _, live_etag = fresh(agent, live)
    _, etag = fresh(agent, TAB)
    statements: list[str] = []

    def count(conn, cursor, statement, *args):
        statements.append(statement)

    db.session.commit()
    event.listen(db.engine, "before_cursor_execute", count)
    try:
        unchanged(agent, TAB, etag)
        unchanged(agent, live, live_etag)
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    queries = [s for s in statements if s.split()[0] not in ("BEGIN", "COMMIT")]
    assert len(queries) == 2 and all(s.startswith("SELECT") for s in queries), queries
    assert db.session.scalar(select(func.count()).select_from(Message)) == 1  # nothing written

    # The list's poll that checks the open conversation too: the same one statement, which reads
    # the conversation's tag inputs along with the user's and the tab's.
    both = f"{TAB}&open={conversation_of()}"
    _, both_etag = fresh(agent, both)
    statements.clear()
    db.session.commit()
    event.listen(db.engine, "before_cursor_execute", count)
    try:
        quiet = poll(agent, both, f"{both_etag}, {live_etag}")
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    assert quiet.status_code == 304 and "HX-Trigger" not in quiet.headers
    queries = [s for s in statements if s.split()[0] not in ("BEGIN", "COMMIT")]
    assert len(queries) == 1 and queries[0].startswith("SELECT"), queries
    # And when the conversation changed: the same one statement tells it to refresh.
    statements.clear()
    event.listen(db.engine, "before_cursor_execute", count)
    try:
        told = poll(agent, both, f'{both_etag}, W/"a tag from before"')
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    assert told.status_code == 304 and told.headers["HX-Trigger"] == "open-conversation-changed"
    queries = [s for s in statements if s.split()[0] not in ("BEGIN", "COMMIT")]
    assert len(queries) == 1, queries


def test_each_role_polls_only_what_it_may_see(app, client, setup, make, sms_receive):
    """A conversation on an office number that no inbox holds: the office's admin sees it whole,
    a standard member of the office only once they take part in it. A poll reads the user and
    what it may see in one statement; these are the rules it must keep."""
    from webapp.services import conversations

    make.number("+12025550101", inboxes=(), label="Dean's line")
    sms_receive("A question for the dean", to="+12025550101")
    conversation = conversation_of()
    live = f"/conversations/{conversation}/live"

    both = f"{TAB}&open={conversation}"

    def tells_to_refresh(who, held: str) -> bool:
        """The list's poll, checking the conversation on its behalf, holding `held` as its tag:
        it tells only a user who may see the conversation, and only when `held` is stale."""
        return poll(who, both, held).headers.get("HX-Trigger") == "open-conversation-changed"

    admin = app.test_client()
    login(admin, "admin@example.edu")
    assert "A question for the dean" in fresh(admin, TAB)[0]
    body, admin_live_etag = fresh(admin, live)
    assert "A question for the dean" in body
    assert tells_to_refresh(admin, 'W/"stale"')
    assert not tells_to_refresh(admin, admin_live_etag)

    login(client, "standard@example.edu")
    body, etag = fresh(client, TAB)
    assert "A question for the dean" not in body
    assert poll(client, live).status_code == 404
    assert not tells_to_refresh(client, 'W/"stale"')

    conversations.add_participant(conversation, setup["users"]["standard"])
    db.session.commit()
    body, live_etag = fresh(client, live)
    assert "A question for the dean" in body
    assert "A question for the dean" in fresh(client, TAB, etag)[0]
    assert tells_to_refresh(client, 'W/"stale"')
    assert not tells_to_refresh(client, live_etag)

    # A participation shows only on a number of the user's offices: leaving the office ends it,
    # and the thread's tag from before is not answered 304.
    standard_id = setup["users"]["standard"].id
    db.session.execute(delete(office_memberships).where(office_memberships.c.user_id == standard_id))
    db.session.commit()
    assert poll(client, live, live_etag).status_code == 404
    assert not tells_to_refresh(client, 'W/"stale"')


@pytest.mark.parametrize("how", ["session ended", "user deactivated"])
def test_a_poll_whose_session_no_longer_signs_in_is_refused_not_304(agent, setup, how):
    from webapp.services import sessions

    live = f"/conversations/{conversation_of()}/live"
    both = f"{TAB}&open={conversation_of()}"
    _, etag = fresh(agent, TAB)
    _, live_etag = fresh(agent, live)
    _, both_etag = fresh(agent, both)
    user = setup["users"]["standard"]
    if how == "session ended":
        sessions.end_all(user.id)
    else:
        user.active = False
    db.session.commit()

    for path, held in ((TAB, etag), (live, live_etag), (both, f"{both_etag}, {live_etag}")):
        refused = poll(agent, path, held)
        assert refused.status_code == 401, (path, refused.status_code)
        assert refused.headers["HX-Redirect"].startswith("/login")
