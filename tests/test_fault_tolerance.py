"""Fault tests with real processes: gunicorn web, `flask worker` consumers, the real Plivo SDK and a fake
Plivo API that is slow, failing or down. The queue runs on SQLite and on Redis."""

from __future__ import annotations

import os
import re
import subprocess
import threading
import time
import uuid
from dataclasses import dataclass

import pytest
import redis
from sqlalchemy import func, select

from tests.conftest import PASSWORD
from tests.fake_plivo import AUTH_ID, AUTH_TOKEN, FakePlivo, Reply
from tests.processes import BIN, ROOT, Agent, RedisServer, Stack, wait_for
from webapp.extensions import db
from webapp.models import Message

# Each pytest-xdist worker (gw0, gw1 …) flushes a Redis database of its own: 9, 10 … (Redis has 16
# by default, enough for 7 workers; with more, gw7 fails at once: "DB index is out of range").
REDIS_DB = 9 + int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw"))
REDIS_URL = f"redis://127.0.0.1:6379/{REDIS_DB}"


@pytest.fixture(params=["sqlite", "redis"])
def queue_url(request, tmp_path) -> str:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'queue.db'}"
        return
    client = redis.Redis.from_url(REDIS_URL)
    client.flushdb()
    yield REDIS_URL
    client.flushdb()


@pytest.fixture
def fake_plivo():
    with FakePlivo() as fake:
        yield fake


@pytest.fixture
def stack(app, database_url, queue_url, fake_plivo, tmp_path):
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "QUEUE_URL": queue_url,
        "SECRET_KEY": "fault-test-secret",
        "PARLEY_SMS_PROVIDERS": "console plivo",
        "PLIVO_AUTH_ID": AUTH_ID,
        "PLIVO_AUTH_TOKEN": AUTH_TOKEN,
        "PLIVO_API_BASE_URL": fake_plivo.url,
        "PARLEY_SEND_RETRY_BASE_SECONDS": "0.2",
        # Longer than a provider call may take (PLIVO_TIMEOUT_SECONDS), so only a dead worker's
        # send counts as interrupted.
        "PARLEY_SENDING_TIMEOUT_SECONDS": "12",
        "PARLEY_SWEEP_QUEUED_AFTER_SECONDS": "1",
        "PLIVO_TIMEOUT_SECONDS": "10",
        # Nothing of one test's processes in the shared instance/ folder (default: instance/imports).
        "PARLEY_IMPORT_FOLDER": str(tmp_path / "imports"),
    }
    logs = tmp_path / "logs"
    logs.mkdir()
    running = Stack(env=env, log_dir=logs)
    db.session.commit()
    yield running
    running.stop()
    print(running.logs())  # shown by pytest when the test failed


@dataclass(frozen=True)
class Line:
    id: int
    phone: str


@pytest.fixture
def number(setup, make) -> Line:
    number = make.number("+12025550111", provider="plivo", inboxes=("Admissions",), label="Plivo Line")
    line = Line(number.id, number.phone)
    db.session.commit()  # end the test's transaction: on SQLite an open one would block the processes
    return line


def read(query):
    """Run one short read of what the processes wrote, holding no lock afterwards."""
    with db.engine.connect() as conn:
        return conn.execute(query).all()


def message_rows():
    return read(
        select(Message.id, Message.status, Message.error_reason)
        .where(Message.direction == "outbound")
        .order_by(Message.id)
    )


def status_of(message_id: int) -> str:
    return read(select(Message.status).where(Message.id == message_id))[0][0]


def test_slow_provider_does_not_slow_compose(stack, number, fake_plivo):
    fake_plivo.answer_next(Reply(delay=5))
    stack.start_web()
    stack.start_worker()
    agent = Agent(stack.url, "standard@example.edu", PASSWORD)
    started = time.monotonic()
    response = agent.compose(number.id, "202-555-0143", "Hello, slowly")
    elapsed = time.monotonic() - started
    assert response.status_code == 303
    assert elapsed < 4, f"compose took {elapsed:.2f}s"  # it did not wait for the provider's 5 s
    (message,) = message_rows()
    assert message.status in ("queued", "sending")
    wait_for(lambda: status_of(message.id) == "sent", timeout=30)
    assert len(fake_plivo.requests) == 1


