"""Activity webhooks: a real HTTP receiver on 127.0.0.1 gets an office's events, signed per Standard
Webhooks (checked with the `standardwebhooks` library); failures are retried with the same
webhook-id; a receiver that hangs does not hold up texting; URLs cannot point inside."""

from __future__ import annotations

import ipaddress
import json
import os
import re
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from sqlalchemy import select
from standardwebhooks.webhooks import WebhookVerificationError

from tests.admin.conftest import as_admin
from tests.admin.conftest import post as admin_post
from tests.api.conftest import Crm, new_key
from tests.server_threads import server_thread
from tests.webhook_receiver import Receiver, add_endpoint, running_receiver
from webapp.extensions import db
from webapp.models import (
    Conversation,
    DeliveryStatus,
    Message,
    User,
    WebhookDelivery,
    WebhookEndpoint,
    utcnow,
)
from webapp.plugin_api import InboundMessage, StatusUpdate
from webapp.services import campaigns, conversations, delivery_reports, inbound, sending, webhooks


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as state:
        yield state


@pytest.fixture
def private_ok(app):
    app.config["WEBHOOK_ALLOW_PRIVATE"] = True
    app.config["WEBHOOK_RETRY_BASE_SECONDS"] = 0.01
    return app


def test_a_text_sent_through_the_api_is_reported_sent_delivered_and_answered(
    private_ok, world, receiver
):
    secret = add_endpoint(private_ok, receiver.url)
    assert secret.startswith("whsec_")
    crm = Crm(private_ok.test_client(use_cookies=False), new_key("Slate", world["office"]))
    sent = crm.send("2025550143", "Your file is complete").get_json()

    message = db.session.get(Message, sent["id"])
    delivery_reports.record(
        StatusUpdate(provider_message_id=message.provider_message_id, status="delivered",
                     parley_message_id=message.id),
        "console",
    )  # fmt: skip
    inbound.receive(
        InboundMessage(from_phone="+12025550143", to_phone="+12025550100", body="Thank you!"),
        "console",
    )

    events = receiver.verified(secret)  # every request signed with the endpoint's secret
    assert [e["type"] for e in events] == [
        "message.sent", "message.delivered", "message.received", "conversation.needs_attention",
    ]  # fmt: skip
    assert events[0]["data"]["id"] == sent["id"] and events[0]["data"]["status"] == "sent"
    assert events[0]["data"]["author"] == "Slate" and events[0]["data"]["text"] == "Your file is complete"
    assert events[1]["data"]["status"] == "delivered"
    assert events[2]["data"]["direction"] == "inbound" and events[2]["data"]["text"] == "Thank you!"
    assert events[3]["data"]["needs_attention"] is True
    assert all(set(e) == {"type", "timestamp", "data"} for e in events)
    ids = [headers["webhook-id"] for headers, _ in receiver.requests]
    assert len(set(ids)) == 4


def test_a_text_whose_send_was_interrupted_is_reported_failed(private_ok, world, receiver):
    """A worker died during the provider call: the sweep that fails the text tells the CRM too."""
    secret = add_endpoint(private_ok, receiver.url, "message.failed")
    huey = private_ok.extensions["parley.huey"]
    huey.immediate = False  # the text waits in the queue, as when no worker runs
    try:
        crm = Crm(private_ok.test_client(use_cookies=False), new_key("Slate", world["office"]))
        sent = crm.send("2025550143", "Your file is complete").get_json()
    finally:
        huey.storage.flush_queue()
        huey.immediate = True
    message = db.session.get(Message, sent["id"])
    message.status = "sending"  # claimed by a worker that then died
    db.session.commit()
    private_ok.config["SENDING_TIMEOUT_SECONDS"] = 0
    assert sending.fail_interrupted_sends() == 1

    events = receiver.verified(secret)
    assert [(e["type"], e["data"]["id"], e["data"]["status"]) for e in events] == [
        ("message.failed", sent["id"], "failed")
    ]


def test_only_the_chosen_events_of_the_endpoints_own_office(private_ok, world, receiver, other_crm):
    secret = add_endpoint(private_ok, receiver.url, "message.received")
    inbound.receive(
        InboundMessage(from_phone="+12025550143", to_phone="+12025550200", body="Other office"),
        "console",
    )
    other_crm.send(from_="+12025550200")
    inbound.receive(
        InboundMessage(from_phone="+12025550178", to_phone="+12025550100", body="Ours"), "console"
    )
    assert [e["data"]["text"] for e in receiver.verified(secret)] == ["Ours"]


def test_an_endpoint_that_fails_twice_gets_the_event_once_with_one_webhook_id(
    private_ok, world, receiver
):
    secret = add_endpoint(private_ok, receiver.url, "contact.opted_out")
    receiver.planned = [503, 503]
    inbound.receive(
        InboundMessage(from_phone="+12025550178", to_phone="+12025550100", body="STOP"), "console"
    )
    delivery = db.session.scalars(select(WebhookDelivery)).one()
    for _ in range(5):  # the worker's retries, brought forward
        time.sleep(0.05)
        webhooks.attempt(delivery.id)
    db.session.expire_all()
    delivery = db.session.get(WebhookDelivery, delivery.id)
    assert delivery.status == DeliveryStatus.DELIVERED and delivery.attempts == 3
    assert [headers["webhook-id"] for headers, _ in receiver.requests] == [delivery.webhook_id] * 3
    assert len(receiver.accepted) == 1
    assert receiver.verified(secret)[0] == receiver.accepted[0]
    assert receiver.accepted[0]["type"] == "contact.opted_out"
    assert receiver.accepted[0]["data"] == {"phone": "+12025550178", "opted_out": True}


