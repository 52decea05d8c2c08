"""Output escaping: names and texts that people or contacts type are shown as text on every page that
shows them, never run as markup. Each field below carries both a script element and an attribute
breakout; each page must show the field (escaped) and nowhere the raw markup."""

from __future__ import annotations

import csv
import io

import pytest
from markupsafe import escape

from tests.conftest import csrf_token, login
from webapp.extensions import db
from webapp.plugin_api import InboundMessage
from webapp.services import campaigns, inbound

ATTACKS = ("<script>alert(1)</script>", '"><img src=x onerror=alert(1)>')
RAW_MARKUP = ("<script>alert", "<img src=x", "onerror=alert(1)>")


def hostile(field: str) -> str:
    """A value for `field` that would run script if a page put it into HTML unescaped."""
    return f"{field} {ATTACKS[0]}{ATTACKS[1]}"


OFFICE = hostile("Office")
AGENT = hostile("Agent")
LABEL = hostile("Line")
CAMPAIGN = hostile("Campaign")
FIRST_NAME = hostile("Contact")
INBOUND = hostile("Inbound")
REPLY = hostile("Reply")
CONTACT = "+12025550143"
OPTED_OUT = "+12025550178"  # also on the campaign's list, under a hostile name


def contacts_csv() -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["first_name", "last_name", "phone"])
    writer.writerow([FIRST_NAME, "Doe", CONTACT])
    writer.writerow([FIRST_NAME, "Roe", OPTED_OUT])
    return out.getvalue().encode()


def post(client, path: str, data: dict) -> None:
    response = client.post(path, data={"csrf_token": csrf_token(client, "/inbox"), **data})
    assert response.status_code in (200, 302, 303), (path, response.status_code)


@pytest.fixture
def hostile_world(app, client, setup) -> dict:
    """Admissions, its agent, number, launched campaign, a conversation and an opt-out, every one
    named hostilely; the renames go through the admin console so the audit log names them too."""
    office, number = setup["office"], setup["number"]
    agent = setup["users"]["standard"]
    campaign_id = campaigns.import_campaign(CAMPAIGN, "Admissions", io.BytesIO(contacts_csv())).campaign.id
    db.session.commit()
    login(client, "admin@example.edu")
    post(client, f"/admin/offices/{office.id}", {"name": OFFICE})
    post(client, f"/admin/users/{agent.id}",
         {"name": AGENT, "role": "standard", "office_ids": [str(office.id)]})  # fmt: skip
    post(client, f"/admin/numbers/{number.id}",
         {"office_id": str(office.id), "label": LABEL, "description": "", "provider": "console"})  # fmt: skip
    post(client, f"/admin/campaigns/{campaign_id}/launch", {})
    post(client, "/admin/opt-outs/", {"phone": OPTED_OUT})
    received = inbound.receive(
        InboundMessage(from_phone=CONTACT, to_phone=number.phone, body=INBOUND), "console"
    )
    agent_client = app.test_client()
    login(agent_client, "standard@example.edu")
    conversation = f"/conversations/{received.conversation_id}"
    post(agent_client, f"{conversation}/messages", {"body": REPLY})
    inbound.receive(InboundMessage(from_phone=CONTACT, to_phone=number.phone, body=INBOUND), "console")
    return {"office": office.id, "user": agent.id, "number": number.id, "campaign": campaign_id,
            "conversation": conversation, "agent_client": agent_client}  # fmt: skip


def pages(world: dict) -> dict[str, tuple[str, ...]]:
    """Each page, and the hostile values it shows (as text)."""
    conversation = world["conversation"]
    return {
        "/inbox?tab=attention": (FIRST_NAME, LABEL, INBOUND),
        conversation: (FIRST_NAME, LABEL, INBOUND, REPLY, AGENT),
        f"{conversation}/live": (FIRST_NAME, LABEL, INBOUND, REPLY, AGENT),
        "/contacts/lookup?phone=2025550143": (FIRST_NAME, LABEL),
        "/texts/new": (LABEL,),
        "/admin/": (OFFICE,),
        "/admin/offices": (OFFICE,),
        f"/admin/offices/{world['office']}": (OFFICE, AGENT),
        "/admin/users": (AGENT, OFFICE),
        f"/admin/users/{world['user']}": (AGENT, OFFICE),
        "/admin/numbers": (LABEL, OFFICE),
        f"/admin/numbers/{world['number']}": (LABEL, OFFICE),
        "/admin/campaigns": (CAMPAIGN, OFFICE),
        f"/admin/campaigns/{world['campaign']}": (CAMPAIGN, FIRST_NAME),
        "/admin/audit": (OFFICE, AGENT, LABEL, CAMPAIGN),
        "/admin/opt-outs/": (FIRST_NAME,),
        f"/admin/kb/{world['office']}": (OFFICE,),
    }


def assert_escaped(page: str, shown: tuple[str, ...], where: str) -> None:
    for markup in RAW_MARKUP:
        assert markup not in page, (where, markup)
    for value in shown:
        assert str(escape(value)) in page, (where, value.split()[0])


def test_every_page_shows_hostile_names_and_texts_as_text(client, hostile_world):
    for path, shown in pages(hostile_world).items():
        response = client.get(path)
        assert response.status_code == 200, path
        assert_escaped(response.get_data(as_text=True), shown, path)


def test_htmx_fragments_escape_them_too(client, hostile_world):
    htmx = {"HX-Request": "true"}
    conversation = hostile_world["conversation"]
    fragments = {
        "/inbox?tab=attention": (FIRST_NAME, LABEL, INBOUND),
        f"{conversation}/live": (FIRST_NAME, INBOUND, REPLY),
        "/contacts/search?q=2025550143": (FIRST_NAME,),
        "/contacts/search?q=Contact": (FIRST_NAME,),
    }
    for path, shown in fragments.items():
        response = client.get(path, headers=htmx)
        assert response.status_code == 200, path
        assert_escaped(response.get_data(as_text=True), shown, f"{path} (htmx)")


def test_the_agents_own_views_escape_them(hostile_world):
    """The agent who replied sees the conversation in Participating once it is cleared."""
    agent = hostile_world["agent_client"]
    conversation = hostile_world["conversation"]
    post(agent, f"{conversation}/attention", {})
    response = agent.get("/inbox?tab=participating")
    assert_escaped(response.get_data(as_text=True), (FIRST_NAME, LABEL, INBOUND), "participating")


def test_a_rejected_form_echoes_what_was_typed_as_text(hostile_world):
    """A form sent back with an error shows the typed value inside the field, escaped."""
    agent = hostile_world["agent_client"]
    response = agent.post(
        "/texts/new",
        data={"csrf_token": csrf_token(agent, "/texts/new"), "number_id": str(hostile_world["number"]),
              "to": ATTACKS[1], "body": ATTACKS[0]},
    )  # fmt: skip
    assert response.status_code == 422
    assert_escaped(response.get_data(as_text=True), (ATTACKS[1], ATTACKS[0]), "compose with errors")
