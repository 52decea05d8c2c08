"""Quiet hours: an office's texts wait for the end of its window (across midnight and daylight-saving
changes), an agent's reply to a contact who just texted goes at once, held messages are released
once by racing workers, a STOP that arrives meanwhile stops them, and an agent can cancel them."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from tests import test_sending
from tests.conftest import csrf_token, login
from tests.test_sending import TRANSIENT
from tests.webhook_receiver import add_endpoint
from webapp.extensions import db
from webapp.models import AuditEvent, Conversation, Message, Office, Status, WebhookDelivery
from webapp.plugin_api import InboundMessage
from webapp.services import inbound, offices, scheduling, sending
from webapp.services.quiet_hours import QuietHours

NEW_YORK = ZoneInfo("America/New_York")
CONTACT = "+12025550143"
provider = test_sending.provider  # a provider that records what it is asked to send


def ny(*args: int) -> datetime:
    """A New York wall-clock time as an aware moment."""
    return datetime(*args, tzinfo=NEW_YORK)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.fixture
def quiet(setup, clock) -> dict:
    """Admissions keeps quiet hours 21:00–08:00 New York time."""
    offices.set_quiet_hours(None, setup["office"], "America/New_York", "21:00", "08:00")
    db.session.commit()
    return setup


def send_text(setup, body="Hello") -> Message:
    return sending.create_text(setup["users"]["standard"], setup["number"].id, CONTACT, body)


def reload(message: Message) -> Message:
    db.session.expire_all()
    return db.session.get(Message, message.id)


def text_in(body: str = "Hi") -> None:
    inbound.receive(InboundMessage(CONTACT, "+12025550100", body), "console")


# ---- The window ----


def test_a_window_across_midnight_contains_the_late_evening_and_the_early_morning():
    window = QuietHours(NEW_YORK, time(21), time(8))
    assert window.contains(ny(2026, 3, 2, 21, 0))
    assert window.contains(ny(2026, 3, 2, 23, 59))
    assert window.contains(ny(2026, 3, 3, 0, 30))
    assert window.contains(ny(2026, 3, 3, 7, 59))
    assert not window.contains(ny(2026, 3, 3, 8, 0))
    assert not window.contains(ny(2026, 3, 2, 20, 59))
    # Held at 23:00 or at 06:00: both go at the 08:00 that follows.
    assert window.window_end(ny(2026, 3, 2, 23, 0)) == ny(2026, 3, 3, 8, 0)
    assert window.window_end(ny(2026, 3, 3, 6, 0)) == ny(2026, 3, 3, 8, 0)


def test_a_window_within_a_day():
    window = QuietHours(NEW_YORK, time(12), time(13, 30))
    assert window.contains(ny(2026, 3, 2, 12, 15)) and not window.contains(ny(2026, 3, 2, 13, 30))
    assert window.hold_until(ny(2026, 3, 2, 12, 15)) == ny(2026, 3, 2, 13, 30)
    assert window.hold_until(ny(2026, 3, 2, 14, 0)) is None


@pytest.mark.parametrize(
    ("held_at", "opens_utc"),
    [
        # Spring forward (March 8, 2026): the night is an hour shorter; 08:00 is EDT, 12:00 UTC.
        (ny(2026, 3, 7, 22, 0), datetime(2026, 3, 8, 12, 0, tzinfo=UTC)),
        # Fall back (November 1, 2026): an hour longer; 08:00 is EST, 13:00 UTC.
        (ny(2026, 10, 31, 22, 0), datetime(2026, 11, 1, 13, 0, tzinfo=UTC)),
    ],
)
def test_the_window_ends_at_local_opening_time_across_a_daylight_saving_change(held_at, opens_utc):
    window = QuietHours(NEW_YORK, time(21), time(8))
    assert window.hold_until(held_at.astimezone(UTC)) == opens_utc


def test_a_window_ending_in_the_hour_that_happens_twice_ends_after_the_moment_held():
    """Quiet hours until 1:30 AM, and a text at the second 1:15 of the fall-back night (EST): it
    waits until 1:30 EST, not 1:30 EDT, an hour before it was written."""
    window = QuietHours(NEW_YORK, time(22), time(1, 30))
    second_quarter_past_one = datetime(2026, 11, 1, 6, 15, tzinfo=UTC)
    assert window.hold_until(second_quarter_past_one) == datetime(2026, 11, 1, 6, 30, tzinfo=UTC)
    first_quarter_past_one = datetime(2026, 11, 1, 5, 15, tzinfo=UTC)  # EDT: the first 1:30 ends it
    assert window.hold_until(first_quarter_past_one) == datetime(2026, 11, 1, 5, 30, tzinfo=UTC)


# ---- An agent's Send ----


def test_a_late_evening_text_is_held_and_sent_at_opening(quiet, clock, provider):
    clock.move_to(ny(2026, 3, 2, 23, 15))
    message = send_text(quiet, "Your application is complete")
    assert message.status == Status.SCHEDULED
    assert message.send_at == ny(2026, 3, 3, 8, 0)
    assert provider.sent == []

    clock.move_to(ny(2026, 3, 3, 7, 59))
    assert scheduling.release_due() == 0
    assert provider.sent == []

    clock.move_to(ny(2026, 3, 3, 8, 0))
    assert scheduling.release_due() == 1
    assert [m.body for m in provider.sent] == ["Your application is complete"]
    assert reload(message).status == Status.SENT
    assert scheduling.release_due() == 0  # released once
    assert len(provider.sent) == 1


@pytest.mark.parametrize(
    ("held_at", "still_held_at", "released_at"),
    [
        (ny(2026, 3, 7, 22, 0), utc(2026, 3, 8, 11, 59), utc(2026, 3, 8, 12, 0)),
        (ny(2026, 10, 31, 22, 0), utc(2026, 11, 1, 12, 59), utc(2026, 11, 1, 13, 0)),
    ],
    ids=["spring-forward", "fall-back"],
)
def test_a_held_text_goes_at_local_opening_across_a_daylight_saving_change(
    quiet, clock, provider, held_at, still_held_at, released_at
):
    clock.move_to(held_at)
    message = send_text(quiet)
    clock.move_to(still_held_at)
    scheduling.release_due()
    assert provider.sent == []
    clock.move_to(released_at)
    scheduling.release_due()
    assert len(provider.sent) == 1 and reload(message).status == Status.SENT


def test_a_reply_to_a_contact_who_texted_within_the_hour_goes_at_once(quiet, clock, provider):
    clock.move_to(ny(2026, 3, 2, 22, 0))
    text_in("Is my file complete?")
    clock.shift(timedelta(minutes=59))
    message = send_text(quiet, "Yes, it is")
    assert reload(message).status == Status.SENT
    assert len(provider.sent) == 1


def test_a_reply_to_a_contact_who_texted_earlier_is_held(quiet, clock, provider):
    clock.move_to(ny(2026, 3, 2, 21, 30))
    text_in("Is my file complete?")
    clock.shift(timedelta(hours=1, minutes=1))
    conversation = db.session.scalar(select(Conversation))
    held = sending.reply(quiet["users"]["standard"], conversation, "Yes, it is", idempotency_key="k1")
    message = db.session.scalar(select(Message).where(Message.direction == "outbound"))
    assert message.status == Status.SCHEDULED and provider.sent == []
    assert held.send_at == message.send_at
    # The same form sent again (its answer was lost) is that message, still held till then.
    again = sending.reply(quiet["users"]["standard"], conversation, "Yes, it is", idempotency_key="k1")
    assert (again.message_id, again.send_at) == (message.id, message.send_at)


def test_outside_quiet_hours_texts_go_at_once(quiet, clock, provider):
    clock.move_to(ny(2026, 3, 2, 20, 59))
    message = send_text(quiet)
    assert reload(message).status == Status.SENT


def test_quiet_hours_are_off_by_default(setup, clock, provider):
    clock.move_to(ny(2026, 3, 2, 23, 0))
    assert offices.quiet_hours_of(setup["office"]) is None
    assert reload(send_text(setup)).status == Status.SENT


# ---- What waits besides agents: bots, the API, retries ----


def test_a_bot_answer_waits_but_the_help_answer_does_not(quiet, make, clock, provider):
    from webapp.services import knowledge_base

    make.number("+12025550101", backing="bot", inboxes=("Admissions",), label="FAQ Bot")
    knowledge_base.add_entry(quiet["office"], "application deadline", "Applications are due January 15.")
    db.session.commit()
    clock.move_to(ny(2026, 3, 2, 23, 0))
    inbound.receive(InboundMessage(CONTACT, "+12025550101", "application deadline?"), "console")
    inbound.receive(InboundMessage(CONTACT, "+12025550101", "HELP"), "console")
    answers = {
        m.body: m.status for m in db.session.scalars(select(Message).where(Message.direction == "outbound"))
    }
    assert answers["Applications are due January 15."] == Status.SCHEDULED
    assert [m.body for m in provider.sent] != [] and "Applications" not in provider.sent[0].body
    clock.move_to(ny(2026, 3, 3, 8, 0))
    scheduling.release_due()
    assert provider.sent[-1].body == "Applications are due January 15."


def bot_answer_held(quiet, make, clock) -> int:
    """A bot-backed number's conversation whose answer ("Tours run daily at 10.") waits out the
    office's quiet hours."""
    from webapp.services import knowledge_base

    make.number("+12025550101", backing="bot", agents=("standard@example.edu",), label="FAQ Bot")
    knowledge_base.add_entry(quiet["office"], "campus tour", "Tours run daily at 10.")
    db.session.commit()
    clock.move_to(ny(2026, 3, 2, 23, 0))
    return inbound.receive(InboundMessage(CONTACT, "+12025550101", "campus tour?"), "console").conversation_id