def test_503_twice_then_success_sends_one_message(stack, number, fake_plivo):
    fake_plivo.answer_next(Reply(status=503), Reply(status=503))
    stack.start_web()
    stack.start_worker()
    agent = Agent(stack.url, "standard@example.edu", PASSWORD)
    assert agent.compose(number.id, "2025550143", "Third time lucky").status_code == 303
    (message,) = message_rows()
    wait_for(lambda: status_of(message.id) == "sent", timeout=30)
    assert len(fake_plivo.requests) == 3
    assert {r.json["text"] for r in fake_plivo.requests} == {"Third time lucky"}
    assert len(message_rows()) == 1


def test_400_fails_at_once_with_reason_and_retry_works(stack, number, fake_plivo):
    fake_plivo.answer_next(Reply(status=400, body={"api_id": "x", "error": "invalid dst number"}))
    stack.start_web()
    stack.start_worker()
    agent = Agent(stack.url, "standard@example.edu", PASSWORD)
    location = agent.compose(number.id, "2025550143", "Hello").headers["Location"]
    (message,) = message_rows()
    wait_for(lambda: status_of(message.id) == "failed", timeout=30)
    assert len(fake_plivo.requests) == 1  # permanent: no retry
    page = agent.get(location).text
    assert re.search(r"Failed: [^<]*invalid dst number", page), page
    assert ">Retry</button>" in page
    assert agent.post(f"{location}/messages/{message.id}/retry").status_code == 200
    wait_for(lambda: status_of(message.id) == "sent", timeout=30)
    assert len(fake_plivo.requests) == 2


def test_worker_killed_mid_send_sends_exactly_once(stack, number, fake_plivo):
    fake_plivo.answer_next(Reply(delay=None))  # never answers
    # Shorter than the other tests' limits, which leave room for a slow provider: none here.
    stack.env["PLIVO_TIMEOUT_SECONDS"] = "2"
    stack.env["PARLEY_SENDING_TIMEOUT_SECONDS"] = "3"
    stack.start_web()
    worker = stack.start_worker()
    agent = Agent(stack.url, "standard@example.edu", PASSWORD)
    assert agent.compose(number.id, "2025550143", "Once only").status_code == 303
    wait_for(lambda: fake_plivo.requests, timeout=30)  # the provider has it …
    stack.kill(worker)  # … and the worker dies before hearing back
    time.sleep(3.5)  # PARLEY_SENDING_TIMEOUT_SECONDS: long enough that no live worker is still sending
    stack.start_worker()
    (message,) = message_rows()
    wait_for(lambda: status_of(message.id) == "failed", timeout=30)
    time.sleep(2)  # give a wrong implementation time to send it again
    assert len(fake_plivo.requests) == 1
    (message,) = message_rows()
    assert "interrupted" in message.error_reason


def test_message_whose_enqueue_was_lost_is_sent_by_the_sweep(stack, number, fake_plivo, queue_url):
    """The web process committed the message as queued, then its queue entry was lost (a crash between
    commit and enqueue, or a queue wiped while down). A starting worker's sweep still sends it."""
    stack.start_web()
    agent = Agent(stack.url, "standard@example.edu", PASSWORD)
    assert agent.compose(number.id, "2025550143", "Still here").status_code == 303
    if queue_url.startswith("redis"):
        redis.Redis.from_url(REDIS_URL).flushdb()
    else:
        os.remove(queue_url[len("sqlite:///") :])
    (message,) = message_rows()
    assert message.status == "queued"
    time.sleep(1.2)  # older than PARLEY_SWEEP_QUEUED_AFTER_SECONDS
    stack.start_worker()
    wait_for(lambda: status_of(message.id) == "sent", timeout=30)
    assert len(fake_plivo.requests) == 1


