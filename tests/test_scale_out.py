"""Parley scales out (SPEC 10): two gunicorn servers and two `flask worker`s share one PostgreSQL
database and one Redis queue, as behind a load balancer that sends each request to either server.

A session's requests alternate between the servers; composes and signed webhooks are stored and sent
exactly once; login throttles, webhook nonces and conditional polls hold across servers. Then the same
under faults: a server and a worker killed mid-load and started again, Redis restarted empty, every
database connection dropped. Nothing accepted is lost, nothing is sent twice, and every refusal is one
a client (or Plivo) retries.
"""

from __future__ import annotations

import itertools
import os
import re
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from urllib.parse import urlsplit

import pytest
import requests
from sqlalchemy import make_url, select, text

from tests.conftest import PASSWORD
from tests.fake_plivo import AUTH_ID, AUTH_TOKEN, FakePlivo, v3_headers
from tests.processes import RedisServer, Stack, wait_for
from webapp.extensions import db
from webapp.models import Message

ON_POSTGRESQL = make_url(os.environ.get("DATABASE_URL") or "sqlite://").get_backend_name() == "postgresql"
# Several servers share a database server, which SQLite is not; `.ci/run` runs this in its
# PostgreSQL pass.
pytestmark = pytest.mark.skipif(
    not ON_POSTGRESQL,
    reason="scale-out runs on PostgreSQL: set DATABASE_URL to a postgresql+psycopg:// database",
)

# What webhooks are signed for. Plain http: session cookies must travel to 127.0.0.1 (https would
# make them Secure).
PUBLIC_BASE_URL = "http://parley.test"
INBOUND = "/webhooks/plivo/inbound"
PLIVO_NUMBER = "+12025550111"
TAB = "/inbox?tab=attention"
HTMX = {"HX-Request": "true"}
# The fake Plivo answers at once, but a busy test machine may keep it a few seconds: the send's
# timeout is the product's default, and a send still unconfirmed after longer than that was cut off
# by a dead worker.
PLIVO_TIMEOUT_SECONDS = 5
SENDING_TIMEOUT_SECONDS = PLIVO_TIMEOUT_SECONDS + 3
# What a client (a browser, a load balancer, Plivo) retries: the server was busy, down or failed.
RETRYABLE = {429, 500, 502, 503, 504}


@dataclass
class Cluster:
    """Two servers, each a gunicorn and a worker, on one database and one Redis."""

    a: Stack
    b: Stack
    redis: RedisServer
    reports: DeliveryReports = field(init=False)

    def __post_init__(self) -> None:
        self.reports = DeliveryReports(self)

    @property
    def servers(self) -> tuple[Stack, Stack]:
        return self.a, self.b

    def other(self, server: Stack) -> Stack:
        return self.b if server is self.a else self.a


@pytest.fixture
def fake_plivo() -> Iterator[FakePlivo]:
    with FakePlivo() as fake:
        yield fake


@pytest.fixture
def cluster(app, database_url, fake_plivo, tmp_path) -> Iterator[Cluster]:
    logs = tmp_path / "logs"
    for name in ("a", "b", "redis"):
        (logs / name).mkdir(parents=True)
    redis_server = RedisServer(log_dir=logs / "redis")
    redis_server.start()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "QUEUE_URL": redis_server.url,
        "SECRET_KEY": "scale-out-secret",  # one key for every server: any of them reads the cookie
        "PUBLIC_BASE_URL": PUBLIC_BASE_URL,
        "PARLEY_SMS_PROVIDERS": "console plivo",
        "PLIVO_AUTH_ID": AUTH_ID,
        "PLIVO_AUTH_TOKEN": AUTH_TOKEN,
        "PLIVO_API_BASE_URL": fake_plivo.url,
        "PLIVO_TIMEOUT_SECONDS": str(PLIVO_TIMEOUT_SECONDS),
        "PARLEY_SEND_RETRY_BASE_SECONDS": "0.2",
        "PARLEY_SWEEP_QUEUED_AFTER_SECONDS": "1",
        "PARLEY_SENDING_TIMEOUT_SECONDS": str(SENDING_TIMEOUT_SECONDS),
        "PARLEY_IMPORT_FOLDER": str(tmp_path / "imports"),
    }
    a, b = Stack(env=env, log_dir=logs / "a"), Stack(env=env, log_dir=logs / "b")
    db.session.commit()
    try:
        for stack in (a, b):
            stack.start_worker()
            stack.start_web()
        cluster = Cluster(a, b, redis_server)
        fake_plivo.before_reply = cluster.reports
        yield cluster
    finally:
        for stack in (a, b):
            stack.stop()
        redis_server.kill()
        for stack in (a, b):
            print(stack.logs())  # shown by pytest when the test failed


