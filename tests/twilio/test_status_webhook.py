"""POST /webhooks/twilio/status: delivery reports move messages forward, never back."""

from __future__ import annotations

import re

import pytest
from markupsafe import escape
from sqlalchemy import select

from tests.conftest import login
from tests.fake_twilio import ACCOUNT_SID, signed_headers
from tests.twilio.conftest import BASE, CONTACT, TWILIO_NUMBER, post_signed
from tests.webhook_receiver import add_endpoint, running_receiver
from webapp.extensions import db
from webapp.models import Message, OptOut, OptOutEvent
from webapp.services import optouts, sending

PATH = "/webhooks/twilio/status"


@pytest.fixture
def sent(setup, twilio_number, fake_twilio) -> Message:
    """A message Twilio accepted (status "sent", its MessageSid recorded)."""
    message = sending.create_text(setup["users"]["standard"], twilio_number.id, CONTACT, "Hello")
    message = db.session.get(Message, message.id, populate_existing=True)
    assert message.status == "sent" and message.provider_message_id.startswith("SM")
    return message


def status_form(sid: str, status: str, error_code: str = "") -> dict[str, str]:
    """A status callback as Twilio posts it."""
    form = {
        "SmsSid": sid,
        "SmsStatus": status,
        "MessageStatus": status,
        "To": CONTACT,
        "MessageSid": sid,
        "AccountSid": ACCOUNT_SID,
        "From": TWILIO_NUMBER,
        "ApiVersion": "2010-04-01",
    }
    if error_code:
        form["ErrorCode"] = error_code
    return form


def report(client, message: Message, status: str, error_code: str = "", path: str | None = None):
    form = status_form(message.provider_message_id, status, error_code)
    return post_signed(client, path or f"{PATH}?message_id={message.id}", form)


def reload(message: Message) -> Message:
    return db.session.get(Message, message.id, populate_existing=True)


def test_reports_in_order_end_delivered_and_show_in_the_conversation(client, sent):
    for status in ("queued", "sending", "sent", "delivered"):
        assert report(client, sent, status).status_code == 200
    assert reload(sent).status == "delivered"

    login(client, "standard@example.edu")
    page = client.get(f"/conversations/{sent.conversation_id}").get_data(as_text=True)
    assert re.search(r'class="status status-delivered"[^>]*>Delivered<', page)


@pytest.mark.parametrize(
    ("first", "later", "final"),
    [
        ("delivered", "sent", "delivered"),
        ("delivered", "sending", "delivered"),
        ("undelivered", "delivered", "undelivered"),
        ("failed", "sent", "failed"),
        ("delivered", "failed", "delivered"),
        ("read", "undelivered", "delivered"),
    ],
)
def test_out_of_order_reports_never_move_a_message_back(client, sent, first, later, final):
    failing = ("failed", "undelivered")
    assert report(client, sent, first, "30003" if first in failing else "").status_code == 200
    assert report(client, sent, later, "30008" if later in failing else "").status_code == 200
    assert reload(sent).status == final


@pytest.mark.parametrize(
    ("status", "code", "reason"),
    [
        ("undelivered", "30003", "The recipient's phone is unreachable (switched off or out of coverage)"),
        ("undelivered", "30005", "Unknown destination number (it may no longer exist)"),
        ("failed", "30007", "Blocked as spam by the carrier"),
        ("failed", "30034", "Blocked: the sending number is not registered for US A2P 10DLC"),
        ("undelivered", "30006", "The destination is a landline or its carrier cannot receive texts"),
        ("failed", "49999", "Twilio error 49999"),
        ("failed", "", "The provider reported that the message failed"),
        ("canceled", "", "The provider reported that the message failed"),
    ],
)
def test_error_codes_become_reasons_next_to_the_message(client, sent, status, code, reason):
    assert report(client, sent, status, code).status_code == 200
    message = reload(sent)
    assert message.status == ("failed" if status == "canceled" else status)
    assert message.error_reason == reason
    assert message.error_code == (code or None)

    login(client, "standard@example.edu")
    page = client.get(f"/conversations/{sent.conversation_id}").get_data(as_text=True)
    assert escape(f"{message.status.capitalize()}: {reason}") in page


