"""The admin console's Compliance pages: quiet hours and retention per office (with how many
messages the next run would erase, before retention is switched on); bad input changes nothing."""

from __future__ import annotations

from datetime import time, timedelta

import pytest
from sqlalchemy import select

from tests.admin.conftest import world  # noqa: F401
from tests.compliance.test_retention import add_message
from tests.conftest import csrf_token, login
from webapp.extensions import db
from webapp.models import AuditEvent, Conversation, Office


def page(client, office_id: int) -> str:
    return client.get(f"/admin/offices/{office_id}/compliance").get_data(as_text=True)


def post(client, office_id: int, what: str, **data):
    token = csrf_token(client, f"/admin/offices/{office_id}/compliance")
    return client.post(f"/admin/offices/{office_id}/{what}", data={"csrf_token": token, **data})


def office(setup) -> Office:
    db.session.expire_all()
    return db.session.get(Office, setup["office"].id)


def test_the_console_lists_offices_and_links_their_compliance_page(setup, client):
    login(client, "admin@example.edu")
    index = client.get("/admin/compliance").get_data(as_text=True)
    assert "Compliance" in index and f"/admin/offices/{setup['office'].id}/compliance" in index
    assert "Off" in index


def test_an_admin_switches_quiet_hours_on_and_off(setup, client):
    login(client, "admin@example.edu")
    office_id = setup["office"].id
    response = post(
        client, office_id, "quiet-hours", time_zone="America/New_York", start="21:00", end="08:00"
    )
    assert response.status_code == 303
    assert "9:00 PM–8:00 AM (America/New_York)" in page(client, office_id)
    assert (office(setup).quiet_hours_start, office(setup).quiet_hours_end) == (time(21), time(8))
    post(client, office_id, "quiet-hours", action="off")
    assert office(setup).quiet_hours_start is None
    kinds = list(db.session.scalars(select(AuditEvent.kind).where(AuditEvent.kind == "office.quiet_hours")))
    assert len(kinds) == 2


@pytest.mark.parametrize(
    ("form", "error"),
    [
        ({"time_zone": "Eastern", "start": "21:00", "end": "08:00"}, "Unknown time zone"),
        ({"time_zone": "EST", "start": "21:00", "end": "08:00"}, "EST does not change for daylight saving"),
        ({"time_zone": "America/New_York", "start": "21:00", "end": "21:00"}, "must differ from the start"),
        ({"time_zone": "America/New_York", "start": "", "end": "08:00"}, "Enter the start time"),
    ],
)
def test_bad_quiet_hours_are_refused_next_to_their_field(setup, client, form, error):
    login(client, "admin@example.edu")
    response = post(client, setup["office"].id, "quiet-hours", **form)
    assert response.status_code == 422 and error in response.get_data(as_text=True)
    assert office(setup).time_zone is None and office(setup).quiet_hours_start is None


def test_a_refused_forms_address_reloaded_comes_back_to_the_compliance_page(setup, client, world):  # noqa: F811
    """A refused form is shown at its action's address; reloading that (a GET) is no 405."""
    login(client, "admin@example.edu")
    office_id = setup["office"].id
    for what in ("quiet-hours", "retention"):
        response = client.get(f"/admin/offices/{office_id}/{what}")
        assert response.status_code == 302
        assert response.headers["Location"] == f"/admin/offices/{office_id}/compliance"
        # Another office's address is not found, as its page is.
        assert client.get(f"/admin/offices/{world['other_office'].id}/{what}").status_code == 404


def test_a_quiet_hours_action_the_form_never_sends_changes_nothing(setup, client):
    login(client, "admin@example.edu")
    form = {"time_zone": "America/New_York", "start": "21:00", "end": "08:00", "action": "bogus"}
    response = post(client, setup["office"].id, "quiet-hours", **form)
    assert response.status_code == 400 and "must be one of: save, off" in response.get_data(as_text=True)
    assert office(setup).time_zone is None and office(setup).quiet_hours_start is None
    assert post(client, setup["office"].id, "quiet-hours", **{**form, "action": "save"}).status_code == 303
    assert office(setup).time_zone == "America/New_York"