def test_an_agent_taking_over_withdraws_the_bots_held_answer(quiet, make, clock, provider, client):
    """Switch Mode to agent: the bot's answer held by quiet hours would reach the contact after
    the agent's own reply. It is withdrawn, and the history says so."""
    conversation_id = bot_answer_held(quiet, make, clock)
    login(client, "standard@example.edu")
    token = csrf_token(client, f"/conversations/{conversation_id}")
    switched = client.post(f"/conversations/{conversation_id}/mode", data={"csrf_token": token})
    assert "The bot&#39;s answer held for later was withdrawn; it will not be sent." in switched.get_data(
        as_text=True
    )
    # The question the bot was answering waits for people again, and the list shows it.
    conversation = db.session.get(Conversation, conversation_id)
    db.session.refresh(conversation)
    assert (conversation.mode, conversation.needs_attention) == ("agent", True)
    assert conversation.last_message_preview == "campus tour?"
    client.post(f"/conversations/{conversation_id}/messages", data={"csrf_token": token, "body": "Sam here!"})
    clock.move_to(ny(2026, 3, 3, 8, 0))
    scheduling.release_due()
    assert [m.body for m in provider.sent] == ["Sam here!"]
    answer = db.session.scalar(select(Message).where(Message.body == "Tours run daily at 10."))
    assert answer.status == Status.CANCELLED


