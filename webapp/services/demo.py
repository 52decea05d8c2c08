"""Demo data for `make run`: enough to try the whole 1:1 flow at once."""

from __future__ import annotations

import io
from collections.abc import Iterator

from webapp.extensions import db
from webapp.services import campaigns, directory, knowledge_base

DEMO_PASSWORD = "parley-demo"
DEMO_USERS = [
    ("admin@example.edu", "admin", "Alex Admin"),
    ("standard@example.edu", "standard", "Sam Standard"),
    ("limited@example.edu", "limited", "Lee Limited"),
]
# What the Admissions FAQ Bot knows: (phrasings, one per line) → answer.
DEMO_KNOWLEDGE = [
    (
        "application deadline\nwhen are applications due\nlast day to apply\ndeadline",
        "Regular Decision applications are due January 15; Early Action closes November 1. "
        "Apply at apply.example.edu.",
    ),
    (
        "campus visit\ncampus tour\nschedule a tour\nvisit\ntour",
        "Campus tours run Monday to Friday at 10am and 2pm, and most Saturdays at 11am. "
        "Book a spot at visit.example.edu.",
    ),
    (
        "transcripts\nsend my transcript\nhigh school transcript",
        "Ask your school counselor to send your official transcript through Parchment or "
        "Common App, or email it to transcripts@example.edu.",
    ),
    (
        "application fee\nfee waiver\nhow much does it cost to apply",
        "The application fee is $50. Fee waivers are available: ask your counselor or reply "
        "to this text and an admissions counselor will help.",
    ),
]
DEMO_CONTACTS = """first_name,last_name,phone,program
Maria,Garcia,(202) 555-0143,Nursing
James,Smith,202-555-0178,Engineering
Aisha,Khan,202.555.0199,Biology
"""


def seed() -> Iterator[str]:
    office = directory.create_office(
        "Admissions",
        help_text="Admissions Office: reply here with questions, or call (202) 555-0100. "
        "Reply STOP to opt out.",
    )
    for email, role, name in DEMO_USERS:
        directory.create_user(email, role, DEMO_PASSWORD, name=name, office_names=[office.name])
    directory.add_number(
        "+12025550100",
        office.name,
        "console",
        "agent",
        enabled_providers=["console"],
        inbox_offices=[office.name],
        label="Admissions Main",
        description="Agent-backed: staff answer replies.",
    )
    directory.add_number(
        "+12025550101",
        office.name,
        "console",
        "bot",
        enabled_providers=["console"],
        agent_emails=["standard@example.edu"],
        inbox_offices=[office.name],
        label="Admissions FAQ Bot",
        description="Bot-backed: the knowledge-base bot answers replies.",
    )
    for question, answer in DEMO_KNOWLEDGE:
        knowledge_base.add_entry(office, question, answer)
    # Anything the bot does not know goes to an admissions counselor.
    knowledge_base.set_idk(office, "escalate")
    db.session.commit()
    report = campaigns.import_campaign(
        "Fall Open House", office.name, io.BytesIO(DEMO_CONTACTS.encode()), launch=True
    )
    db.session.commit()
    yield "Seeded office Admissions with numbers +12025550100 (agent) and +12025550101 (bot)."
    yield f"Launched campaign {report.campaign.name!r} with {report.imported} contacts."
    yield (
        f"The Admissions FAQ Bot knows {len(DEMO_KNOWLEDGE)} answers (deadline, campus visit, "
        "transcripts, fees) and hands anything else to an agent."
    )
    for email, role, _name in DEMO_USERS:
        yield f"Log in as {email} / {DEMO_PASSWORD} ({role})"
