"""Sending through the real Twilio SDK against the fake Twilio API."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from tests.conftest import csrf_token, login
from tests.fake_twilio import Reply, signed_headers
from tests.twilio.conftest import BASE, CONTACT, TWILIO_NUMBER
from webapp.extensions import db
from webapp.models import Message, OptOut, Status
from webapp.plugin_api import OutboundMessage
from webapp.services import optouts, sending


def send(setup, number, body="Hello from Twilio") -> Message:
    message = sending.create_text(setup["users"]["standard"], number.id, CONTACT, body)
    return db.session.get(Message, message.id, populate_existing=True)


def scheduled_retries(app) -> int:
    return app.extensions["parley.huey"].scheduled_count()


def test_compose_sends_through_twilio_with_a_status_callback(client, setup, twilio_number, fake_twilio):
    login(client, "standard@example.edu")
    token = csrf_token(client, "/texts/new")
    response = client.post(
        "/texts/new",
        data={"csrf_token": token, "number_id": twilio_number.id, "to": "(202) 555-0143",
              "body": "Your application is complete."},
    )  # fmt: skip
    assert response.status_code == 303

    assert fake_twilio.problems == []
    [sent] = fake_twilio.requests
    message = db.session.scalars(select(Message).where(Message.direction == "outbound")).one()
    assert sent.value("From") == TWILIO_NUMBER
    assert sent.value("To") == CONTACT
    assert sent.value("Body") == "Your application is complete."
    assert "MediaUrl" not in sent.form  # an SMS
    # The report URL is public and names our message, so an early report still finds it.
    assert sent.value("StatusCallback") == f"{BASE}/webhooks/twilio/status?message_id={message.id}"
    assert message.status == "sent"
    assert message.provider == "twilio"
    assert message.provider_message_id == sent.sid
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Your application is complete." in page
    assert re.search(r'class="status status-sent"[^>]*>Sent<', page)


def test_pictures_go_as_mms(app, setup, twilio_number, fake_twilio):
    """A queued message with pictures reaches Twilio with one MediaUrl per picture, in order."""
    pictures = ["https://parley.example.edu/media/a1b2.jpg", "https://parley.example.edu/media/c3d4.png"]
    message = send(setup, twilio_number, "Here is the campus map")
    message.status, message.media_urls = Status.QUEUED.value, pictures
    db.session.commit()

    assert sending.deliver(message.id) is None
    mms = fake_twilio.requests[-1]
    assert mms.form["MediaUrl"] == pictures
    assert mms.value("Body") == "Here is the campus map"
    assert db.session.get(Message, message.id, populate_existing=True).status == "sent"

    # A picture alone (no text) is a valid MMS too.
    provider = app.extensions["parley"].provider("twilio")
    result = provider.send(OutboundMessage(1, TWILIO_NUMBER, CONTACT, "", media_urls=(pictures[0],)))
    assert result.status == "sent" and result.provider_message_id == fake_twilio.requests[-1].sid
    assert fake_twilio.problems == []


def test_a_provider_without_pictures_fails_such_a_message(app, setup, fake_twilio, monkeypatch):
    """Sending the text alone would silently lose the pictures: the message fails, saying why."""
    message = send(setup, setup["number"], "See attached")  # the console number
    message.status, message.media_urls = Status.QUEUED.value, ["https://parley.example.edu/media/x.jpg"]
    db.session.commit()
    monkeypatch.setattr(app.extensions["parley"].provider("console"), "supports_media", False)

    sending.deliver(message.id)
    message = db.session.get(Message, message.id, populate_existing=True)
    assert (message.status, message.error_reason) == ("failed", "console cannot send pictures.")


def test_numbers_of_different_providers_each_use_their_own(setup, twilio_number, fake_twilio):
    console_message = send(setup, setup["number"], "Via console")
    twilio_message = send(setup, twilio_number, "Via Twilio")

    assert [r.value("Body") for r in fake_twilio.requests] == ["Via Twilio"]
    assert twilio_message.provider_message_id == fake_twilio.requests[0].sid
    assert console_message.provider_message_id.startswith("console-")


@pytest.mark.parametrize(
    ("status", "code", "text", "reason", "error_code"),
    [
        (400, 21211, "The 'To' number +12025550143 is not a valid phone number.",
         "Invalid destination number", "21211"),
        (400, 21606, "The From phone number is not a valid, SMS-capable number.",
         "The sending number is not a message-capable number of this Twilio account", "21606"),
        (401, 20003, "Authenticate", "Twilio refused the credentials: check TWILIO_ACCOUNT_SID", "20003"),
        (400, 21999, "Something new went wrong", "Twilio refused the message: Something new went wrong",
         "21999"),
        (404, None, "", "Twilio refused the message: fake error 404", "http-404"),
    ],
)  # fmt: skip
def test_refusal_fails_with_a_reason_and_is_not_retried(
    app, client, setup, twilio_number, fake_twilio, status, code, text, reason, error_code
):
    fake_twilio.answer_next(Reply(status, code, text))
    message = send(setup, twilio_number)

    assert message.status == "failed"
    assert message.error_reason.startswith(reason)
    assert message.error_code == error_code
    assert message.attempts == 1
    assert scheduled_retries(app) == 0
    assert sending.deliver(message.id) is None  # a failed message is never sent again
    assert len(fake_twilio.requests) == 1
    assert not optouts.is_opted_out(CONTACT)
    login(client, "standard@example.edu")
    page = client.get(f"/conversations/{message.conversation_id}").get_data(as_text=True)
    assert "Failed: " + reason in page


def test_21610_opts_the_recipient_out(app, setup, twilio_number, fake_twilio):
    """Twilio refuses to text a phone that replied STOP to the number: Parley's list takes it too."""
    fake_twilio.answer_next(Reply(400, 21610, "Attempt to send to unsubscribed recipient"))
    message = send(setup, twilio_number)

    assert message.status == "failed"
    assert message.error_reason == "The recipient has opted out of texts from this number (replied STOP)"
    assert db.session.get(OptOut, CONTACT).source == "provider"
    with pytest.raises(sending.SendError, match="opted out"):
        sending.reply(setup["users"]["standard"], message.conversation, "Are you there?")
    assert len(fake_twilio.requests) == 1