def test_an_automatic_retry_that_would_fall_in_quiet_hours_waits_for_their_end(quiet, clock, provider):
    provider.results = [TRANSIENT]
    clock.move_to(ny(2026, 3, 2, 20, 59, 58))
    message = send_text(quiet)  # the first attempt fails just before 21:00; its retry would be after
    message = reload(message)
    assert message.status == Status.SCHEDULED and message.send_at == ny(2026, 3, 3, 8, 0)
    assert len(provider.sent) == 1
    clock.move_to(ny(2026, 3, 3, 8, 0))
    scheduling.release_due()
    assert len(provider.sent) == 2 and reload(message).status == Status.SENT


def test_an_agents_retry_inside_quiet_hours_is_held_like_a_send(quiet, clock, provider):
    provider.results = [test_sending.PERMANENT]
    clock.move_to(ny(2026, 3, 2, 20, 30))
    message = send_text(quiet)
    assert reload(message).status == Status.FAILED
    clock.move_to(ny(2026, 3, 2, 22, 0))
    conversation = db.session.get(Conversation, message.conversation_id)
    sending.retry(quiet["users"]["standard"], conversation, message.id)
    message = reload(message)
    assert message.status == Status.SCHEDULED and message.send_at == ny(2026, 3, 3, 8, 0)
    assert len(provider.sent) == 1
    clock.move_to(ny(2026, 3, 3, 8, 0))
    assert scheduling.release_due() == 1
    assert len(provider.sent) == 2 and reload(message).status == Status.SENT


def test_a_held_text_waits_for_quiet_hours_that_were_extended_after_it_was_held(quiet, clock, provider):
    clock.move_to(ny(2026, 3, 2, 23, 0))
    message = send_text(quiet)
    assert message.send_at == ny(2026, 3, 3, 8, 0)
    offices.set_quiet_hours(None, quiet["office"], "America/New_York", "21:00", "09:00")
    db.session.commit()
    clock.move_to(ny(2026, 3, 3, 8, 0))
    assert scheduling.release_due() == 0
    assert provider.sent == [] and reload(message).send_at == ny(2026, 3, 3, 9, 0)
    clock.move_to(ny(2026, 3, 3, 9, 0))
    assert scheduling.release_due() == 1
    assert len(provider.sent) == 1 and reload(message).status == Status.SENT


# ---- Release: once, and never to an opted-out contact ----


def test_two_workers_racing_release_a_held_message_once(quiet, clock, app):
    clock.move_to(ny(2026, 3, 2, 23, 0))
    message = send_text(quiet)
    enqueued: list[int] = []
    original = app.extensions["parley.tasks"]
    from dataclasses import replace

    app.extensions["parley.tasks"] = replace(original, send_message=enqueued.append)
    clock.move_to(ny(2026, 3, 3, 8, 0))
    db.session.commit()
    start = threading.Barrier(2)
    results: list[bool] = []

    def worker() -> None:
        with app.app_context():
            due = scheduling.due_message_ids()
            start.wait(timeout=10)
            results.extend(scheduling.release(message_id) for message_id in due)
            db.session.remove()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    app.extensions["parley.tasks"] = original
    assert sorted(results) == [False, True]
    assert enqueued == [message.id]


def test_a_stop_that_arrives_while_a_message_is_held_stops_it(quiet, clock, provider):
    clock.move_to(ny(2026, 3, 2, 23, 0))
    message = send_text(quiet)
    clock.move_to(ny(2026, 3, 3, 2, 0))
    text_in("STOP")
    clock.move_to(ny(2026, 3, 3, 8, 0))
    scheduling.release_due()
    message = reload(message)
    assert provider.sent == []
    assert message.status == Status.FAILED and "opted out" in message.error_reason


# ---- In the conversation: Scheduled, Cancel, the notice before Send ----


def test_a_held_text_says_it_will_not_go_while_it_cannot(quiet, clock, provider, client):
    """The contact opted out, or the number was turned off, while a text waits: it is failed at its
    time unless that changes first, and until then the conversation says so, not "goes"."""
    clock.move_to(ny(2026, 3, 2, 23, 0))
    message = send_text(quiet, "See you tomorrow")
    login(client, "standard@example.edu")
    clock.move_to(ny(2026, 3, 3, 2, 0))
    text_in("STOP")
    page = open_conversation(client, message.conversation_id)
    assert (
        "Scheduled · Tue, Mar 3, 8:00 AM EST · will not go unless the contact texts START before then" in page
    )
    assert ">Cancel</button>" in page  # withdrawing it is still the agent's choice
    text_in("START")
    assert "Scheduled · goes Tue, Mar 3, 8:00 AM EST" in open_conversation(client, message.conversation_id)

    quiet["number"].active = False
    db.session.commit()
    page = open_conversation(client, message.conversation_id)
    assert "8:00 AM EST · will not go unless the number is turned back on before then" in page