def test_a_hanging_receiver_does_not_hold_up_texting(private_ok, world, receiver):
    add_endpoint(private_ok, receiver.url, "message.sent")
    # Bounds well apart, so that a busy machine cannot blur them: a delivery made in the worker's
    # own thread would hold it for the whole time limit (5 s); handed off, it returns at once.
    receiver.hang = 8
    private_ok.config["WEBHOOK_TIMEOUT_SECONDS"] = 5
    huey = private_ok.extensions["parley.huey"]
    tasks = private_ok.extensions["parley.tasks"]
    huey.immediate = False  # a real queue: the worker's tasks run below, one by one
    crm = Crm(private_ok.test_client(use_cookies=False), new_key("Slate", world["office"]))

    def worker_runs(name: str) -> float:
        task = huey.dequeue()
        assert task.name == name
        started = time.monotonic()
        huey.execute(task)
        return time.monotonic() - started

    def read(statement):
        db.session.expire_all()
        try:
            return db.session.execute(statement).all()
        finally:
            db.session.rollback()  # the test's read ends before the worker's next write

    try:
        assert crm.send(text="First").status_code == 202
        assert worker_runs("send_message") < 4
        assert worker_runs("deliver_webhook") < 4  # handed to a delivery thread; the receiver hangs
        assert crm.send(text="Second").status_code == 202
        assert worker_runs("send_message") < 4  # the worker's thread is free: the text goes out
        assert read(select(Message.body, Message.status).order_by(Message.id)) == [
            ("First", "sent"), ("Second", "sent"),
        ]  # fmt: skip
        # The first event is in flight: its thread reaches the receiver in its own time.
        deadline = time.monotonic() + 10
        while not receiver.requests and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(receiver.requests) == 1

        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            rows = read(
                select(WebhookDelivery.attempts, WebhookDelivery.last_error).order_by(WebhookDelivery.id)
            )
            if rows[0].attempts:
                break
            time.sleep(0.1)
        attempts, error = rows[0]
        assert attempts == 1 and error == "No answer within 5 seconds (ReadTimeout)."  # retried later
        assert rows[1].attempts == 0  # the conversation's next event waits for the first
    finally:
        tasks.delivery_threads.stop()
        huey.storage.flush_queue()
        huey.immediate = True


def test_an_endpoint_that_hangs_leaves_the_other_endpoints_their_deliveries(private_ok, world, receiver):
    """Six texts, each an event for an endpoint that hangs and for one that answers: the hanging
    one holds at most half of the delivery threads (4), and the other gets every event at once."""
    private_ok.config["WEBHOOK_TIMEOUT_SECONDS"] = 3
    huey = private_ok.extensions["parley.huey"]
    tasks = private_ok.extensions["parley.tasks"]
    assert tasks.delivery_threads.size == 4
    crm = Crm(private_ok.test_client(use_cookies=False), new_key("Slate", world["office"]))
    with running_receiver() as hanging:
        hanging.hang = 6
        add_endpoint(private_ok, hanging.url, "message.sent")  # first: its deliveries come first
        secret = add_endpoint(private_ok, receiver.url, "message.sent")
        huey.immediate = False  # a real queue: the worker's tasks run below
        try:
            for k in range(6):
                assert crm.send(to=f"(202) 555-02{k:02d}", text=f"Text {k}").status_code == 202
            while (task := huey.dequeue()) is not None:
                huey.execute(task)
            deadline = time.monotonic() + 2.5  # within the hanging endpoint's first time limit
            while len(receiver.accepted) < 6 and time.monotonic() < deadline:
                time.sleep(0.05)
            texts = sorted(event["data"]["text"] for event in receiver.verified(secret))
            assert texts == [f"Text {k}" for k in range(6)]
            assert len(hanging.requests) == 2  # the rest wait their turn, holding no thread
            deadline = time.monotonic() + 10
            while len(hanging.requests) < 4 and time.monotonic() < deadline:
                time.sleep(0.05)  # after its time limit, the hanging endpoint's next two
            assert len(hanging.requests) == 4
        finally:
            tasks.delivery_threads.stop()  # the two still waiting stay pending, for the sweep
            huey.storage.flush_queue()
            huey.immediate = True
        # The two attempts in flight end at their time limit, before the receiver goes away.
        deadline = time.monotonic() + 10
        while attempts_made(hanging.url) < 4 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert attempts_made(hanging.url) == 4


def attempts_made(url: str) -> int:
    db.session.expire_all()
    try:
        to_url = WebhookDelivery.endpoint.has(WebhookEndpoint.url == url)
        return sum(db.session.scalars(select(WebhookDelivery.attempts).where(to_url)))
    finally:
        db.session.rollback()  # the test's read ends before a delivery thread's next write


def pending_delivery(app, body: str = "Hi") -> int:
    """An inbound text's event, recorded but not yet requested from the worker."""
    huey = app.extensions["parley.huey"]
    huey.immediate = False
    try:
        text = InboundMessage(from_phone="+12025550178", to_phone="+12025550100", body=body)
        inbound.receive(text, "console")
    finally:
        huey.storage.flush_queue()
        huey.immediate = True
    delivery_id = db.session.scalars(select(WebhookDelivery.id).order_by(WebhookDelivery.id.desc())).first()
    db.session.rollback()  # outside a request, a read holds SQLite's write lock until it ends
    return delivery_id


def test_a_delivery_in_flight_is_not_posted_again_by_a_second_request(private_ok, world, receiver):
    add_endpoint(private_ok, receiver.url, "message.received")
    delivery_id = pending_delivery(private_ok)
    receiver.hang = 1.5

    def first_attempt() -> None:
        with private_ok.app_context():
            webhooks.attempt(delivery_id)

    first = threading.Thread(target=first_attempt)
    first.start()
    deadline = time.monotonic() + 5
    while not receiver.requests and time.monotonic() < deadline:
        time.sleep(0.05)
    retry_in, following = webhooks.attempt(delivery_id)  # the sweep, or a duplicate retry
    assert retry_in is not None and retry_in > 1 and following == []
    first.join(10)
    assert len(receiver.requests) == 1 and len(receiver.accepted) == 1
    db.session.expire_all()
    assert db.session.get(WebhookDelivery, delivery_id).status == DeliveryStatus.DELIVERED
    assert webhooks.attempt(delivery_id) == (None, [])  # delivered: nothing more to do
    assert len(receiver.requests) == 1


def test_the_delivery_log_forgets_finished_deliveries_after_its_days(
    private_ok, world, receiver, monkeypatch
):
    add_endpoint(private_ok, receiver.url, "message.received")
    private_ok.config["WEBHOOK_LOG_DAYS"] = 30
    monkeypatch.setattr(webhooks, "PRUNE_BATCH", 2)  # several batches
    ages = {"old delivered": (31, DeliveryStatus.DELIVERED), "old failed": (40, DeliveryStatus.FAILED),
            "older delivered": (90, DeliveryStatus.DELIVERED), "old pending": (31, DeliveryStatus.PENDING),
            "recent delivered": (29, DeliveryStatus.DELIVERED)}  # fmt: skip
    for text, (days, status) in ages.items():
        delivery = db.session.get(WebhookDelivery, pending_delivery(private_ok, text))
        delivery.created_at = utcnow() - timedelta(days=days)
        delivery.status = status
        db.session.commit()

    assert webhooks.prune_log() == 3
    payloads = db.session.scalars(select(WebhookDelivery.payload))
    kept = [json.loads(payload)["data"]["text"] for payload in payloads]
    assert sorted(kept) == ["old pending", "recent delivered"]  # a pending one is never forgotten
    assert webhooks.prune_log() == 0


