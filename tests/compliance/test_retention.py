"""Retention: nightly, an office's message text and pictures older than its policy are erased, and
nothing else: conversations, times, statuses, counts, other offices and younger messages stay."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from tests.webhook_receiver import add_endpoint, running_receiver
from webapp.extensions import db
from webapp.models import AuditEvent, Conversation, Message, Office, utcnow
from webapp.models.webhooks import DeliveryStatus, WebhookDelivery, WebhookEndpoint
from webapp.services import offices, retention, sending, webhooks


def add_message(conversation: Conversation, age: timedelta, body: str, direction="inbound", media=()):
    at = utcnow() - age
    message = Message(
        conversation_id=conversation.id, direction=direction, body=body, media_urls=list(media),
        author_kind="contact" if direction == "inbound" else "agent",
        status="received" if direction == "inbound" else "delivered", created_at=at, updated_at=at,
    )  # fmt: skip
    db.session.add(message)
    return message


@pytest.fixture
def history(setup, make, clock) -> dict:
    """Admissions and Financial Aid, each with a conversation of messages of many ages."""
    make.office("Financial Aid")
    other_number = make.number("+12025550200", office="Financial Aid", label="FA")
    ours = Conversation(
        number_id=setup["number"].id, contact_phone="+12025550143",
        last_activity_at=utcnow() - timedelta(days=40), last_message_preview="old secret",
    )  # fmt: skip
    theirs = Conversation(number_id=other_number.id, contact_phone="+12025550143")
    db.session.add_all([ours, theirs])
    db.session.flush()
    messages = {
        "91 days": add_message(ours, timedelta(days=91), "my SSN is ...", media=["https://m/1.jpg"]),
        "30 days and a second": add_message(ours, timedelta(days=30, seconds=1), "old", "outbound"),
        "event": add_message(ours, timedelta(days=60), "Sam switched this conversation to bot mode", "event"),
        "30 days less a second": add_message(ours, timedelta(days=30) - timedelta(seconds=1), "young"),
        "today": add_message(ours, timedelta(0), "new"),
        "other office, 91 days": add_message(theirs, timedelta(days=91), "not ours"),
    }
    db.session.commit()
    return {**setup, "conversation": ours, "messages": messages}


def state(message: Message) -> tuple:
    db.session.refresh(message)
    return message.body, message.media_urls, message.erased_at is not None


def test_retention_erases_exactly_what_is_older_than_the_policy(history):
    office = history["office"]
    assert retention.would_erase(office.id, 30) == 2  # the admin page's preview, before it is on
    offices.set_retention(history["users"]["admin"], office, 30)
    db.session.commit()
    count_before = db.session.scalar(select(func.count()).select_from(Message))

    runs = retention.run_nightly()

    assert [(run.office, run.erased) for run in runs] == [("Admissions", 2)]
    messages = history["messages"]
    assert state(messages["91 days"]) == ("", [], True)
    assert state(messages["30 days and a second"]) == ("", [], True)
    assert state(messages["30 days less a second"]) == ("young", [], False)
    assert state(messages["today"]) == ("new", [], False)
    assert state(messages["event"])[0].startswith("Sam switched")
    assert state(messages["other office, 91 days"]) == ("not ours", [], False)
    # Conversations, times, statuses and counts stay.
    assert db.session.scalar(select(func.count()).select_from(Message)) == count_before
    erased = messages["30 days and a second"]
    assert erased.status == "delivered" and erased.direction == "outbound"
    conversation = db.session.get(Conversation, history["conversation"].id)
    db.session.refresh(conversation)
    assert conversation.last_message_preview == ""  # its last activity is older than the policy
    # The run is in the audit log with how many it erased; a second run finds nothing more.
    assert retention.would_erase(office.id, 30) == 0
    retention.run_nightly()
    events = list(
        db.session.scalars(
            select(AuditEvent).where(AuditEvent.kind == "retention.run").order_by(AuditEvent.id)
        )
    )
    assert [e.detail["erased"] for e in events] == [2, 0]
    assert events[0].summary == "Retention for Admissions: erased the text of 2 messages older than 30 days"
    assert [o.name for o in events[0].offices] == ["Admissions"]


def test_texts_still_to_go_keep_their_text_and_an_erased_failed_one_is_not_sent_blank(history, clock):
    """A reply held a year ahead (Send later) or waiting in the queue is not history yet: erased,
    it would go as an empty text. It is erased on a later run, once it has gone. A failed text
    whose words were erased cannot be retried (it would go blank)."""
    conversation, office = history["conversation"], history["office"]
    held = add_message(conversation, timedelta(days=40), "Your interview is on June 3", "outbound")
    held.status, held.send_at = "scheduled", utcnow() + timedelta(days=200)
    queued = add_message(conversation, timedelta(days=40), "Welcome!", "outbound")
    queued.status = "queued"
    failed = add_message(conversation, timedelta(days=40), "Call us back", "outbound")
    failed.status = "failed"
    offices.set_retention(history["users"]["admin"], office, 30)
    db.session.commit()

    assert [run.erased for run in retention.run_nightly()] == [3]  # the 2 before, and the failed one
    assert state(held) == ("Your interview is on June 3", [], False)
    assert state(queued) == ("Welcome!", [], False)
    assert state(failed) == ("", [], True)
    with pytest.raises(sending.SendError, match="erased under the office's retention policy"):
        sending.retry(history["users"]["standard"], conversation, failed.id)
    db.session.rollback()
    assert db.session.get(Message, failed.id).status == "failed"

    held.status = "sent"  # it went
    db.session.commit()
    assert [run.erased for run in retention.run_nightly()] == [1]
    assert state(held) == ("", [], True)


def test_the_api_marks_an_erased_message_apart_from_an_empty_one(history, app):
    """A CRM syncing messages must tell text erased under retention from a text sent empty."""
    from webapp.services import api_keys

    key = api_keys.create_key("Slate", history["office"], created_by=None).secret
    offices.set_retention(history["users"]["admin"], history["office"], 30)
    db.session.commit()
    retention.run_nightly()
    erased, kept = history["messages"]["91 days"], history["messages"]["today"]
    crm = app.test_client(use_cookies=False)
    headers = {"Authorization": f"Bearer {key}"}

    shown = crm.get(f"/api/v1/messages/{erased.id}", headers=headers).get_json()
    assert shown["text"] == ""
    assert shown["erased_at"] == erased.erased_at.isoformat().replace("+00:00", "Z")
    assert crm.get(f"/api/v1/messages/{kept.id}", headers=headers).get_json()["erased_at"] is None
    page = crm.get(f"/api/v1/conversations/{history['conversation'].id}/messages", headers=headers)
    marked = {m["id"]: m["erased_at"] is not None for m in page.get_json()["data"]}
    assert marked[erased.id] and not marked[kept.id]


def test_a_recent_row_showing_an_erased_text_no_longer_shows_it(history, clock):
    """A reply held today and cancelled sends the row's preview back to the old text, while its
    last activity stays today: retention's erasure of that text takes the preview with it."""
    conversation = history["conversation"]
    conversation.last_activity_at = utcnow()
    conversation.last_message_preview = "my SSN is ..."  # as the cancelled reply's withdrawal left it
    for name in ("30 days and a second", "30 days less a second", "today", "event"):
        db.session.delete(history["messages"][name])
    db.session.commit()
    offices.set_retention(history["users"]["admin"], history["office"], 30)
    db.session.commit()
    retention.run_nightly()
    db.session.refresh(conversation)
    assert "SSN" not in conversation.last_message_preview