def open_conversation(client, conversation_id: int) -> str:
    return client.get(f"/conversations/{conversation_id}").get_data(as_text=True)


def test_the_conversation_shows_scheduled_with_the_local_time_and_cancel_withdraws_it(
    quiet, clock, provider, client
):
    clock.move_to(ny(2026, 3, 2, 23, 0))
    message = send_text(quiet, "See you tomorrow")
    login(client, "standard@example.edu")
    page = open_conversation(client, message.conversation_id)
    assert "Scheduled · goes Tue, Mar 3, 8:00 AM EST" in page
    assert ">Cancel</button>" in page
    # Before Send, the reply box says that a message sent now is held.
    assert "a message sent now is held and goes Tue, Mar 3, 8:00 AM EST" in page

    token = csrf_token(client, f"/conversations/{message.conversation_id}")
    response = client.post(
        f"/conversations/{message.conversation_id}/messages/{message.id}/cancel",
        # The reply and note the agent was typing come along (htmx) and stay in the redrawn pane.
        data={"csrf_token": token, "body": "Half a reply", "note": "Half a note"},
    )
    assert response.status_code == 200
    assert "cancelled a scheduled message" in response.get_data(as_text=True)
    assert ">Half a reply</textarea>" in response.get_data(as_text=True)
    assert ">Half a note</textarea>" in response.get_data(as_text=True)
    assert reload(message).status == Status.CANCELLED
    clock.move_to(ny(2026, 3, 3, 8, 0))
    scheduling.release_due()
    assert provider.sent == []
    # Too late to cancel twice: a clear refusal, nothing changes.
    again = client.post(
        f"/conversations/{message.conversation_id}/messages/{message.id}/cancel",
        data={"csrf_token": token},
    )
    assert again.status_code == 409
    assert "This message was already cancelled; it will not be sent." in again.get_data(as_text=True)


def test_a_cancel_that_cannot_be_done_says_why(quiet, clock, provider, client):
    """A message that is not there is 404 and said so; one that is there but cannot be cancelled
    (any more) is 409 with what happened to it. Nothing changes."""
    clock.move_to(ny(2026, 3, 2, 23, 0))
    message = send_text(quiet, "See you tomorrow")
    text_in("Thanks!")  # the contact's message, in the same conversation
    inbound_id = db.session.scalar(select(Message.id).where(Message.direction == "inbound"))
    login(client, "standard@example.edu")
    conversation = message.conversation_id
    token = csrf_token(client, f"/conversations/{conversation}")

    def cancel(message_id: int, htmx: bool = False):
        headers = {"HX-Request": "true"} if htmx else {}
        return client.post(
            f"/conversations/{conversation}/messages/{message_id}/cancel",
            data={"csrf_token": token},
            headers=headers,
        )

    missing = cancel(message.id + 1000)
    assert missing.status_code == 404
    assert "This message does not exist in this conversation" in missing.get_data(as_text=True)
    shown = cancel(message.id + 1000, htmx=True)  # htmx swaps the pane only from a 2xx answer
    assert shown.status_code == 200 and "does not exist" in shown.get_data(as_text=True)

    inbound.receive(InboundMessage("+12025550144", "+12025550100", "Hello"), "console")
    db.session.commit()
    elsewhere = db.session.scalar(select(Message.id).where(Message.body == "Hello"))
    assert cancel(elsewhere).status_code == 404  # another conversation's message is not this one's

    refused = cancel(inbound_id)
    assert refused.status_code == 409 and "never was one" in refused.get_data(as_text=True)

    clock.move_to(ny(2026, 3, 3, 8, 0))
    scheduling.release_due()  # its time came: it was sent
    assert reload(message).status == Status.SENT
    refused = cancel(message.id)
    assert refused.status_code == 409
    assert "it has already been sent" in refused.get_data(as_text=True)
    assert reload(message).status == Status.SENT
    assert "cancelled a scheduled message" not in refused.get_data(as_text=True)


def test_cancel_needs_a_conversation_the_user_can_see(quiet, clock, make, client):
    clock.move_to(ny(2026, 3, 2, 23, 0))
    message = send_text(quiet)
    make.office("Financial Aid")
    make.user("outsider@example.edu", offices=("Financial Aid",))
    login(client, "outsider@example.edu")
    token = csrf_token(client, "/inbox")
    response = client.post(
        f"/conversations/{message.conversation_id}/messages/{message.id}/cancel",
        data={"csrf_token": token},
    )
    assert response.status_code == 404
    assert reload(message).status == Status.SCHEDULED


def test_compose_says_before_send_that_the_text_will_be_held(quiet, clock, client):
    login(client, "standard@example.edu")
    clock.move_to(ny(2026, 3, 2, 12, 0))
    assert "quiet hours" not in client.get("/texts/new").get_data(as_text=True)
    clock.move_to(ny(2026, 3, 2, 22, 0))
    page = client.get("/texts/new").get_data(as_text=True)
    assert "Admissions is in its quiet hours, 9:00 PM–8:00 AM (America/New_York):" in page
    assert "goes Tue, Mar 3, 8:00 AM EST" in page


