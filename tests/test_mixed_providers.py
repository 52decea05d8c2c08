"""Console, Plivo and Twilio numbers side by side in one office, each texting through its own provider.

The admin adds a Plivo and a Twilio number in the admin console beside the office's console number;
an agent texts one contact from each; the contact answers each; each provider reports delivery.
Plivo and Twilio are their real SDKs talking to fake APIs on 127.0.0.1.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select

from tests.conftest import csrf_token, login, make_app, serving
from tests.fake_plivo import AUTH_ID, FakePlivo, v3_headers
from tests.fake_plivo import AUTH_TOKEN as PLIVO_TOKEN
from tests.fake_twilio import FakeTwilio, new_sid, signed_headers
from tests.twilio.conftest import twilio_settings
from webapp.extensions import db
from webapp.models import Conversation, Message, ReusableNumber
from webapp.services import scheduling

BASE = "https://parley.example.edu"
CONSOLE, PLIVO, TWILIO = "+12025550100", "+12025550199", "+12025550188"
CONTACT = "+12025550143"


@pytest.fixture
def fakes() -> Iterator[tuple[FakePlivo, FakeTwilio]]:
    with FakePlivo() as plivo, FakeTwilio() as twilio:
        yield plivo, twilio


@pytest.fixture
def app(database_url: str, tmp_path: Path, fakes) -> Iterator[Flask]:
    """Overrides the suite's `app`: all three providers enabled, Plivo and Twilio at their fakes."""
    fake_plivo, fake_twilio = fakes
    app = make_app(
        database_url, tmp_path,
        SMS_PROVIDERS=["console", "plivo", "twilio"], PUBLIC_BASE_URL=BASE,
        PLIVO_AUTH_ID=AUTH_ID, PLIVO_AUTH_TOKEN=PLIVO_TOKEN, PLIVO_API_BASE_URL=fake_plivo.url,
        **twilio_settings(fake_twilio),
    )  # fmt: skip
    with serving(app):
        yield app


def add_number(client, office_id: int, phone: str, provider: str, label: str) -> None:
    """The admin console's Add number form, as an admin fills it in."""
    token = csrf_token(client, "/admin/numbers/new")
    form = {"csrf_token": token, "phone": phone, "office_id": str(office_id), "label": label,
            "provider": provider, "backing": "agent", "inbox_ids": str(office_id)}  # fmt: skip
    response = client.post("/admin/numbers/new", data=form)
    assert response.status_code in (302, 303), response.get_data(as_text=True)


def compose(client, number_id: int, text: str) -> None:
    token = csrf_token(client, "/texts/new")
    form = {"csrf_token": token, "number_id": number_id, "to": "(202) 555-0143", "body": text}
    assert client.post("/texts/new", data=form).status_code == 303


