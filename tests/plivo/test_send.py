"""Sending through the real Plivo SDK against the fake Plivo API."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest

from tests.conftest import csrf_token, login
from tests.fake_plivo import Reply, v3_headers
from tests.plivo.conftest import CONTACT, PLIVO_NUMBER
from webapp.extensions import db
from webapp.models import Message, Status
from webapp.services import sending


def send(setup, number, body="Hello from Plivo") -> Message:
    message = sending.create_text(setup["users"]["standard"], number.id, CONTACT, body)
    return db.session.get(Message, message.id, populate_existing=True)


def scheduled_retries(app) -> int:
    return app.extensions["parley.huey"].scheduled_count()


def test_compose_sends_through_plivo(client, setup, plivo_number, fake_plivo):
    login(client, "standard@example.edu")
    token = csrf_token(client, "/texts/new")
    response = client.post(
        "/texts/new",
        data={"csrf_token": token, "number_id": plivo_number.id, "to": "(202) 555-0143",
              "body": "Your application is complete."},
    )  # fmt: skip
    assert response.status_code == 303

    assert fake_plivo.problems == []
    [sent] = fake_plivo.requests
    message = db.session.scalars(db.select(Message).where(Message.direction == "outbound")).one()
    assert sent.json["src"] == PLIVO_NUMBER
    assert sent.json["dst"] == CONTACT
    assert sent.json["text"] == "Your application is complete."
    assert sent.json["method"] == "POST"
    # The report URL is public and names our message, so an early report still finds it.
    assert sent.json["url"] == (
        f"https://parley.example.edu/webhooks/plivo/status?message_id={message.id}"
    )
    assert message.status == "sent"
    assert message.provider == "plivo"
    assert message.provider_message_id == sent.message_uuid
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Your application is complete." in page
    assert re.search(r'class="status status-sent"[^>]*>Sent<', page)


def test_pictures_go_as_mms(setup, plivo_number, fake_plivo):
    """A queued message with pictures reaches Plivo as an MMS with its media_urls, in order."""
    pictures = ["https://parley.example.edu/media/a1b2.jpg", "https://parley.example.edu/media/c3d4.png"]
    message = send(setup, plivo_number, "Here is the campus map")
    assert fake_plivo.requests[-1].json.get("type", "sms") == "sms"  # text alone: an SMS
    message.status, message.media_urls = Status.QUEUED.value, pictures
    db.session.commit()

    assert sending.deliver(message.id) is None
    mms = fake_plivo.requests[-1].json
    assert (mms["type"], mms["media_urls"], mms["text"]) == ("mms", pictures, "Here is the campus map")
    assert fake_plivo.problems == []
    assert db.session.get(Message, message.id, populate_existing=True).status == "sent"


def test_numbers_of_different_providers_each_use_their_own(setup, plivo_number, fake_plivo):
    console_message = send(setup, setup["number"], "Via console")
    plivo_message = send(setup, plivo_number, "Via Plivo")

    assert [r.json["text"] for r in fake_plivo.requests] == ["Via Plivo"]
    assert plivo_message.provider_message_id == fake_plivo.requests[0].message_uuid
    assert console_message.provider == "console"
    assert console_message.provider_message_id.startswith("console-")
    assert console_message.status == plivo_message.status == "sent"


def test_slow_answer_within_the_timeout_is_fine(setup, plivo_number, fake_plivo):
    fake_plivo.answer_next(Reply(delay=0.2))
    assert send(setup, plivo_number).status == "sent"


@pytest.mark.parametrize(
    ("status", "error", "reason"),
    [
        (400, "invalid dst", "Plivo refused the message: invalid dst"),
        (401, "authentication failed", "Plivo refused the credentials"),
        (403, "destination country not enabled", "Plivo refused the message: destination"),
        (404, "not found", "Plivo refused the message: not found"),
        (422, "unprocessable", "Plivo refused the message: unprocessable"),
        (413, "too big", "Plivo refused the message: Received status code 413"),
    ],
)
def test_refusal_fails_with_a_reason_and_is_not_retried(
    app, client, setup, plivo_number, fake_plivo, status, error, reason
):
    fake_plivo.answer_next(Reply(status, {"api_id": "x", "error": error}))
    message = send(setup, plivo_number)

    assert message.status == "failed"
    assert message.error_reason.startswith(reason)
    assert message.attempts == 1
    assert scheduled_retries(app) == 0
    assert sending.deliver(message.id) is None  # a failed message is never sent again
    assert len(fake_plivo.requests) == 1
    login(client, "standard@example.edu")
    page = client.get(f"/conversations/{message.conversation_id}").get_data(as_text=True)
    assert "Failed: " + reason in page


@pytest.mark.parametrize("status", [500, 502, 503, 429])
def test_server_errors_and_rate_limits_are_retried(app, setup, plivo_number, fake_plivo, status):
    fake_plivo.answer_next(Reply(status))
    message = send(setup, plivo_number)

    assert message.status == "queued"  # back in the queue, with a retry scheduled
    assert f"HTTP {status}" in message.error_reason
    assert message.attempts == 1
    assert scheduled_retries(app) == 1

    sending.deliver(message.id)  # the retry; the fake now accepts
    message = db.session.get(Message, message.id, populate_existing=True)
    assert message.status == "sent"
    assert message.provider_message_id == fake_plivo.requests[1].message_uuid
    assert message.attempts == 2


@pytest.mark.parametrize("plivo_timeout", [0.5])
def test_a_send_plivo_does_not_answer_in_time_is_not_sent_again(app, setup, plivo_number, fake_plivo):
    """Plivo got the request and may have queued the text: sent again, it could reach the contact
    twice. It fails for an agent to Retry, and Plivo's report of it moves it on."""
    fake_plivo.answer_next(Reply(delay=None))  # never answers
    message = send(setup, plivo_number)

    assert (message.status, message.error_code) == ("failed", "interrupted")
    assert message.error_reason == (
        "Plivo did not answer within 0.5 seconds, so it may have gone out. Use Retry to send it "
        "again if the contact did not get it."
    )
    assert scheduled_retries(app) == 0 and len(fake_plivo.requests) == 1

    sent = fake_plivo.requests[0]
    callback = urlsplit(sent.json["url"])
    form = {"MessageUUID": sent.message_uuid, "Status": "delivered", "To": CONTACT[1:],
            "From": PLIVO_NUMBER[1:]}  # fmt: skip
    headers = v3_headers(sent.json["url"], form)
    report = app.test_client().post(f"{callback.path}?{callback.query}", data=form, headers=headers)
    assert report.status_code == 200
    assert db.session.get(Message, message.id, populate_existing=True).status == "delivered"