def test_retention_shows_what_the_next_run_would_erase_before_it_is_switched_on(setup, client, clock):
    conversation = Conversation(number_id=setup["number"].id, contact_phone="+12025550143")
    db.session.add(conversation)
    db.session.flush()
    for days in (400, 200, 100, 10):
        add_message(conversation, timedelta(days=days), f"{days} days old")
    db.session.commit()
    login(client, "admin@example.edu")
    office_id = setup["office"].id

    preview = post(client, office_id, "retention", retention_days="180", action="preview")
    assert preview.status_code == 200
    assert "With 180 days, the next run would erase <strong>2</strong> messages." in preview.get_data(
        as_text=True
    )
    assert office(setup).retention_days is None  # a preview changes nothing

    assert post(client, office_id, "retention", retention_days="180", action="save").status_code == 303
    assert office(setup).retention_days == 180
    assert "The next run would erase <strong>2</strong> messages." in page(client, office_id)
    preview = post(client, office_id, "retention", retention_days="300", action="preview")
    assert "With 300 days, the next run would erase <strong>1</strong> message." in preview.get_data(
        as_text=True
    )
    post(client, office_id, "retention", action="off")
    assert office(setup).retention_days is None


@pytest.mark.parametrize(
    ("days", "error"),
    [("0", "at least 1 day"), ("", "Enter the number of days"), ("--5", "Enter the number of days"),
     ("3²", "Enter the number of days"), ("①", "Enter the number of days")],
)
def test_a_bad_retention_is_refused_and_changes_nothing(setup, client, days, error):
    login(client, "admin@example.edu")
    response = post(client, setup["office"].id, "retention", retention_days=days, action="save")
    assert response.status_code == 422 and error in response.get_data(as_text=True)
    assert office(setup).retention_days is None


@pytest.mark.parametrize("action", [None, "", "on", "delete"])
def test_retention_without_a_known_action_is_refused_and_stays_off(setup, client, action):
    """Only the form's own buttons (Preview, Save, Switch off) act: anything else is not taken
    for switching on, which erases message text every night."""
    login(client, "admin@example.edu")
    form = {"retention_days": "30"} | ({} if action is None else {"action": action})
    response = post(client, setup["office"].id, "retention", **form)
    assert response.status_code == 400
    assert "must be one of: preview, save, off" in response.get_data(as_text=True)
    assert office(setup).retention_days is None


def test_only_admins_of_the_office_reach_its_compliance_page(setup, client, make):
    login(client, "standard@example.edu")
    assert client.get(f"/admin/offices/{setup['office'].id}/compliance").status_code == 403
    client.post("/logout", data={"csrf_token": csrf_token(client, "/inbox")})
    make.office("Financial Aid")
    make.user("fa-admin@example.edu", "admin", offices=("Financial Aid",))
    login(client, "fa-admin@example.edu")
    assert client.get(f"/admin/offices/{setup['office'].id}/compliance").status_code == 404
    response = post(client, setup["office"].id, "quiet-hours", time_zone="UTC", start="01:00", end="02:00")
    assert response.status_code in (400, 404)
    assert office(setup).quiet_hours_start is None


def test_the_exports_list_is_a_fragment_for_htmx_and_the_page_without(setup, client):
    login(client, "admin@example.edu")
    office_id = setup["office"].id
    fragment = client.get(f"/admin/offices/{office_id}/exports", headers={"HX-Request": "true"})
    assert fragment.status_code == 200 and 'id="exports-list"' in fragment.get_data(as_text=True)
    assert "<html" not in fragment.get_data(as_text=True)
    whole = client.get(f"/admin/offices/{office_id}/exports")
    assert whole.status_code == 200 and "Quiet hours" in whole.get_data(as_text=True)


def test_the_export_hint_names_the_office_without_a_broken_possessive(setup, client):
    login(client, "admin@example.edu")
    html = page(client, setup["office"].id)
    assert "Every message sent or received on the numbers of Admissions between two days" in html
    assert "Admissions's" not in html and "Admissions&#39;s" not in html