# ---- Send later ----


@pytest.mark.parametrize(
    ("quiet_hours_since", "goes"),
    [(None, (9, 30)), (("09:00", "10:00"), (10, 0))],
    ids=["as chosen", "quiet hours grown over it since"],
)
def test_an_agent_schedules_a_reply_for_a_chosen_local_time(
    quiet, clock, provider, client, quiet_hours_since, goes
):
    """Chosen for 9:30, it goes then; when the office's quiet hours have grown over that time
    since, release holds it until they end, and the conversation says so already."""
    message = send_text(quiet, "First")
    conversation_id = message.conversation_id
    login(client, "standard@example.edu")
    token = csrf_token(client, f"/conversations/{conversation_id}")
    response = client.post(
        f"/conversations/{conversation_id}/messages",
        data={"csrf_token": token, "body": "Reminder: interview at 3", "send_at": "2026-03-04T09:30"},
    )
    assert "Scheduled · goes Wed, Mar 4, 9:30 AM EST" in response.get_data(as_text=True)
    if quiet_hours_since:
        offices.set_quiet_hours(None, quiet["office"], "America/New_York", *quiet_hours_since)
        db.session.commit()
    shown = f"Scheduled · goes Wed, Mar 4, {goes[0]}:{goes[1]:02d} AM EST"
    assert shown in open_conversation(client, conversation_id)
    clock.move_to(ny(2026, 3, 4, *goes) - timedelta(minutes=1))
    scheduling.release_due()
    assert [m.body for m in provider.sent] == ["First"]
    clock.move_to(ny(2026, 3, 4, *goes))
    scheduling.release_due()
    assert [m.body for m in provider.sent] == ["First", "Reminder: interview at 3"]


@pytest.mark.parametrize(
    ("send_at", "error"),
    [
        ("2026-03-01T09:00", "That time has passed"),
        ("2026-03-02T23:00", "inside the office&#39;s quiet hours"),
        ("2027-06-01T09:00", "at most a year ahead"),
        ("tomorrow", "Enter the date and time to send"),
    ],
)
def test_send_later_refuses_a_bad_time_and_sends_nothing(quiet, clock, provider, client, send_at, error):
    message = send_text(quiet, "First")
    login(client, "standard@example.edu")
    token = csrf_token(client, f"/conversations/{message.conversation_id}")
    response = client.post(
        f"/conversations/{message.conversation_id}/messages",
        data={"csrf_token": token, "body": "Later", "send_at": send_at},
    )
    assert response.status_code == 422
    assert error in response.get_data(as_text=True)
    assert db.session.scalar(select(Message).where(Message.body == "Later")) is None


def test_compose_with_send_later_holds_the_new_text(quiet, clock, provider, client):
    login(client, "standard@example.edu")
    token = csrf_token(client, "/texts/new")
    response = client.post(
        "/texts/new",
        data={
            "csrf_token": token, "number_id": str(quiet["number"].id), "to": "202-555-0143",
            "body": "Open house on Friday", "send_at": "2026-03-05T10:00",
        },
    )  # fmt: skip
    assert response.status_code == 303
    message = db.session.scalar(select(Message).where(Message.body == "Open house on Friday"))
    assert message.status == Status.SCHEDULED and message.send_at == ny(2026, 3, 5, 10, 0)
    assert provider.sent == []


def test_a_cancelled_reply_gives_back_the_contacts_question_it_answered(quiet, clock, provider, app, client):
    """A scheduled reply clears Needs Attention when it is written; cancelled, it never goes, so
    the contact's text needs an answer again and the list shows it, not the text that never went.
    A reply that did go, or a Does Not Need Attention, since the contact's text leaves it answered."""
    app.config["WEBHOOK_ALLOW_PRIVATE"] = True
    add_endpoint(app, "https://127.0.0.1:9/parley-events", "conversation.needs_attention")
    conversation_id = send_text(quiet, "Welcome to Admissions").conversation_id
    login(client, "standard@example.edu")
    token = csrf_token(client, f"/conversations/{conversation_id}")
    pane = f"/conversations/{conversation_id}"

    def schedule(body: str) -> int:
        later = {"csrf_token": token, "body": body, "send_at": "2026-03-04T09:30"}
        client.post(f"{pane}/messages", data=later)
        return db.session.scalar(select(Message.id).where(Message.body == body))

    def cancel(message_id: int) -> None:
        cancelled = client.post(f"{pane}/messages/{message_id}/cancel", data={"csrf_token": token})
        assert cancelled.status_code == 200

    def shown() -> tuple[bool, str]:
        db.session.expire_all()
        conversation = db.session.get(Conversation, conversation_id)
        return conversation.needs_attention, conversation.last_message_preview

    def attention_events() -> int:
        kinds = db.session.scalars(select(WebhookDelivery.event_type)).all()
        return kinds.count("conversation.needs_attention")

    text_in("Can I visit on Friday?")
    assert shown() == (True, "Can I visit on Friday?") and attention_events() == 1
    scheduled = schedule("I will confirm tomorrow")
    assert shown() == (False, "I will confirm tomorrow")
    tab = {"HX-Request": "true"}
    tag = client.get("/inbox?tab=attention", headers=tab).headers["ETag"]
    cancel(scheduled)
    assert shown() == (True, "Can I visit on Friday?") and attention_events() == 2
    polled = client.get("/inbox?tab=attention", headers={**tab, "If-None-Match": tag})  # as the page polls
    assert polled.status_code == 200 and "Can I visit on Friday?" in polled.get_data(as_text=True)

    # Answered since by a reply that went: cancelling another changes only the preview.
    scheduled = schedule("Or on Saturday")
    client.post(f"{pane}/messages", data={"csrf_token": token, "body": "Friday at 10 works"})
    cancel(scheduled)
    assert shown() == (False, "Friday at 10 works") and attention_events() == 2

    # Dismissed since the contact's text: it stays dismissed.
    text_in("Thanks!")
    client.post(f"{pane}/attention", data={"csrf_token": token})
    scheduled = schedule("See you then")
    cancel(scheduled)
    assert shown() == (False, "Thanks!") and attention_events() == 3

    # A keyword after the reply ("Help!", answered by Parley) is no answer to the question.
    text_in("Is parking free?")
    scheduled = schedule("I will check")
    text_in("Help!")
    cancel(scheduled)
    assert shown()[0] is True and attention_events() == 5