def test_urls_must_be_https_and_public(app, world, receiver):
    app.config["WEBHOOK_ALLOW_PRIVATE"] = False
    for url, message in [
        ("http://crm.example.edu/hook", "must start with https://"),
        ("https://127.0.0.1/hook", "is not a public address"),
        ("https://10.1.2.3/hook", "is not a public address"),
        ("https://[::1]/hook", "is not a public address"),
        ("https://169.254.169.254/latest", "is not a public address"),
        # IPv6 addresses that lead to a private IPv4 one: NAT64, 6to4, SIIT, IPv4-compatible.
        ("https://[64:ff9b::7f00:1]/hook", "is not a public address"),
        ("https://[64:ff9b::a9fe:a9fe]/hook", "is not a public address"),
        ("https://[2002:7f00:1::]/hook", "is not a public address"),
        ("https://[::ffff:0:a00:1]/hook", "is not a public address"),
        ("https://[::7f00:1]/hook", "is not a public address"),
        ("https://user:pw@93.184.216.34/hook", "user name or password"),
        ("https://93.184.216.34/a b", "has a space or a control character"),
        ("https://93.184.216.34/a\tb", "has a space or a control character"),
    ]:
        result = app.test_cli_runner().invoke(args=["webhooks", "add", url, "--office", "Admissions"])
        assert result.exit_code == 1 and message in result.output, (url, result.output)
    # A public IPv6 address, and one that leads to a public IPv4 one, are fine.
    for url in ("https://[2606:4700::1111]/hook", "https://[64:ff9b::5db8:d822]/hook"):
        assert webhooks.check_url(url, allow_private=False) == url
    result = app.test_cli_runner().invoke(
        args=["webhooks", "add", "https://93.184.216.34/h", "--office", "Admissions", "--event", "x.y"]
    )
    assert result.exit_code == 1 and "Unknown event type 'x.y'" in result.output
    db.session.rollback()
    assert db.session.scalars(select(WebhookEndpoint)).all() == []


def fake_dns(monkeypatch, names: dict[str, str]) -> None:
    """Answer for these names only; any other name does not resolve (as when DNS is down)."""
    import socket

    def getaddrinfo(host, port, *args, **kwargs):
        if host not in names:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (names[host], port))]

    monkeypatch.setattr(webhooks.socket, "getaddrinfo", getaddrinfo)


def test_a_name_that_does_not_resolve_now_is_added_with_a_warning(app, world, monkeypatch):
    """No address now is no proof of a wrong URL (DNS down, split horizon); each delivery looks
    again. A name that resolves inside is still refused."""
    app.config["WEBHOOK_ALLOW_PRIVATE"] = False
    fake_dns(monkeypatch, {"crm-internal.example.edu": "10.0.0.5"})
    result = app.test_cli_runner().invoke(
        args=["webhooks", "add", "https://crm.example.edu/hook", "--office", "Admissions"]
    )
    assert result.exit_code == 0, result.output
    assert "crm.example.edu does not resolve to any address" in result.stderr
    assert "Warning" in result.stderr and "Warning" not in result.stdout
    secret = result.stdout.strip().splitlines()[-1]
    assert secret.startswith("whsec_")
    endpoint = db.session.scalars(select(WebhookEndpoint)).one()
    assert (endpoint.url, endpoint.secret) == ("https://crm.example.edu/hook", secret)

    result = app.test_cli_runner().invoke(
        args=["webhooks", "add", "https://crm-internal.example.edu/hook", "--office", "Admissions"]
    )
    assert result.exit_code == 1 and "10.0.0.5, which is not a public address" in result.output
    result = app.test_cli_runner().invoke(
        args=["webhooks", "add", "http://crm.example.edu/hook", "--office", "Admissions"]
    )
    assert result.exit_code == 1 and "must start with https://" in result.output
    db.session.rollback()
    assert len(db.session.scalars(select(WebhookEndpoint)).all()) == 1


def test_the_console_adds_a_name_that_does_not_resolve_now_with_a_notice(app, client, world, monkeypatch):
    from tests.admin.conftest import as_admin, post

    app.config["WEBHOOK_ALLOW_PRIVATE"] = False
    fake_dns(monkeypatch, {"crm-internal.example.edu": "10.0.0.5"})
    as_admin(client)
    form = {"url": "https://crm.example.edu/hook", "office_id": world["office"].id}
    response = post(client, "/admin/webhooks", form)
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "crm.example.edu does not resolve to any address from here right now" in page
    secret_field = r'id="new-webhook-secret" type="text" readonly value="whsec_[^"]+" size="60" autofocus'
    assert re.search(secret_field, page)  # focus lands on it: the page's news is read out
    assert "Copy it now: it is not shown again" in page
    assert db.session.scalars(select(WebhookEndpoint.url)).all() == ["https://crm.example.edu/hook"]

    form = {"url": "https://crm-internal.example.edu/hook", "office_id": world["office"].id}
    response = post(client, "/admin/webhooks", form)
    assert response.status_code == 422 and "not a public address" in response.get_data(as_text=True)


def test_addresses_are_checked_again_at_delivery_and_events_wait_their_turn(private_ok, world):
    add_endpoint(private_ok, "https://127.0.0.1:9/parley-events")
    private_ok.config["WEBHOOK_ALLOW_PRIVATE"] = False  # as if the name now pointed inside
    inbound.receive(
        InboundMessage(from_phone="+12025550178", to_phone="+12025550100", body="Hello"), "console"
    )
    received, attention = db.session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id))
    assert (received.event_type, attention.event_type) == ("message.received", "conversation.needs_attention")
    assert "127.0.0.1, which is not a public address" in received.last_error
    assert received.status == DeliveryStatus.PENDING and received.attempts == 1
    # The conversation's next event waits until the first is through.
    assert attention.attempts == 0 and attention.status == DeliveryStatus.PENDING


def test_an_endpoint_that_failed_for_a_day_is_disabled(private_ok, world, receiver):
    add_endpoint(private_ok, receiver.url, "message.received")
    receiver.planned = [500]
    endpoint = db.session.scalars(select(WebhookEndpoint)).one()
    endpoint.failing_since = utcnow() - timedelta(days=1, minutes=1)
    db.session.commit()
    inbound.receive(
        InboundMessage(from_phone="+12025550178", to_phone="+12025550100", body="Hi"), "console"
    )
    db.session.expire_all()
    endpoint = db.session.get(WebhookEndpoint, endpoint.id)
    assert endpoint.active is False and "every delivery failed for a day" in endpoint.disabled_reason
    assert "HTTP 500" in endpoint.disabled_reason
    assert db.session.scalars(select(WebhookDelivery.status)).one() == DeliveryStatus.FAILED
    inbound.receive(
        InboundMessage(from_phone="+12025550178", to_phone="+12025550100", body="Again"), "console"
    )
    assert len(receiver.requests) == 1  # a disabled endpoint gets nothing more


