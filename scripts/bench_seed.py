"""Seed a fresh Parley database at benchmark scale with bulk Core inserts (used by scripts/bench.py).

Scale N gives: 200 agents in 10 offices, 20 reusable numbers, N conversations, 10×N campaign
contacts and about 10×N messages. One agent ("big agent") sees about a fifth of the conversations
(20,000 at 100k) through their offices' inboxes; one of those conversations has exactly 50 messages.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, insert, text
from werkzeug.security import generate_password_hash

from webapp.models import (
    Campaign,
    CampaignContact,
    Conversation,
    Message,
    Office,
    OptOut,
    Participant,
    ReadMark,
    ReusableNumber,
    User,
    number_inboxes,
    office_memberships,
)

PASSWORD = "bench-password"
BIG_AGENT_EMAIL = "agent0@bench.example.edu"
# Agents 49, 99, 149 and 199 are admins (k % 50 == 49), each of one office: 49 of Graduate School.
OFFICE_ADMIN_EMAIL = "agent49@bench.example.edu"
OFFICES = [
    "Admissions",
    "Financial Aid",
    "Registrar",
    "Housing",
    "Advising",
    "Athletics",
    "Career Center",
    "Library",
    "Bursar",
    "Graduate School",
]
AREA_CODES = ["202", "212", "312", "415", "617", "713", "206", "303"]
FIRST = [
    "Ana",
    "Ben",
    "Chloe",
    "Dev",
    "Elena",
    "Farid",
    "Grace",
    "Hiro",
    "Ines",
    "Jamal",
    "Kofi",
    "Lena",
    "Mateo",
    "Nora",
    "Omar",
    "Priya",
    "Quinn",
    "Rosa",
    "Sam",
    "Tara",
]
LAST = [
    "Garcia",
    "Smith",
    "Nguyen",
    "Okafor",
    "Kim",
    "Rossi",
    "Patel",
    "Cohen",
    "Silva",
    "Berg",
    "Haddad",
    "Ivanova",
    "Jones",
    "Lopez",
    "Moreau",
    "Novak",
    "Olsen",
    "Park",
    "Reyes",
    "Sato",
]
BODIES = [
    "Hi, is my application complete?",
    "When is the deadline?",
    "Thanks!",
    "Can I visit campus next week?",
    "Your transcript was received.",
    "Please upload your FAFSA confirmation.",
    "See you at orientation.",
    "ok",
]
NUMBERS = 20
BATCH = 10_000
YEARS = 3


def phone(i: int) -> str:
    """The i-th distinct, valid-looking US number in E.164."""
    area = AREA_CODES[i % len(AREA_CODES)]
    j = i // len(AREA_CODES)
    return f"+1{area}{230 + j // 10_000}{j % 10_000:04d}"


@dataclass
class Seeded:
    scale: int
    big_agent_email: str = BIG_AGENT_EMAIL
    password: str = PASSWORD
    big_agent_conversations: int = 0
    fifty_message_conversation_id: int = 0
    number_ids: list[int] = field(default_factory=list)
    number_phones: list[str] = field(default_factory=list)
    big_agent_number_id: int = 0
    contact_phones: list[str] = field(default_factory=list)  # named contacts, for lookups
    compose_phones: list[str] = field(default_factory=list)  # not opted out
    counts: dict[str, int] = field(default_factory=dict)


def _batches(rows: Iterator[dict]) -> Iterator[list[dict]]:
    batch: list[dict] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def _load(engine: Engine, table, rows: Iterator[dict]) -> int:
    total = 0
    for batch in _batches(rows):
        with engine.begin() as conn:
            conn.execute(insert(table), batch)
        total += len(batch)
    return total


def seed(engine: Engine, scale: int) -> Seeded:
    rng = random.Random(8)
    now = datetime.now(UTC).replace(microsecond=0)
    span = timedelta(days=365 * YEARS).total_seconds()
    out = Seeded(scale=scale)

    def when(fraction: float) -> datetime:  # 0 = YEARS ago, 1 = now
        return now - timedelta(seconds=span * (1 - fraction))

    _load(
        engine,
        Office.__table__,
        (
            {
                "id": k + 1,
                "name": name,
                "help_text": "",
                "idk_action": "escalate",
                "idk_message": "",
                "created_at": when(0),
            }
            for k, name in enumerate(OFFICES)
        ),
    )
    hashed = generate_password_hash(PASSWORD)
    _load(
        engine,
        User.__table__,
        (
            {
                "id": k + 1,
                "email": f"agent{k}@bench.example.edu",
                "name": f"{FIRST[k % 20]} {LAST[k // 20 % 20]} {k}",
                "password_hash": hashed,
                "role": "admin" if k % 50 == 49 else "standard",
                "active": True,
                "created_at": when(0),
            }
            for k in range(200)
        ),
    )
    # Agent k belongs to office k % 10; the big agent (agent0) to offices 1 and 2.
    memberships = [{"user_id": k + 1, "office_id": k % 10 + 1} for k in range(200)]
    memberships.append({"user_id": 1, "office_id": 2})
    _load(engine, office_memberships, iter(memberships))
    # Number n serves office n % 10's inbox: offices 1 and 2 see 4 of 20 numbers, a fifth.
    out.number_phones = [f"+120255501{n:02d}" for n in range(NUMBERS)]
    out.number_ids = list(range(1, NUMBERS + 1))
    _load(
        engine,
        ReusableNumber.__table__,
        (
            {
                "id": n + 1,
                "phone": out.number_phones[n],
                "office_id": n % 10 + 1,
                "label": f"{OFFICES[n % 10]} line {n // 10 + 1}",
                "description": "",
                "provider": "plivo",
                "backing": "agent",
                "active": True,
                "created_at": when(0),
            }
            for n in range(NUMBERS)
        ),
    )
    _load(engine, number_inboxes, ({"number_id": n + 1, "office_id": n % 10 + 1} for n in range(NUMBERS)))
    out.big_agent_number_id = 1

    # Campaigns of ~5,000 contacts over the years; each contact phone is on two campaigns.
    contacts = 10 * scale
    per_campaign = min(5_000, contacts)
    campaigns = max(1, contacts // per_campaign)
    _load(
        engine,
        Campaign.__table__,
        (
            {
                "id": c + 1,
                "name": f"Campaign {c + 1}",
                "office_id": c % 10 + 1,
                "status": "draft" if c == campaigns - 1 and campaigns > 2 else "launched",
                "launched_at": when((c + 1) / (campaigns + 1)),
                "created_at": when(c / (campaigns + 1)),
            }
            for c in range(campaigns)
        ),
    )
    distinct_contacts = contacts // 2

    def contact_rows() -> Iterator[dict]:
        for k in range(contacts):
            p = k % distinct_contacts
            yield {
                "id": k + 1,
                "campaign_id": k // per_campaign % campaigns + 1,
                "first_name": FIRST[p % 20],
                "last_name": LAST[p // 20 % 20],
                "phone": phone(p),
                "extra": {"student_id": f"S{p:08d}"},
            }

    out.counts["campaign_contacts"] = _load(engine, CampaignContact.__table__, contact_rows())

    # Conversations: conversation i texts contact phone(i) on number i % 20.
    attention = set(rng.sample(range(scale), scale * 15 // 100))
    activity = [when(rng.random()) for _ in range(scale)]
    activity.sort()  # ids roughly follow time, as in real life

    def conversation_rows() -> Iterator[dict]:
        for i in range(scale):
            yield {
                "id": i + 1,
                "number_id": i % NUMBERS + 1,
                "contact_phone": phone(i),
                "mode": "agent",
                "needs_attention": i in attention,
                "last_activity_at": activity[i],
                "last_inbound_at": activity[i] - timedelta(minutes=5),
                "last_message_preview": BODIES[i % len(BODIES)],
                "created_at": activity[i] - timedelta(days=3),
            }

    out.counts["conversations"] = _load(engine, Conversation.__table__, conversation_rows())
    visible_numbers = {n + 1 for n in range(NUMBERS) if n % 10 + 1 in (1, 2)}
    out.big_agent_conversations = sum(1 for i in range(scale) if i % NUMBERS + 1 in visible_numbers)
    # The 50-message conversation: the newest one on number 1 (visible to the big agent).
    fifty = max(i for i in range(scale) if i % NUMBERS == 0)
    out.fifty_message_conversation_id = fifty + 1

    def message_rows() -> Iterator[dict]:
        ident = 0
        for i in range(scale):
            count = 50 if i == fifty else 10
            for m in range(count):
                ident += 1
                inbound = m % 2 == 0
                at = activity[i] - timedelta(minutes=5 * (count - m))
                yield {
                    "id": ident,
                    "conversation_id": i + 1,
                    "direction": "inbound" if inbound else "outbound",
                    "body": BODIES[(i + m) % len(BODIES)],
                    "media_urls": [],
                    "author_kind": "contact" if inbound else "agent",
                    "author_user_id": None if inbound else (i % 200) + 1,
                    "status": "received" if inbound else "delivered",
                    "error_code": None,
                    "error_reason": None,
                    "provider": "plivo",
                    "provider_message_id": f"seed-{ident:012d}",
                    "idempotency_key": None,
                    "attempts": 0 if inbound else 1,
                    "created_at": at,
                    "updated_at": at,
                }

    out.counts["messages"] = _load(engine, Message.__table__, message_rows())

    # Agents who replied are participants; the big agent also read some of theirs.
    _load(
        engine,
        Participant.__table__,
        (
            {"conversation_id": i + 1, "user_id": (i % 200) + 1, "joined_at": activity[i]}
            for i in range(scale)
            if i % 3 == 0
        ),
    )
    _load(
        engine,
        ReadMark.__table__,
        (
            {"user_id": 1, "conversation_id": i + 1, "read_at": activity[i]}
            for i in range(0, scale, NUMBERS * 2)
        ),
    )
    opted = set(range(7, scale, 97))
    _load(
        engine,
        OptOut.__table__,
        (
            {"phone": phone(i), "source": "keyword", "created_at": activity[i], "created_by_id": None}
            for i in sorted(opted)
        ),
    )
    out.contact_phones = [phone(rng.randrange(distinct_contacts)) for _ in range(2_000)]
    out.compose_phones = [phone(i) for i in range(0, scale, NUMBERS) if i not in opted][:2_000]

    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            for table in (
                "offices",
                "users",
                "reusable_numbers",
                "campaigns",
                "campaign_contacts",
                "conversations",
                "messages",
            ):
                conn.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                        f"(SELECT max(id) FROM {table}))"
                    )
                )
    # Statistics, and on PostgreSQL the visibility map (index-only scans), as autovacuum would
    # have them on a database that has been in use.
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE" if engine.dialect.name == "postgresql" else "ANALYZE"))
    return out