# ---- Settings: the service and the CLI ----


def run(app, *args: str):
    return app.test_cli_runner().invoke(args=list(args))


def test_the_cli_switches_quiet_hours_on_and_off(setup, app):
    result = run(
        app, "offices", "quiet-hours", "Admissions", "--tz", "America/Chicago", "--start", "20:30",
        "--end", "07:45",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "8:30 PM–7:45 AM (America/Chicago)" in result.output
    office = db.session.get(Office, setup["office"].id)
    db.session.refresh(office)
    assert (office.time_zone, office.quiet_hours_start, office.quiet_hours_end) == (
        "America/Chicago",
        time(20, 30),
        time(7, 45),
    )
    assert offices.timezone_of(office) == ZoneInfo("America/Chicago")
    result = run(app, "offices", "quiet-hours", "Admissions", "--off")
    assert result.exit_code == 0, result.output
    db.session.refresh(office)
    assert offices.quiet_hours_of(office) is None
    assert office.time_zone == "America/Chicago"  # the office keeps its time zone


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (("--tz", "Mars/Olympus", "--start", "21:00", "--end", "08:00"), "Unknown time zone 'Mars/Olympus'"),
        # Names no zone file could have: too long for a file name, a folder of the zone database.
        (("--tz", "A" * 300, "--start", "21:00", "--end", "08:00"), "Unknown time zone 'AAAA"),
        (("--tz", "__pycache__", "--start", "21:00", "--end", "08:00"), "Unknown time zone '__pycache__'"),
        # Zones that keep one offset all year, or old rules rather than a place.
        (("--tz", "EST", "--start", "21:00", "--end", "08:00"), "EST does not change for daylight saving"),
        (("--tz", "Etc/GMT+5", "--start", "21:00", "--end", "08:00"), "use a place, such as America/"),
        (("--tz", "EST5EDT", "--start", "21:00", "--end", "08:00"), "use a place, such as America/"),
        (("--tz", "America/New_York", "--start", "21:00", "--end", "21:00"), "must differ from the start"),
        (("--tz", "America/New_York", "--start", "9pm", "--end", "08:00"), "start time as HH:MM"),
        (("--tz", "America/New_York", "--start", "21:00"), "Give --tz, --start and --end"),
        (("--off", "--tz", "America/New_York"), "not both"),
    ],
)
def test_the_cli_refuses_bad_quiet_hours_and_changes_nothing(setup, app, args, error):
    result = run(app, "offices", "quiet-hours", "Admissions", *args)
    assert result.exit_code == 1 and error in result.output, result.output
    office = db.session.get(Office, setup["office"].id)
    db.session.refresh(office)
    assert office.time_zone is None and office.quiet_hours_start is None


def test_the_cli_takes_a_zone_name_in_any_case_as_its_iana_key(setup, app):
    result = run(app, "offices", "quiet-hours", "Admissions", "--tz", "america/new_york", "--start", "21:00",
                 "--end", "08:00")
    assert result.exit_code == 0, result.output
    office = db.session.get(Office, setup["office"].id)
    db.session.refresh(office)
    assert office.time_zone == "America/New_York"


@pytest.mark.parametrize(
    ("typed", "key"),
    [("america/new_york", "America/New_York"), (" AMERICA/CHICAGO ", "America/Chicago"), ("utc", "UTC"),
     ("Etc/UTC", "Etc/UTC"), ("America/Phoenix", "America/Phoenix"),
     ("Pacific/Honolulu", "Pacific/Honolulu")],
)
def test_a_place_or_utc_is_taken_whatever_its_case(typed, key):
    """Places that keep one offset all year (Phoenix, Honolulu) are places: they are taken."""
    assert offices.check_quiet_hours(typed, "21:00", "08:00")[0].key == key


@pytest.mark.parametrize(
    "typed",
    ["EST", "est", "MST", "HST", "PST", "EST5EDT", "CST6CDT", "MST7MDT", "PST8PDT", "Etc/GMT+5", "etc/gmt-3",
     "GMT+5", "GMT", "UTC-5", "UTC+05:00", "-05:00", "Etc/UCT", "Zulu", "CET", "localtime"],
)
def test_an_offset_or_abbreviation_zone_is_refused_for_a_place(typed):
    with pytest.raises(offices.SettingsError) as refused:
        offices.check_quiet_hours(typed, "21:00", "08:00")
    assert refused.value.errors["time_zone"].endswith("use a place, such as America/New_York.")


