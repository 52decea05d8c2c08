"""Removing an opt-out needs a written reason, is for an admin of the office whose number the
opt-out came through (for one added by hand, of an office of the admin who added it; an admin of
every office, for one that came more than one way), and is audited with the reason. A contact's
own START is not an admin removal and stays unrestricted."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from tests.admin import conftest as admin_fixtures
from tests.admin.conftest import post
from tests.conftest import Factory, login
from webapp.extensions import db
from webapp.models import AuditEvent, Conversation, Message, OptOut, OptOutEvent
from webapp.plugin_api import InboundMessage, StatusUpdate
from webapp.services import delivery_reports, inbound, optouts

world = admin_fixtures.world

CONTACT = "+12025550143"
REMOVE = f"/admin/opt-outs/{CONTACT}/remove"


def text(body: str, to: str, phone: str = CONTACT) -> None:
    inbound.receive(InboundMessage(from_phone=phone, to_phone=to, body=body), "console")
    db.session.commit()


def history() -> tuple:
    """The list and its history: what a removal would change."""
    db.session.expire_all()
    return (
        tuple(db.session.scalars(select(OptOut.phone).order_by(OptOut.phone))),
        db.session.scalar(select(func.count()).select_from(OptOutEvent)),
        db.session.scalar(select(func.count()).select_from(AuditEvent)),
    )


@pytest.fixture
def through_admissions(world: dict) -> dict:
    """CONTACT texted STOP to the Admissions number."""
    text("STOP", world["number"].phone)
    return world


def test_an_opt_out_records_the_number_it_came_through_and_start_still_opts_in(world):
    text("STOP", world["other_number"].phone)
    assert db.session.get(OptOut, CONTACT).number_id == world["other_number"].id
    text("START", world["other_number"].phone)  # the contact's own word, whatever office
    assert not optouts.is_opted_out(CONTACT)


def test_a_provider_opt_out_records_the_number(world):
    conversation = Conversation(number_id=world["other_number"].id, contact_phone=CONTACT)
    db.session.add(conversation)
    db.session.flush()
    message = Message(
        conversation_id=conversation.id, direction="outbound", body="Hello", author_kind="agent",
        status="sent", provider="console", provider_message_id="p-1",
    )  # fmt: skip
    db.session.add(message)
    db.session.commit()
    delivery_reports.record(
        StatusUpdate("p-1", "failed", message.id, error_code="200", recipient_opted_out=True),
        "console",
    )
    assert db.session.get(OptOut, CONTACT).number_id == world["other_number"].id


@pytest.mark.parametrize(
    ("reason", "error"),
    [
        ("", "Say why this phone may be texted again."),
        ("   ", "Say why this phone may be texted again."),
        ("x" * 201, "Keep the reason to 200 characters; this one has 201."),
    ],
)
def test_removal_without_a_usable_reason_is_refused_inline(client, through_admissions, reason, error):
    login(client, "admin@example.edu")
    before = history()
    response = post(client, REMOVE, {"reason": reason})
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert f'class="field-error" id="reason-1-error">{error}</p>' in page
    assert 'aria-invalid="true" aria-describedby="reason-1-error"' in page
    assert 'aria-label="Remove opt-out for (202) 555-0143"' in page  # the form, again
    assert history() == before
    assert optouts.is_opted_out(CONTACT)


def test_an_admin_of_another_office_cannot_remove_it(client, through_admissions):
    login(client, "fa-admin@example.edu")
    page = client.get("/admin/opt-outs/").get_data(as_text=True)
    assert f'action="{REMOVE}"' not in page  # not offered
    assert "It came through a number of Admissions: only an administrator of Admissions" in page

    before = history()
    response = post(client, REMOVE, {"reason": "They asked us at the fair"})
    assert response.status_code == 403
    assert "only an administrator of Admissions can remove it" in response.get_data(as_text=True)
    assert history() == before


def test_the_list_shows_another_offices_number_only_to_its_admins(client, world):
    """An opt-out holds everywhere, so every admin lists it; but the number it came through is
    shown only to that number's office (anyone else learns which office may remove it)."""
    text("STOP", world["other_number"].phone)  # Financial Aid's "FA Main", (202) 555-0200
    login(client, "admin@example.edu")  # Admissions only
    page = client.get("/admin/opt-outs/").get_data(as_text=True)
    assert "(202) 555-0143" in page  # the contact's phone: opted out for every office
    assert "A number of another office" in page and "Financial Aid" in page
    assert "(202) 555-0200" not in page and "FA Main" not in page
    fragment = client.get("/admin/opt-outs/", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "(202) 555-0200" not in fragment and "FA Main" not in fragment

    response = post(client, REMOVE, {"reason": "They asked us at the fair"})
    assert response.status_code == 403
    refusal = response.get_data(as_text=True)
    assert "only an administrator of Financial Aid can remove it" in refusal
    assert "(202) 555-0200" not in refusal and "FA Main" not in refusal

    client = client.application.test_client()
    login(client, "fa-admin@example.edu")
    page = client.get("/admin/opt-outs/").get_data(as_text=True)
    assert "FA Main · (202) 555-0200" in page
    assert "A number of another office" not in page


def refused_to(client, email: str, why: str) -> None:
    """`email` is not offered the removal, is refused it with `why`, and nothing changes."""
    client = client.application.test_client()
    login(client, email)
    assert f'action="{REMOVE}"' not in client.get("/admin/opt-outs/").get_data(as_text=True)
    before = history()
    response = post(client, REMOVE, {"reason": "Called to say texts are fine"})
    assert response.status_code == 403
    assert why in response.get_data(as_text=True)
    assert history() == before


def removed_by(client, email: str) -> None:
    client = client.application.test_client()
    login(client, email)
    assert f'action="{REMOVE}"' in client.get("/admin/opt-outs/").get_data(as_text=True)
    assert post(client, REMOVE, {"reason": "Called to say texts are fine"}).status_code == 303
    assert not optouts.is_opted_out(CONTACT)


def test_a_manual_opt_out_is_for_the_admins_of_the_offices_of_who_added_it(client, world, make: Factory):
    """Fay (Financial Aid) adds one by hand: Alex (Admissions only) may not take it away; another
    admin of Financial Aid may."""
    optouts.opt_out(CONTACT, "admin", user=world["other_admin"], detail="asked by phone")
    db.session.commit()
    assert db.session.get(OptOut, CONTACT).number_id is None
    refused_to(client, "admin@example.edu", "only an administrator of one of their offices can remove it")
    make.user("fa-admin-2@example.edu", "admin", ("Financial Aid",), name="Flo Admin")
    removed_by(client, "fa-admin-2@example.edu")


def test_a_manual_opt_out_the_contact_confirms_needs_an_admin_of_every_office(client, world, make: Factory):
    optouts.opt_out(CONTACT, "admin", user=world["other_admin"], detail="asked by phone")
    db.session.commit()
    text("STOP", world["number"].phone)  # the contact asks too, through Admissions' number
    # Who may remove it changed: recorded where every admin reads it, with the number it came through.
    again = db.session.scalars(select(AuditEvent).where(AuditEvent.kind == "optout.again")).one()
    assert again.summary == "(202) 555-0143 opted out again by text (texted a number of Admissions)"
    assert again.detail["number_id"] == world["number"].id
    for email in ("admin@example.edu", "fa-admin@example.edu"):
        page = client.application.test_client()
        login(page, email)
        changes = page.get("/admin/opt-outs/").get_data(as_text=True)
        assert changes.count("Opted out again") == 1 and changes.count("Opted out<") == 1
    for email in ("admin@example.edu", "fa-admin@example.edu"):  # each admin of one office only
        refused_to(client, email, "only an administrator of every office can remove it")
    make.user("all-admin@example.edu", "admin", ("Admissions", "Financial Aid"), name="Ada All")
    removed_by(client, "all-admin@example.edu")


def test_an_opt_out_through_two_offices_numbers_is_for_an_admin_of_both(client, through_admissions, make):
    """STOP through Admissions, then again through Financial Aid: neither office's admin alone may
    take it away."""
    text("STOP", through_admissions["other_number"].phone)
    assert db.session.get(OptOut, CONTACT).number_id is None
    kinds = db.session.scalars(select(AuditEvent.kind).where(AuditEvent.kind.like("optout.%"))).all()
    assert sorted(kinds) == ["optout.added", "optout.again"]
    assert sorted(db.session.scalars(select(OptOutEvent.action))) == ["again", "opt_out"]
    before = history()
    text("STOP", through_admissions["other_number"].phone)  # held by every office already: no change
    text("STOP", through_admissions["number"].phone)
    assert history() == before

    # Admissions' admin (the first number's office), then Financial Aid's (the second's).
    for email in ("admin@example.edu", "fa-admin@example.edu"):
        refused_to(client, email, "only an administrator of every office can remove it")

    make.user("all-admin@example.edu", "admin", ("Admissions", "Financial Aid"), name="Ada All")
    client = client.application.test_client()
    login(client, "all-admin@example.edu")
    assert post(client, REMOVE, {"reason": "They asked us at the fair"}).status_code == 303


def test_a_repeated_stop_through_the_same_number_keeps_its_origin(through_admissions):
    before = history()
    text("STOP", through_admissions["number"].phone)
    assert db.session.get(OptOut, CONTACT).number_id == through_admissions["number"].id
    assert history() == before  # nothing changed, so nothing more is recorded


def test_a_removal_is_audited_with_its_reason(client, through_admissions):
    reason = "Texted us from a new phone, asked to hear about deadlines again"
    login(client, "admin@example.edu")
    assert f'action="{REMOVE}"' in client.get("/admin/opt-outs/").get_data(as_text=True)
    response = post(client, REMOVE, {"reason": f"  {reason} "})
    assert response.status_code == 303
    assert not optouts.is_opted_out(CONTACT)

    event = db.session.scalars(select(OptOutEvent).order_by(OptOutEvent.id.desc())).first()
    assert (event.action, event.source, event.user.email, event.detail) == (
        "opt_in", "admin", "admin@example.edu", reason,
    )  # fmt: skip
    audit = db.session.scalar(select(AuditEvent).where(AuditEvent.kind == "optout.removed"))
    assert audit.actor_id == through_admissions["users"]["admin"].id
    assert audit.summary == f"(202) 555-0143 opted back in by an admin ({reason})"
    assert audit.detail["reason"] == reason
    assert reason in client.get("/admin/opt-outs/").get_data(as_text=True)  # in the history shown