def test_admins_add_endpoints_read_the_log_redeliver_and_enable_in_the_console(
    private_ok, client, world, receiver
):
    from tests.admin.conftest import as_admin, post

    as_admin(client)
    form = {"url": receiver.url, "office_id": world["office"].id, "events": ["message.received"]}
    page = post(client, "/admin/webhooks", form).get_data(as_text=True)
    secret = re.search(r'id="new-webhook-secret" type="text" readonly value="(whsec_[^"]+)"', page)[1]
    listing = client.get("/admin/webhooks").get_data(as_text=True)
    assert receiver.url in listing and secret not in listing
    endpoint = db.session.scalars(select(WebhookEndpoint)).one()

    inbound.receive(
        InboundMessage(from_phone="+12025550178", to_phone="+12025550100", body="Hi"), "console"
    )
    log = client.get(f"/admin/webhooks/{endpoint.id}").get_data(as_text=True)
    delivery = db.session.scalars(select(WebhookDelivery)).one()
    assert "message.received" in log and delivery.webhook_id in log and " ms" in log
    assert ">200<" in log.replace(" ", "").replace("\n", "")

    response = post(client, f"/admin/webhooks/{endpoint.id}/deliveries/{delivery.id}/redeliver")
    assert response.status_code in (302, 303)
    assert [h["webhook-id"] for h, _ in receiver.requests] == [delivery.webhook_id] * 2
    assert [e["type"] for e in receiver.verified(secret)] == ["message.received"] * 2

    endpoint = db.session.get(WebhookEndpoint, endpoint.id)
    endpoint.active, endpoint.disabled_reason = False, "Disabled: every delivery failed for a day."
    db.session.commit()
    page = client.get(f"/admin/webhooks/{endpoint.id}").get_data(as_text=True)
    assert "every delivery failed for a day" in page and "Enable again" in page
    assert post(client, f"/admin/webhooks/{endpoint.id}/enable").status_code in (302, 303)
    db.session.expire_all()
    assert db.session.get(WebhookEndpoint, endpoint.id).active is True
    audit = client.get("/admin/audit").get_data(as_text=True)
    assert f"Webhook {receiver.url} added for Admissions" in audit
    assert f"Webhook {receiver.url} enabled again" in audit


def test_an_admin_disables_an_endpoint_and_nothing_is_posted_to_it_until_enabled(
    private_ok, client, world, receiver
):
    from tests.admin.conftest import as_admin, post

    secret = add_endpoint(private_ok, receiver.url, "message.received")
    endpoint = db.session.scalars(select(WebhookEndpoint)).one()
    receiver.planned = [503]  # an event waits for its retry when the endpoint is disabled
    inbound.receive(InboundMessage(from_phone="+12025550178", to_phone="+12025550100", body="Hm"), "console")
    db.session.commit()
    waiting = db.session.scalars(select(WebhookDelivery)).one()
    assert waiting.status == DeliveryStatus.PENDING and len(receiver.requests) == 1
    as_admin(client)
    page = client.get(f"/admin/webhooks/{endpoint.id}").get_data(as_text=True)
    assert "Disable endpoint" in page and "Enable again" not in page

    assert post(client, f"/admin/webhooks/{endpoint.id}/disable").status_code in (302, 303)
    webhooks.attempt(waiting.id)  # its retry, brought forward: not posted
    db.session.expire_all()
    waiting = db.session.get(WebhookDelivery, waiting.id)
    assert (waiting.status, waiting.last_error) == (DeliveryStatus.FAILED, "The endpoint is disabled.")
    assert len(receiver.requests) == 1
    receiver.requests.clear()
    page = client.get(f"/admin/webhooks/{endpoint.id}").get_data(as_text=True)
    assert "This endpoint is disabled: Alex Admin disabled it." in page and "Enable again" in page
    assert "Disable endpoint" not in page
    # The log says why it failed, not the earlier attempt's 503; nothing offers to redeliver.
    assert "The endpoint is disabled." in page and ">503<" not in page.replace(" ", "")
    assert ">Redeliver<" not in page
    refused = post(client, f"/admin/webhooks/{endpoint.id}/deliveries/{waiting.id}/redeliver")
    assert refused.status_code == 409 and "Enable it again, then redeliver" in refused.get_data(as_text=True)
    assert post(client, f"/admin/webhooks/{endpoint.id}/deliveries/999999/redeliver").status_code == 404
    db.session.expire_all()
    assert db.session.get(WebhookDelivery, waiting.id).status == DeliveryStatus.FAILED
    assert receiver.requests == []
    inbound.receive(InboundMessage(from_phone="+12025550178", to_phone="+12025550100", body="Hi"), "console")
    db.session.commit()
    assert receiver.requests == []
    assert db.session.scalars(select(WebhookDelivery.id)).all() == [waiting.id]  # nor kept for later

    assert post(client, f"/admin/webhooks/{endpoint.id}/enable").status_code in (302, 303)
    inbound.receive(
        InboundMessage(from_phone="+12025550178", to_phone="+12025550100", body="Again"), "console"
    )
    db.session.commit()
    assert [e["data"]["text"] for e in receiver.verified(secret)] == ["Again"]
    audit = client.get("/admin/audit").get_data(as_text=True)
    assert f"Webhook {receiver.url} disabled" in audit and f"Webhook {receiver.url} enabled again" in audit


def test_an_endpoint_disabled_while_an_event_is_posted_keeps_the_admins_reason(
    private_ok, world, receiver, monkeypatch
):
    add_endpoint(private_ok, receiver.url, "message.received")
    receiver.planned = [503, 503]
    inbound.receive(InboundMessage(from_phone="+12025550178", to_phone="+12025550100", body="Hi"), "console")
    delivery = db.session.scalars(select(WebhookDelivery)).one()  # failed once, waits for its retry
    endpoint = db.session.scalars(select(WebhookEndpoint)).one()
    endpoint.failing_since = utcnow() - timedelta(days=2)  # failing long enough to be given up
    db.session.commit()
    post = webhooks._post

    def disabled_meanwhile(*args):  # the admin disables it while the retry is posted
        webhooks.disable(db.session.get(WebhookEndpoint, endpoint.id), world["users"]["admin"])
        db.session.commit()
        return post(*args)

    monkeypatch.setattr(webhooks, "_post", disabled_meanwhile)
    webhooks.attempt(delivery.id)
    db.session.expire_all()
    endpoint = db.session.get(WebhookEndpoint, endpoint.id)
    assert (endpoint.active, endpoint.disabled_reason) == (False, "Alex Admin disabled it.")
    assert endpoint.failing_since is None
    assert db.session.get(WebhookDelivery, delivery.id).status == DeliveryStatus.FAILED