def test_a_change_of_quiet_hours_is_audited(setup):
    from webapp.models import AuditEvent

    offices.set_quiet_hours(setup["users"]["admin"], setup["office"], "America/New_York", "21:00", "08:00")
    db.session.commit()
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.kind == "office.quiet_hours"))
    assert event.summary == "Office Admissions: quiet hours 9:00 PM–8:00 AM (America/New_York)"
    assert [office.name for office in event.offices] == ["Admissions"]


# ---- Held texts follow a change of quiet hours ----


def schedule_reply(client, conversation_id: int, body: str, send_at: str) -> None:
    token = csrf_token(client, f"/conversations/{conversation_id}")
    client.post(
        f"/conversations/{conversation_id}/messages",
        data={"csrf_token": token, "body": body, "send_at": send_at},
    )


def test_switching_quiet_hours_off_sends_what_they_held_but_not_what_an_agent_scheduled(
    quiet, clock, provider, client, app
):
    from webapp.models import AuditEvent

    clock.move_to(ny(2026, 3, 2, 23, 15))
    held = send_text(quiet, "Held by the night")
    assert held.send_at == ny(2026, 3, 3, 8, 0)
    login(client, "standard@example.edu")
    schedule_reply(client, held.conversation_id, "Chosen for Wednesday", "2026-03-04T09:30")

    result = run(app, "offices", "quiet-hours", "Admissions", "--off")
    assert result.exit_code == 0, result.output
    assert "1 held text released for sending now." in result.output
    assert [m.body for m in provider.sent] == ["Held by the night"]
    assert reload(held).status == Status.SENT
    later = db.session.scalar(select(Message).where(Message.body == "Chosen for Wednesday"))
    assert later.status == Status.SCHEDULED and later.send_at == ny(2026, 3, 4, 9, 30)
    event = db.session.scalars(
        select(AuditEvent).where(AuditEvent.kind == "office.quiet_hours").order_by(AuditEvent.id.desc())
    ).first()
    assert event.summary == "Office Admissions: quiet hours off; 1 held text goes now"


def test_a_text_held_on_a_number_deactivated_since_is_not_said_to_go(quiet, clock, provider, app):
    clock.move_to(ny(2026, 3, 2, 23, 15))
    held = send_text(quiet, "Held by the night")
    quiet["number"].active = False
    db.session.commit()
    result = run(app, "offices", "quiet-hours", "Admissions", "--off")
    assert result.exit_code == 0, result.output
    assert "released for sending now" not in result.output
    summary = db.session.scalars(select(AuditEvent.summary).order_by(AuditEvent.id.desc())).first()
    assert summary == "Office Admissions: quiet hours off"  # not "1 held text goes now"
    clock.move_to(ny(2026, 3, 3, 8, 0))  # its time: it fails with the reason, and goes nowhere
    scheduling.release_due()
    assert (reload(held).status, reload(held).error_code) == (Status.FAILED, "number_deactivated")
    assert provider.sent == []


def test_changing_quiet_hours_moves_what_they_held_to_the_new_windows_end(quiet, clock, provider, app):
    clock.move_to(ny(2026, 3, 2, 23, 15))
    held = send_text(quiet, "Held by the night")

    # Mornings now start earlier: the text goes at the new opening time, not the old one.
    result = run(app, "offices", "quiet-hours", "Admissions", "--tz", "America/New_York",
                 "--start", "22:00", "--end", "06:30")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert reload(held).send_at == ny(2026, 3, 3, 6, 30)
    clock.move_to(ny(2026, 3, 3, 6, 30))
    assert scheduling.release_due() == 1
    assert [m.body for m in provider.sent] == ["Held by the night"]


def test_quiet_hours_that_no_longer_cover_now_send_what_they_held_at_once(quiet, clock, provider, setup):
    clock.move_to(ny(2026, 3, 2, 23, 15))
    held = send_text(quiet, "Held by the night")
    offices.set_quiet_hours(None, setup["office"], "America/New_York", "23:30", "06:00")
    db.session.commit()
    assert reload(held).send_at == ny(2026, 3, 2, 23, 15)  # due now: the worker's minute sends it
    assert scheduling.release_office_due(setup["office"].id) == 1
    assert [m.body for m in provider.sent] == ["Held by the night"]


def test_the_admin_console_releases_what_quiet_hours_held_when_it_switches_them_off(
    quiet, clock, provider, client
):
    clock.move_to(ny(2026, 3, 2, 23, 15))
    held = send_text(quiet, "Held by the night")
    login(client, "admin@example.edu")
    office_id = quiet["office"].id
    token = csrf_token(client, f"/admin/offices/{office_id}/compliance")
    response = client.post(
        f"/admin/offices/{office_id}/quiet-hours", data={"csrf_token": token, "action": "off"},
        follow_redirects=True,
    )  # fmt: skip
    assert "1 held text was released for sending now." in response.get_data(as_text=True)
    assert reload(held).status == Status.SENT
    assert [m.body for m in provider.sent] == ["Held by the night"]


