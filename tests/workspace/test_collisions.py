"""No two agents answering at once: the open conversation names the colleagues in it (viewing or
typing) through its own light poll, which leaves the refresh's 304s alone; and Send warns when a
colleague replied after the agent loaded the conversation, keeping the text, sending nothing until
the agent chooses Send anyway."""

from __future__ import annotations

import html
import re
import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from tests.conftest import csrf_token, login
from webapp.extensions import db
from webapp.models import Conversation, Message
from webapp.plugin_api import InboundMessage
from webapp.services import inbound

CONTACT = "+12025550143"
HTMX = {"HX-Request": "true"}


@pytest.fixture
def conversation_id(setup) -> int:
    inbound.receive(InboundMessage(CONTACT, "+12025550100", "When is the deadline?"), "console")
    db.session.commit()
    return db.session.scalar(select(Conversation.id))


@pytest.fixture
def sam(app, setup):
    client = app.test_client()
    login(client, "standard@example.edu")
    return client


@pytest.fixture
def alex(app, setup):
    client = app.test_client()
    login(client, "admin@example.edu")
    return client


def here(client, conversation_id: int, typing: bool = False) -> str:
    token = csrf_token(client, f"/conversations/{conversation_id}")
    data = {"csrf_token": token, "typing": "1" if typing else ""}
    response = client.post(f"/conversations/{conversation_id}/presence", data=data, headers=HTMX)
    assert response.status_code == 200
    return html.unescape(response.get_data(as_text=True))


def seen_id(client, conversation_id: int) -> str:
    page = client.get(f"/conversations/{conversation_id}").get_data(as_text=True)
    return re.search(r'name="seen_message_id" value="(\d+)"', page).group(1)


def send(client, conversation_id: int, body: str, seen: str, **extra: str):
    token = csrf_token(client, f"/conversations/{conversation_id}")
    data = {"csrf_token": token, "body": body, "seen_message_id": seen, **extra}
    return client.post(f"/conversations/{conversation_id}/messages", data=data, headers=HTMX)


def outbound() -> list[str]:
    texts = select(Message.body).where(Message.direction == "outbound").order_by(Message.id)
    return list(db.session.scalars(texts))


def test_the_conversation_names_colleagues_viewing_and_typing(clock, sam, alex, conversation_id):
    assert here(sam, conversation_id) == ""
    assert here(alex, conversation_id) == "Sam Standard is viewing this conversation."
    assert here(sam, conversation_id, typing=True) == "Alex Admin is viewing this conversation."
    assert here(alex, conversation_id) == "Sam Standard is typing a reply…"
    clock.shift(timedelta(seconds=7))
    here(sam, conversation_id)
    assert here(alex, conversation_id) == "Sam Standard is viewing this conversation."
    clock.shift(timedelta(seconds=11))  # Sam closed it
    assert here(alex, conversation_id) == ""


def test_presence_needs_sight_of_the_conversation_and_a_csrf_token(app, make, sam, conversation_id):
    make.office("Financial Aid")
    make.user("fa@example.edu", "standard", ("Financial Aid",))
    outsider = app.test_client()
    login(outsider, "fa@example.edu")
    token = csrf_token(outsider, "/inbox")
    refused = outsider.post(f"/conversations/{conversation_id}/presence", data={"csrf_token": token})
    assert refused.status_code == 404
    assert sam.post(f"/conversations/{conversation_id}/presence").status_code == 400


def test_presence_leaves_the_refresh_unchanged(sam, alex, conversation_id):
    live = f"/conversations/{conversation_id}/live"
    first = sam.get(live, headers=HTMX)
    etag = first.headers["ETag"]
    here(sam, conversation_id)
    here(alex, conversation_id, typing=True)
    again = sam.get(live, headers={**HTMX, "If-None-Match": etag})
    assert again.status_code == 304


def test_send_warns_when_a_colleague_replied_since_the_conversation_was_loaded(sam, alex, conversation_id):
    sams_view = seen_id(sam, conversation_id)
    alexs_view = seen_id(alex, conversation_id)
    assert send(alex, conversation_id, "The deadline is January 15.", alexs_view).status_code == 200
    response = send(sam, conversation_id, "It is January 15!", sams_view)
    page = html.unescape(response.get_data(as_text=True))
    assert "Alex replied just now." in page
    assert "Send anyway" in page and "Look first" in page
    assert ">It is January 15!</textarea>" in page  # the typed text stays
    assert "The deadline is January 15." in page  # the colleague's reply is in the thread
    assert outbound() == ["The deadline is January 15."]

    # Sending anyway sends; so does a Send after the warning showed the newer reply.
    send(sam, conversation_id, "It is January 15!", sams_view, send_anyway="1")
    assert outbound() == ["The deadline is January 15.", "It is January 15!"]