def test_unreachable_plivo_is_retried(app, setup, plivo_number, fake_plivo):
    fake_plivo.__exit__(None, None, None)  # nothing listens on the port any more
    message = send(setup, plivo_number)

    assert message.status == "queued"
    assert message.error_reason == "Could not reach Plivo (network error)"
    assert scheduled_retries(app) == 1


def test_same_source_and_destination_is_refused_before_anything_is_stored(setup, make, fake_plivo):
    """Plivo's SDK would refuse it too ("destination number cannot be same as source number"):
    Parley refuses it at compose, next to To, and stores nothing."""
    make.number(CONTACT, provider="plivo", inboxes=("Admissions",), label="Loop")
    number = db.session.scalars(
        db.select(type(setup["number"])).where(type(setup["number"]).phone == CONTACT)
    ).one()
    with pytest.raises(sending.ComposeErrors, match="That is the From number itself"):
        send(setup, number)
    assert db.session.scalar(db.select(db.func.count()).select_from(Message)) == 0
    assert fake_plivo.requests == []


def test_status_report_arriving_before_the_send_returns(app, setup, plivo_number, fake_plivo):
    answers = []

    def report_delivered(body: dict, message_uuid: str) -> None:
        # Plivo may report before its API answer reaches us: the report carries our message_id.
        parts = urlsplit(body["url"])
        path = f"{parts.path}?{parts.query}"
        form = {"MessageUUID": message_uuid, "Status": "delivered", "To": CONTACT[1:],
                "From": PLIVO_NUMBER[1:]}  # fmt: skip
        headers = v3_headers(body["url"], form)
        with app.app_context():
            response = app.test_client().post(path, data=form, headers=headers)
        answers.append(response.status_code)

    fake_plivo.before_reply = report_delivered
    message = send(setup, plivo_number)

    assert answers == [200]
    assert message.status == "delivered"  # the API's late "queued" did not move it back
    assert message.provider_message_id == fake_plivo.requests[0].message_uuid


def test_numbers_add_accepts_plivo_when_enabled(app, setup):
    db.session.commit()
    result = app.test_cli_runner().invoke(
        args=["numbers", "add", "+12025550177", "--office", "Admissions",
              "--provider", "plivo", "--backing", "agent", "--inbox", "Admissions"]
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "Added +12025550177 (agent-backed, plivo)." in result.output
