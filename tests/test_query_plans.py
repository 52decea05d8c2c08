"""The inbox's busiest queries are answered from their indexes, on SQLite and on PostgreSQL.

Each request's statements are captured and explained by the database itself. PostgreSQL is told
to avoid sequential scans where it can: with test-sized tables it would rightly prefer them.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import event, update

from tests.conftest import login
from webapp.extensions import db
from webapp.models import Campaign, CampaignContact, Conversation, Message, Participant
from webapp.services import bots, sending

HTMX = {"HX-Request": "true"}


def explained(client, path: str) -> list[tuple[str, str]]:
    """(statement, its plan) for each query the request ran."""
    return explained_run(lambda: client.get(path, headers=HTMX).status_code == 200)


def explained_run(run) -> list[tuple[str, str]]:
    """(statement, its plan) for each query `run()` ran; it must return a true value."""
    statements: list[tuple[str, object]] = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("SELECT"):
            statements.append((statement, parameters))

    db.session.commit()
    event.listen(db.engine, "before_cursor_execute", capture)
    try:
        assert run()
    finally:
        event.remove(db.engine, "before_cursor_execute", capture)
    cursor = db.session.connection().connection.driver_connection.cursor()
    postgresql = db.engine.dialect.name == "postgresql"
    if postgresql:
        cursor.execute("SET LOCAL enable_seqscan = off")
    plans = []
    for statement, parameters in statements:
        cursor.execute(f"{'EXPLAIN' if postgresql else 'EXPLAIN QUERY PLAN'} {statement}", parameters)
        plans.append((statement, "\n".join(str(row) for row in cursor.fetchall())))
    db.session.rollback()
    return plans


def analyze(*tables: str) -> None:
    """PostgreSQL plans from its statistics: gathered now, of this test's rows, not left from
    whatever an earlier test of the same database wrote."""
    if db.engine.dialect.name == "postgresql":
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql(f"ANALYZE {', '.join(tables)}")


def plan_of(plans: list[tuple[str, str]], marker: str) -> str:
    [plan] = [plan for statement, plan in plans if marker in statement]
    return plan


def no_scan_of(table: str, plan: str) -> bool:
    return f"SCAN {table}\n" not in plan + "\n" and f"Seq Scan on {table}" not in plan


def seed(setup: dict) -> Conversation:
    agent = setup["users"]["standard"]
    campaign = Campaign(name="Fall", office=setup["office"], status="launched",
                        launched_at=datetime.now(UTC))
    db.session.add(campaign)
    db.session.flush()
    base = datetime.now(UTC) - timedelta(days=2)
    conversation = None
    for k in range(60):
        phone = f"+1202555{2000 + k:04d}"
        conversation = Conversation(
            number=setup["number"], contact_phone=phone, needs_attention=k % 2 == 0,
            last_activity_at=base + timedelta(minutes=k), last_message_preview=f"Message {k}",
        )
        db.session.add(conversation)
        db.session.add(
            CampaignContact(campaign_id=campaign.id, first_name="Pat", last_name="Lee", phone=phone)
        )
        db.session.flush()
        if k % 3 == 0:
            db.session.add(Participant(conversation_id=conversation.id, user_id=agent.id))
        db.session.add(Message(conversation_id=conversation.id, direction="inbound", body="Hi",
                               author_kind="contact", status="received"))
    db.session.commit()
    return conversation


def test_inbox_tabs_read_their_indexes(client, setup):
    seed(setup)
    login(client, "standard@example.edu")
    for tab in ("attention", "participating"):
        plans = explained(client, f"/inbox?tab={tab}")
        page = plan_of(plans, "conversation_reads.read_at")
        counts = plan_of(plans, "count(*)")
        assert "ix_participants_inbox" in page, page
        assert "ix_participants_inbox" in counts, counts
        if tab == "attention":  # the user's numbers: Participating has no bot numbers here
            # PostgreSQL may pick the (number, phone) index on tables this small: either
            # starts from the number; at scale it takes the inbox index (docs/benchmarks-notes.md).
            sqlite = db.engine.dialect.name == "sqlite"
            wanted = "ix_conversations_inbox" if sqlite else "Index Cond: ((number_id"
            assert wanted in page.replace("\n", " "), page
            assert wanted in counts.replace("\n", " "), counts
        for plan in (page, counts):
            assert no_scan_of("conversations", plan), plan
            assert no_scan_of("conversation_participants", plan), plan
        names = plan_of(plans, "campaign_contacts.first_name")
        assert no_scan_of("campaign_contacts", names), names


def test_an_open_conversation_reads_its_messages_from_the_index(client, setup):
    conversation = seed(setup)
    login(client, "standard@example.edu")
    plans = explained(client, f"/conversations/{conversation.id}")
    history = plan_of(plans, "messages.error_reason")
    assert "ix_messages_conversation" in history, history
    assert no_scan_of("messages", history), history
    # The conversation by its key, its visibility checked in the same statement.
    pane = plan_of(plans, "conversation_reads.read_at")
    assert no_scan_of("conversations", pane), pane
    assert no_scan_of("conversation_participants", pane), pane


def test_lookup_by_phone_reads_the_phone_indexes(client, setup):
    seed(setup)
    login(client, "standard@example.edu")
    plans = explained(client, "/contacts/lookup?phone=2025552003")
    conversations = plan_of(plans, "conversations.contact_phone")
    names = plan_of(plans, "campaign_contacts.first_name")
    assert no_scan_of("conversations", conversations), conversations
    assert no_scan_of("campaign_contacts", names), names
    if db.engine.dialect.name == "sqlite":
        assert "ix_conversations_contact_phone" in conversations, conversations
        assert "ix_campaign_contacts_phone" in names, names


def test_the_bot_answer_sweep_reads_only_recent_replies(app, setup):
    seed(setup)
    db.session.execute(update(Conversation).values(mode="bot"))
    db.session.commit()
    analyze("conversations", "messages", "opt_outs")
    plans = explained_run(lambda: bots.sweep_unanswered() is not None)
    owed = plan_of(plans, "messages_1.id > messages.id")
    # A day of replies from the (status, time) index, not every message ever received.
    assert "ix_messages_status" in owed, owed
    assert no_scan_of("messages", owed), owed


def test_the_bot_answer_turn_reads_the_conversation_and_answer_indexes(app, setup):
    """A text's bot task looks for earlier texts still waiting for their answers: the
    conversation's last messages, then their answers by key, each from its index."""
    conversation = seed(setup)
    conversation.mode = "bot"
    text = Message(conversation_id=conversation.id, direction="inbound", body="Hello?",
                   author_kind="contact", status="received")
    db.session.add(text)
    db.session.commit()
    analyze("conversations", "messages", "opt_outs")
    # The earlier "Hi" has no answer yet: this text waits its turn (put off, the bot not asked).
    plans = explained_run(lambda: bots.answer(text.id) is None)
    before = plan_of(plans, "ORDER BY messages.id DESC")
    assert "ix_messages_conversation" in before, before
    assert no_scan_of("messages", before), before
    answers = plan_of(plans, "SELECT messages.idempotency_key")
    assert no_scan_of("messages", answers), answers