@pytest.mark.parametrize(("status", "code"), [(500, 20500), (502, None), (503, None), (429, 20429)])
def test_server_errors_and_rate_limits_are_retried(app, setup, twilio_number, fake_twilio, status, code):
    fake_twilio.answer_next(Reply(status, code))
    message = send(setup, twilio_number)

    assert message.status == "queued"  # back in the queue, with a retry scheduled
    assert f"HTTP {status}" in message.error_reason
    assert message.attempts == 1
    assert scheduled_retries(app) == 1

    sending.deliver(message.id)  # the retry; the fake now accepts
    message = db.session.get(Message, message.id, populate_existing=True)
    assert message.status == "sent"
    assert message.provider_message_id == fake_twilio.requests[1].sid
    assert message.attempts == 2


@pytest.mark.parametrize("twilio_timeout", [0.5])
def test_a_send_twilio_does_not_answer_in_time_is_not_sent_again(app, setup, twilio_number, fake_twilio):
    fake_twilio.answer_next(Reply(delay=None))  # never answers
    message = send(setup, twilio_number)

    assert (message.status, message.error_code) == ("failed", "interrupted")
    assert message.error_reason.startswith("Twilio did not answer within 0.5 seconds, so it may have gone")
    assert scheduled_retries(app) == 0 and len(fake_twilio.requests) == 1


def test_unreachable_twilio_is_retried(app, setup, twilio_number, fake_twilio):
    fake_twilio.__exit__(None, None, None)  # nothing listens on the port any more
    message = send(setup, twilio_number)

    assert message.status == "queued"
    assert message.error_reason == "Could not reach Twilio (network error)"
    assert scheduled_retries(app) == 1


def test_status_report_arriving_before_the_send_returns(app, setup, twilio_number, fake_twilio):
    answers = []

    def report_delivered(form: dict, sid: str) -> None:
        # Twilio may report before its API answer reaches us: the report carries our message_id.
        url = form["StatusCallback"][0]
        report = {"MessageSid": sid, "MessageStatus": "delivered", "To": CONTACT, "From": TWILIO_NUMBER}
        with app.app_context():
            response = app.test_client().post(
                url.removeprefix(BASE), data=report, headers=signed_headers(url, report)
            )
        answers.append(response.status_code)

    fake_twilio.before_reply = report_delivered
    message = send(setup, twilio_number)

    assert answers == [200]
    assert message.status == "delivered"  # the API's late answer did not move it back
    assert message.provider_message_id == fake_twilio.requests[0].sid


def test_numbers_add_accepts_twilio_when_enabled(app, setup):
    db.session.commit()
    result = app.test_cli_runner().invoke(
        args=["numbers", "add", "+12025550177", "--office", "Admissions",
              "--provider", "twilio", "--backing", "agent", "--inbox", "Admissions"]
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "Added +12025550177 (agent-backed, twilio)." in result.output
