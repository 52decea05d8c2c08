"""The agent load profile of `make bench`: how many agents at their desks one machine holds.

An agent keeps the inbox open on Needs Attention with a conversation open, as the page does:
every 3 s one poll asks for the tab fragment and names the open conversation, with the ETags last
received of both (If-None-Match, 304 while nothing shown changed); when its answer says the
conversation changed (HX-Trigger), the conversation's refresh follows at once, with its own tag.
Every 2 minutes the agent replies in the open conversation (the pane that answers carries the
conversation's new tag, which the page keeps) and one inbound text (a freshly signed Plivo webhook)
arrives for one of the agent's conversations. Agents sit in offices of OFFICE_SIZE,
each office with one number of its own, so an inbound text or a reply changes the tab of the
agent's whole office.

The load is open loop: every request starts at its scheduled time whether or not the server has
answered the earlier ones, and its latency runs from that scheduled time (a slow server shows as
latency, not as a lower rate). The generator is a small asyncio client in this process: gunicorn's
sync workers close every connection after one answer, so a request is one write and a read to the
end, and that costs far less CPU than a general HTTP client. Its own CPU share is measured and
reported, since it runs on the same cores as the server and the database.
"""

from __future__ import annotations

import asyncio
import html
import json
import os
import random
import re
import resource
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import bench_seed
import requests
from sqlalchemy import Engine, func, insert, select, text
from werkzeug.security import generate_password_hash

from plugins.plivo_sms.signatures import v3_signature
from webapp.models import (
    Conversation,
    Message,
    Office,
    Participant,
    ReadMark,
    ReusableNumber,
    User,
    number_inboxes,
    office_memberships,
)

# Seconds between an agent's requests of each kind (polls: INBOX_POLL_SECONDS). The conversation's
# refresh has no period: it follows a tab poll whose answer says the conversation changed.
PERIODS = {"tab": 3.0, "reply": 120.0, "inbound": 120.0}
OFFICE_SIZE = 25  # agents per office, and per number (each office has one number of its own)
CONVERSATIONS = 3  # per agent: the open one and two more, on the office's number
MESSAGES = 10  # history of each conversation
P99_LIMIT_MS = 250.0
TIMEOUT = 10.0  # seconds; a request not answered by then is an error, as in wrk
USER_AGENT = "Mozilla/5.0 (X11; Linux x86_64) ParleyBench/agents"
DEFAULT_STEPS = (250, 500, 750, 1000, 1250, 1500, 2000, 2500, 3000)
ETAG = re.compile(rb"\r\netag: *([^\r]+)", re.I)
CONVERSATION_CHANGED = re.compile(rb"\r\nhx-trigger: *open-conversation-changed\r\n", re.I)
POLL_TAG = re.compile(rb'id="conversation-live"[^>]* data-poll-tag="([^"]+)"')  # the pane's own
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass
class Agent:
    email: str
    number_phone: str  # the office's number, E.164
    conversation_ids: list[int]  # the first is the open one
    contact_phones: list[str]  # of those conversations, in the same order
    cookie: str = ""
    csrf: str = ""
    tab_tag: str | None = None
    conversation_tag: str | None = None
    refreshing: bool = False  # a refresh of the open conversation is in flight
    inbound_count: int = 0


@dataclass
class StepResult:
    agents: int
    seconds: float
    offered_rps: float
    achieved_rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    requests: int
    polls_304_share: float
    tab_304_share: float
    conversation_304_share: float
    send_lag_p99_ms: float  # how late the generator sent requests: its own saturation
    generator_cpu_share: float  # of all cores, over the step
    server_cpu_share: float  # gunicorn workers, of all cores
    machine_cpu_share: float  # everything on the machine: the database, and others' work too
    by_kind: dict[str, dict] = field(default_factory=dict)

    @property
    def held(self) -> bool:
        return self.errors == 0 and self.p99_ms <= P99_LIMIT_MS


# ---- the agents' data -------------------------------------------------------------------------