def test_retention_erases_in_batches_each_after_the_last(history, monkeypatch):
    monkeypatch.setattr(retention, "BATCH", 1)
    offices.set_retention(history["users"]["admin"], history["office"], 30)
    db.session.commit()
    assert [run.erased for run in retention.run_nightly()] == [2]
    assert retention.would_erase(history["office"].id, 30) == 0


def test_retention_forgets_the_webhook_log_copies_of_erased_text(history, make):
    office = history["office"]
    other = db.session.scalar(select(Office).where(Office.name == "Financial Aid"))

    def delivery(office_id: int, age: timedelta, status: str) -> int:
        endpoint = WebhookEndpoint(office_id=office_id, url="https://crm.example.edu/hook", secret="s")
        db.session.add(endpoint)
        db.session.flush()
        row = WebhookDelivery(
            endpoint_id=endpoint.id, event_type="message.received", webhook_id=f"msg_{endpoint.id}",
            payload='{"text": "my SSN is ..."}', status=status, created_at=utcnow() - age,
        )  # fmt: skip
        db.session.add(row)
        db.session.flush()
        return row.id

    old = delivery(office.id, timedelta(days=31), DeliveryStatus.DELIVERED)
    pending = delivery(office.id, timedelta(days=31), DeliveryStatus.PENDING)
    young = delivery(office.id, timedelta(days=29), DeliveryStatus.DELIVERED)
    theirs = delivery(other.id, timedelta(days=31), DeliveryStatus.DELIVERED)
    offices.set_retention(history["users"]["admin"], office, 30)
    db.session.commit()

    retention.run_nightly()

    left = set(db.session.scalars(select(WebhookDelivery.id)))
    assert old not in left and {pending, young, theirs} <= left
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.kind == "retention.run"))
    assert event.detail["webhook_deliveries"] == 1