@pytest.mark.parametrize("queue_url", ["redis"])  # replaced below by a Redis of the test's own
def test_a_worker_started_while_redis_is_down_keeps_running_and_sends_once_it_is_back(
    stack, number, fake_plivo, tmp_path
):
    """Redis restarting (or failing over) when a worker starts, with a text waiting: the worker's
    first sweep cannot queue it. The worker says so and keeps running, where it stopped with a
    traceback, and tries that sweep again every few seconds: the text is sent within seconds of
    Redis coming back, not at the next minute's sweep."""
    redis_server = RedisServer(log_dir=tmp_path / "logs")  # not started: connections are refused

    def worker_log() -> str:
        return "".join(p.read_text(errors="replace") for p in (tmp_path / "logs").glob("worker-*.log"))

    stack.env["QUEUE_URL"] = redis_server.url
    stack.env["PARLEY_API_RATE_LIMIT_STORAGE"] = "memory://"  # the API's counts, not under test
    try:
        stack.start_web()
        agent = Agent(stack.url, "standard@example.edu", PASSWORD)
        assert agent.compose(number.id, "2025550143", "Waiting out Redis").status_code == 303
        (message,) = message_rows()
        time.sleep(1.2)  # older than PARLEY_SWEEP_QUEUED_AFTER_SECONDS
        worker = stack.start_worker()
        wait_for(lambda: "the queue could not be reached" in worker_log(), timeout=30)
        time.sleep(3)  # its threads poll the queue meanwhile
        assert worker.poll() is None, worker_log()
        assert "texts to send 1," in worker_log() and status_of(message.id) == "queued"
        # Each failed poll is a line naming the reason, not a traceback burying the log.
        assert "Error reading from queue (queue unreachable: ConnectionError" in worker_log()
        assert "Traceback" not in worker_log()

        redis_server.start()
        wait_for(lambda: status_of(message.id) == "sent", timeout=15)
        assert worker.poll() is None
        assert len(fake_plivo.requests) == 1
    finally:
        redis_server.kill()


def test_stop_while_queued_reaches_no_provider(stack, number, fake_plivo):
    stack.start_web()
    agent = Agent(stack.url, "standard@example.edu", PASSWORD)
    assert agent.compose(number.id, "2025550143", "Are you coming?").status_code == 303
    # No worker yet: the message waits in the queue while the contact texts STOP.
    subprocess.run(
        [str(BIN / "flask"), "--app", "webapp", "sms", "receive", "--from", "2025550143",
         "--to", number.phone, "--text", "STOP"],
        cwd=ROOT, env=stack.env, check=True, capture_output=True,
    )
    stack.start_worker()
    (message,) = message_rows()
    wait_for(lambda: status_of(message.id) == "failed", timeout=30)
    assert message_rows()[0].error_reason == "Failed to Send SMS Message: this contact has opted out"
    assert fake_plivo.requests == []


def test_200_concurrent_sends_each_sent_once(stack, number, fake_plivo):
    stack.start_web()
    stack.start_worker()
    stack.start_worker()
    agents = [Agent(stack.url, "standard@example.edu", PASSWORD) for _ in range(4)]
    errors: list[str] = []

    def send(index: int) -> None:
        agent = agents[index % len(agents)]
        to = f"202555{1000 + index:04d}"  # never the sending number itself
        response = agent.compose(number.id, to, f"Message {index}", key=uuid.uuid4().hex)
        if response.status_code != 303:
            errors.append(f"{index}: {response.status_code}")

    def send_every_eighth(start: int) -> None:
        for index in range(start, 200, 8):
            send(index)

    started = time.monotonic()
    threads = [threading.Thread(target=send_every_eighth, args=(start,)) for start in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    print(f"composed in {time.monotonic() - started:.1f}s")
    assert errors == []

    def all_sent() -> bool:
        return dict(read(select(Message.status, func.count()).group_by(Message.status))) == {"sent": 200}

    try:
        wait_for(all_sent, timeout=90, interval=0.5)
    finally:
        counts = select(Message.status, Message.error_reason, func.count())
        print("statuses:", read(counts.group_by(Message.status, Message.error_reason)))
        print("provider requests:", len(fake_plivo.requests), f"after {time.monotonic() - started:.1f}s")
    texts = sorted(r.json["text"] for r in fake_plivo.requests)
    assert texts == sorted(f"Message {i}" for i in range(200))  # each once, none lost