def setup(
    engine: Engine,
    scale: int,
    count: int,
    office_size: int = OFFICE_SIZE,
    password: str = bench_seed.PASSWORD,
) -> list[Agent]:
    """Add `count` agents in offices of `office_size`, each office with a number of its own and each
    agent with CONVERSATIONS conversations on it that they take part in and have read."""
    now = datetime.now(UTC).replace(microsecond=0)
    with engine.connect() as conn:

        def next_id(model) -> int:
            return (conn.execute(select(func.max(model.id))).scalar() or 0) + 1

        office0, user0, number0 = next_id(Office), next_id(User), next_id(ReusableNumber)
        conversation0, message0 = next_id(Conversation), next_id(Message)
    offices = -(-count // office_size)
    # Signing in is not what is measured: a cheap hash lets thousands of agents sign in quickly.
    hashed = generate_password_hash(password, method="pbkdf2:sha256:1000")
    number_phones = [f"+1202556{k:04d}" for k in range(offices)]
    first_contact = 8 * scale  # beyond every phone the seed and the endpoint benchmarks use
    agents: list[Agent] = []
    rows: dict[object, list[dict]] = {
        Office.__table__: [],
        User.__table__: [],
        office_memberships: [],
        ReusableNumber.__table__: [],
        number_inboxes: [],
        Conversation.__table__: [],
        Message.__table__: [],
        Participant.__table__: [],
        ReadMark.__table__: [],
    }
    for k in range(offices):
        rows[Office.__table__].append(
            {
                "id": office0 + k,
                "name": f"Desk {k + 1}",
                "help_text": "",
                "idk_action": "escalate",
                "idk_message": "",
                "created_at": now,
            }
        )
        rows[ReusableNumber.__table__].append(
            {
                "id": number0 + k,
                "phone": number_phones[k],
                "office_id": office0 + k,
                "label": f"Desk {k + 1} line",
                "description": "",
                "provider": "plivo",
                "backing": "agent",
                "active": True,
                "created_at": now,
            }
        )
        rows[number_inboxes].append({"number_id": number0 + k, "office_id": office0 + k})
    message_id = message0
    for a in range(count):
        user_id, office = user0 + a, a // office_size
        email = f"desk{a}@bench.example.edu"
        rows[User.__table__].append(
            {
                "id": user_id,
                "email": email,
                "name": f"Desk Agent {a}",
                "password_hash": hashed,
                "role": "standard",
                "active": True,
                "created_at": now,
            }
        )
        rows[office_memberships].append({"user_id": user_id, "office_id": office0 + office})
        agent = Agent(email=email, number_phone=number_phones[office], conversation_ids=[], contact_phones=[])
        for c in range(CONVERSATIONS):
            conversation_id = conversation0 + a * CONVERSATIONS + c
            phone = bench_seed.phone(first_contact + a * CONVERSATIONS + c)
            at = now - timedelta(hours=c + 1, minutes=a % 60)
            agent.conversation_ids.append(conversation_id)
            agent.contact_phones.append(phone)
            rows[Conversation.__table__].append(
                {
                    "id": conversation_id,
                    "number_id": number0 + office,
                    "contact_phone": phone,
                    "mode": "agent",
                    "needs_attention": False,
                    "last_activity_at": at,
                    "last_inbound_at": at - timedelta(minutes=5),
                    "last_message_preview": bench_seed.BODIES[c],
                    "created_at": at - timedelta(days=2),
                }
            )
            for m in range(MESSAGES):
                inbound = m % 2 == 0
                sent = at - timedelta(minutes=5 * (MESSAGES - m))
                rows[Message.__table__].append(
                    {
                        "id": message_id,
                        "conversation_id": conversation_id,
                        "direction": "inbound" if inbound else "outbound",
                        "body": bench_seed.BODIES[(a + m) % len(bench_seed.BODIES)],
                        "media_urls": [],
                        "author_kind": "contact" if inbound else "agent",
                        "author_user_id": None if inbound else user_id,
                        "status": "received" if inbound else "delivered",
                        "error_code": None,
                        "error_reason": None,
                        "provider": "plivo",
                        "provider_message_id": f"desk-{message_id:012d}",
                        "idempotency_key": None,
                        "attempts": 0 if inbound else 1,
                        "created_at": sent,
                        "updated_at": sent,
                    }
                )
                message_id += 1
            rows[Participant.__table__].append(
                {"conversation_id": conversation_id, "user_id": user_id, "joined_at": at}
            )
            rows[ReadMark.__table__].append(
                {"user_id": user_id, "conversation_id": conversation_id, "read_at": now}
            )
        agents.append(agent)
    for table, table_rows in rows.items():
        for start in range(0, len(table_rows), bench_seed.BATCH):
            with engine.begin() as conn:
                conn.execute(insert(table), table_rows[start : start + bench_seed.BATCH])
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            for table in ("offices", "users", "reusable_numbers", "conversations", "messages"):
                conn.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                        f"(SELECT max(id) FROM {table}))"
                    )
                )
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE" if engine.dialect.name == "postgresql" else "ANALYZE"))
    return agents