def test_console_plivo_and_twilio_numbers_side_by_side(app, client, setup, fakes, caplog):
    fake_plivo, fake_twilio = fakes
    office = setup["office"]

    # The admin adds a Plivo and a Twilio number beside the console one.
    login(client, "admin@example.edu")
    page = client.get("/admin/numbers/new").get_data(as_text=True)
    choices = page.split('id="number-provider"')[1].split("</select>")[0]
    assert "waiting to go" not in page  # a new number has no texts yet
    assert re.findall(r'<option value="(\w+)"', choices) == ["console", "plivo", "twilio"]
    add_number(client, office.id, PLIVO, "plivo", "Admissions Plivo")
    add_number(client, office.id, TWILIO, "twilio", "Admissions Twilio")
    numbers = {n.provider: n for n in db.session.scalars(select(ReusableNumber))}
    assert {p: n.phone for p, n in numbers.items()} == {"console": CONSOLE, "plivo": PLIVO, "twilio": TWILIO}

    # An agent texts the same contact from each number.
    client.post("/logout", data={"csrf_token": csrf_token(client, "/inbox")})
    login(client, "standard@example.edu")
    with caplog.at_level(logging.WARNING, logger="parley.console_sms"):
        for provider in ("console", "plivo", "twilio"):
            compose(client, numbers[provider].id, f"Hello from the {provider} number")

    [plivo_sent] = fake_plivo.requests
    [twilio_sent] = fake_twilio.requests
    assert (plivo_sent.json["src"], plivo_sent.json["text"]) == (PLIVO, "Hello from the plivo number")
    assert (twilio_sent.value("From"), twilio_sent.value("Body")) == (TWILIO, "Hello from the twilio number")
    [printed] = [r.outbound for r in caplog.records if r.name == "parley.console_sms"]
    assert (printed.from_phone, printed.body) == (CONSOLE, "Hello from the console number")
    sent = {m.provider: m for m in db.session.scalars(select(Message).where(Message.direction == "outbound"))}
    assert {p: m.status for p, m in sent.items()} == dict.fromkeys(("console", "plivo", "twilio"), "sent")
    assert sent["plivo"].provider_message_id == plivo_sent.message_uuid
    assert sent["twilio"].provider_message_id == twilio_sent.sid

    # Each provider reports delivery on its own webhook; one provider's report is no other's.
    plivo_report = {"MessageUUID": plivo_sent.message_uuid, "Status": "delivered"}
    plivo_url = plivo_sent.json["url"]
    assert client.post(plivo_url.removeprefix(BASE).replace("/plivo/", "/twilio/"), data=plivo_report,
                       headers=v3_headers(plivo_url, plivo_report)).status_code == 403  # fmt: skip
    assert client.post(plivo_url.removeprefix(BASE), data=plivo_report,
                       headers=v3_headers(plivo_url, plivo_report)).status_code == 200  # fmt: skip
    twilio_url = twilio_sent.value("StatusCallback")
    twilio_report = {"MessageSid": twilio_sent.sid, "MessageStatus": "delivered"}
    assert client.post(twilio_url.removeprefix(BASE), data=twilio_report,
                       headers=signed_headers(twilio_url, twilio_report)).status_code == 200  # fmt: skip
    db.session.expire_all()
    assert {p: m.status for p, m in sent.items()} == {
        "console": "sent", "plivo": "delivered", "twilio": "delivered",
    }  # fmt: skip

    # The contact answers each number, each through its own provider.
    result = app.test_cli_runner().invoke(
        args=["sms", "receive", "--from", CONTACT, "--to", CONSOLE, "--text", "Got it (console)"]
    )
    assert result.exit_code == 0, result.output
    plivo_reply = {"From": CONTACT[1:], "To": PLIVO[1:], "Text": "Got it (Plivo)", "Type": "sms",
                   "MessageUUID": "plivo-reply-1"}  # fmt: skip
    url = f"{BASE}/webhooks/plivo/inbound"
    assert client.post("/webhooks/plivo/inbound", data=plivo_reply,
                       headers=v3_headers(url, plivo_reply)).status_code == 200  # fmt: skip
    twilio_reply = {"From": CONTACT, "To": TWILIO, "Body": "Got it (Twilio)", "MessageSid": new_sid(),
                    "NumMedia": "0"}  # fmt: skip
    url = f"{BASE}/webhooks/twilio/inbound"
    assert client.post("/webhooks/twilio/inbound", data=twilio_reply,
                       headers=signed_headers(url, twilio_reply)).status_code == 200  # fmt: skip

    # One conversation per number with the contact, each holding its own exchange.
    with_contact = select(Conversation).where(Conversation.contact_phone == CONTACT)
    conversations = {c.number.provider: c for c in db.session.scalars(with_contact)}
    assert set(conversations) == {"console", "plivo", "twilio"}
    for provider, label in [("console", "console"), ("plivo", "Plivo"), ("twilio", "Twilio")]:
        in_thread = select(Message).where(Message.conversation_id == conversations[provider].id)
        messages = db.session.scalars(in_thread.order_by(Message.id))
        thread = [(m.direction, m.provider, m.body) for m in messages]
        assert thread == [
            ("outbound", provider, f"Hello from the {provider} number"),
            ("inbound", provider, f"Got it ({label})"),
        ]
        assert conversations[provider].needs_attention
        page = client.get(f"/conversations/{conversations[provider].id}").get_data(as_text=True)
        assert f"Got it ({label})" in page
    assert len(fake_plivo.requests) == len(fake_twilio.requests) == 1  # no provider sent another's text


def test_a_text_waiting_to_go_goes_through_the_provider_the_number_moved_to(app, client, setup, fakes):
    fake_plivo, _ = fakes
    number = setup["number"]
    login(client, "standard@example.edu")
    token = csrf_token(client, "/texts/new")
    form = {"csrf_token": token, "number_id": number.id, "to": "(202) 555-0143", "body": "See you at 3",
            "send_at": f"{date.today() + timedelta(days=30)}T15:00"}  # fmt: skip
    assert client.post("/texts/new", data=form).status_code == 303
    [waiting] = db.session.scalars(select(Message).where(Message.direction == "outbound"))
    assert (waiting.status, waiting.provider) == ("scheduled", "console")

    # While it waits, the admin moves the number from the console to Plivo.
    client.post("/logout", data={"csrf_token": csrf_token(client, "/inbox")})
    login(client, "admin@example.edu")
    token = csrf_token(client, f"/admin/numbers/{number.id}")
    details = {"csrf_token": token, "office_id": setup["office"].id, "label": number.label,
               "description": number.description or "", "provider": "plivo"}  # fmt: skip
    page = client.get(f"/admin/numbers/{number.id}").get_data(as_text=True)
    assert "A change applies to its texts still waiting to go, too." in page
    assert client.post(f"/admin/numbers/{number.id}", data=details).status_code in (302, 303)

    assert scheduling.release(waiting.id)
    [sent] = fake_plivo.requests
    assert (sent.json["src"], sent.json["text"]) == (CONSOLE, "See you at 3")
    assert sent.json["url"].startswith(f"{BASE}/webhooks/plivo/status")
    db.session.expire_all()
    assert (waiting.status, waiting.provider, waiting.provider_message_id) == (
        "sent", "plivo", sent.message_uuid,
    )  # fmt: skip
    report = {"MessageUUID": sent.message_uuid, "Status": "delivered"}
    url = sent.json["url"]
    answer = client.post(url.removeprefix(BASE), data=report, headers=v3_headers(url, report))
    assert answer.status_code == 200
    db.session.expire_all()
    assert waiting.status == "delivered"