def test_the_bot_handing_over_withdraws_its_held_answer(quiet, make, clock, provider, client):
    """The bot escalates a question it does not know while its answer to an earlier one waits out
    quiet hours: that answer would reach the contact after the agent's reply, out of order."""
    conversation_id = bot_answer_held(quiet, make, clock)
    inbound.receive(InboundMessage(CONTACT, "+12025550101", "Do you have a marching band?"), "console")
    conversation = db.session.get(Conversation, conversation_id)
    db.session.refresh(conversation)
    assert (conversation.mode, conversation.needs_attention) == ("agent", True)
    login(client, "standard@example.edu")
    page = client.get(f"/conversations/{conversation_id}").get_data(as_text=True)
    assert "The bot&#39;s answer held for later was withdrawn; it will not be sent." in page
    token = csrf_token(client, f"/conversations/{conversation_id}")
    client.post(f"/conversations/{conversation_id}/messages", data={"csrf_token": token, "body": "No band."})
    clock.move_to(ny(2026, 3, 3, 8, 0))
    scheduling.release_due()
    assert [m.body for m in provider.sent] == ["No band."]


def test_cancelling_the_bots_held_answer_hands_the_question_to_people(quiet, make, clock, provider, client):
    """In bot mode the bot answers once: its answer cancelled, the question goes to agents (it was
    left unanswered, out of Needs Attention, with nobody told)."""
    conversation_id = bot_answer_held(quiet, make, clock)
    answer = db.session.scalar(select(Message).where(Message.body == "Tours run daily at 10."))
    login(client, "standard@example.edu")
    token = csrf_token(client, f"/conversations/{conversation_id}")
    cancelled = client.post(
        f"/conversations/{conversation_id}/messages/{answer.id}/cancel", data={"csrf_token": token}
    )
    assert "The bot&#39;s answer was cancelled; this needs an agent. Switched to agent mode." in (
        cancelled.get_data(as_text=True)
    )
    conversation = db.session.get(Conversation, conversation_id)
    db.session.refresh(conversation)
    assert (conversation.mode, conversation.needs_attention) == ("agent", True)
    clock.move_to(ny(2026, 3, 3, 8, 0))
    scheduling.release_due()
    assert provider.sent == []


def test_a_number_moved_to_an_office_without_quiet_hours_sends_what_the_old_ones_held(
    quiet, make, clock, provider
):
    from webapp.services.admin import numbers

    make.office("Financial Aid")
    clock.move_to(ny(2026, 3, 2, 23, 0))
    held = send_text(quiet)
    assert reload(held).status == Status.SCHEDULED
    admin = quiet["users"]["admin"]
    fa = db.session.scalar(select(Office).where(Office.name == "Financial Aid"))
    admin.offices.append(fa)  # an admin of both offices moves it
    number = quiet["number"]
    assert numbers.update_number(admin, number, fa.id, number.label, "", "console", ["console"])
    db.session.commit()
    assert reload(held).send_at <= ny(2026, 3, 2, 23, 0)  # Financial Aid keeps no quiet hours: it goes now
    scheduling.release_due()
    assert [m.body for m in provider.sent] == ["Hello"]
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.kind == "number.updated"))
    assert "1 held text goes now" in event.summary


def test_a_number_turned_back_on_sends_what_quiet_hours_switched_off_meanwhile_held(
    quiet, clock, provider
):
    """Held by quiet hours, then its number was turned off, quiet hours switched off, the number
    on again: the text goes by the office's quiet hours of now (at once), not the time it kept."""
    from webapp.services.admin import numbers

    clock.move_to(ny(2026, 3, 2, 23, 0))
    held = send_text(quiet)
    admin, number = quiet["users"]["admin"], quiet["number"]
    assert numbers.set_active(admin, number, False)
    assert offices.clear_quiet_hours(admin, quiet["office"])
    db.session.commit()
    assert reload(held).send_at == ny(2026, 3, 3, 8, 0)  # off, it keeps its time (and fails then)
    assert numbers.set_active(admin, number, True)
    db.session.commit()
    scheduling.release_due()
    assert [m.body for m in provider.sent] == ["Hello"]
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.kind == "number.reactivated"))
    assert "1 held text goes now" in event.summary


def test_send_later_at_a_time_the_clocks_skip_is_refused(quiet, clock):
    """2:30 AM on the night New York's clocks go forward does not exist: taken as written, it
    also slipped past the quiet hours' check (3:30 AM EDT is inside 3:00–8:00)."""
    clock.move_to(ny(2026, 12, 7, 12, 0))
    quiet_hours = QuietHours.of("America/New_York", time(3, 0), time(8, 0))
    with pytest.raises(scheduling.ScheduleError) as refused:
        scheduling.parse_send_later("2027-03-14T02:30", "America/New_York", None)
    assert str(refused.value) == (
        "2:30 AM does not exist on Mar 14 in America/New_York: the clocks go forward then. "
        "Choose another time."
    )
    with pytest.raises(scheduling.ScheduleError, match="inside the office's quiet hours"):
        scheduling.parse_send_later("2027-03-14T03:30", "America/New_York", quiet_hours)
    # A time that happens twice (clocks go back) is its first occurrence, in EDT.
    twice = scheduling.parse_send_later("2027-11-07T01:30", "America/New_York", None)
    assert twice == utc(2027, 11, 7, 5, 30)
