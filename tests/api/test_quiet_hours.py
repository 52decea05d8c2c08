"""The CRM API in an office's quiet hours: a text is accepted and held (status scheduled), then sent
when the window ends, like every automatic text."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from tests.test_sending import ScriptedProvider
from webapp.extensions import db
from webapp.services import offices, scheduling

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
