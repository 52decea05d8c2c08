"""A queue that cannot be reached from start-up (the SQLite queue file cannot be opened, Redis is
down) leaves the web app up: it is alive and not ready, work that waits in the database keeps
waiting there, and a request whose work the queue must take answers 503 (try again), never 500."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from tests.conftest import csrf_token, login, make_app, serving
from webapp import tasks
from webapp.extensions import db
from webapp.models import Conversation, ExportStatus, Message, OfficeExport, utcnow
from webapp.plugin_api import InboundMessage
from webapp.services import inbound, sending

CLOSED_PORT = 1  # nothing listens there: connections are refused at once


@pytest.fixture(params=["sqlite file is a directory", "sqlite folder cannot be made", "redis down"])
def app(request: pytest.FixtureRequest, database_url: str, tmp_path: Path) -> Iterator[Flask]:
    if request.param == "sqlite file is a directory":
        (tmp_path / "queue.db").mkdir()
        queue_url = f"sqlite:///{tmp_path / 'queue.db'}"
    elif request.param == "sqlite folder cannot be made":
        (tmp_path / "queues").write_text("")  # a file where the queue's folder would be
        queue_url = f"sqlite:///{tmp_path / 'queues' / 'queue.db'}"
    else:
        queue_url = f"redis://127.0.0.1:{CLOSED_PORT}/0"
    config = {"QUEUE_URL": queue_url, "QUEUE_IMMEDIATE": False, "API_RATE_LIMIT_STORAGE": "memory://"}
    with serving(make_app(database_url, tmp_path, **config)) as app:
        yield app


def test_the_app_starts_alive_and_not_ready(client):
    assert client.get("/healthz").status_code == 200
    response = client.get("/readyz")
    assert (response.status_code, response.get_data(as_text=True)) == (503, "queue unavailable\n")


def test_pages_that_need_no_queue_work(client, setup):
    login(client, "standard@example.edu")
    assert client.get("/inbox").status_code == 200


def test_an_export_asked_for_gets_503_and_is_shown_as_failed(client, setup):
    office_id = setup["office"].id
    login(client, "admin@example.edu")
    token = csrf_token(client, f"/admin/offices/{office_id}/compliance")
    response = client.post(
        f"/admin/offices/{office_id}/exports",
        data={"csrf_token": token, "date_from": "2026-03-01", "date_to": "2026-03-31"},
    )
    assert response.status_code == 503
    assert response.headers["Retry-After"]
    # The compliance page again, saying why, with the days chosen kept for another try.
    answer = response.get_data(as_text=True)
    assert "The worker&#39;s queue could not be reached, so this export never started." in answer
    assert 'value="2026-03-01"' in answer and 'value="2026-03-31"' in answer
    # Not left "waiting for the worker" forever: it says what happened and what to do.
    export = db.session.scalars(select(OfficeExport)).one()
    assert export.status == ExportStatus.FAILED
    page = client.get(f"/admin/offices/{office_id}/compliance").get_data(as_text=True)
    assert "Waiting for the worker" not in page
    assert "queue could not be reached" in page


def test_an_agents_text_waits_queued(client, setup):
    login(client, "standard@example.edu")
    token = csrf_token(client, "/texts/new")
    response = client.post(
        "/texts/new",
        data={"number_id": setup["number"].id, "to": "2025550143", "body": "Hi", "csrf_token": token},
    )
    assert response.status_code == 303
    assert db.session.scalars(select(Message)).one().status == "queued"  # the sweep sends it later


def test_a_text_to_a_bot_number_is_kept_and_handed_to_agents(client, setup, make):
    make.number("+12025550101", backing="bot", agents=("standard@example.edu",), label="Bot")
    received = inbound.receive(
        InboundMessage(from_phone="+12025550143", to_phone="+12025550101", body="Hello?"), "console"
    )
    db.session.expire_all()
    assert db.session.get(Message, received.message_id).body == "Hello?"
    conversation = db.session.get(Conversation, received.conversation_id)
    assert (conversation.mode, conversation.needs_attention) == ("agent", True)


def _text_waiting_for_the_sweep(client, setup) -> Message:
    """A text composed while the queue is down, waiting in the database long enough for the sweep."""
    login(client, "standard@example.edu")
    token = csrf_token(client, "/texts/new")
    client.post(
        "/texts/new",
        data={"number_id": setup["number"].id, "to": "2025550143", "body": "Hi", "csrf_token": token},
    )
    message = db.session.scalars(select(Message)).one()
    message.updated_at = utcnow() - timedelta(minutes=5)  # long enough for the sweep to pick up
    db.session.commit()
    return message


def test_the_sweep_leaves_what_it_cannot_queue_waiting_and_says_so(app, client, setup, caplog):
    # The sweep a worker runs when it starts, and every minute: with the queue down it must not
    # raise (at start-up that stopped `flask worker` with a traceback); the text keeps waiting.
    message = _text_waiting_for_the_sweep(client, setup)

    assert app.extensions["parley.tasks"].sweep_stuck_messages.call_local() is False

    assert "the queue could not be reached" in caplog.text
    assert "texts to send 1," in caplog.text and "for the next sweep" in caplog.text
    db.session.expire_all()
    assert db.session.get(Message, message.id).status == "queued"


def test_a_worker_start_up_sweep_tries_again_until_the_queue_takes_what_waited(
    app, client, setup, monkeypatch, caplog
):
    """The sweep a worker runs as it starts, with the queue down: tried again every few seconds on
    a thread of its own, through the database's own outages, until nothing waits unqueued."""
    message = _text_waiting_for_the_sweep(client, setup)
    monkeypatch.setattr(tasks, "SWEEP_RETRY_SECONDS", 0.01)
    real_stuck_message_ids = sending.stuck_message_ids
    sweeps: list[list[int] | str] = []

    def stuck_message_ids() -> list[int]:
        # First the queue is down (the fixture's), then the database is away twice, then nothing
        # is left to queue (the queue, back, took it): the sweep succeeds.
        if len(sweeps) in (1, 2):
            sweeps.append("database unavailable")
            raise OperationalError(None, None, Exception("connection refused"))
        sweeps.append(real_stuck_message_ids() if not sweeps else [])
        return sweeps[-1]

    monkeypatch.setattr(sending, "stuck_message_ids", stuck_message_ids)

    app.extensions["parley.tasks"].sweep_at_start()

    assert "the queue could not be reached" in caplog.text
    (retrying,) = [t for t in threading.enumerate() if t.name == "start-up sweep"]
    retrying.join(timeout=10)
    assert not retrying.is_alive()
    assert sweeps == [[message.id], "database unavailable", "database unavailable", []]
    assert caplog.text.count("start-up sweep: database unavailable: connection refused") == 2
