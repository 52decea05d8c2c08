"""The CRM API in an office's quiet hours: a text is accepted and held (status scheduled), then sent
when the window ends, like every automatic text."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from tests.test_sending import ScriptedProvider
from webapp.extensions import db
from webapp.models import Conversation
from webapp.services import offices, scheduling, sending

NEW_YORK = ZoneInfo("America/New_York")


def test_an_api_text_in_quiet_hours_is_held_and_sent_when_they_end(app, crm, world, clock):
    provider = ScriptedProvider(app.config)
    app.extensions["parley"].sms_providers["console"] = provider
    offices.set_quiet_hours(None, world["office"], "America/New_York", "21:00", "08:00")
    db.session.commit()
    clock.move_to(datetime(2026, 3, 2, 22, 30, tzinfo=NEW_YORK))

    response = crm.send(text="Your interview is confirmed")
    assert response.status_code == 202
    assert response.get_json()["status"] == "scheduled"
    assert provider.sent == []
    message_id = response.get_json()["id"]
    assert crm.get(f"/api/v1/messages/{message_id}").get_json()["status"] == "scheduled"

    clock.move_to(datetime(2026, 3, 3, 8, 0, tzinfo=NEW_YORK))
    scheduling.release_due()
    assert [m.body for m in provider.sent] == ["Your interview is confirmed"]
    assert crm.get(f"/api/v1/messages/{message_id}").get_json()["status"] == "sent"


def test_a_held_api_text_says_when_it_goes_and_a_sent_one_says_null(app, crm, world, clock):
    provider = ScriptedProvider(app.config)
    app.extensions["parley"].sms_providers["console"] = provider
    offices.set_quiet_hours(None, world["office"], "America/New_York", "21:00", "08:00")
    db.session.commit()
    clock.move_to(datetime(2026, 3, 2, 22, 30, tzinfo=NEW_YORK))

    accepted = crm.send(text="See you tomorrow").get_json()
    # 8:00 AM in New York on March 3 (EST) is 13:00 UTC.
    assert accepted["status"] == "scheduled"
    assert accepted["send_at"] == "2026-03-03T13:00:00Z"
    read = crm.get(f"/api/v1/messages/{accepted['id']}").get_json()
    assert read["send_at"] == "2026-03-03T13:00:00Z"
    listed = crm.get(f"/api/v1/conversations/{accepted['conversation_id']}/messages").get_json()
    assert [m["send_at"] for m in listed["data"]] == ["2026-03-03T13:00:00Z"]

    clock.move_to(datetime(2026, 3, 3, 8, 0, tzinfo=NEW_YORK))
    scheduling.release_due()
    assert crm.get(f"/api/v1/messages/{accepted['id']}").get_json()["send_at"] is None
    assert crm.send(text="And now").get_json()["send_at"] is None


def test_a_send_later_text_that_changed_quiet_hours_cover_says_it_goes_when_they_end(app, crm, world, clock):
    """An agent chose 8:30 PM; the office then moved its quiet hours to start at 8:00 PM. Release
    holds the text until they end, and the API (like the conversation) says so, not 8:30 PM."""
    app.extensions["parley"].sms_providers["console"] = ScriptedProvider(app.config)
    offices.set_quiet_hours(None, world["office"], "America/New_York", "21:00", "08:00")
    db.session.commit()
    clock.move_to(datetime(2026, 3, 2, 10, 0, tzinfo=NEW_YORK))
    first = crm.send(text="Your interview is on Friday.").get_json()
    conversation = db.session.get(Conversation, first["conversation_id"])
    later = sending.reply(world["users"]["standard"], conversation, "Reminder: bring your ID.",
                          send_later="2026-03-02T20:30")  # fmt: skip
    db.session.commit()
    # 8:30 PM in New York (EST) is 01:30 UTC the next day.
    assert crm.get(f"/api/v1/messages/{later.message_id}").get_json()["send_at"] == "2026-03-03T01:30:00Z"

    offices.set_quiet_hours(None, world["office"], "America/New_York", "20:00", "08:00")
    db.session.commit()
    read = crm.get(f"/api/v1/messages/{later.message_id}").get_json()
    assert (read["status"], read["send_at"]) == ("scheduled", "2026-03-03T13:00:00Z")
    listed = crm.get(f"/api/v1/conversations/{conversation.id}/messages").get_json()["data"]
    assert [m["send_at"] for m in listed] == [None, "2026-03-03T13:00:00Z"]


def test_the_document_describes_send_at_on_the_message(crm):
    schemas = crm.client.get("/api/v1/openapi.json").get_json()["components"]["schemas"]
    message = next(schema for name, schema in schemas.items() if name.startswith("MessageOut"))
    assert "send_at" in message["properties"]
    assert "null" in str(message["properties"]["send_at"])
