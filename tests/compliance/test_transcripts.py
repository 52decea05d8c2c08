"""Transcripts: a conversation's every message and event as CSV and as a printable page, for anyone
who can see the conversation, each export audited, spreadsheet formulas neutralised."""

from __future__ import annotations

import pytest
from sqlalchemy import insert, select

from tests.compliance import test_retention
from tests.conftest import csv_rows, login
from webapp.extensions import db
from webapp.models import AuditEvent, Conversation, Message, utcnow
from webapp.plugin_api import InboundMessage
from webapp.services import conversations, inbound, offices, retention, sending, transcripts

CONTACT = "+12025550143"
history = test_retention.history  # messages of many ages, for retention


@pytest.fixture
def thread(setup, clock) -> Conversation:
    """Admissions in New York time: a text, the contact's answer, a mode switch."""
    offices.set_quiet_hours(None, setup["office"], "America/New_York", "22:00", "07:00")
    db.session.commit()
    sending.create_text(setup["users"]["standard"], setup["number"].id, CONTACT, "Your file is complete")
    inbound.receive(InboundMessage(CONTACT, "+12025550100", 'Thanks! =HYPERLINK("http://x")'), "console")
    conversation = db.session.scalar(select(Conversation))
    conversation.needs_attention = False
    conversations.switch_mode(conversation, setup["users"]["standard"])
    db.session.commit()
    return conversation


def rows_of(response) -> list[list[str]]:
    return csv_rows(response)


def test_the_csv_has_every_message_and_event_in_order(thread, client):
    login(client, "standard@example.edu")
    response = client.get(f"/conversations/{thread.id}/transcript.csv")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    rows = rows_of(response)
    assert rows[0] == ["time", "direction", "author", "text", "status"]
    assert [row[1:3] for row in rows[1:]] == [
        ["outbound", "Sam Standard"],
        ["inbound", "(202) 555-0143"],
        ["event", "Sam Standard"],
    ]
    assert rows[1][3:] == ["Your file is complete", "sent"]
    assert rows[3][3] == "Sam Standard switched this conversation to bot mode"
    # The office's local time, with its offset: 10:00 in New York.
    assert rows[1][0] == "2026-03-02T10:00:00-05:00"


def test_a_cell_a_spreadsheet_would_run_as_a_formula_is_neutralised(thread, client):
    login(client, "standard@example.edu")
    rows = rows_of(client.get(f"/conversations/{thread.id}/transcript.csv"))
    assert rows[2][3] == 'Thanks! =HYPERLINK("http://x")'  # not at the start: harmless
    for text in ("=1+1", "+15551234", "-2", "@SUM(A1)", "\tTab", "\rReturn"):
        inbound.receive(InboundMessage(CONTACT, "+12025550100", text), "console")
    rows = rows_of(client.get(f"/conversations/{thread.id}/transcript.csv"))
    texts = [row[3] for row in rows if row[1] == "inbound"][1:]
    assert texts == ["'=1+1", "'+15551234", "'-2", "'@SUM(A1)", "'\tTab", "'\rReturn"]


def test_each_export_is_audited(thread, client, setup):
    login(client, "limited@example.edu")
    assert client.get(f"/conversations/{thread.id}/transcript.csv").status_code == 200
    assert client.get(f"/conversations/{thread.id}/transcript").status_code == 200
    events = list(db.session.scalars(select(AuditEvent).where(AuditEvent.kind == "transcript.exported")))
    assert [(e.actor.email, e.detail["format"]) for e in events] == [
        ("limited@example.edu", "csv"),
        ("limited@example.edu", "print"),
    ]
    assert all([o.name for o in e.offices] == ["Admissions"] for e in events)


def test_the_print_page_shows_every_entry_and_prints_without_the_app_around_it(thread, client):
    login(client, "standard@example.edu")
    page = client.get(f"/conversations/{thread.id}/transcript").get_data(as_text=True)
    assert "Transcript: (202) 555-0143" in page
    assert page.count('<tr class="transcript-') == 3
    assert "Your file is complete" in page and "switched this conversation to bot mode" in page
    assert "css/transcript.css" in page and "Print transcript" in page
    assert "2026-03-02 10:00:00" in page  # office time
    # The conversation links to it.
    assert f"/conversations/{thread.id}/transcript" in client.get(f"/conversations/{thread.id}").get_data(
        as_text=True
    )


@pytest.mark.parametrize("path", ["transcript.csv", "transcript"])
def test_only_people_who_can_see_the_conversation_get_its_transcript(thread, client, make, path):
    make.office("Financial Aid")
    make.user("outsider@example.edu", offices=("Financial Aid",))
    login(client, "outsider@example.edu")
    assert client.get(f"/conversations/{thread.id}/{path}").status_code == 404
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.kind == "transcript.exported")) is None


def test_signed_out_gets_the_login_page(thread, client):
    response = client.get(f"/conversations/{thread.id}/transcript.csv")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_a_long_conversation_is_read_whole_in_batches(thread, client, setup):
    now = utcnow()
    db.session.execute(
        insert(Message),
        [
            {"conversation_id": thread.id, "direction": "inbound", "body": f"message {k}",
             "author_kind": "contact", "status": "received", "created_at": now, "updated_at": now,
             "media_urls": []}
            for k in range(transcripts.BATCH * 2 + 5)
        ],
    )  # fmt: skip
    db.session.commit()
    login(client, "standard@example.edu")
    rows = rows_of(client.get(f"/conversations/{thread.id}/transcript.csv"))
    assert len(rows) == 1 + 3 + transcripts.BATCH * 2 + 5
    assert rows[-1][3] == f"message {transcripts.BATCH * 2 + 4}"


def test_an_erased_message_shows_as_erased_in_the_transcript(history, client):
    offices.set_retention(None, history["office"], 30)
    db.session.commit()
    retention.run_nightly()
    login(client, "admin@example.edu")
    csv_text = client.get(f"/conversations/{history['conversation'].id}/transcript.csv").get_data(
        as_text=True
    )
    assert csv_text.count("[erased under the office's retention policy]") == 2
    assert "my SSN" not in csv_text and "https://m/1.jpg" not in csv_text


def test_a_send_later_text_that_changed_quiet_hours_cover_says_it_goes_when_they_end(setup, thread, client):
    """Sam chose 9:30 PM; the office then moved its quiet hours to start at 9:00 PM. Release holds
    the text until 7:00 AM, and the transcript says so, as the conversation and the API do."""
    sam = setup["users"]["standard"]
    later = sending.reply(sam, thread, "Reminder: bring your ID.", send_later="2026-03-02T21:30")
    db.session.commit()
    login(client, "standard@example.edu")
    rows = rows_of(client.get(f"/conversations/{thread.id}/transcript.csv"))
    assert rows[-1][3:] == ["Reminder: bring your ID.", "scheduled for Mon, Mar 2, 9:30 PM EST"]

    offices.set_quiet_hours(None, setup["office"], "America/New_York", "21:00", "07:00")
    db.session.commit()
    assert db.session.get(Message, later.message_id).status == "scheduled"
    rows = rows_of(client.get(f"/conversations/{thread.id}/transcript.csv"))
    assert rows[-1][3:] == ["Reminder: bring your ID.", "scheduled for Tue, Mar 3, 7:00 AM EST"]
