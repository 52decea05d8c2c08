"""The inbox tabs page through every conversation they hold, newest first, each exactly once."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from sqlalchemy import insert, select, update

from tests.conftest import login
from webapp.extensions import db
from webapp.models import Conversation, OptOut, Participant
from webapp.services import inbox

HTMX = {"HX-Request": "true"}
BASE = datetime(2026, 9, 1, 12, 0, tzinfo=UTC)


def walk(client, tab: str) -> list[int]:
    """Every conversation id the tab shows, following "Load more" to the end."""
    seen: list[int] = []
    html = client.get(f"/inbox?tab={tab}", headers=HTMX).get_data(as_text=True)
    for _ in range(50):
        seen += [int(i) for i in re.findall(r'id="conv-link-(\d+)"', html)]
        more = re.search(r'<li class="conv-more">\s*<a href="([^"]+)"', html)
        if not more:
            return seen
        html = client.get(more.group(1).replace("&amp;", "&"), headers=HTMX).get_data(as_text=True)
    raise AssertionError("the pages never ended")


def shown_counts(client, tab: str) -> dict[str, str]:
    """The count on each tab, as the tab fragment shows them."""
    html = client.get(f"/inbox?tab={tab}", headers=HTMX).get_data(as_text=True)
    tab = r'<span class="tab-label">([^<]+)</span> <span class="count" id="\w+-count">([^<]+)</span>'
    found = re.findall(tab, html)
    return dict(found)


def test_tabs_merge_every_source_in_activity_order(client, setup, make, app):
    app.config["INBOX_PAGE_SIZE"] = 3
    make.office("Housing")
    agent = setup["users"]["standard"]
    numbers = {
        "inbox": setup["number"],
        "second inbox": make.number("+12025550101", inboxes=("Admissions",), label="Second"),
        "bot": make.number("+12025550102", backing="bot", agents=("standard@example.edu",), label="Bot"),
        # Admissions' number answered by Housing's inbox: the agent sees only what they joined.
        "elsewhere": make.number("+12025550103", inboxes=("Housing",), label="Housing"),
    }
    expected: dict[str, list[tuple[datetime, int]]] = {"attention": [], "participating": []}
    for k in range(40):
        name = list(numbers)[k % 4]
        attention = k % 3 != 0
        joined = k % 5 == 0
        # Pairs of conversations share a timestamp: the id breaks the tie.
        at = BASE + timedelta(minutes=k // 2)
        conversation = Conversation(
            number=numbers[name], contact_phone=f"+1312555{k:04d}", needs_attention=attention,
            last_activity_at=at, last_message_preview=f"Message {k}",
        )
        db.session.add(conversation)
        db.session.flush()
        if joined:
            db.session.add(Participant(conversation_id=conversation.id, user_id=agent.id))
        visible = name != "elsewhere" or joined
        if attention and visible:
            expected["attention"].append((at, conversation.id))
        if not attention and (joined or name == "bot"):
            expected["participating"].append((at, conversation.id))
    db.session.commit()

    login(client, "standard@example.edu")
    for tab, wanted in expected.items():
        order = [ident for _, ident in sorted(wanted, reverse=True)]
        assert walk(client, tab) == order, tab
        assert inbox.counts(agent)[tab] == len(order)
    # Each tab's first page brings both tabs' counts along.
    both = {"Needs Attention": str(len(expected["attention"])),
            "Participating": str(len(expected["participating"]))}
    assert shown_counts(client, "attention") == both
    assert shown_counts(client, "participating") == both


def test_an_empty_tab_still_counts_the_other(client, setup):
    for k in range(2):
        db.session.add(Conversation(
            number=setup["number"], contact_phone=f"+1312555{k:04d}", needs_attention=True,
            last_activity_at=BASE + timedelta(minutes=k), last_message_preview=f"Message {k}",
        ))
    db.session.commit()
    login(client, "standard@example.edu")
    assert shown_counts(client, "participating") == {"Needs Attention": "2", "Participating": "0"}
    assert shown_counts(client, "attention") == {"Needs Attention": "2", "Participating": "0"}


def test_counts_stop_at_99_plus_and_the_list_still_pages(client, setup):
    db.session.execute(
        insert(Conversation),
        [
            {
                "number_id": setup["number"].id, "contact_phone": f"+1617555{k:04d}",
                "needs_attention": True, "last_activity_at": BASE + timedelta(seconds=k),
                "last_message_preview": f"Question {k}", "mode": "agent",
            }
            for k in range(inbox.COUNT_CAP + 5)
        ],
    )
    db.session.commit()
    login(client, "standard@example.edu")
    page = client.get("/inbox").get_data(as_text=True)
    assert re.search(r'Needs Attention</span> <span class="count" id="attention-count">99\+</span>', page)
    assert re.search(r'Participating</span> <span class="count" id="participating-count">0</span>', page)
    assert f"Question {inbox.COUNT_CAP + 4}" in page  # the newest first
    assert inbox.counts(setup["users"]["standard"])["attention"] == inbox.COUNT_CAP


def test_participations_follow_their_conversation(setup):
    """The tabs read each participation's copy of its conversation's flag and activity: the
    database keeps those copies exact, whichever way the conversation is written."""
    agent = setup["users"]["standard"]
    conversation = Conversation(
        number=setup["number"], contact_phone="+13125550001", needs_attention=True,
        last_activity_at=BASE, last_message_preview="Hi",
    )
    db.session.add(conversation)
    db.session.flush()
    db.session.add(Participant(conversation_id=conversation.id, user_id=agent.id))
    db.session.commit()

    def copy() -> tuple:
        return db.session.execute(
            select(Participant.number_id, Participant.needs_attention, Participant.last_activity_at)
            .where(Participant.conversation_id == conversation.id)
        ).one()

    assert copy() == (setup["number"].id, True, BASE)
    conversation.needs_attention = False
    conversation.last_activity_at = BASE + timedelta(hours=1)
    db.session.commit()
    assert copy() == (setup["number"].id, False, BASE + timedelta(hours=1))
    db.session.execute(
        update(Conversation).where(Conversation.id == conversation.id).values(needs_attention=True)
    )
    db.session.commit()
    assert copy() == (setup["number"].id, True, BASE + timedelta(hours=1))


def test_rows_of_opted_out_contacts_say_so(client, setup):
    for k, phone in enumerate(("+13125550101", "+13125550102")):
        db.session.add(Conversation(
            number=setup["number"], contact_phone=phone, needs_attention=True,
            last_activity_at=BASE + timedelta(minutes=k), last_message_preview=f"Row {k}",
        ))
    db.session.add(OptOut(phone="+13125550102", source="keyword"))
    db.session.commit()
    login(client, "standard@example.edu")
    rows = client.get("/inbox?tab=attention", headers=HTMX).get_data(as_text=True).split("<li")
    [opted] = [row for row in rows if "Row 1" in row]
    [other] = [row for row in rows if "Row 0" in row]
    assert "Opted out" in opted
    assert "Opted out" not in other


def test_a_refresh_after_load_more_reaches_down_to_the_last_row_shown(client, setup, app):
    """The list's poll says how many rows it shows and the last one's time: new conversations
    come on top, and every row the reader loaded stays, "Load more" still after them."""
    app.config["INBOX_PAGE_SIZE"] = 3
    for k in range(10):
        db.session.add(Conversation(
            number=setup["number"], contact_phone=f"+1312555{k:04d}", needs_attention=True,
            last_activity_at=BASE + timedelta(minutes=k), last_message_preview=f"Message {k}",
        ))
    db.session.commit()
    login(client, "standard@example.edu")

    def previews(query: str) -> list[int]:
        html = client.get(f"/inbox?tab=attention{query}", headers=HTMX).get_data(as_text=True)
        assert ('class="conv-more"' in html) == ("Message 0" not in html)
        return [int(n) for n in re.findall(r'class="conv-preview">Message (\d+)<', html)]

    through = (BASE + timedelta(minutes=4)).strftime("%Y-%m-%dT%H:%M:%SZ")  # "Message 4", the 6th row
    assert previews(f"&rows=6&through={through}") == [9, 8, 7, 6, 5, 4]
    db.session.add(Conversation(
        number=setup["number"], contact_phone="+13125559999", needs_attention=True,
        last_activity_at=BASE + timedelta(hours=1), last_message_preview="Message 99",
    ))
    db.session.commit()
    assert previews(f"&rows=6&through={through}") == [99, 9, 8, 7, 6, 5, 4]
    assert previews("") == [99, 9, 8]  # a list that loaded no more stays at its first page
    assert previews(f"&rows=3&through={through}") == [99, 9, 8]
    assert previews("&rows=6&through=garbled") == [99, 9, 8]