def test_a_rotated_secret_signs_alongside_the_old_one_for_a_day(private_ok, client, world, receiver):
    """The CRM can switch secrets without refusing a delivery: after a rotation each delivery
    carries a signature by each secret, until the old one's day is over."""
    old = add_endpoint(private_ok, receiver.url, "message.received")
    endpoint = db.session.scalars(select(WebhookEndpoint)).one()
    as_admin(client)
    page = admin_post(client, f"/admin/webhooks/{endpoint.id}/rotate-secret").get_data(as_text=True)
    new = re.search(r'id="new-webhook-secret" type="text" readonly value="(whsec_[^"]+)"', page)[1]
    assert new != old and "the previous one signs every delivery too until" in page
    assert "Copy it now: it is not shown again" in page
    again = client.get(f"/admin/webhooks/{endpoint.id}").get_data(as_text=True)
    assert new not in again and old not in again and "The previous secret signs too until" in again

    inbound.receive(InboundMessage(from_phone="+12025550178", to_phone="+12025550100", body="Hi"), "console")
    db.session.commit()
    assert [e["data"]["text"] for e in receiver.verified(old)] == ["Hi"]
    assert [e["data"]["text"] for e in receiver.verified(new)] == ["Hi"]
    assert len(receiver.requests[0][0]["webhook-signature"].split(" ")) == 2

    endpoint = db.session.get(WebhookEndpoint, endpoint.id)
    endpoint.previous_secret_until = utcnow() - timedelta(seconds=1)  # the day is over
    db.session.commit()
    receiver.requests.clear()
    inbound.receive(InboundMessage(from_phone="+12025550178", to_phone="+12025550100", body="Bye"), "console")
    db.session.commit()
    assert [e["data"]["text"] for e in receiver.verified(new)] == ["Bye"]
    with pytest.raises(WebhookVerificationError):
        receiver.verified(old)
    assert "signing secret rotated" in client.get("/admin/audit").get_data(as_text=True)
    add_endpoint(private_ok, receiver.url + "/other")  # rotated just now: its old secret still signs
    other = db.session.scalars(select(WebhookEndpoint).where(WebhookEndpoint.id != endpoint.id)).one()
    webhooks.rotate_secret(other, world["users"]["admin"])
    db.session.commit()
    webhooks.forget_previous_secrets()  # the worker's hourly sweep: an expired secret is not kept
    db.session.expire_all()
    assert db.session.get(WebhookEndpoint, endpoint.id).previous_secret is None
    assert db.session.get(WebhookEndpoint, other.id).previous_secret is not None


def test_a_second_rotation_waits_until_the_previous_secret_is_stopped(private_ok, client, world, receiver):
    """A reloaded page or a double click would rotate twice and cut off the secret the CRM still
    uses: while the previous secret signs, rotating is refused; stopping it ends it at once."""
    old = add_endpoint(private_ok, receiver.url, "message.received")
    endpoint = db.session.scalars(select(WebhookEndpoint)).one()
    as_admin(client)
    admin_post(client, f"/admin/webhooks/{endpoint.id}/rotate-secret")
    new = db.session.get(WebhookEndpoint, endpoint.id).secret
    again = admin_post(client, f"/admin/webhooks/{endpoint.id}/rotate-secret")
    assert again.status_code == 409 and "the previous one signs until" in again.get_data(as_text=True)
    db.session.expire_all()
    endpoint = db.session.get(WebhookEndpoint, endpoint.id)
    assert (endpoint.secret, endpoint.previous_secret) == (new, old)

    stopped = admin_post(client, f"/admin/webhooks/{endpoint.id}/stop-previous-secret")
    assert stopped.status_code in (302, 303)
    assert "The previous secret no longer signs." in client.get(stopped.location).get_data(as_text=True)
    inbound.receive(InboundMessage(from_phone="+12025550178", to_phone="+12025550100", body="Hi"), "console")
    db.session.commit()
    assert [e["data"]["text"] for e in receiver.verified(new)] == ["Hi"]
    with pytest.raises(WebhookVerificationError):
        receiver.verified(old)
    assert admin_post(client, f"/admin/webhooks/{endpoint.id}/rotate-secret").status_code == 200
    audit = client.get("/admin/audit").get_data(as_text=True)
    assert "the previous signing secret stopped" in audit


def test_an_admin_deletes_an_endpoint_after_confirming(private_ok, client, world, receiver):
    add_endpoint(private_ok, receiver.url, "message.received")
    endpoint_id = db.session.scalars(select(WebhookEndpoint.id)).one()
    receiver.planned = [503]  # an event waits for its retry
    inbound.receive(InboundMessage(from_phone="+12025550178", to_phone="+12025550100", body="Hi"), "console")
    db.session.commit()
    waiting = db.session.scalars(select(WebhookDelivery.id)).one()
    as_admin(client)
    page = client.get(f"/admin/webhooks/{endpoint_id}/delete").get_data(as_text=True)
    assert f"Delete {receiver.url}?" in page
    assert db.session.get(WebhookEndpoint, endpoint_id) is not None  # asking deletes nothing

    response = admin_post(client, f"/admin/webhooks/{endpoint_id}/delete")
    assert response.status_code in (302, 303) and response.location.endswith("/admin/webhooks")
    listing = client.get("/admin/webhooks").get_data(as_text=True)
    assert f"Endpoint {receiver.url} deleted" in listing and "No endpoints yet" in listing
    db.session.expire_all()
    assert db.session.get(WebhookEndpoint, endpoint_id) is None
    assert db.session.scalars(select(WebhookDelivery)).all() == []
    assert webhooks.attempt(waiting) == (None, [])  # its retry finds nothing to post
    assert len(receiver.requests) == 1
    assert client.get(f"/admin/webhooks/{endpoint_id}").status_code == 404
    assert f"Webhook {receiver.url} deleted" in client.get("/admin/audit").get_data(as_text=True)