def sign_in(base: str, agents: list[Agent], password: str = bench_seed.PASSWORD) -> None:
    """Sign each agent in once and read the reply form's CSRF token from their open conversation."""

    def one(agent: Agent) -> None:
        session = requests.Session()
        session.headers["User-Agent"] = USER_AGENT
        for _attempt in range(50):
            token = CSRF.search(session.get(base + "/login").text).group(1)
            answer = session.post(
                base + "/login",
                data={"csrf_token": token, "email": agent.email, "password": password},
                allow_redirects=False,
            )
            if answer.status_code != 429:  # another sign-in held the password check: retry
                break
            time.sleep(0.05)
        if answer.status_code != 302:
            raise SystemExit(f"{agent.email} could not sign in: HTTP {answer.status_code}")
        page = session.get(f"{base}/conversations/{agent.conversation_ids[0]}")
        page.raise_for_status()
        agent.csrf = CSRF.search(page.text.split('id="reply-form"', 1)[1]).group(1)
        agent.cookie = "; ".join(f"{c.name}={c.value}" for c in session.cookies)

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(one, [a for a in agents if not a.cookie]))


# ---- the open-loop generator ------------------------------------------------------------------


class _Exchange(asyncio.Protocol):
    """One request on a connection of its own; the answer is everything until the server closes."""

    def __init__(self, request: bytes, done: asyncio.Future) -> None:
        self.request = request
        self.done = done
        self.chunks: list[bytes] = []
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport) -> None:
        self.transport = transport
        transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        self.chunks.append(data)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            if exc is None:
                self.done.set_result(b"".join(self.chunks))
            else:
                self.done.set_exception(exc)