@dataclass(frozen=True)
class Line:
    id: int
    phone: str


@pytest.fixture
def number(setup, make) -> Line:
    number = make.number(PLIVO_NUMBER, provider="plivo", inboxes=("Admissions",), label="Plivo Line")
    line = Line(number.id, number.phone)
    db.session.commit()
    return line


class Browser:
    """One browser session (its cookies) whose requests the load balancer sends to either server."""

    def __init__(self) -> None:
        self.http = requests.Session()
        self.csrf = ""

    def get(self, server: Stack, path: str, headers: dict | None = None) -> requests.Response:
        return self.http.get(server.url + path, headers=headers, allow_redirects=False, timeout=20)

    def post(self, server: Stack, path: str, **data: str) -> requests.Response:
        data.setdefault("csrf_token", self.csrf)
        return self.http.post(server.url + path, data=data, allow_redirects=False, timeout=20)

    def sign_in(self, server: Stack, email: str, password: str = PASSWORD) -> requests.Response:
        self.csrf = csrf_token(self.get(server, "/login").text)
        response = self.post(server, "/login", email=email, password=password)
        if response.status_code == 302:  # a fresh session, with its own token
            self.csrf = csrf_token(self.get(server, "/texts/new").text)
        return response

    def compose(self, server: Stack, number: Line, to: str, body: str, key: str) -> requests.Response:
        return self.post(
            server, "/texts/new", number_id=str(number.id), to=to, body=body, idempotency_key=key
        )