def test_compose_checks_read_their_indexes(app, setup):
    """Number access, the opt-out and an earlier submit of the form: one statement, no scan."""
    seed(setup)
    agent = setup["users"]["standard"]
    plans = explained_run(
        lambda: sending.check_text(
            agent, setup["number"].id, "2025552003", "Hello", idempotency_key="k" * 32
        ).existing is None
    )
    checks = plan_of(plans, "opted_out")
    assert no_scan_of("messages", checks), checks
    assert no_scan_of("opt_outs", checks), checks
    assert "idempotency_key" in checks, checks  # the earlier submit, from its unique index


def test_the_apis_conversations_of_a_phone_read_the_phone_index(app, setup):
    """The list (a page after a cursor, by last activity) and the lookup read the contact's few
    conversations through the phone index, whatever the office's number of conversations."""
    from tests.api.conftest import new_key
    from webapp.services.crm_api import encode_cursor

    seed(setup)
    analyze("conversations")
    client = app.test_client(use_cookies=False)
    key = {"Authorization": f"Bearer {new_key('Plans', setup['office'])}"}
    cursor = encode_cursor("conversations", "+12025552003", f"{2**52}.{2**31 - 1}")

    def walk() -> bool:
        listed = client.get(f"/api/v1/conversations?phone=2025552003&cursor={cursor}", headers=key)
        looked = client.get("/api/v1/contacts/lookup?phone=2025552003", headers=key)
        return listed.get_json()["data"] != [] and looked.status_code == 200

    plans = explained_run(walk)
    listed = [plan for statement, plan in plans if "conversations.contact_phone =" in statement]
    assert len(listed) == 2, plans  # the list and the lookup
    for plan in listed:
        assert no_scan_of("conversations", plan), plan
        if db.engine.dialect.name == "sqlite":
            assert "ix_conversations_contact_phone" in plan, plan