def test_error_21610_opts_the_recipient_out(client, setup, sent):
    assert report(client, sent, "failed", "21610").status_code == 200

    message = reload(sent)
    assert message.status == "failed"
    assert message.error_reason == "The recipient has opted out of texts from this number (replied STOP)"
    assert db.session.get(OptOut, CONTACT).source == "provider"
    assert db.session.scalars(select(OptOutEvent)).one().source == "provider"
    with pytest.raises(sending.SendError, match="opted out"):
        sending.reply(setup["users"]["standard"], message.conversation, "Are you there?")


def test_the_same_opted_out_report_again_changes_nothing_after_the_contact_texted_start(client, sent):
    """Twilio retries a callback with the very same signature: the retry is answered 200 and must
    not undo the contact's opt-in since."""
    form = status_form(sent.provider_message_id, "failed", "21610")
    path = f"{PATH}?message_id={sent.id}"
    headers = signed_headers(f"{BASE}{path}", form)
    assert post_signed(client, path, form, headers).status_code == 200
    assert optouts.is_opted_out(CONTACT)
    optouts.opt_in(CONTACT, "keyword")
    db.session.commit()

    again = post_signed(client, path, form, headers)
    assert again.status_code == 200
    assert reload(sent).status == "failed"
    assert not optouts.is_opted_out(CONTACT)


def test_an_identical_retry_of_a_report_is_a_harmless_200(app, client, sent):
    """Twilio retries a callback with the very same signature: answered 200, changing nothing and
    telling the CRM nothing twice."""
    app.config["WEBHOOK_ALLOW_PRIVATE"] = True
    with running_receiver() as crm:
        secret = add_endpoint(app, crm.url)
        form = status_form(sent.provider_message_id, "delivered")
        path = f"{PATH}?message_id={sent.id}"
        headers = signed_headers(f"{BASE}{path}", form)
        assert post_signed(client, path, form, headers).status_code == 200
        again = post_signed(client, path, form, headers)
        assert again.status_code == 200, again.get_data(as_text=True)
        assert reload(sent).status == "delivered"
        assert [event["type"] for event in crm.verified(secret)] == ["message.delivered"]


def test_report_without_message_id_is_matched_by_messagesid(client, sent):
    assert report(client, sent, "delivered", path=PATH).status_code == 200
    assert reload(sent).status == "delivered"


@pytest.mark.parametrize(
    ("form_changes", "path_query", "status_code"),
    [
        ({"MessageSid": ""}, "", 400),
        ({"MessageStatus": ""}, "", 400),
        ({"MessageStatus": "teleported"}, "", 400),
        ({"MessageSid": "SM" + "0" * 100}, "", 400),
        ({}, "?message_id=abc", 400),
        ({}, "?message_id=0", 400),
        ({}, "?message_id=99999999999999999999", 400),
        ({"MessageSid": "SMunknown"}, "", 404),
        ({"MessageSid": "SMunknown"}, "?message_id=987654", 404),
    ],
)
def test_bad_reports_are_refused_and_change_nothing(client, sent, form_changes, path_query, status_code):
    form = {**status_form(sent.provider_message_id, "failed", "21610"), **form_changes}
    response = post_signed(client, PATH + path_query, form)
    assert response.status_code == status_code
    message = reload(sent)
    assert (message.status, message.error_reason) == ("sent", None)
    assert not optouts.is_opted_out(CONTACT)


def test_report_for_another_providers_message_is_404(client, setup, sent):
    console = sending.create_text(setup["users"]["standard"], setup["number"].id, CONTACT, "Hi")
    form = status_form("SMwhatever", "failed", "21610")
    response = post_signed(client, f"{PATH}?message_id={console.id}", form)
    assert response.status_code == 404
    assert reload(console).status == "sent"
    assert not optouts.is_opted_out(CONTACT)


def test_unsigned_or_wrongly_signed_reports_are_refused(client, sent):
    form = status_form(sent.provider_message_id, "failed", "21610")
    path = f"{PATH}?message_id={sent.id}"
    assert client.post(path, data=form).status_code == 403
    # Signed for another message: the query is part of the signed URL.
    other = signed_headers(f"{BASE}{PATH}?message_id={sent.id + 1}", form)
    assert client.post(path, data=form, headers=other).status_code == 403

    assert reload(sent).status == "sent"
    assert not optouts.is_opted_out(CONTACT)
    assert post_signed(client, path, form).status_code == 200  # the same report, signed
    assert reload(sent).status == "failed"
