"""Access follows office membership: a participant sees a conversation only while they still belong
to the number's office or an assigned inbox's office, or are an assigned agent of the number.
Removing someone from an office removes what they could see only through it."""

from __future__ import annotations

import re

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from tests.conftest import Factory, csrf_token, login
from webapp.extensions import db
from webapp.models import Conversation, Message
from webapp.plugin_api import InboundMessage
from webapp.services import inbound
from webapp.services.admin import users as admin_users
from webapp.services.directory import office_by_name, user_by_email

ASKING = "+12025550143"  # a contact who replied: the conversation needs attention
ANSWERED = "+12025550178"  # a contact who did not: the conversation is in Participating


@pytest.fixture
def offices(setup: dict, make: Factory) -> dict:
    """Admissions (from `setup`), Financial Aid and Registrar, and an admin of all three who moves
    people between them."""
    make.office("Financial Aid")
    make.office("Registrar")
    make.user(
        "both-admin@example.edu", "admin", ("Admissions", "Financial Aid", "Registrar"),
        name="Bo Admin",
    )
    return setup


def move(email: str, *office_names: str) -> None:
    """An admin of every office sets the user's offices, as the admin console does."""
    admin = user_by_email("both-admin@example.edu")
    user = user_by_email(email)
    office_ids = {office_by_name(name).id for name in office_names}
    admin_users.update_user(admin, user, user.name, user.role, office_ids)
    db.session.commit()


def send(client: FlaskClient, number_id: int, to: str, body: str = "Hello") -> int:
    token = csrf_token(client, "/texts/new")
    response = client.post(
        "/texts/new", data={"csrf_token": token, "number_id": number_id, "to": to, "body": body}
    )
    assert response.status_code == 303, response.get_data(as_text=True)
    return int(response.headers["Location"].rsplit("/", 1)[1])


def contact_replies(phone: str, to: str = "+12025550100") -> None:
    inbound.receive(InboundMessage(from_phone=phone, to_phone=to, body="Any news?"), "console")
    db.session.commit()


def tab(client: FlaskClient, name: str) -> str:
    response = client.get(f"/inbox?tab={name}")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def counts(page: str) -> dict[str, str]:
    """The two tabs' counts as the page shows them."""
    found = re.findall(r'tab-label">([^<]+)</span> <span class="count" id="\w+-count">([^<]*)</span>', page)
    return dict(found)


def in_list(page: str, conversation_id: int) -> bool:
    return f'href="/conversations/{conversation_id}"' in page


def message_count() -> int:
    return db.session.scalar(select(func.count()).select_from(Message))


def sees(client: FlaskClient, conversation_id: int) -> bool:
    status = client.get(f"/conversations/{conversation_id}").status_code
    assert status in (200, 404)
    return status == 200


def test_leaving_the_office_hides_what_was_seen_only_through_it(client, offices):
    login(client, "standard@example.edu")
    number_id = offices["number"].id
    asking = send(client, number_id, ASKING)
    answered = send(client, number_id, ANSWERED)
    contact_replies(ASKING)
    assert in_list(tab(client, "attention"), asking)
    assert in_list(tab(client, "participating"), answered)

    move("standard@example.edu", "Financial Aid")

    attention, participating = tab(client, "attention"), tab(client, "participating")
    assert not in_list(attention, asking) and not in_list(participating, answered)
    assert counts(attention) == {"Needs Attention": "0", "Participating": "0"}
    for conversation_id in (asking, answered):
        assert client.get(f"/conversations/{conversation_id}").status_code == 404
        assert client.get(f"/conversations/{conversation_id}/live").status_code == 404
    lookup = client.get("/contacts/lookup", query_string={"phone": ASKING}).get_data(as_text=True)
    assert f"/conversations/{asking}" not in lookup


def test_a_former_member_can_no_longer_act_on_the_conversation(client, offices):
    login(client, "standard@example.edu")
    conversation_id = send(client, offices["number"].id, ASKING)
    contact_replies(ASKING)
    move("standard@example.edu", "Financial Aid")
    sent_before = message_count()

    token = csrf_token(client, "/inbox")
    for action, data in (
        ("messages", {"body": "Still there?"}),
        ("attention", {}),
        ("mode", {}),
    ):
        response = client.post(
            f"/conversations/{conversation_id}/{action}", data={"csrf_token": token, **data}
        )
        assert response.status_code in (403, 404), action

    assert message_count() == sent_before  # nothing sent, no event recorded
    conversation = db.session.get(Conversation, conversation_id)
    db.session.refresh(conversation)
    assert conversation.needs_attention is True
    assert conversation.mode == "agent"


def test_moving_back_into_the_office_shows_it_again(client, offices):
    login(client, "standard@example.edu")
    answered = send(client, offices["number"].id, ANSWERED)
    move("standard@example.edu", "Financial Aid")
    assert not sees(client, answered)

    move("standard@example.edu", "Admissions", "Financial Aid")

    assert sees(client, answered)
    page = tab(client, "participating")
    assert in_list(page, answered)
    assert counts(page)["Participating"] == "1"


def test_a_participant_still_in_the_numbers_office_keeps_seeing_it(client, offices, make):
    """A number of Admissions answered by another office's inbox: an Admissions member who took
    part while assigned keeps it after being unassigned, and loses it on leaving Admissions."""
    number = make.number(
        "+12025550120", office="Admissions", agents=("standard@example.edu",),
        inboxes=("Financial Aid",), label="Outreach",
    )
    login(client, "standard@example.edu")
    answered = send(client, number.id, ANSWERED)
    number.agents = []
    db.session.commit()

    assert sees(client, answered)
    assert in_list(tab(client, "participating"), answered)

    move("standard@example.edu", "Registrar")

    assert not sees(client, answered)
    assert not in_list(tab(client, "participating"), answered)


def test_an_assigned_agent_keeps_what_they_are_assigned_to_after_leaving_the_office(
    client, offices, make
):
    outreach = make.number(
        "+12025550120", office="Admissions", agents=("standard@example.edu",),
        inboxes=("Admissions",), label="Outreach",
    )
    login(client, "standard@example.edu")
    assigned = send(client, outreach.id, ANSWERED)
    through_office = send(client, offices["number"].id, ANSWERED)

    move("standard@example.edu", "Financial Aid")

    page = tab(client, "participating")
    assert sees(client, assigned) and in_list(page, assigned)
    assert not sees(client, through_office) and not in_list(page, through_office)
    assert counts(page)["Participating"] == "1"


def test_an_admin_of_the_numbers_office_still_sees_what_a_former_member_no_longer_does(
    client, offices, app
):
    login(client, "standard@example.edu")
    asking = send(client, offices["number"].id, ASKING)
    contact_replies(ASKING)
    move("standard@example.edu", "Financial Aid")

    admin = app.test_client()
    login(admin, "admin@example.edu")
    assert sees(admin, asking)
    assert in_list(tab(admin, "attention"), asking)
    assert not sees(client, asking)