def test_retention_forgets_a_recent_delivery_of_a_message_it_erased(history):
    """A text written long ago went (and was logged) only lately, held or scheduled: its log entry
    is young, but it copies the erased words, which Redeliver would send again."""
    conversation, erased = history["conversation"], history["messages"]["91 days"]
    kept = history["messages"]["today"]
    endpoint = WebhookEndpoint(office_id=history["office"].id, url="https://crm.example.edu/hook", secret="s")
    db.session.add(endpoint)
    db.session.flush()

    def logged(message: Message, event_type: str) -> int:
        payload = json.dumps({"type": event_type, "data": {"id": message.id, "text": message.body}})
        row = WebhookDelivery(
            endpoint_id=endpoint.id, event_type=event_type, webhook_id=f"msg_{event_type}{message.id}",
            payload=payload, status=DeliveryStatus.DELIVERED, conversation_id=conversation.id,
        )  # fmt: skip
        db.session.add(row)
        db.session.flush()
        return row.id

    sent_lately, kept_delivery = logged(erased, "message.sent"), logged(kept, "message.received")
    offices.set_retention(history["users"]["admin"], history["office"], 30)
    db.session.commit()
    retention.run_nightly()
    left = set(db.session.scalars(select(WebhookDelivery.id)))
    assert sent_lately not in left and kept_delivery in left


def test_a_pending_delivery_of_a_message_it_erased_goes_without_its_words(app, history):
    """The CRM was down when the text came; its event waits to be delivered. Retention erases the
    text meanwhile: the event still goes (the CRM hears of the message), as the API now shows the
    message, without the words. Another message's pending event is untouched."""
    app.config["WEBHOOK_ALLOW_PRIVATE"] = True
    conversation, erased = history["conversation"], history["messages"]["91 days"]
    kept = history["messages"]["today"]
    with running_receiver() as crm:
        secret = add_endpoint(app, crm.url, "message.received")
        endpoint = db.session.scalars(select(WebhookEndpoint)).one()

        def pending(message: Message) -> int:
            data = {"id": message.id, "text": message.body, "erased_at": None}
            row = WebhookDelivery(
                endpoint_id=endpoint.id, event_type="message.received", webhook_id=f"msg_{message.id}",
                payload=json.dumps({"type": "message.received", "data": data}),
                status=DeliveryStatus.PENDING, conversation_id=conversation.id,
            )  # fmt: skip
            db.session.add(row)
            db.session.flush()
            return row.id

        waiting = [pending(erased), pending(kept)]
        offices.set_retention(history["users"]["admin"], history["office"], 30)
        db.session.commit()
        retention.run_nightly()
        for delivery_id in waiting:
            webhooks.attempt(delivery_id)

    first, second = (event["data"] for event in crm.verified(secret))
    assert first["id"] == erased.id and first["text"] == ""
    db.session.refresh(erased)
    assert first["erased_at"] == erased.erased_at.isoformat().replace("+00:00", "Z")
    assert second == {"id": kept.id, "text": "new", "erased_at": None}
    assert all("my SSN" not in body for _, body in crm.requests)


def test_a_pending_delivery_that_finishes_as_retention_reads_it_goes_like_a_finished_one(
    history, monkeypatch
):
    """The worker delivers it between retention's read of the log and its rewrite: it is then a
    finished delivery of an erased message, deleted (not kept with the words rewritten)."""
    conversation, erased = history["conversation"], history["messages"]["91 days"]
    endpoint = WebhookEndpoint(office_id=history["office"].id, url="https://crm.example.edu/hook", secret="s")
    db.session.add(endpoint)
    db.session.flush()
    delivery = WebhookDelivery(
        endpoint_id=endpoint.id, event_type="message.received", webhook_id="msg_racing",
        payload=json.dumps({"type": "message.received", "data": {"id": erased.id, "text": erased.body}}),
        status=DeliveryStatus.PENDING, conversation_id=conversation.id,
    )  # fmt: skip
    db.session.add(delivery)
    offices.set_retention(history["users"]["admin"], history["office"], 30)
    db.session.commit()
    delivery_id, read = delivery.id, json.loads

    def read_then_the_worker_delivers(text: str):
        db.session.execute(
            update(WebhookDelivery).where(WebhookDelivery.id == delivery_id).values(status="delivered")
        )
        return read(text)

    monkeypatch.setattr(webhooks.json, "loads", read_then_the_worker_delivers)
    retention.run_nightly()
    monkeypatch.undo()
    assert db.session.get(WebhookDelivery, delivery_id) is None


def test_retention_is_off_by_default(history):
    assert retention.run_nightly() == []
    assert state(history["messages"]["91 days"])[0] == "my SSN is ..."


