"""Internal notes: added in the conversation, shown apart from texts with their author, never sent,
not a reply (Needs Attention and the list stay as they were), in the transcript and the CRM API."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from tests.admin.conftest import post
from tests.conftest import csv_rows, login
from webapp.extensions import db
from webapp.models import Conversation, Message, Participant, utcnow
from webapp.plugin_api import InboundMessage
from webapp.services import inbound, reports, retention

CONTACT = "+12025550143"
NOTES = select(func.count()).select_from(Message).where(Message.direction == "note")


def received(text: str = "Is my transcript in?") -> Conversation:
    inbound.receive(InboundMessage(CONTACT, "+12025550100", text), "console")
    db.session.commit()
    return db.session.scalar(select(Conversation))


def add_note(client, conversation_id: int, note: str, body: str = ""):
    return post(client, f"/conversations/{conversation_id}/notes", {"note": note, "body": body}, htmx=True)


def test_a_note_shows_in_the_timeline_with_its_author_and_is_never_sent(client, setup):
    conversation = received()
    login(client, "standard@example.edu")
    response = add_note(client, conversation.id, "  Called her: transcript arrives Monday.  ")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert 'class="msg msg-note"' in html
    assert "Called her: transcript arrives Monday." in html and "Sam Standard" in html
    note = db.session.scalar(select(Message).where(Message.direction == "note"))
    assert note.body == "Called her: transcript arrives Monday."
    assert note.status == "" and note.provider is None and note.attempts == 0
    db.session.refresh(conversation)
    # Not a reply: the contact still waits, the list's preview and order are the contact's text.
    assert conversation.needs_attention is True
    assert conversation.last_message_preview == "Is my transcript in?"
    assert db.session.scalar(select(func.count()).select_from(Participant)) == 0


def test_a_notes_web_addresses_are_links_as_in_texts(client, setup):
    conversation = received()
    login(client, "standard@example.edu")
    typed = "Her form: https://example.edu/apply?x=1&y=<b>2</b> or www.example.org."
    html = add_note(client, conversation.id, typed).get_data(as_text=True)
    note = html[html.index('class="msg msg-note"') :]
    assert '<a href="https://example.edu/apply?x=1&amp;y=' in note
    assert '<a href="https://www.example.org"' in note
    assert 'rel="noopener noreferrer nofollow" target="_blank"' in note
    assert "<b>" not in note  # escaped as before


def test_the_reply_box_keeps_its_text_when_a_note_is_added(client, setup):
    conversation = received()
    login(client, "standard@example.edu")
    html = add_note(client, conversation.id, "Check with the registrar", body="Half-written answer").get_data(
        as_text=True
    )
    assert ">Half-written answer</textarea>" in html


def test_an_empty_note_is_refused_and_changes_nothing(client, setup):
    conversation = received()
    login(client, "standard@example.edu")
    response = add_note(client, conversation.id, "   \n \u3164\u200b", body="Draft")
    html = response.get_data(as_text=True)
    assert "an empty note was not added" in html
    assert ">Draft</textarea>" in html
    assert db.session.scalar(NOTES) == 0
    plain = post(client, f"/conversations/{conversation.id}/notes", {"note": ""})
    assert plain.status_code == 422


def test_a_too_long_note_is_refused_whole(client, setup):
    conversation = received()
    login(client, "standard@example.edu")
    html = add_note(client, conversation.id, "x" * 5001).get_data(as_text=True)
    assert "at most 5,000 characters; this has 5,001" in html
    assert "x" * 5001 in html  # nothing cut
    assert db.session.scalar(NOTES) == 0


def test_only_those_who_see_the_conversation_add_notes(client, setup, make):
    conversation = received()
    make.office("Financial Aid")
    make.user("fa@example.edu", "standard", ("Financial Aid",))
    login(client, "fa@example.edu")
    assert add_note(client, conversation.id, "Not mine").status_code == 404
    token_less = client.post(f"/conversations/{conversation.id}/notes", data={"note": "x"})
    assert token_less.status_code == 400
    assert db.session.scalar(NOTES) == 0


def test_notes_are_in_the_transcript_and_its_print_page(client, setup):
    conversation = received()
    login(client, "standard@example.edu")
    add_note(client, conversation.id, "=Pending registrar")
    rows = csv_rows(client.get(f"/conversations/{conversation.id}/transcript.csv"))
    assert [row[1:4] for row in rows[1:]] == [
        ["inbound", "(202) 555-0143", "Is my transcript in?"],
        ["note", "Sam Standard", "'=Pending registrar"],
    ]
    page = client.get(f"/conversations/{conversation.id}/transcript").get_data(as_text=True)
    assert "=Pending registrar" in page and "note" in page


def test_notes_are_not_counted_as_texts_in_reports(client, setup):
    conversation = received()
    login(client, "standard@example.edu")
    add_note(client, conversation.id, "Internal only")
    scope = reports.scope_for_office(setup["office"].id)
    report = reports.build(scope, reports.parse_days(None, None, scope.zone))
    assert report.messages_sent == 0 and report.messages_received == 1
    assert report.contacts_replied == 0  # a note answers nobody


def test_retention_erases_a_notes_text_with_the_texts(client, setup, clock):
    conversation = received()
    login(client, "standard@example.edu")
    add_note(client, conversation.id, "She mentioned her visa status")
    setup["office"].retention_days = 30
    db.session.commit()
    run = retention.erase_office(setup["office"], utcnow() + timedelta(days=31))
    db.session.commit()
    assert run.erased == 2  # the contact's text and the note
    note = db.session.scalar(select(Message).where(Message.direction == "note"))
    assert note.body == "" and note.erased_at is not None
    page = client.get(f"/conversations/{conversation.id}").get_data(as_text=True)
    assert "visa status" not in page and "Text erased under the office" in page