def test_an_endpoint_deleted_while_an_event_is_posted_leaves_nothing_behind(
    private_ok, world, receiver, monkeypatch
):
    add_endpoint(private_ok, receiver.url, "message.received")
    receiver.planned = [503]
    inbound.receive(InboundMessage(from_phone="+12025550178", to_phone="+12025550100", body="Hi"), "console")
    delivery_id = db.session.scalars(select(WebhookDelivery.id)).one()
    post = webhooks._post

    def deleted_meanwhile(*args):
        endpoint = db.session.scalars(select(WebhookEndpoint)).one()
        webhooks.delete_endpoint(endpoint, world["users"]["admin"])
        db.session.commit()
        return post(*args)

    monkeypatch.setattr(webhooks, "_post", deleted_meanwhile)
    db.session.get(WebhookDelivery, delivery_id).next_attempt_at = utcnow()
    db.session.commit()
    assert webhooks.attempt(delivery_id) == (None, [])
    assert db.session.scalars(select(WebhookEndpoint)).all() == []


def test_an_endpoint_deleted_while_an_event_is_written_does_not_fail_the_text(
    app, private_ok, world, receiver, monkeypatch
):
    """A text's transaction has read the office's endpoints and is about to write their
    deliveries when an admin deletes one: the deletion waits for the text, then takes its
    delivery with it (on PostgreSQL the text failed: a delivery for an endpoint deleted meanwhile)."""
    add_endpoint(private_ok, receiver.url)
    endpoint_id = db.session.scalars(select(WebhookEndpoint.id)).one()
    admin_id = world["users"]["admin"].id
    db.session.commit()
    read, deleted = threading.Event(), threading.Event()
    subscribed = webhooks._subscribed

    def read_then_pause(*args):
        ids = subscribed(*args)
        read.set()
        deleted.wait(1)  # the deletion commits meanwhile, unless it must wait for this text
        return ids

    def delete_meanwhile() -> None:
        with app.app_context():
            read.wait(10)
            endpoint = db.session.get(WebhookEndpoint, endpoint_id)
            webhooks.delete_endpoint(endpoint, db.session.get(User, admin_id))
            db.session.commit()
            deleted.set()

    monkeypatch.setattr(webhooks, "_subscribed", read_then_pause)
    thread = threading.Thread(target=delete_meanwhile)
    thread.start()
    webhooks.emit(world["office"].id, "message.received", {"text": "Hi"})
    db.session.commit()
    thread.join(30)
    assert deleted.is_set()
    assert db.session.scalars(select(WebhookDelivery)).all() == []
    assert db.session.get(WebhookEndpoint, endpoint_id) is None


def test_other_offices_endpoints_cannot_be_rotated_or_deleted(private_ok, client, world, receiver):
    add_endpoint(private_ok, receiver.url, office="Financial Aid")
    endpoint = db.session.scalars(select(WebhookEndpoint)).one()
    secret = endpoint.secret
    as_admin(client)  # Admissions' admin
    assert admin_post(client, f"/admin/webhooks/{endpoint.id}/rotate-secret").status_code == 404
    assert admin_post(client, f"/admin/webhooks/{endpoint.id}/stop-previous-secret").status_code == 404
    assert client.get(f"/admin/webhooks/{endpoint.id}/delete").status_code == 404
    assert admin_post(client, f"/admin/webhooks/{endpoint.id}/delete").status_code == 404
    db.session.expire_all()
    assert db.session.get(WebhookEndpoint, endpoint.id).secret == secret


def test_the_console_refuses_bad_urls_and_other_offices(app, client, world):
    from tests.admin.conftest import as_admin, post

    app.config["WEBHOOK_ALLOW_PRIVATE"] = False
    as_admin(client)
    form = {"url": "https://10.0.0.5/hook", "office_id": world["office"].id}
    response = post(client, "/admin/webhooks", form)
    assert response.status_code == 422 and "not a public address" in response.get_data(as_text=True)
    form = {"url": "https://93.184.216.34/hook", "office_id": world["other_office"].id}
    response = post(client, "/admin/webhooks", form)
    assert response.status_code == 422 and "Choose one of your offices" in response.get_data(as_text=True)
    # Every field's error at once, not the URL's only after the office is fixed.
    response = post(client, "/admin/webhooks", {"url": "", "office_id": ""})
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "A webhook URL must start with https://" in page and "Choose one of your offices" in page
    assert db.session.scalars(select(WebhookEndpoint)).all() == []


def test_a_bot_escalation_and_a_providers_opt_out_report_are_events_too(private_ok, world, make, receiver):
    secret = add_endpoint(private_ok, receiver.url, "conversation.needs_attention", "contact.opted_out")
    make.number("+12025550101", backing="bot", label="FAQ Bot")
    inbound.receive(  # the bot knows nothing yet: it hands the conversation to people
        InboundMessage(from_phone="+12025550178", to_phone="+12025550101", body="Is there a band?"),
        "console",
    )
    crm = Crm(private_ok.test_client(use_cookies=False), new_key("Slate", world["office"]))
    sent = crm.send("2025550143").get_json()
    message = db.session.get(Message, sent["id"])
    delivery_reports.record(
        StatusUpdate(provider_message_id=message.provider_message_id, status="failed",
                     parley_message_id=message.id, recipient_opted_out=True),
        "console",
    )  # fmt: skip
    events = receiver.verified(secret)
    assert [(e["type"], e["data"].get("contact_phone") or e["data"].get("phone")) for e in events] == [
        ("conversation.needs_attention", "+12025550178"),
        ("contact.opted_out", "+12025550143"),
    ]
    assert events[0]["data"]["mode"] == "agent" and events[0]["data"]["number"] == "+12025550101"