class Generator:
    def __init__(
        self,
        base: str,
        agents: list[Agent],
        auth_token: str,
        public_base: str | None = None,  # the URL Plivo signs (PUBLIC_BASE_URL); base by default
        periods: dict[str, float] = PERIODS,
        seed: int = 8,
    ) -> None:
        parts = urlsplit(base)
        self.public_base = public_base or base
        self.periods = periods
        self.host, self.port = parts.hostname, parts.port
        self.agents = agents
        self.auth_token = auth_token
        self.rng = random.Random(seed)
        self.run_id = uuid.uuid4().hex[:8]
        self.sent = 0
        # Each agent's place in each cycle: spread evenly, fixed for the whole run.
        self.phases = [{kind: self.rng.random() for kind in periods} for _ in agents]
        self._tasks: set[asyncio.Task] = set()  # the requests in flight

    def _head(self, method: str, path: str, agent: Agent | None, extra: str = "") -> str:
        head = f"{method} {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nConnection: close\r\n"
        if agent is not None:
            head += f"User-Agent: {USER_AGENT}\r\nCookie: {agent.cookie}\r\nHX-Request: true\r\n"
        return head + extra

    def request(self, kind: str, agent: Agent) -> bytes:
        self.sent += 1
        if kind == "tab":
            tags = ", ".join(tag for tag in (agent.tab_tag, agent.conversation_tag) if tag)
            held = f"If-None-Match: {tags}\r\n" if tags else ""
            path = f"/inbox?tab=attention&open={agent.conversation_ids[0]}"
            return (self._head("GET", path, agent, held) + "\r\n").encode()
        if kind == "conversation":
            held = f"If-None-Match: {agent.conversation_tag}\r\n" if agent.conversation_tag else ""
            path = f"/conversations/{agent.conversation_ids[0]}/live"
            return (self._head("GET", path, agent, held) + "\r\n").encode()
        if kind == "reply":
            body = urlencode(
                {
                    "csrf_token": agent.csrf,
                    "idempotency_key": f"agents-{self.run_id}-{self.sent}",
                    "body": f"Thanks, we are on it ({self.sent}).",
                }
            )
            path = f"/conversations/{agent.conversation_ids[0]}/messages"
        else:  # an inbound text from one of the agent's contacts, in turn
            k = agent.inbound_count % len(agent.conversation_ids)
            agent.inbound_count += 1
            form = {
                "From": agent.contact_phones[k].lstrip("+"),
                "To": agent.number_phone.lstrip("+"),
                "Text": f"Is my form complete? ({self.sent})",
                "Type": "sms",
                "MessageUUID": f"agents-{self.run_id}-{self.sent}",
            }
            path = "/webhooks/plivo/inbound"
            nonce = uuid.uuid4().hex
            signature = v3_signature("POST", self.public_base + path, form, nonce, self.auth_token)
            body = urlencode(form)
            head = self._head(
                "POST",
                path,
                None,
                f"X-Plivo-Signature-V3: {signature}\r\nX-Plivo-Signature-V3-Nonce: {nonce}\r\n",
            )
            return self._body(head, body)
        return self._body(self._head("POST", path, agent), body)

    @staticmethod
    def _body(head: str, body: str) -> bytes:
        return (
            f"{head}Content-Type: application/x-www-form-urlencoded\r\n"
            f"Content-Length: {len(body)}\r\n\r\n{body}"
        ).encode()

    def schedule(self, count: int, seconds: float) -> list[tuple[float, str, int]]:
        """(start time from the step's start, kind, agent) for the first `count` agents."""
        events = []
        for a in range(count):
            for kind, period in self.periods.items():
                t = self.phases[a][kind] * period
                while t < seconds:
                    events.append((t, kind, a))
                    t += period
        events.sort()
        return events

    async def _one(self, kind: str, agent: Agent, due: float, log: list) -> None:
        loop = asyncio.get_running_loop()
        lag = loop.time() - due
        status, error = 0, ""
        done = loop.create_future()
        transport = None
        try:
            async with asyncio.timeout(TIMEOUT - lag):
                transport, _ = await loop.create_connection(
                    lambda: _Exchange(self.request(kind, agent), done), self.host, self.port
                )
                answer = await done
            status = int(answer[9:12]) if answer[:5] == b"HTTP/" else 0
            head = answer.split(b"\r\n\r\n", 1)[0]
            if kind == "tab" and CONVERSATION_CHANGED.search(head) and not agent.refreshing:
                agent.refreshing = True  # one at a time, as htmx sends an element's requests
                self._start("conversation", agent, loop.time(), log)
            if status == 200 and kind == "reply":  # the pane that answers carries its tag
                match = POLL_TAG.search(answer)
                agent.conversation_tag = html.unescape(match.group(1).decode()) if match else None
            if status == 200 and kind in ("tab", "conversation"):
                match = ETAG.search(head)
                tag = match.group(1).decode() if match else None
                if kind == "tab":
                    agent.tab_tag = tag
                else:
                    agent.conversation_tag = tag
        except TimeoutError:
            error = "timeout"
        except OSError as exc:
            error = type(exc).__name__
        finally:
            if transport is not None:
                transport.abort()
            if kind == "conversation":
                agent.refreshing = False
        expected = (200, 304) if kind in ("tab", "conversation") else (200, 201, 204)
        if not error and status not in expected:
            error = f"HTTP {status}"
        end = loop.time()
        log.append((due, end, kind, status, error, lag))

    def _start(self, kind: str, agent: Agent, due: float, log: list) -> None:
        task = asyncio.create_task(self._one(kind, agent, due, log))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def run_step(self, count: int, warmup: float, seconds: float) -> list[tuple]:
        """Run `warmup + seconds` of the first `count` agents; the log of every request."""
        loop = asyncio.get_running_loop()
        events = self.schedule(count, warmup + seconds)
        start = loop.time() + 0.2
        log: list[tuple] = []
        for t, kind, a in events:
            due = start + t
            delay = due - loop.time()
            if delay > 0.001:
                await asyncio.sleep(delay)
            self._start(kind, self.agents[a], due, log)
        while self._tasks:
            await asyncio.gather(*list(self._tasks))
        return [(due - start, end - start, *rest) for due, end, *rest in log]