def run(app, *args: str):
    return app.test_cli_runner().invoke(args=list(args))


def test_the_cli_sets_and_clears_retention(setup, app):
    result = run(app, "offices", "retention", "Admissions", "--days", "365")
    assert result.exit_code == 0 and "keeps message text 365 days" in result.output
    office = db.session.get(Office, setup["office"].id)
    db.session.refresh(office)
    assert office.retention_days == 365
    assert run(app, "offices", "retention", "Admissions", "--off").exit_code == 0
    db.session.refresh(office)
    assert office.retention_days is None
    result = run(app, "offices", "retention", "Admissions", "--days", "1")
    assert result.exit_code == 0 and "keeps message text 1 day;" in result.output
    kept = db.session.scalars(
        select(AuditEvent.summary).where(AuditEvent.kind == "office.retention").order_by(AuditEvent.id)
    )
    assert list(kept)[-1] == "Office Admissions: message text kept 1 day"


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (("--days", "0"), "Keep messages at least 1 day"),
        (("--days", "-3"), "Keep messages at least 1 day"),
        (("--days", "a year"), "Enter the number of days"),
        (("--days", "99999"), "at most 36,500 days"),
        (("--days", "9" * 4301), "at most 36,500 days"),  # more digits than int() reads
        (("--days", "-" + "9" * 4301), "Keep messages at least 1 day"),
        ((), "Give either --days N or --off"),
    ],
)
def test_the_cli_refuses_a_bad_retention_and_changes_nothing(setup, app, args, error):
    result = run(app, "offices", "retention", "Admissions", *args)
    assert result.exit_code == 1 and error in result.output, result.output
    office = db.session.get(Office, setup["office"].id)
    db.session.refresh(office)
    assert office.retention_days is None
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.kind == "office.retention")) is None


def test_an_empty_text_is_shown_as_empty_and_only_an_erased_one_as_erased(setup, app, client):
    """A contact can send a text with nothing in it; with retention off, the thread must not say
    the office's policy erased it."""
    from tests.conftest import login

    args = ["sms", "receive", "--from", "2025550143", "--to", "+12025550100", "--text", ""]
    result = app.test_cli_runner().invoke(args=args)
    assert result.exit_code == 0, result.output
    conversation = db.session.scalars(select(Conversation)).one()
    login(client, "standard@example.edu")
    page = client.get(f"/conversations/{conversation.id}").get_data(as_text=True)
    assert "(empty message)" in page
    assert "Text erased" not in page

    # Once retention erases an older text, that one says so, and the empty one still does not.
    add_message(conversation, timedelta(days=91), "my SSN is ...")
    db.session.commit()
    offices.set_retention(setup["users"]["admin"], setup["office"], 30)
    db.session.commit()
    retention.run_nightly()
    page = client.get(f"/conversations/{conversation.id}").get_data(as_text=True)
    assert page.count("Text erased under the office's retention policy") == 1
    assert "(empty message)" in page and "my SSN" not in page


def test_the_audit_log_credits_the_nightly_run_to_parley_in_plain_numbers(history, app, client):
    """The nightly run is Parley's own scheduled job, not "a contact, provider or command line";
    its summary counts in words ("1 message", "1 day"). A change made on the command line still
    reads as the command line's."""
    from tests.conftest import login

    assert run(app, "offices", "retention", "Admissions", "--days", "60").exit_code == 0
    retention.run_nightly()  # the 91-day-old text only
    assert run(app, "offices", "retention", "Admissions", "--days", "1").exit_code == 0
    retention.run_nightly()  # the two 30-day-old ones
    summaries = db.session.scalars(
        select(AuditEvent.summary).where(AuditEvent.kind == "retention.run").order_by(AuditEvent.id)
    ).all()
    assert summaries == [
        "Retention for Admissions: erased the text of 1 message older than 60 days",
        "Retention for Admissions: erased the text of 2 messages older than 1 day",
    ]
    login(client, "admin@example.edu")
    page = client.get("/admin/audit").get_data(as_text=True)
    rows = re.findall(r"<tr>\s*<td class=\"nowrap\">.*?</tr>", page, re.S)
    who = [(re.search(r"<td>([^<:]*)", row)[1], re.findall(r'<span class="muted">([^<]*)<', row)[0])
           for row in rows]  # fmt: skip
    assert who == [
        ("Retention for Admissions", "Parley (nightly retention)"),
        ("Office Admissions", "Contact, provider or command line"),
        ("Retention for Admissions", "Parley (nightly retention)"),
        ("Office Admissions", "Contact, provider or command line"),
    ]
    assert summaries[0] in page and summaries[1] in page
