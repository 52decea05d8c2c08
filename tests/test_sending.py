"""Reliable sending: the outbox, retries, Retry, interrupted sends, the sweep, opt-out checks."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError, OperationalError

from tests.conftest import csrf_token, login
from webapp.extensions import db
from webapp.models import Conversation, Message, Participant, ReadMark, Status, utcnow
from webapp.plugin_api import InboundMessage, OutboundMessage, SendResult, SmsProvider, StatusUpdate
from webapp.services import delivery_reports, inbound, inbox, sending


class ScriptedProvider(SmsProvider):
    """Answers each send with the next scripted result and records what it was asked to send."""

    def __init__(self, config, results=()):
        super().__init__(config)
        self.results = list(results)
        self.sent: list[OutboundMessage] = []

    def send(self, message: OutboundMessage) -> SendResult:
        self.sent.append(message)
        if self.results:
            return self.results.pop(0)
        return SendResult(status="sent", provider_message_id=f"p-{message.message_id}-{len(self.sent)}")


@pytest.fixture
def provider(app) -> ScriptedProvider:
    fake = ScriptedProvider(app.config)
    app.extensions["parley"].sms_providers["console"] = fake
    return fake


@pytest.fixture
def held_queue(app) -> list[int]:
    """A queue that holds messages (as if the worker were busy) so the test can deliver them by hand."""
    held: list[int] = []
    original = app.extensions["parley.tasks"]
    app.extensions["parley.tasks"] = replace(original, send_message=held.append)
    yield held
    app.extensions["parley.tasks"] = original


TRANSIENT = SendResult(status="failed", error_reason="Provider unavailable (503)", transient=True)
PERMANENT = SendResult(status="failed", error_code="400", error_reason="Invalid destination number")


def send_text(setup, body="Hello", to="2025550143") -> Message:
    return sending.create_text(setup["users"]["standard"], setup["number"].id, to, body)


def test_message_is_committed_queued_before_the_provider_is_called(setup, provider, held_queue):
    message = send_text(setup)
    assert held_queue == [message.id]
    assert provider.sent == []
    db.session.expire_all()
    assert db.session.get(Message, message.id).status == "queued"
    assert sending.deliver(message.id) is None
    assert db.session.get(Message, message.id).status == "sent"
    assert len(provider.sent) == 1
    sent = provider.sent[0]
    assert (sent.from_phone, sent.to_phone, sent.body) == ("+12025550100", "+12025550143", "Hello")
    assert sent.status_callback_url == f"http://parley.test/webhooks/console/status?message_id={message.id}"


def test_delivering_twice_calls_the_provider_once(setup, provider, held_queue):
    message = send_text(setup)
    sending.deliver(message.id)
    sending.deliver(message.id)  # e.g. the sweep re-queued it while the first task ran
    assert len(provider.sent) == 1


def test_a_connection_lost_as_the_answer_is_written_is_tried_again(
    setup, provider, held_queue, monkeypatch, caplog
):
    """The provider took the text; the database connection drops as its answer is written down
    (a failover, a restart). Written on a new connection, the text is sent, once: not left sending
    for the sweep to fail as "may not have gone out", which invites a second send."""
    message = send_text(setup)
    record, calls = sending._record_result, []

    def drops_once(*args):
        calls.append(args)
        if len(calls) == 1:
            orig = Exception("terminating connection due to administrator command")
            raise OperationalError("SELECT ... FOR UPDATE", {}, orig, connection_invalidated=True)
        return record(*args)

    monkeypatch.setattr(sending, "_record_result", drops_once)
    monkeypatch.setattr(sending, "RECORD_WAITS", (0, 0))
    assert sending.deliver(message.id) is None
    message = db.session.get(Message, message.id, populate_existing=True)
    assert (message.status, message.provider_message_id) == ("sent", f"p-{message.id}-1")
    assert len(provider.sent) == 1 and len(calls) == 2
    assert f"could not record the provider's answer for message {message.id}" in caplog.text


def test_an_error_writing_the_answer_that_is_no_lost_connection_is_not_retried(
    setup, provider, held_queue, monkeypatch
):
    message = send_text(setup)

    def conflicts(*args):
        raise IntegrityError("UPDATE messages ...", {}, Exception("constraint"))

    monkeypatch.setattr(sending, "_record_result", conflicts)
    with pytest.raises(IntegrityError):
        sending.deliver(message.id)
    assert len(provider.sent) == 1


def test_stop_while_queued_stops_the_message(setup, provider, held_queue):
    message = send_text(setup)
    inbound.receive(InboundMessage("+12025550143", "+12025550100", "STOP"), "console")
    sending.deliver(message.id)
    assert provider.sent == []
    message = db.session.get(Message, message.id)
    assert message.status == "failed"
    assert message.error_reason == "Failed to Send SMS Message: this contact has opted out"


def test_transient_failures_retry_with_backoff_then_send(setup, provider, held_queue):
    provider.results = [TRANSIENT, TRANSIENT]
    message = send_text(setup)
    assert sending.deliver(message.id) == 2
    assert db.session.get(Message, message.id).status == "queued"
    assert sending.deliver(message.id) == 4
    assert sending.deliver(message.id) is None
    message = db.session.get(Message, message.id)
    assert message.status == "sent" and message.error_reason is None
    assert len(provider.sent) == 3


def test_transient_failures_give_up_after_the_limit(app, setup, provider, held_queue):
    app.config["SEND_MAX_ATTEMPTS"] = 3
    provider.results = [TRANSIENT] * 3
    message = send_text(setup)
    assert sending.deliver(message.id) == 2
    assert sending.deliver(message.id) == 4
    assert sending.deliver(message.id) is None
    message = db.session.get(Message, message.id)
    assert message.status == "failed"
    assert message.error_reason == "Provider unavailable (503)"


def test_permanent_failure_fails_at_once(setup, provider, held_queue):
    provider.results = [PERMANENT]
    message = send_text(setup)
    assert sending.deliver(message.id) is None
    message = db.session.get(Message, message.id)
    assert message.status == "failed"
    assert message.error_reason == "Invalid destination number"
    assert len(provider.sent) == 1


def test_a_provider_that_raises_loses_nothing(setup, provider, held_queue):
    def explode(message):
        raise RuntimeError("socket closed")

    provider.send = explode
    message = send_text(setup)
    assert sending.deliver(message.id) == 2
    message = db.session.get(Message, message.id)
    assert message.status == "queued"
    assert "socket closed" in message.error_reason


def test_failed_message_shows_reason_and_retry_sends_it(client, setup, provider):
    provider.results = [PERMANENT]
    login(client, "standard@example.edu")
    token = csrf_token(client, "/texts/new")
    location = client.post(
        "/texts/new",
        data={"number_id": setup["number"].id, "to": "2025550143", "body": "Hi", "csrf_token": token},
    ).headers["Location"]
    page = client.get(location).get_data(as_text=True)
    assert "Failed: Invalid destination number" in page
    assert ">Retry</button>" in page
    message = db.session.scalars(select(Message)).one()
    page = client.post(f"{location}/messages/{message.id}/retry", data={"csrf_token": token})
    assert page.status_code == 200
    db.session.refresh(message)
    assert message.status == "sent"
    assert len(provider.sent) == 2
    assert ">Retry</button>" not in client.get(location).get_data(as_text=True)


def test_a_late_report_of_the_attempt_before_a_retry_does_not_mark_the_retry_sent(
    setup, provider, held_queue
):
    """The first attempt failed; the agent's Retry waits its turn (queue, quiet hours). A report of
    the first attempt arriving now is not of the text that waits: it stays waiting, and goes."""
    provider.results = [replace(PERMANENT, provider_message_id="p-first")]
    message = send_text(setup)
    sending.deliver(message.id)
    conversation = db.session.get(Conversation, message.conversation_id)
    sending.retry(setup["users"]["standard"], conversation, message.id)
    late = delivery_reports.record(
        StatusUpdate("p-first", "sent", parley_message_id=message.id), "console"
    )
    assert (late.status, late.changed) == ("queued", False)
    sending.deliver(message.id)
    message = db.session.get(Message, message.id, populate_existing=True)
    assert message.status == "sent" and len(provider.sent) == 2
    assert message.provider_message_id == f"p-{message.id}-2"  # the retry's own
    # A report of it found by the provider's id alone (a URL that does not name the message and
    # its Retries) is of the attempt that id was recorded for: the retried one.
    delivery_reports.record(StatusUpdate(f"p-{message.id}-2", "delivered"), "console")
    assert db.session.get(Message, message.id, populate_existing=True).status == "delivered"


def test_the_late_answer_of_a_send_before_a_retry_leaves_the_retried_text_alone(
    app, setup, provider, held_queue
):
    """The provider hung so long that the sweep failed the text as interrupted, the agent pressed
    Retry, and another worker is sending it again; then the hung call answers (a refusal). That
    answer is not of the attempt under way: it does not fail the text (which would offer Retry
    while it goes, and invite a second send)."""
    message = send_text(setup)
    conversation = db.session.get(Conversation, message.conversation_id)

    def hangs_then_refuses(outbound: OutboundMessage) -> SendResult:
        app.config["SENDING_TIMEOUT_SECONDS"] = 0
        assert sending.fail_interrupted_sends() == 1
        sending.retry(setup["users"]["standard"], conversation, message.id)
        # Another worker takes the retried text, and its call to the provider is under way.
        db.session.execute(
            update(Message).where(Message.id == message.id).values(status="sending", attempts=1)
        )
        db.session.commit()
        return PERMANENT

    provider.send = hangs_then_refuses
    assert sending.deliver(message.id) is None
    retried = db.session.get(Message, message.id, populate_existing=True)
    assert (retried.status, retried.error_reason, retried.retries) == ("sending", None, 1)


def test_retry_of_a_message_that_did_not_fail_is_refused(client, setup, provider):
    login(client, "standard@example.edu")
    token = csrf_token(client, "/texts/new")
    location = client.post(
        "/texts/new",
        data={"number_id": setup["number"].id, "to": "2025550143", "body": "Hi", "csrf_token": token},
    ).headers["Location"]
    message = db.session.scalars(select(Message)).one()
    response = client.post(f"{location}/messages/{message.id}/retry", data={"csrf_token": token})
    assert response.status_code == 409
    assert "Only a failed message can be retried; this one is sent." in response.get_data(as_text=True)
    assert len(provider.sent) == 1


def test_retry_needs_access_to_the_conversation(client, setup, make, provider, app):
    provider.results = [PERMANENT]
    message = send_text(setup)
    make.office("Financial Aid")
    make.user("fa@example.edu", "standard", offices=("Financial Aid",))
    login(client, "fa@example.edu")
    token = csrf_token(client, "/inbox")
    response = client.post(
        f"/conversations/{message.conversation_id}/messages/{message.id}/retry",
        data={"csrf_token": token},
    )
    assert response.status_code == 404
    db.session.expire_all()
    assert db.session.get(Message, message.id).status == "failed"
    assert len(provider.sent) == 1


def test_retry_to_an_opted_out_phone_is_refused_and_not_offered(client, setup, provider):
    provider.results = [PERMANENT]
    message = send_text(setup)
    login(client, "standard@example.edu")
    page = f"/conversations/{message.conversation_id}"
    assert ">Retry</button>" in client.get(page).get_data(as_text=True)
    inbound.receive(InboundMessage("+12025550143", "+12025550100", "stop"), "console")
    assert ">Retry</button>" not in client.get(page).get_data(as_text=True)
    conversation = db.session.get(Conversation, message.conversation_id)
    with pytest.raises(sending.SendError, match="this contact has opted out"):
        sending.retry(setup["users"]["standard"], conversation, message.id)
    assert len(provider.sent) == 1


def test_nothing_leaves_a_number_deactivated_meanwhile(client, setup, provider, held_queue):
    """An agent with the conversation open, a text already queued, a failed one: once an admin
    deactivates the number, a reply is refused with a clear error, the queued text fails with the
    reason instead of going, and Retry is refused."""
    queued = send_text(setup, "Queued before")
    provider.results = [PERMANENT]
    failed = send_text(setup, "Failed before")
    sending.deliver(failed.id)
    login(client, "standard@example.edu")
    page = f"/conversations/{queued.conversation_id}"
    assert ">Retry</button>" in client.get(page).get_data(as_text=True)  # before
    setup["number"].active = False
    db.session.commit()

    shown = client.get(page).get_data(as_text=True)  # said before Send; Send and Retry not offered
    assert "has been deactivated by an administrator: nothing can be sent from it." in shown
    assert re.search(r'<button type="submit" class="btn btn-primary" id="reply-send"[^>]* disabled>', shown)
    assert ">Retry</button>" not in shown
    token = csrf_token(client, page)
    refused = client.post(f"{page}/messages", data={"csrf_token": token, "body": "After"})
    assert refused.status_code == 422
    assert "this number has been deactivated by an administrator" in refused.get_data(as_text=True)
    sending.deliver(queued.id)
    db.session.expire_all()
    queued = db.session.get(Message, queued.id)
    assert (queued.status, queued.error_code) == ("failed", "number_deactivated")
    conversation = db.session.get(Conversation, queued.conversation_id)
    with pytest.raises(sending.SendError, match="deactivated by an administrator"):
        sending.retry(setup["users"]["standard"], conversation, failed.id)
    assert [m.body for m in provider.sent] == ["Failed before"]  # its one attempt, before


def test_interrupted_send_fails_visibly_and_is_not_sent_again(app, setup, provider, held_queue):
    message = send_text(setup)
    # A worker claimed it, called the provider and died before recording the answer.
    message.status = "sending"
    db.session.commit()
    assert sending.fail_interrupted_sends() == 0  # not yet: it may still be in flight
    app.config["SENDING_TIMEOUT_SECONDS"] = 0
    assert sending.fail_interrupted_sends() == 1
    message = db.session.get(Message, message.id)
    assert message.status == "failed"
    assert "interrupted" in message.error_reason
    assert sending.stuck_message_ids() == []
    assert provider.sent == []


def test_sweep_finds_messages_left_queued(app, setup, provider, held_queue):
    message = send_text(setup)
    assert sending.stuck_message_ids() == []
    app.config["SWEEP_QUEUED_AFTER_SECONDS"] = 0
    assert sending.stuck_message_ids() == [message.id]


def test_queue_down_keeps_the_message_queued(client, setup, provider, app):
    def queue_down(message_id):
        raise ConnectionError("Redis is down")

    original = app.extensions["parley.tasks"]
    app.extensions["parley.tasks"] = replace(original, send_message=queue_down)
    login(client, "standard@example.edu")
    token = csrf_token(client, "/texts/new")
    response = client.post(
        "/texts/new",
        data={"number_id": setup["number"].id, "to": "2025550143", "body": "Hi", "csrf_token": token},
    )
    assert response.status_code == 303  # the agent is not blocked by the outage
    message = db.session.scalars(select(Message)).one()
    assert message.status == "queued"
    message.created_at = utcnow() - timedelta(minutes=5)
    db.session.commit()
    assert "Queued (sending is delayed)" in client.get(response.headers["Location"]).get_data(as_text=True)
    # The queue is back: the sweep picks the message up.
    app.extensions["parley.tasks"] = original
    app.config["SWEEP_QUEUED_AFTER_SECONDS"] = 0
    original.sweep_stuck_messages()
    db.session.expire_all()
    assert db.session.get(Message, message.id).status == "sent"
    assert len(provider.sent) == 1


@pytest.mark.parametrize(
    ("current", "report", "expected"),
    [
        ("queued", "sent", "sent"),
        ("sending", "delivered", "delivered"),
        ("sent", "delivered", "delivered"),
        ("delivered", "sent", "delivered"),
        ("failed", "delivered", "failed"),
        ("undelivered", "sent", "undelivered"),
        ("sent", "queued", "sent"),
    ],
)
def test_status_never_moves_back(current, report, expected):
    message = Message(status=current)
    sending.advance_status(message, Status(report))
    assert message.status == expected


def test_report_that_overtakes_a_failed_send_call_wins(setup, provider, held_queue):
    """The provider took the message and reported it delivered, but the call itself timed out."""
    message = send_text(setup)

    def accepted_then_timed_out(outbound):
        provider.sent.append(outbound)
        delivery_reports.record(
            StatusUpdate("p-1", "delivered", parley_message_id=outbound.message_id),
            "console",
        )
        return TRANSIENT

    provider.send = accepted_then_timed_out
    assert sending.deliver(message.id) is None  # no retry: it would text the contact twice
    message = db.session.get(Message, message.id)
    assert message.status == "delivered"
    assert len(provider.sent) == 1


def test_a_report_between_automatic_retries_stops_the_next_one(setup, provider, held_queue):
    """The call failed as if transiently (a connection cut after the text went), the text waits
    for its retry, and the provider then reports it delivered: the retry must not send it again."""
    provider.results = [TRANSIENT]
    message = send_text(setup)
    assert sending.deliver(message.id) is not None  # waits for its retry
    delivered = StatusUpdate("p-1", "delivered", parley_message_id=message.id)
    report = delivery_reports.record(delivered, "console")
    assert (report.status, report.changed) == ("delivered", True)
    sending.deliver(message.id)  # the retry, when its time comes
    assert len(provider.sent) == 1
    assert db.session.get(Message, message.id, populate_existing=True).status == "delivered"


def test_number_whose_provider_is_not_enabled_fails_with_a_reason(app, setup, make, held_queue):
    number = make.number("+12025550122", provider="plivo", inboxes=("Admissions",), label="Plivo")
    message = sending.create_text(setup["users"]["standard"], number.id, "2025550143", "Hi")
    assert sending.deliver(message.id) is None  # permanent: retrying cannot help
    message = db.session.get(Message, message.id)
    assert message.status == "failed"
    assert message.error_reason == "Cannot send: SMS provider 'plivo' is not enabled."


def test_an_agents_text_joins_them_and_reads_the_replies_before_it(setup, held_queue):
    agent = setup["users"]["standard"]
    first = send_text(setup, "Hello")
    conversation_id = first.conversation_id

    def state() -> tuple[bool, object]:
        db.session.expire_all()
        joined = db.session.get(Participant, (conversation_id, agent.id)) is not None
        mark = db.session.get(ReadMark, (agent.id, conversation_id))
        return joined, mark.read_at if mark else None

    def unread() -> bool:
        return inbox.conversation_view(agent, conversation_id).unread

    assert state() == (True, None) and not unread()  # nothing to read yet: no read mark needed
    inbound.receive(InboundMessage(from_phone="+12025550143", to_phone="+12025550100", body="Hi"), "console")
    db.session.commit()
    assert unread()
    send_text(setup, "Glad you wrote")
    joined, read_at = state()
    assert joined and read_at is not None and not unread()  # answering reads the reply
    send_text(setup, "One more thing")
    assert state() == (True, read_at) and not unread()  # nothing new to read: the mark stays


def test_a_form_queued_twice_at_once_with_another_text_is_refused_not_dropped(setup):
    """Two submits of one form racing past the check (each found no earlier message): the second
    one's insert meets the first one's key, and a changed text is refused, not dropped."""
    agent = setup["users"]["standard"]
    first = sending.create_text(agent, setup["number"].id, "2025550143", "First", idempotency_key="k" * 32)
    db.session.commit()
    racing = replace(
        sending.check_text(agent, setup["number"].id, "2025550178", "Other", idempotency_key="j" * 32),
        idempotency_key=sending.form_token(agent, "k" * 32),  # as if checked before the first was stored
    )
    with pytest.raises(sending.ComposeErrors, match="already sent with another message"):
        sending.queue_text(agent, racing)
    db.session.rollback()
    assert db.session.scalars(select(Message.body)).all() == ["First"]
    # The same text to the same phone is the same form: it finds the first message.
    same = replace(racing, phone=first.conversation.contact_phone, text="First")
    assert sending.queue_text(agent, same).message_id == first.id


@pytest.mark.parametrize("check", [sending.validate_body, sending.validate_agent_body])
def test_a_text_is_refused_for_a_control_character_or_for_showing_nothing(check):
    with pytest.raises(sending.SendError, match=r"control character \(U\+0007\)"):
        check("Ding\u0007")
    # Hangul fillers, the blank braille cell and a combining mark alone show nothing either.
    for blank in ("\u200b", " \u2060\t\n", "\u3164", "\u2800\u2800", "\u115f\u1160", "\uffa0", " \u0301"):
        with pytest.raises(sending.SendError, match="Enter a message."):
            check(blank)
    assert check("a\tb\r\nc") == "a\tb\nc"
    assert check("e\u0301 \u3164ok") == "e\u0301 \u3164ok"  # a mark on its letter, a filler among letters
    assert check("\u200b", with_picture=True) == "\u200b"  # the picture is the message
    # A C1 control (a terminal's CSI) too; other line breaks (Word's Shift+Enter) are line feeds.
    with pytest.raises(sending.SendError, match=r"control character \(U\+009B\)"):
        check("hi\x9b31m")
    assert check("Line one\vLine two\fThree\x85Four") == "Line one\nLine two\nThree\nFour"