# ---- a step, measured -------------------------------------------------------------------------


def _cpu_seconds(pids: list[int]) -> float:
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime
    return total


def _machine_busy() -> tuple[int, int]:
    """(busy, all) CPU ticks of the whole machine since boot."""
    ticks = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = ticks[3] + ticks[4]  # idle, iowait
    return sum(ticks) - idle, sum(ticks)


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q / 100))]


def measure_step(
    generator: Generator, count: int, warmup: float, seconds: float, server_pids: list[int]
) -> StepResult:
    cores = os.cpu_count() or 1
    wall0, cpu0, server0 = time.monotonic(), time.process_time(), _cpu_seconds(server_pids)
    machine0 = _machine_busy()
    # A thread of its own: the caller's may already run an event loop (a test process does).
    with ThreadPoolExecutor(1) as pool:
        log = pool.submit(asyncio.run, generator.run_step(count, warmup, seconds)).result()
    if os.environ.get("BENCH_AGENTS_LOG"):  # every request of the step, to study one
        Path(f"{os.environ['BENCH_AGENTS_LOG']}-{count}.json").write_text(json.dumps(log))
    wall = time.monotonic() - wall0
    generator_cpu = (time.process_time() - cpu0) / (wall * cores)
    server_cpu = (_cpu_seconds(server_pids) - server0) / (wall * cores)
    busy, total = (b - a for a, b in zip(machine0, _machine_busy(), strict=True))
    window = [r for r in log if warmup <= r[0] < warmup + seconds]
    latencies = [(end - due) * 1000 for due, end, *_ in window]
    errors = [r for r in window if r[4]]
    by_kind: dict[str, dict] = {}
    for kind in ("tab", "conversation", "reply", "inbound"):
        rows = [r for r in window if r[2] == kind]
        kind_errors: dict[str, int] = {}
        for r in rows:
            if r[4]:
                kind_errors[r[4]] = kind_errors.get(r[4], 0) + 1
        by_kind[kind] = {
            "requests": len(rows),
            "p50_ms": round(_percentile([(r[1] - r[0]) * 1000 for r in rows], 50), 1),
            "p99_ms": round(_percentile([(r[1] - r[0]) * 1000 for r in rows], 99), 1),
            "not_modified": sum(1 for r in rows if r[3] == 304),
            "errors": kind_errors,
        }
    polls = by_kind["tab"]["requests"] + by_kind["conversation"]["requests"]
    share = lambda part, whole: part / whole if whole else 0.0  # noqa: E731
    completed = sum(1 for r in log if warmup <= r[1] < warmup + seconds and not r[4])
    return StepResult(
        agents=count,
        seconds=seconds,
        offered_rps=len(window) / seconds,
        achieved_rps=completed / seconds,
        p50_ms=_percentile(latencies, 50),
        p99_ms=_percentile(latencies, 99),
        errors=len(errors),
        requests=len(window),
        polls_304_share=share(
            by_kind["tab"]["not_modified"] + by_kind["conversation"]["not_modified"], polls
        ),
        tab_304_share=share(by_kind["tab"]["not_modified"], by_kind["tab"]["requests"]),
        conversation_304_share=share(
            by_kind["conversation"]["not_modified"], by_kind["conversation"]["requests"]
        ),
        send_lag_p99_ms=_percentile([r[5] * 1000 for r in window], 99),
        generator_cpu_share=generator_cpu,
        server_cpu_share=server_cpu,
        machine_cpu_share=busy / total if total else 0.0,
        by_kind=by_kind,
    )