def test_of_two_replies_sent_at_once_the_later_is_warned(app, monkeypatch, sam, alex, conversation_id):
    """Alex presses Send, and Sam too while Alex's reply is between its check and its saving: Sam's
    check waits for Alex's reply to be saved, and warns."""
    from webapp.services import presence

    sams_view, alexs_view = seen_id(sam, conversation_id), seen_id(alex, conversation_id)
    checked, go_on = threading.Event(), threading.Event()
    replied_since = presence.replied_since

    def slow_after_the_check(conversation_id, seen_message_id, user):
        found = replied_since(conversation_id, seen_message_id, user)
        if user.email == "admin@example.edu":  # Alex's Send: checked, not yet saved
            checked.set()
            go_on.wait(10)
        return found

    monkeypatch.setattr(presence, "replied_since", slow_after_the_check)
    answers: dict = {}

    def sending_in_a_thread(who: str, client, body: str, seen: str) -> threading.Thread:
        token = csrf_token(client, f"/conversations/{conversation_id}")
        data = {"csrf_token": token, "body": body, "seen_message_id": seen}
        url = f"/conversations/{conversation_id}/messages"

        def post() -> None:
            with app.app_context():  # the client's, in this thread
                answers[who] = client.post(url, data=data, headers=HTMX)

        return threading.Thread(target=post)

    alexs = sending_in_a_thread("alex", alex, "The deadline is January 15.", alexs_view)
    sams = sending_in_a_thread("sam", sam, "It is January 15!", sams_view)
    alexs.start()
    assert checked.wait(10)
    sams.start()
    sams.join(1)  # it waits for Alex's reply to be saved (or, unguarded, sends)
    go_on.set()
    alexs.join(10)
    sams.join(10)
    assert answers["alex"].status_code == 200
    assert "Alex replied just now." in html.unescape(answers["sam"].get_data(as_text=True))
    assert outbound() == ["The deadline is January 15."]


@pytest.mark.parametrize("seen", ["", "abc", "²", "99999999999999999999"])
def test_a_reply_whose_view_names_no_message_is_sent_without_a_warning(sam, conversation_id, seen):
    # "²" is a digit to str.isdigit() but not to int(): the reply must not be lost to a 500.
    assert send(sam, conversation_id, "Here is the form.", seen).status_code == 200
    assert outbound() == ["Here is the form."]


def test_the_warning_tells_how_long_ago(clock, sam, alex, conversation_id):
    sams_view = seen_id(sam, conversation_id)
    send(alex, conversation_id, "On it.", seen_id(alex, conversation_id))
    clock.shift(timedelta(seconds=20))
    page = html.unescape(send(sam, conversation_id, "Checking", sams_view).get_data(as_text=True))
    assert "Alex replied 20 seconds ago." in page
    new_view = re.search(r'name="seen_message_id" value="(\d+)"', page).group(1)
    send(sam, conversation_id, "Checking", new_view)
    assert outbound() == ["On it.", "Checking"]


def test_no_warning_for_ones_own_replies_notes_or_the_contact(sam, alex, conversation_id):
    view = seen_id(sam, conversation_id)
    send(sam, conversation_id, "First", view)
    token = csrf_token(alex, f"/conversations/{conversation_id}")
    note = {"csrf_token": token, "note": "FYI"}
    alex.post(f"/conversations/{conversation_id}/notes", data=note, headers=HTMX)
    inbound.receive(InboundMessage(CONTACT, "+12025550100", "Thanks"), "console")
    db.session.commit()
    send(sam, conversation_id, "Second", view)
    assert outbound() == ["First", "Second"]
    notes = select(func.count()).select_from(Message).where(Message.direction == "note")
    assert db.session.scalar(notes) == 1


def test_no_warning_for_a_colleagues_reply_cancelled_before_it_went(clock, sam, alex, conversation_id):
    sams_view = seen_id(sam, conversation_id)
    alexs_view = seen_id(alex, conversation_id)
    send(alex, conversation_id, "Answering tomorrow", alexs_view, send_at="2026-03-04T09:30")
    held = db.session.scalar(select(Message.id).where(Message.body == "Answering tomorrow"))
    token = csrf_token(alex, f"/conversations/{conversation_id}")
    alex.post(f"/conversations/{conversation_id}/messages/{held}/cancel", data={"csrf_token": token})
    response = send(sam, conversation_id, "It is January 15!", sams_view)
    assert "replied" not in html.unescape(response.get_data(as_text=True))
    sent = select(Message.body, Message.status).where(Message.direction == "outbound").order_by(Message.id)
    assert [tuple(row) for row in db.session.execute(sent)] == [
        ("Answering tomorrow", "cancelled"), ("It is January 15!", "sent"),
    ]  # fmt: skip