def csrf_token(page: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, "no CSRF token on the page"
    return match.group(1)


def inbound_form(text_: str, contact: str) -> dict[str, str]:
    """A Plivo inbound SMS (phones as Plivo sends them: digits without "+")."""
    return {
        "From": contact.removeprefix("+"),
        "To": PLIVO_NUMBER.removeprefix("+"),
        "Text": text_,
        "Type": "sms",
        "MessageUUID": str(uuid.uuid4()),
        "Units": "1",
    }


def post_webhook(server: Stack, form: dict[str, str], headers: dict | None = None) -> requests.Response:
    """POST as Plivo does, V3-signed for the public URL with a fresh nonce unless `headers` are given."""
    headers = headers or v3_headers(PUBLIC_BASE_URL + INBOUND, form)
    return requests.post(server.url + INBOUND, data=form, headers=headers, timeout=20)


class DeliveryReports:
    """Plivo's status callbacks: a moment after taking a text, the fake Plivo reports it delivered
    to the callback URL sent with it, signed as every webhook, at either server, and sends the
    report again (to the other server) while it is refused in a way Plivo retries."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.pending = 0
        self.refused: list[str] = []  # answers Plivo would not retry: must stay empty
        self.lock = threading.Lock()

    def __call__(self, sent: dict, message_uuid: str) -> None:
        """FakePlivo.before_reply: called as the fake takes a text."""
        with self.lock:
            self.pending += 1
        timer = threading.Timer(0.3, self._report, args=(sent, message_uuid))
        timer.daemon = True
        timer.start()

    def _report(self, sent: dict, message_uuid: str) -> None:
        form = {"MessageUUID": message_uuid, "Status": "delivered", "To": sent["dst"], "From": sent["src"]}
        headers = v3_headers(sent["url"], form)
        parts = urlsplit(sent["url"])
        deadline = time.monotonic() + 60
        try:
            for server in itertools.cycle(self.cluster.servers):
                try:
                    answer = requests.post(
                        f"{server.url}{parts.path}?{parts.query}", data=form, headers=headers, timeout=20
                    )
                except requests.RequestException:
                    answer = None
                if answer is not None and (answer.status_code == 200 or "Replayed" in answer.text):
                    return  # recorded (by this try, or by an earlier one whose answer was lost)
                if answer is not None and answer.status_code not in RETRYABLE:
                    with self.lock:
                        self.refused.append(f"{sent['text']}: {describe(answer)}")
                    return
                if time.monotonic() > deadline:
                    with self.lock:
                        self.refused.append(f"{sent['text']}: {describe(None)}")
                    return
                time.sleep(0.1)
        finally:
            with self.lock:
                self.pending -= 1

    def done(self) -> bool:
        with self.lock:
            return self.pending == 0


def readiness(server: Stack) -> tuple[int, str]:
    response = requests.get(server.url + "/readyz", timeout=20)
    return response.status_code, response.text


def read(query):
    """One short read of what the processes wrote."""
    with db.engine.connect() as conn:
        return conn.execute(query).all()


def outbound() -> list:
    return read(
        select(Message.body, Message.status, Message.error_code)
        .where(Message.direction == "outbound")
    )


def inbound_uuids() -> Counter:
    rows = read(select(Message.provider_message_id).where(Message.direction == "inbound"))
    return Counter(uuid_ for (uuid_,) in rows)


def settled(reports: DeliveryReports) -> bool:
    """No outbound message is waiting to be sent or being sent, and Plivo reported on every one it took."""
    return reports.done() and all(row.status not in ("queued", "sending") for row in outbound())


def plivo_texts(fake_plivo: FakePlivo) -> Counter:
    return Counter(request.json["text"] for request in fake_plivo.requests)


def test_two_servers_share_everything(cluster, number, fake_plivo):
    a, b = cluster.servers
    for server in (a, b):
        assert readiness(server) == (200, "ready\n")

    # One session, its requests alternately at each server: signed in at A, it composes at B.
    agent = Browser()
    assert agent.sign_in(a, "standard@example.edu").status_code == 302
    composed = []
    for n, server in zip(range(6), itertools.cycle((b, a))):
        body = f"Hello {n} from server {'AB'[cluster.servers.index(server)]}"
        response = agent.compose(server, number, f"202555{1000 + n % 2:04d}", body, uuid.uuid4().hex)
        assert response.status_code == 303, response.text
        composed.append(body)
        conversation = agent.get(cluster.other(server), urlsplit(response.headers["Location"]).path)
        assert conversation.status_code == 200 and body in conversation.text

    # Signed webhooks alternately at A and B. Each is accepted once: its replay at the other server
    # is refused, and Plivo's retry (signed anew) finds the message already stored.
    forms = [inbound_form(f"Question {n}", f"+1202555{2000 + n:04d}") for n in range(4)]
    for form, server in zip(forms, itertools.cycle((a, b))):
        headers = v3_headers(PUBLIC_BASE_URL + INBOUND, form)
        stored = post_webhook(server, form, headers)
        assert (stored.status_code, stored.text) == (200, "Stored\n")
        replay = post_webhook(cluster.other(server), form, headers)
        assert replay.status_code == 403 and "Replayed" in replay.text
        retried = post_webhook(cluster.other(server), form)
        assert (retried.status_code, retried.text) == (200, "Duplicate, already stored\n")
    assert inbound_uuids() == Counter(form["MessageUUID"] for form in forms)

    # Both workers take sends from the one queue; each text reaches Plivo once, which reports it
    # delivered to either server.
    wait_for(lambda: {row.status for row in outbound()} == {"delivered"}, timeout=30)
    assert sorted(row.body for row in outbound()) == sorted(composed)
    assert plivo_texts(fake_plivo) == Counter(composed)

    # A poll answered by A is 304 at B while nothing changed, and 200 at B after a change.
    first = agent.get(a, TAB, HTMX)
    assert first.status_code == 200 and "Question 3" in first.text
    etag = first.headers["ETag"]
    unchanged = agent.get(b, TAB, {**HTMX, "If-None-Match": etag})
    assert (unchanged.status_code, unchanged.content, unchanged.headers["ETag"]) == (304, b"", etag)
    assert post_webhook(a, inbound_form("A new question", "+12025552999")).status_code == 200
    changed = agent.get(b, TAB, {**HTMX, "If-None-Match": etag})
    assert changed.status_code == 200 and "A new question" in changed.text
    assert changed.headers["ETag"] != etag
    assert agent.get(a, TAB, {**HTMX, "If-None-Match": changed.headers["ETag"]}).status_code == 304

    # Every database connection is dropped (a PostgreSQL restart or failover does the same): each
    # process finds new ones for its next requests and tasks instead of failing them.
    assert drop_database_connections() > 0
    for server in (a, b, a, b, a, b, a, b):
        assert readiness(server) == (200, "ready\n")
        assert agent.get(server, TAB, HTMX).status_code == 200
    after = agent.compose(b, number, "2025551000", "After the drop", uuid.uuid4().hex)
    assert after.status_code == 303
    wait_for(lambda: {row.status for row in outbound()} == {"delivered"}, timeout=30)
    assert plivo_texts(fake_plivo)["After the drop"] == 1
    assert cluster.reports.refused == []

    # Failed logins for one email count together, wherever they land: the tenth refuses every
    # further attempt, at both servers, even with the right password.
    intruder = Browser()
    intruder.csrf = csrf_token(intruder.get(a, "/login").text)
    for _, server in zip(range(10), itertools.cycle((a, b))):
        failed = intruder.post(server, "/login", email="admin@example.edu", password="guess")
        assert failed.status_code == 401, failed.status_code
    for server in (a, b):
        refused = intruder.post(server, "/login", email="admin@example.edu", password=PASSWORD)
        assert refused.status_code == 429
        assert int(refused.headers["Retry-After"]) > 0


# Under faults --------------------------------------------------------------------------------


@dataclass
class Outcomes:
    """What the clients saw, shared by the load's threads."""

    composes: dict[str, str] = field(default_factory=dict)  # idempotency key → body, once accepted
    webhooks: dict[str, str] = field(default_factory=dict)  # MessageUUID → the answer that ended it
    retried: Counter = field(default_factory=Counter)  # refusals a client retried, by kind
    lost: list[str] = field(default_factory=list)  # answers no client retries: must stay empty
    lock: threading.Lock = field(default_factory=threading.Lock)

    def progress(self) -> int:
        with self.lock:
            return len(self.composes) + len(self.webhooks)


class Load:
    """Agents composing and Plivo delivering webhooks, in threads, each request to either server;
    what is refused in a way a client retries is sent again, to the next server."""

    COMPOSERS = 3

    def __init__(self, cluster: Cluster, number: Line) -> None:
        self.cluster = cluster
        self.number = number
        self.outcomes = Outcomes()
        self.stopping = threading.Event()
        self.agents = []
        for index in range(self.COMPOSERS):
            agent = Browser()
            assert agent.sign_in(cluster.servers[index % 2], "standard@example.edu").status_code == 302
            self.agents.append(agent)
        self.threads = [
            threading.Thread(target=self._compose, args=(index,)) for index in range(self.COMPOSERS)
        ]
        self.threads.append(threading.Thread(target=self._deliver_webhooks))

    def __enter__(self) -> Load:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join(60)

    def advance(self, by: int) -> None:
        """Wait until `by` more requests were answered."""
        target = self.outcomes.progress() + by
        wait_for(lambda: self.outcomes.progress() >= target, timeout=30)

    def _send(self, first: int, send: Callable[[Stack], requests.Response]) -> requests.Response | None:
        servers = itertools.cycle(self.cluster.servers[first:] + self.cluster.servers[:first])
        deadline = time.monotonic() + 60
        for server in servers:
            try:
                response = send(server)
            except requests.RequestException as exc:
                refusal = type(exc).__name__
            else:
                if response.status_code not in RETRYABLE:
                    return response
                refusal = str(response.status_code)
            with self.outcomes.lock:
                self.outcomes.retried[refusal] += 1
            if time.monotonic() > deadline:
                return None
            time.sleep(0.1)
        raise AssertionError("unreachable")

    def _compose(self, index: int) -> None:
        agent = self.agents[index]
        for n in itertools.count():
            if self.stopping.is_set():
                return
            # A few contacts per agent: conversations continue while others write to them.
            to = f"202555{3000 + index * 10 + n % 4:04d}"
            body, key = f"Compose {index}-{n}", uuid.uuid4().hex
            compose = partial(agent.compose, number=self.number, to=to, body=body, key=key)
            response = self._send(n % 2, compose)
            with self.outcomes.lock:
                if response is not None and response.status_code == 303:
                    self.outcomes.composes[key] = body
                else:
                    self.outcomes.lost.append(f"compose {body}: {describe(response)}")

    def _deliver_webhooks(self) -> None:
        for n in itertools.count():
            if self.stopping.is_set():
                return
            form = inbound_form(f"Inbound {n}", f"+1202555{4000 + n % 5:04d}")
            headers = v3_headers(PUBLIC_BASE_URL + INBOUND, form)
            # Re-sent as it was signed: if an earlier try was stored after all, this one is a replay.
            response = self._send(n % 2, partial(post_webhook, form=form, headers=headers))
            with self.outcomes.lock:
                if response is not None and response.status_code == 200:
                    self.outcomes.webhooks[form["MessageUUID"]] = "stored"
                elif response is not None and response.status_code == 403 and "Replayed" in response.text:
                    self.outcomes.webhooks[form["MessageUUID"]] = "replay of a stored try"
                else:
                    self.outcomes.lost.append(f"webhook {form['Text']}: {describe(response)}")


def describe(response: requests.Response | None) -> str:
    if response is None:
        return "still refused after a minute of retries"
    return f"{response.status_code} {response.text[:300]!r}"


def drop_database_connections() -> int:
    """pg_terminate_backend on every connection to the test database but this one."""
    with db.engine.connect() as conn:
        dropped = conn.execute(
            text(
                # With a timeout: it returns once each backend has ended and said so to its client.
                "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        ).all()
    db.engine.dispose()  # the test's own pooled connections were among them
    return len(dropped)


# The exceptions the faults above raise: Redis down or restarting, database connections dropped.
FAULTS_SEEN_IN_LOGS = (
    "ConnectionRefusedError:",
    "ConnectionResetError:",
    "redis.exceptions.ConnectionError:",
    "redis.exceptions.TimeoutError:",
    "psycopg.OperationalError:",
    "psycopg.errors.AdminShutdown:",
    "sqlalchemy.exc.OperationalError:",
)


def tracebacks(logs: str) -> Counter:
    """The exception each traceback in the logs ended with."""
    found = re.findall(r"^Traceback \(most recent call last\):\n(?:[ \t].*\n|\n)*?(\S.*)$", logs, re.M)
    return Counter(line[:160] for line in found)


def test_faults_lose_nothing_and_send_nothing_twice(cluster, number, fake_plivo):
    a, b = cluster.servers
    with Load(cluster, number) as load:
        load.advance(10)

        # A web server and a worker die mid-load (SIGKILL: nothing cleans up) and start again.
        a.kill(a.web)
        a.kill(a.workers[0])
        # Meanwhile B answers; what is sent to A waits in A's listening socket until A is back.
        time.sleep(1)
        a.start_web()
        a.start_worker()
        load.advance(10)

        # Redis restarts empty: the queued tasks are gone. Load balancers see it on /readyz.
        cluster.redis.kill()
        for server in (a, b):
            assert readiness(server) == (503, "queue unavailable\n")
        load.advance(5)
        cluster.redis.start()
        for server in (a, b):
            wait_for(lambda server=server: readiness(server)[0] == 200, timeout=20)
        load.advance(10)

        # Every database connection of every process is dropped at once.
        assert drop_database_connections() > 0
        load.advance(20)

    outcomes = load.outcomes
    # Sends a killed worker left unconfirmed are old enough for the sweep, which a starting worker
    # runs at once (running workers run it every minute).
    time.sleep(SENDING_TIMEOUT_SECONDS + 1)
    b.start_worker()
    wait_for(lambda: settled(cluster.reports), timeout=30, interval=0.5)

    logs = "\n".join(stack.logs() for stack in cluster.servers)
    print("retried refusals:", dict(outcomes.retried))
    print("webhook outcomes:", Counter(outcomes.webhooks.values()))
    print("tracebacks in the logs:", dict(tracebacks(logs)))

    assert outcomes.lost == []
    # What failed inside the processes is what the faults do: the queue or the database did not
    # answer for a moment. Anything else (a bug that surfaces under load) is listed here.
    assert [line for line in tracebacks(logs) if not line.startswith(FAULTS_SEEN_IN_LOGS)] == []
    assert len(outcomes.composes) >= 20 and len(outcomes.webhooks) >= 10

    # Every compose accepted is stored once (each has a text of its own), and nothing else is.
    rows = outbound()
    assert Counter(row.body for row in rows) == Counter(outcomes.composes.values())
    # Nothing reached Plivo twice. What reached it is delivered, whatever the worker sending it
    # managed to record before it was killed or lost its database connection: Plivo's report says
    # so. What did not reach it was cut off in a worker killed between claiming and sending it:
    # failed visibly for an agent to Retry, never sent again blindly.
    sent_texts = plivo_texts(fake_plivo)
    assert max(sent_texts.values()) == 1
    assert set(sent_texts) <= {row.body for row in rows}
    print("outbound statuses:", dict(Counter((row.status, row.error_code) for row in rows)))
    for row in rows:
        if sent_texts[row.body]:
            assert row.status == "delivered", row
        else:
            assert (row.status, row.error_code) == ("failed", "interrupted"), row
    assert cluster.reports.refused == []

    # Every webhook accepted (or refused as the replay of a try that was stored) is stored once.
    assert inbound_uuids() == Counter(list(outcomes.webhooks))