def raise_file_limit() -> None:
    """Every request in flight holds a socket: an overloaded step can have thousands."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def run(
    base: str,
    agents: list[Agent],
    steps: list[int],
    auth_token: str,
    warmup: float,
    seconds: float,
    server_pids,
    after_step=None,
    office_size: int = OFFICE_SIZE,
) -> dict:
    """Step the number of agents up until a step misses p99 ≤ 250 ms or has errors."""
    raise_file_limit()
    generator = Generator(base, agents, auth_token)
    results: list[StepResult] = []
    for count in steps:
        sign_in(base, agents[:count])
        result = measure_step(generator, count, warmup, seconds, server_pids())
        results.append(result)
        print(
            f"  agents {count:5}  offered {result.offered_rps:7.1f} req/s  "
            f"achieved {result.achieved_rps:7.1f}  "
            f"p50 {result.p50_ms:7.1f} ms  p99 {result.p99_ms:7.1f} ms  errors {result.errors}  "
            f"304 {result.polls_304_share:.0%} (tab {result.tab_304_share:.0%}, "
            f"conversation {result.conversation_304_share:.0%})  "
            f"generator CPU {result.generator_cpu_share:.0%}  server CPU {result.server_cpu_share:.0%}  "
            f"machine CPU {result.machine_cpu_share:.0%}  "
            f"send lag p99 {result.send_lag_p99_ms:.0f} ms\n"
            + "".join(
                f"      {kind:12} {k['requests']:6} requests  p50 {k['p50_ms']:7.1f} ms  "
                f"p99 {k['p99_ms']:7.1f} ms  304 {k['not_modified']}  errors {k['errors'] or 0}\n"
                for kind, k in result.by_kind.items()
            ),
            end="",
            flush=True,
        )
        if after_step is not None:
            after_step()
        if not result.held:
            break
    held = [r.agents for r in results if r.held]
    return {
        "held": max(held) if held else 0,
        "steps": [vars(r) | {"held": r.held} for r in results],
        "office_size": office_size,
        "warmup_seconds": warmup,
        "seconds": seconds,
    }


def render(agents: dict) -> list[str]:
    """The agent profile's lines of a run's section in docs/benchmarks.md."""
    held = agents["held"]
    lines = [
        "",
        f"Agent profile ({agents.get('when', '')}; open loop, {agents['office_size']} agents per office "
        f"and number, {agents['seconds']:.0f} s per step after {agents['warmup_seconds']:.0f} s of warm-up): "
        f"**{held:,} agents held** with p99 ≤ {P99_LIMIT_MS:.0f} ms and no errors "
        f"(target ≥ 1,500 on PostgreSQL at 100k: {'PASS' if held >= 1500 else 'FAIL'}).",
        "",
        "| Agents | offered req/s | achieved req/s | p50 ms | p99 ms | errors "
        "| polls 304 (tab, conversation) | generator CPU | server CPU | machine CPU | send lag p99 ms "
        "| held |",
        "|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---|",
    ]
    for s in agents["steps"]:
        lines.append(
            f"| {s['agents']:,} | {s['offered_rps']:.1f} | {s['achieved_rps']:.1f} | {s['p50_ms']:.1f} | "
            f"{s['p99_ms']:.1f} | {s['errors']} | {s['polls_304_share']:.0%} ({s['tab_304_share']:.0%}, "
            f"{s['conversation_304_share']:.0%}) | {s['generator_cpu_share']:.0%} | "
            f"{s['server_cpu_share']:.0%} | {s.get('machine_cpu_share', 0):.0%} | "
            f"{s['send_lag_p99_ms']:.0f} | {'yes' if s['held'] else 'no'} |"
        )
    return lines