@pytest.fixture
def tls_receiver(tmp_path) -> Iterator[tuple[int, list[dict]]]:
    """An https endpoint on 127.0.0.1 whose certificate names crm.invalid (a name no resolver
    knows); requests trusts it through REQUESTS_CA_BUNDLE."""
    cert, key = tmp_path / "crm.pem", tmp_path / "crm.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=crm.invalid",
         "-addext", "subjectAltName=DNS:crm.invalid", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    seen: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            seen.append({k.lower(): v for k, v in self.headers.items()})
            self.send_response(204)
            self.end_headers()

        def log_message(self, *_args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    server_thread(server).start()
    os.environ["REQUESTS_CA_BUNDLE"] = str(cert)
    try:
        yield server.server_address[1], seen
    finally:
        del os.environ["REQUESTS_CA_BUNDLE"]
        server.shutdown()


def test_a_delivery_connects_to_the_address_it_checked(private_ok, world, tls_receiver, monkeypatch):
    """No second lookup between the check and the connection (DNS rebinding): the delivery goes to
    the checked address, and TLS still names and verifies the endpoint's host."""
    port, seen = tls_receiver
    looked_up = []

    def resolver(host: str, _port: int) -> list:
        looked_up.append(host)
        return [ipaddress.ip_address("127.0.0.1")]

    monkeypatch.setattr(webhooks, "_addresses", resolver)
    add_endpoint(private_ok, f"https://crm.invalid:{port}/events", "message.received")
    inbound.receive(
        InboundMessage(from_phone="+12025550178", to_phone="+12025550100", body="Hello"), "console"
    )
    delivery = db.session.scalars(select(WebhookDelivery)).one()
    assert delivery.status == DeliveryStatus.DELIVERED, delivery.last_error
    assert [headers["host"] for headers in seen] == [f"crm.invalid:{port}"]
    assert looked_up == ["crm.invalid", "crm.invalid"]  # when added, and once at delivery


def test_a_certificate_for_another_name_is_refused(private_ok, world, tls_receiver, monkeypatch):
    port, seen = tls_receiver
    monkeypatch.setattr(webhooks, "_addresses", lambda host, _port: [ipaddress.ip_address("127.0.0.1")])
    add_endpoint(private_ok, f"https://other.invalid:{port}/events", "message.received")
    inbound.receive(
        InboundMessage(from_phone="+12025550178", to_phone="+12025550100", body="Hello"), "console"
    )
    delivery = db.session.scalars(select(WebhookDelivery)).one()
    assert delivery.status == DeliveryStatus.PENDING
    assert delivery.last_error == "Its TLS certificate was not accepted (SSLError)."
    assert seen == []


def test_a_conversation_event_carries_the_conversation_as_the_api_shows_it(private_ok, world, receiver):
    """`data` of conversation.needs_attention is the API's conversation object, the contact's name
    from the office's campaign records included."""
    campaigns.launch_campaign(campaigns.campaign_by_name("Admissions List"))
    db.session.commit()
    secret = add_endpoint(private_ok, receiver.url, "conversation.needs_attention")
    inbound.receive(
        InboundMessage(from_phone="+12025550143", to_phone="+12025550100", body="Is my file complete?"),
        "console",
    )

    [event] = receiver.verified(secret)
    crm = Crm(private_ok.test_client(use_cookies=False), new_key("Slate", world["office"]))
    [conversation] = crm.get("/api/v1/conversations?phone=2025550143").get_json()["data"]
    assert event["data"] == conversation
    assert event["data"]["contact_name"] == "Maria Garcia"


def test_needs_attention_is_told_when_a_conversation_starts_needing_it(private_ok, world, make, receiver):
    """Not for every text while it needs attention: those are message.received alone."""
    secret = add_endpoint(private_ok, receiver.url, "message.received", "conversation.needs_attention")
    make.number("+12025550101", backing="bot", label="FAQ Bot")

    def text(body: str, number: str = "+12025550100") -> int:
        received = inbound.receive(
            InboundMessage(from_phone="+12025550143", to_phone=number, body=body), "console"
        )
        return received.conversation_id

    conversation_id = text("Is my file complete?")  # a new conversation, needing attention
    text("Hello?")  # still needs attention
    sending.reply(world["users"]["standard"], db.session.get(Conversation, conversation_id), "Yes!")
    db.session.commit()
    text("Thank you!")  # the agent's answer cleared it: it needs attention again
    text("Is there a band?", number="+12025550101")  # the bot knows nothing: an agent's now
    text("Anyone?", number="+12025550101")

    events = [(e["type"], e["data"].get("text")) for e in receiver.verified(secret)]
    assert events == [
        ("message.received", "Is my file complete?"),
        ("conversation.needs_attention", None),
        ("message.received", "Hello?"),
        ("message.received", "Thank you!"),
        ("conversation.needs_attention", None),
        ("message.received", "Is there a band?"),
        ("conversation.needs_attention", None),
        ("message.received", "Anyone?"),
    ]


def test_texts_arriving_together_tell_needs_attention_once(private_ok, world, receiver):
    secret = add_endpoint(private_ok, receiver.url, "conversation.needs_attention")
    crm = Crm(private_ok.test_client(use_cookies=False), new_key("Slate", world["office"]))
    assert crm.send("2025550143").status_code == 202  # a conversation not needing attention
    db.session.commit()
    count = 8
    barrier = threading.Barrier(count)

    def text(k: int) -> None:
        with private_ok.app_context():
            barrier.wait()
            inbound.receive(
                InboundMessage(from_phone="+12025550143", to_phone="+12025550100", body=f"Text {k}"),
                "console",
            )

    threads = [threading.Thread(target=text, args=(k,)) for k in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    inbound_texts = select(Message.body).where(Message.direction == "inbound")
    assert len(db.session.scalars(inbound_texts).all()) == count
    assert [e["type"] for e in receiver.verified(secret)] == ["conversation.needs_attention"]


def test_an_admins_opt_out_and_its_removal_are_told_to_the_offices_concerned(
    private_ok, client, world, receiver
):
    """An admin's change is an event as a contact's STOP is: for the offices whose numbers have a
    conversation with the phone and the admin's own; a refused change tells nobody."""
    admissions = add_endpoint(private_ok, receiver.url, "contact.opted_out", "contact.opted_in")
    with running_receiver() as aid_crm:
        aid = add_endpoint(
            private_ok, aid_crm.url, "contact.opted_out", "contact.opted_in", office="Financial Aid"
        )
        inbound.receive(  # Maria talks with Financial Aid only
            InboundMessage(from_phone="+12025550143", to_phone="+12025550200", body="Hi"), "console"
        )
        db.session.commit()
        as_admin(client)  # an admin of Admissions

        assert admin_post(client, "/admin/opt-outs/", {"phone": "(202) 555-0143"}).status_code == 303
        assert admin_post(client, "/admin/opt-outs/", {"phone": "(202) 555-0178"}).status_code == 303
        assert admin_post(client, "/admin/opt-outs/", {"phone": "(202) 555-0143"}).status_code == 422
        refused = admin_post(client, "/admin/opt-outs/+12025550143/remove", {"reason": " "})
        assert refused.status_code == 422
        removed = admin_post(client, "/admin/opt-outs/+12025550143/remove", {"reason": "Asked again"})
        assert removed.status_code == 303

        opted_out = {"phone": "+12025550143", "opted_out": True}
        opted_in = {"phone": "+12025550143", "opted_out": False}
        assert [(e["type"], e["data"]) for e in receiver.verified(admissions)] == [
            ("contact.opted_out", opted_out),
            ("contact.opted_out", {"phone": "+12025550178", "opted_out": True}),
            ("contact.opted_in", opted_in),
        ]
        assert [(e["type"], e["data"]) for e in aid_crm.verified(aid)] == [
            ("contact.opted_out", opted_out),
            ("contact.opted_in", opted_in),
        ]

        # Financial Aid's admin may not remove what Admissions' admin added by hand: nothing told.
        other = as_admin(private_ok.test_client(), "fa-admin@example.edu")
        forbidden = admin_post(other, "/admin/opt-outs/+12025550178/remove", {"reason": "Wrong"})
        assert forbidden.status_code == 403
        assert len(receiver.requests) == 3 and len(aid_crm.requests) == 2


def test_a_stop_is_told_to_every_office_talking_with_the_phone_once(private_ok, world, receiver):
    """An opt-out holds organisation-wide, so a STOP to one office's number reaches the CRM of
    every office with a conversation with the phone; a STOP repeated changes nothing, and says
    nothing again; START tells them all once."""
    admissions = add_endpoint(private_ok, receiver.url, "contact.opted_out", "contact.opted_in")
    with running_receiver() as aid_crm:
        aid = add_endpoint(
            private_ok, aid_crm.url, "contact.opted_out", "contact.opted_in", office="Financial Aid"
        )
        for to, body in [("+12025550100", "Hi Admissions"), ("+12025550200", "STOP"),
                         ("+12025550200", "STOP"), ("+12025550100", "STOP"),
                         ("+12025550100", "START"), ("+12025550200", "START")]:
            inbound.receive(InboundMessage(from_phone="+12025550143", to_phone=to, body=body), "console")
            db.session.commit()

        told = [("contact.opted_out", True), ("contact.opted_in", False)]
        assert [(e["type"], e["data"]["opted_out"]) for e in receiver.verified(admissions)] == told
        assert [(e["type"], e["data"]["opted_out"]) for e in aid_crm.verified(aid)] == told
        assert {e["data"]["phone"] for e in receiver.accepted + aid_crm.accepted} == {"+12025550143"}


def test_the_same_url_cannot_be_added_twice_for_an_office(app, client, world, monkeypatch):
    """Two endpoints for one URL would deliver every event twice; another office may have it."""
    from tests.admin.conftest import as_admin, post

    app.config["WEBHOOK_ALLOW_PRIVATE"] = False
    fake_dns(monkeypatch, {"crm.example.edu": "93.184.216.34"})
    args = ["webhooks", "add", "https://crm.example.edu/hook", "--office", "Admissions"]
    first = app.test_cli_runner().invoke(args=args)
    assert first.exit_code == 0 and first.stdout.strip().splitlines()[-1].startswith("whsec_")
    again = app.test_cli_runner().invoke(args=args)
    assert again.exit_code == 1
    assert "This office already has an endpoint for that URL." in again.output
    assert "whsec_" not in again.output

    as_admin(client)
    form = {"url": " https://crm.example.edu/hook", "office_id": world["office"].id}
    response = post(client, "/admin/webhooks", form)
    assert response.status_code == 422
    assert "This office already has an endpoint for that URL." in response.get_data(as_text=True)
    db.session.rollback()
    assert db.session.scalars(select(WebhookEndpoint.url)).all() == ["https://crm.example.edu/hook"]


def test_the_url_rule_said_is_the_one_in_force(app, client, world):
    from tests.admin.conftest import as_admin, post

    as_admin(client)
    form = {"url": "ftp://crm.example.edu/hook", "office_id": world["office"].id}
    app.config["WEBHOOK_ALLOW_PRIVATE"] = True
    page = post(client, "/admin/webhooks", form).get_data(as_text=True)
    assert "A webhook URL must start with https:// or http:// and name a host." in page
    assert "https or http; private addresses are allowed here." in page
    app.config["WEBHOOK_ALLOW_PRIVATE"] = False
    page = post(client, "/admin/webhooks", form).get_data(as_text=True)
    assert "must start with https:// and name a host (http:// only with PARLEY_WEBHOOK_" in page
    assert "https, on a public address." in page


def docs_receiver(secret: str, monkeypatch) -> object:
    """The Flask receiver that docs/api.md gives CRM developers, as printed there."""
    docs = (Path(__file__).resolve().parents[2] / "docs" / "api.md").read_text()
    section = docs.split("## 4. Receive activity webhooks", 1)[1]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    monkeypatch.setenv("PARLEY_WEBHOOK_SECRET", secret)
    namespace: dict = {"__name__": "crm_receiver"}
    exec(compile(code, "docs/api.md", "exec"), namespace)  # our own documentation, run as printed
    return namespace["app"]


def test_the_receiver_in_the_docs_handles_every_event_once(private_ok, world, receiver, monkeypatch, capsys):
    secret = add_endpoint(private_ok, receiver.url)
    crm = Crm(private_ok.test_client(use_cookies=False), new_key("Slate", world["office"]))
    sent = db.session.get(Message, crm.send("2025550143", "Your file is complete").get_json()["id"])
    failing = db.session.get(Message, crm.send("2025550178", "And yours?").get_json()["id"])
    for message, status in [(sent, "delivered"), (failing, "failed")]:
        delivery_reports.record(
            StatusUpdate(provider_message_id=message.provider_message_id, status=status,
                         parley_message_id=message.id),
            "console",
        )  # fmt: skip
    for text in ("Thank you!", "STOP", "START"):
        inbound.receive(
            InboundMessage(from_phone="+12025550143", to_phone="+12025550100", body=text), "console"
        )
        db.session.commit()
    conversation = db.session.get(Conversation, sent.conversation_id)
    conversations.add_note(conversation, world["users"]["standard"], "Registrar says Monday")
    db.session.commit()
    told = {json.loads(body)["type"] for _, body in receiver.requests}
    assert told == set(webhooks.EVENT_TYPES)  # every kind of event, as Parley posts it

    docs_app = docs_receiver(secret, monkeypatch).test_client()
    capsys.readouterr()
    for headers, body in receiver.requests:
        assert docs_app.post("/parley-events", data=body, headers=headers).status_code == 204, body
    printed = capsys.readouterr().out.splitlines()
    assert len(printed) == len(receiver.requests)
    assert "Reply from +12025550143 : Thank you!" in printed
    assert f"message.failed message {failing.id} failed" in printed
    assert "contact.opted_in +12025550143" in printed

    headers, body = receiver.requests[0]  # a retry of an event already handled: said once
    assert docs_app.post("/parley-events", data=body, headers=headers).status_code == 204
    assert capsys.readouterr().out == ""
