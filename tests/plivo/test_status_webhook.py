"""POST /webhooks/plivo/status: delivery reports move messages forward, never back."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from tests.conftest import login
from tests.fake_plivo import v3_headers
from tests.plivo.conftest import CONTACT, PLIVO_NUMBER, post_signed
from webapp.extensions import db
from webapp.models import Message, OptOut, OptOutEvent, Status
from webapp.services import optouts, sending

PATH = "/webhooks/plivo/status"


@pytest.fixture
def sent(setup, plivo_number, fake_plivo) -> Message:
    """A message Plivo accepted (status "sent", its MessageUUID recorded)."""
    message = sending.create_text(setup["users"]["standard"], plivo_number.id, CONTACT, "Hello")
    message = db.session.get(Message, message.id, populate_existing=True)
    assert message.status == "sent" and message.provider_message_id
    return message


def report(client, message: Message, status: str, error_code: str = "", **kwargs):
    form = {
        "MessageUUID": kwargs.pop("uuid", message.provider_message_id),
        "Status": status,
        "To": CONTACT[1:],
        "From": PLIVO_NUMBER[1:],
        "Units": "1",
    }
    if error_code:
        form["ErrorCode"] = error_code
    path = kwargs.pop("path", f"{PATH}?message_id={message.id}")
    return post_signed(client, path, form)


def reload(message: Message) -> Message:
    return db.session.get(Message, message.id, populate_existing=True)


def test_reports_in_order_end_delivered_and_show_in_the_conversation(client, sent):
    for status in ("queued", "sent", "delivered"):
        assert report(client, sent, status).status_code == 200
    assert reload(sent).status == "delivered"

    login(client, "standard@example.edu")
    page = client.get(f"/conversations/{sent.conversation_id}").get_data(as_text=True)
    assert re.search(r'class="status status-delivered"[^>]*>Delivered<', page)


@pytest.mark.parametrize(
    ("first", "later", "final"),
    [
        ("delivered", "sent", "delivered"),
        ("delivered", "queued", "delivered"),
        ("undelivered", "delivered", "undelivered"),
        ("failed", "sent", "failed"),
        ("delivered", "failed", "delivered"),
    ],
)
def test_out_of_order_reports_never_move_a_message_back(client, sent, first, later, final):
    assert report(client, sent, first, "50" if first != "delivered" else "").status_code == 200
    assert report(client, sent, later, "20" if later == "failed" else "").status_code == 200
    assert reload(sent).status == final


def test_a_route_that_never_reports_delivered_stays_sent(client, sent):
    assert report(client, sent, "queued").status_code == 200
    assert report(client, sent, "sent").status_code == 200
    assert reload(sent).status == "sent"


@pytest.mark.parametrize(
    ("status", "code", "reason"),
    [
        ("failed", "10", "Invalid message: the carrier rejected the message content"),
        ("undelivered", "20", "Network error at the carrier (temporary)"),
        ("undelivered", "30", "Blocked as spam by the carrier"),
        ("failed", "40", "Invalid source number: not SMS-enabled or not on this Plivo account"),
        ("undelivered", "50", "Invalid destination number"),
        ("failed", "900", "The Plivo account has insufficient credit"),
        ("failed", "4711", "Plivo error 4711"),
        ("rejected", "", "The provider reported that the message failed"),
    ],
)
def test_error_codes_become_reasons_next_to_the_message(client, sent, status, code, reason):
    assert report(client, sent, status, code).status_code == 200
    message = reload(sent)
    assert message.status == ("failed" if status == "rejected" else status)
    assert message.error_reason == reason
    assert message.error_code == (code or None)

    login(client, "standard@example.edu")
    page = client.get(f"/conversations/{sent.conversation_id}").get_data(as_text=True)
    assert f"{message.status.capitalize()}: {reason}" in page


def test_error_200_opts_the_recipient_out(client, setup, sent):
    assert report(client, sent, "failed", "200").status_code == 200

    message = reload(sent)
    assert message.status == "failed"
    assert message.error_reason == "The recipient has opted out of texts from this number"
    assert db.session.get(OptOut, CONTACT).source == "provider"
    assert db.session.scalars(select(OptOutEvent)).one().source == "provider"
    # No message leaves for the phone any more.
    with pytest.raises(sending.SendError, match="opted out"):
        sending.reply(setup["users"]["standard"], message.conversation, "Are you there?")
    # A repeated report changes nothing.
    assert report(client, sent, "failed", "200").status_code == 200
    assert len(db.session.scalars(select(OptOutEvent)).all()) == 1


def test_report_without_message_id_is_matched_by_message_uuid(client, sent):
    assert report(client, sent, "delivered", path=PATH).status_code == 200
    assert reload(sent).status == "delivered"


def test_report_records_the_provider_id_when_the_send_has_not(client, sent):
    sent.provider_message_id = None
    sent.status = Status.SENDING.value  # the API call has not returned yet
    db.session.commit()
    assert report(client, sent, "sent", uuid="plivo-uuid-from-report").status_code == 200
    message = reload(sent)
    assert message.status == "sent"
    assert message.provider_message_id == "plivo-uuid-from-report"


@pytest.mark.parametrize(("status", "final"), [("sent", "sent"), ("delivered", "delivered")])
def test_a_report_moves_on_a_send_the_sweep_failed_as_interrupted(app, client, sent, status, final):
    """A worker died after Plivo took the text, before recording it, and the sweep failed it as
    interrupted ("may not have gone out", Retry). Plivo's report says it did go out: it shows so,
    and no Retry button invites an agent to text the contact twice."""
    sent.status = Status.SENDING.value
    db.session.commit()
    app.config["SENDING_TIMEOUT_SECONDS"] = 0
    assert sending.fail_interrupted_sends() == 1
    assert reload(sent).error_code == "interrupted"

    assert report(client, sent, status).status_code == 200
    message = reload(sent)
    assert (message.status, message.error_code, message.error_reason) == (final, None, None)
    login(client, "standard@example.edu")
    page = client.get(f"/conversations/{sent.conversation_id}").get_data(as_text=True)
    assert ">Retry</button>" not in page


@pytest.mark.parametrize(
    ("form_changes", "path_query", "status_code"),
    [
        ({"MessageUUID": ""}, "", 400),
        ({"Status": ""}, "", 400),
        ({"Status": "teleported"}, "", 400),
        ({}, "?message_id=abc", 400),
        ({}, "?message_id=-3", 400),
        ({}, "?message_id=99999999999999999999", 400),
        ({}, "?message_id=" + "1" * 4301, 400),  # more digits than Python's int() reads
        ({}, "?retry=once", 400),
        ({}, "?retry=-1", 400),
        ({}, "?retry=" + "1" * 4301, 400),
        ({"MessageUUID": "unknown-uuid"}, "", 404),
        ({"MessageUUID": "unknown-uuid"}, "?message_id=987654", 404),
    ],
)
def test_bad_reports_are_refused_and_change_nothing(
    client, sent, form_changes, path_query, status_code
):
    form = {"MessageUUID": sent.provider_message_id, "Status": "delivered", **form_changes}
    response = post_signed(client, PATH + path_query, form)
    assert response.status_code == status_code
    if "message_id=" in path_query and status_code == 400:
        assert "message_id must be a positive whole number" in response.get_data(as_text=True)
    if "retry=" in path_query:
        assert "retry must be a whole number of retries" in response.get_data(as_text=True)
    message = reload(sent)
    assert (message.status, message.error_reason) == ("sent", None)


def test_a_late_report_of_the_attempt_before_a_retry_leaves_the_retried_text_alone(
    client, setup, sent, fake_plivo
):
    """Plivo reported the first attempt failed; an agent pressed Retry and the text went
    again. A late (or repeated) report of the first attempt is not of the text sent again: it does
    not mark it failed, while the second attempt's own reports move it on."""
    first_uuid, first_url = sent.provider_message_id, fake_plivo.requests[0].json["url"]
    assert report(client, sent, "failed", "300").status_code == 200
    assert reload(sent).status == "failed"
    sending.retry(setup["users"]["standard"], reload(sent).conversation, sent.id)
    assert reload(sent).status == "sent"
    second_url = fake_plivo.requests[1].json["url"]
    assert second_url == first_url + "&retry=1"  # the callback URL says which attempt it is of

    late = report(client, sent, "failed", "300", uuid=first_uuid, path=f"{PATH}?message_id={sent.id}")
    assert late.status_code == 200
    assert late.get_data(as_text=True).strip() == f"Message {sent.id} is sent"
    message = reload(sent)
    assert (message.status, message.error_reason) == ("sent", None)
    assert message.provider_message_id == fake_plivo.requests[1].message_uuid

    path = f"{PATH}?message_id={sent.id}&retry=1"
    assert report(client, message, "delivered", path=path).status_code == 200
    assert reload(sent).status == "delivered"


def test_report_for_another_providers_message_is_404(client, setup, sent):
    console = sending.create_text(setup["users"]["standard"], setup["number"].id, CONTACT, "Hi")
    form = {"MessageUUID": "whatever", "Status": "failed", "ErrorCode": "200"}
    response = post_signed(client, f"{PATH}?message_id={console.id}", form)
    assert response.status_code == 404
    assert reload(console).status == "sent"
    assert not optouts.is_opted_out(CONTACT)


def test_unsigned_or_wrongly_signed_reports_are_refused(client, sent):
    form = {"MessageUUID": sent.provider_message_id, "Status": "failed", "ErrorCode": "200"}
    path = f"{PATH}?message_id={sent.id}"
    assert client.post(path, data=form).status_code == 403
    # Signed for another message: the query is part of the V3 signature.
    other = v3_headers(f"https://parley.example.edu{PATH}?message_id={sent.id + 1}", form)
    assert client.post(path, data=form, headers=other).status_code == 403

    assert reload(sent).status == "sent"
    assert not optouts.is_opted_out(CONTACT)
    assert post_signed(client, path, form).status_code == 200  # the same report, signed
    assert reload(sent).status == "failed"
