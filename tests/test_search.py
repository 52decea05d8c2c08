"""Search (/search?q=): contact name, phone in any format and message text, limited to the
conversations the user may see, newest first, highlighted, paged, and safe with any input."""

from __future__ import annotations

import io
import re
from datetime import timedelta

import pytest
from sqlalchemy import event, select

from tests.conftest import login
from webapp.extensions import db
from webapp.models import Conversation, Message, Office, Participant, User, utcnow
from webapp.plugin_api import InboundMessage
from webapp.services import campaigns, contacts, inbound, offices, retention, search

CONTACTS_CSV = b"""first_name,last_name,phone
Maria,Garcia,202-555-0143
James,Smith,(202) 555-0178
"""


def add_message(conversation: Conversation, body: str, age: timedelta = timedelta(0), direction="inbound"):
    at = utcnow() - age
    message = Message(
        conversation_id=conversation.id, direction=direction, body=body,
        author_kind="contact" if direction == "inbound" else "agent",
        status="received" if direction == "inbound" else "delivered", created_at=at, updated_at=at,
    )  # fmt: skip
    db.session.add(message)
    db.session.flush()
    return message


def conversation(number, phone: str) -> Conversation:
    found = Conversation(number_id=number.id, contact_phone=phone, last_activity_at=utcnow())
    db.session.add(found)
    db.session.flush()
    return found


@pytest.fixture
def world(setup, make):
    """Admissions: Maria Garcia and James Smith. Financial Aid (another office): Maria too."""
    campaigns.import_campaign("Open House", "Admissions", io.BytesIO(CONTACTS_CSV), launch=True)
    make.office("Financial Aid")
    make.user("fa@example.edu", "standard", offices=("Financial Aid",), name="Fay Aid")
    fa_number = make.number(
        "+12025550120", office="Financial Aid", inboxes=("Financial Aid",), label="FA Line"
    )
    maria = conversation(setup["number"], "+12025550143")
    james = conversation(setup["number"], "+12025550178")
    theirs = conversation(fa_number, "+12025550143")
    add_message(maria, "Is my application complete?", timedelta(days=40))
    add_message(
        maria, "Your application is complete. See you at orientation!", timedelta(days=39), "outbound"
    )
    add_message(james, "When is the housing deadline?", timedelta(days=2))
    add_message(theirs, "My FAFSA application secret", timedelta(days=1))
    db.session.commit()
    return {**setup, "maria": maria, "james": james, "theirs": theirs, "fa_number": fa_number}


def page(client, query: str, **params) -> tuple[int, str]:
    response = client.get("/search", query_string={"q": query, **params})
    return response.status_code, response.get_data(as_text=True)


def conversation_links(html: str) -> list[int]:
    return [int(ident) for ident in re.findall(r'href="/conversations/(\d+)#message-\d+"', html)]


def test_message_text_finds_visible_conversations_newest_first_highlighted(client, world):
    login(client, "standard@example.edu")
    status, html = page(client, "application")
    assert status == 200
    # Maria's two messages (the outbound answer is newer), never Financial Aid's.
    assert conversation_links(html) == [world["maria"].id, world["maria"].id]
    assert html.index("See you at orientation") < html.index("Is my <mark>application</mark> complete")
    assert "FAFSA" not in html and "FA Line" not in html
    assert "Maria Garcia" in html


def test_every_word_must_occur_in_any_case(client, world):
    login(client, "standard@example.edu")
    _, html = page(client, "COMPLETE orientation")
    assert conversation_links(html) == [world["maria"].id]
    assert "<mark>complete</mark>" in html and "<mark>orientation</mark>" in html
    _, html = page(client, "housing application")
    assert conversation_links(html) == []
    assert "Nothing you can see matches" in html


def test_another_office_sees_only_its_own(client, world):
    login(client, "fa@example.edu")
    _, html = page(client, "application")
    assert conversation_links(html) == [world["theirs"].id]
    assert "Your application is complete" not in html


def test_admin_sees_the_offices_conversations_and_a_participant_keeps_only_what_is_visible(
    app, world, make
):
    # A number of Admissions assigned to nobody: only its participants and the admins see it.
    unassigned = make.number("+12025550130", label="Events Line")
    events = conversation(unassigned, "+12025550199")
    add_message(events, "Is the deadline for the tour tomorrow?", timedelta(hours=1))
    db.session.add(Participant(conversation_id=events.id, user_id=world["users"]["standard"].id))
    # Fay of Financial Aid took part in James's conversation, on a number of another office.
    fay = db.session.scalar(select(User).where(User.email == "fa@example.edu"))
    db.session.add(Participant(conversation_id=world["james"].id, user_id=fay.id))
    db.session.commit()

    def found_by(email: str) -> list[int]:
        client = app.test_client()
        login(client, email)
        return conversation_links(page(client, "deadline")[1])

    assert found_by("admin@example.edu") == [events.id, world["james"].id]
    # On the office's inbox number, and a participant where the number is assigned to nobody.
    assert found_by("standard@example.edu") == [events.id, world["james"].id]
    # A participation on another office's number shows nothing.
    assert found_by("fa@example.edu") == []


@pytest.mark.parametrize(
    "typed", ["2025550143", "202-555-0143", "(202) 555-0143", "+1 202 555 0143", "1.202.555.0143"]
)
def test_phone_in_any_format(client, world, typed):
    login(client, "standard@example.edu")
    status, html = page(client, typed)
    assert status == 200
    assert "Maria Garcia" in html
    assert f'href="/conversations/{world["maria"].id}"' in html
    assert f'href="/conversations/{world["theirs"].id}"' not in html


def test_a_conversation_is_found_by_the_name_it_shows_whichever_office_listed_it(client, world):
    """Financial Aid's conversation with Maria shows her name from Admissions' campaign (the most
    recently launched list naming her): Financial Aid finds it by that name, and only it."""
    login(client, "fa@example.edu")
    _, html = page(client, "maria garc")
    assert "<mark>Maria</mark> <mark>Garc</mark>ia" in html
    assert f'<a href="/conversations/{world["theirs"].id}">Conversation on FA Line</a>' in html
    assert f'href="/conversations/{world["maria"].id}"' not in html


def test_contact_name_is_found_and_marked(client, world):
    login(client, "standard@example.edu")
    _, html = page(client, "garc")
    assert "Maria <mark>Garc</mark>ia" in html
    assert f'href="/conversations/{world["maria"].id}"' in html


def test_paging_goes_to_older_results_without_repeats(client, world):
    for k in range(25):
        add_message(world["james"], f"Parking permit question {k}", timedelta(hours=30 - k))
    db.session.commit()
    login(client, "standard@example.edu")
    _, first = page(client, "parking")
    assert first.count('class="search-hit"') == search.PAGE_SIZE
    assert "question 24" in first and "question 5" in first and "question 4<" not in first
    before = re.search(r'href="/search\?q=parking&amp;before=(\d+)">Older results', first).group(1)
    _, second = page(client, "parking", before=before)
    assert second.count('class="search-hit"') == 5
    assert "question 4" in second and "question 0" in second and "question 24" not in second
    assert "Older results" not in second
    # Each hit says what it is and when, in one line of details.
    assert re.search(r'<span class="muted">[^<]*· (received|sent|note) · <time ', second)


def test_markup_in_messages_and_queries_is_escaped(client, world):
    add_message(world["james"], "<script>alert(1)</script> <b>bold</b> parking")
    db.session.commit()
    login(client, "standard@example.edu")
    _, html = page(client, '"bold" & parking')
    assert "<script>alert(1)" not in html and "<b>bold</b>" not in html
    assert (
        "&lt;script&gt;alert(1)&lt;/script&gt; &lt;b&gt;<mark>bold</mark>&lt;/b&gt; <mark>parking</mark>"
        in html
    )
    assert 'value="&#34;bold&#34; &amp; parking"' in html
    _, html = page(client, "<b>parking</b>")
    assert "<b>parking" not in html and 'value="&lt;b&gt;parking&lt;/b&gt;"' in html


@pytest.mark.parametrize(
    "query",
    [
        "application' OR 1=1 --",
        '"application',
        "application)",
        "application NEAR complete",
        "NEAR(application complete)",
        "applic*",
        "-application",
        "application AND complete",
        "application OR",
        "NOT application",
        "body:application",
        "'; DROP TABLE messages; --",
        "^application",
        "application & | ! :*",
    ],
)
def test_query_syntax_is_plain_words(client, world, query):
    login(client, "standard@example.edu")
    status, html = page(client, query)
    assert status == 200  # searched as plain words: no syntax error, no other office's text
    assert "FAFSA" not in html
    assert db.session.query(Message).count() == 4


def test_operators_are_not_operators(client, world):
    login(client, "standard@example.edu")
    # NEAR and AND are words to look for: no message has them.
    assert conversation_links(page(client, "application NEAR complete")[1]) == []
    assert conversation_links(page(client, "application AND complete")[1]) == []
    # A prefix star is not a wildcard, and a minus does not exclude.
    assert conversation_links(page(client, "applic*")[1]) == []
    assert len(conversation_links(page(client, "-application")[1])) == 2


def test_a_long_or_wordless_query_gets_a_clear_message(client, world):
    login(client, "standard@example.edu")
    status, html = page(client, "application " * 200)
    assert status == 422
    assert "Search for at most 200 characters (this has 2,400)" in html
    assert "search-hit" not in html
    status, html = page(client, "'\")(*")
    assert status == 422
    assert "Type a name, a phone number or words from a message" in html


def test_a_garbled_cursor_starts_from_the_newest(client, world):
    login(client, "standard@example.edu")
    for before in ("x", "-1", "99999999999999999999999"):
        status, html = page(client, "application", before=before)
        assert status == 200 and len(conversation_links(html)) == 2


def test_search_needs_a_session(client, world):
    response = client.get("/search?q=application")
    assert response.status_code in (302, 401)


def test_the_index_follows_retention_and_edits(client, world):
    office = db.session.get(Office, world["office"].id)
    offices.set_retention(None, office, 30)
    db.session.commit()
    retention.erase_office(db.session.get(Office, world["office"].id))
    login(client, "standard@example.edu")
    # Maria's messages were 39 and 40 days old: their text is gone, and so is their match.
    assert conversation_links(page(client, "application")[1]) == []
    assert conversation_links(page(client, "deadline")[1]) == [world["james"].id]
    db.session.delete(db.session.query(Message).filter_by(conversation_id=world["james"].id).one())
    db.session.commit()
    assert conversation_links(page(client, "deadline")[1]) == []


def test_the_header_dropdown_offers_the_search(client, world):
    login(client, "standard@example.edu")
    response = client.get("/contacts/search?q=deadline", headers={"HX-Request": "true"})
    assert 'href="/search?q=deadline"' in response.get_data(as_text=True)
    assert "Search messages for “deadline”" in response.get_data(as_text=True)


def test_highlight_builds_markup_only_from_escaped_text():
    marked = search.highlight("a <mark>x</mark> & X-ray", ("x",))
    assert str(marked) == "a &lt;mark&gt;<mark>x</mark>&lt;/mark&gt; &amp; <mark>X</mark>-ray"
    assert str(search.excerpt("word " * 100 + "needle " + "word " * 100, ("needle",))).count("<mark>") == 1


def test_notes_are_found_and_said_to_be_notes(client, world):
    add_message(world["james"], "Promised a call back about the parking appeal", direction="note")
    db.session.commit()
    login(client, "standard@example.edu")
    _, html = page(client, "appeal")
    assert conversation_links(html) == [world["james"].id]
    assert "· note" in html


def test_a_text_found_says_how_it_fared(client, world):
    """Search lists a reply as it stands: a cancelled or failed one is not "sent"."""
    cancelled = add_message(world["james"], "Housing forms are due Friday", direction="outbound")
    cancelled.status = "cancelled"
    db.session.commit()
    login(client, "standard@example.edu")
    _, html = page(client, "housing forms")
    assert "· cancelled ·" in html and "· sent ·" not in html
    _, html = page(client, "orientation")
    assert "· delivered ·" in html
    _, html = page(client, "housing deadline")
    assert "· received ·" in html


def test_both_plans_give_the_same_results(client, world):
    """PostgreSQL reads common words newest first and rare ones from the GIN index first, chosen by
    the column's statistics: with statistics (ANALYZE) and without, the answers are the same."""
    for k in range(30):
        add_message(world["james"], f"Parking permit question {k}", timedelta(hours=40 - k))
    db.session.commit()
    login(client, "standard@example.edu")
    before = [conversation_links(page(client, q)[1]) for q in ("parking", "application", "housing deadline")]
    if db.engine.dialect.name == "postgresql":
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("ANALYZE messages")
        assert not search._rare(("parking",))  # in 30 of 34 messages: read newest first
        assert search._rare(("scholarship",))  # in no message: read from the index first
    after = [conversation_links(page(client, q)[1]) for q in ("parking", "application", "housing deadline")]
    assert after == before
    assert before[0] == [world["james"].id] * search.PAGE_SIZE


def test_a_common_name_finds_every_visible_conversation_newest_first(client, world, monkeypatch):
    """Contacts of a name are read a few at a time first; when those have too few conversations
    the user sees, every contact of that name is read: none is missed."""
    rows = "".join(f"Priya,Shah{k},202-555-01{k:02d}\n" for k in range(1, 11))
    csv = f"first_name,last_name,phone\n{rows}".encode()
    campaigns.import_campaign("Fall Fair", "Admissions", io.BytesIO(csv), launch=True)
    older = conversation(world["number"], "+12025550109")
    older.last_activity_at = utcnow() - timedelta(days=3)
    newest = conversation(world["number"], "+12025550110")
    conversation(world["fa_number"], "+12025550108")  # another office's: not shown
    db.session.commit()
    monkeypatch.setattr(contacts, "NAME_SAMPLE", 3)  # the two with conversations are listed last
    user = db.session.scalar(select(User).where(User.email == "standard@example.edu"))

    found = contacts.search(user, "priya", with_conversations=True)
    assert [result.phone for result in found.results] == [newest.contact_phone, older.contact_phone]
    assert [result.display_name for result in found.results] == ["Priya Shah10", "Priya Shah9"]

    login(client, "standard@example.edu")
    status, html = page(client, "Priya Shah9")
    assert status == 200 and f'href="/conversations/{older.id}"' in html
    assert f'href="/conversations/{newest.id}"' not in html  # "Shah9" does not start "Shah10"


def test_a_name_prefix_reaches_the_database_in_the_form_its_index_answers(client, world):
    """PostgreSQL: `LIKE 'garc%'` written into the statement (psycopg prepares a statement a
    connection has run five times, and a generic plan for `lower(name) LIKE $1` cannot use the
    prefix index). SQLite: a range of its expression index, 'garc' <= lower(name) < 'gard'."""
    statements = []

    def noted(conn, cursor, statement, parameters, context, executemany):
        statements.append((statement, parameters))

    user = db.session.scalar(select(User).where(User.email == "standard@example.edu"))
    event.listen(db.engine, "before_cursor_execute", noted)
    try:
        found = contacts.search(user, "Garc", with_conversations=True)
    finally:
        event.remove(db.engine, "before_cursor_execute", noted)
    assert [result.phone for result in found.results] == ["+12025550143"]
    [(statement, parameters), *_] = [(s, p) for s, p in statements if "campaign_contacts" in s]
    if db.engine.dialect.name == "postgresql":
        assert "LIKE 'garc%%'" in statement or "LIKE 'garc%'" in statement
        assert "garc%" not in str(parameters)
    else:
        assert "LIKE" not in statement
        values = list(parameters.values()) if isinstance(parameters, dict) else list(parameters)
        assert {"garc", "gard"} <= set(values)


def test_a_contact_in_many_lists_with_many_conversations_counts_once(client, world, make):
    """One row a phone: a contact listed six times with four conversations does not crowd out
    the others, and the page still says more contacts match."""
    numbers = [world["number"]] + [
        make.number(f"+1202555019{k}", inboxes=("Admissions",), label=f"Line {k}") for k in range(3)
    ]
    crowded = ["+12025550101", "+12025550102"]
    for list_number in range(6):
        rows = "".join(f"Priya,Rao{list_number},{phone}\n" for phone in crowded)  # listed differently
        if list_number == 0:
            rows += "".join(f"Priya,Shah{k},202-555-01{k:02d}\n" for k in range(10, 20))
        csv = f"first_name,last_name,phone\n{rows}".encode()
        campaigns.import_campaign(f"List {list_number}", "Admissions", io.BytesIO(csv), launch=True)
    for k in range(10, 20):
        conversation(world["number"], f"+120255501{k}").last_activity_at = utcnow() - timedelta(hours=1)
    for phone in crowded:  # the newest conversations: their rows come first
        for number in numbers:
            conversation(number, phone)
    db.session.commit()
    user = db.session.scalar(select(User).where(User.email == "standard@example.edu"))

    found = contacts.search(user, "priya", with_conversations=True)
    assert len(found.results) == contacts.NAME_RESULTS and found.more
    assert len({result.phone for result in found.results}) == contacts.NAME_RESULTS


@pytest.mark.parametrize("typed", ["555-0143", "0143", "(202) 555-01", "5550 143"])
def test_part_of_a_phone_finds_the_visible_conversations_of_phones_containing_it(client, world, typed):
    login(client, "standard@example.edu")
    status, html = page(client, typed)
    assert status == 200
    assert "Maria Garcia" in html
    assert f'href="/conversations/{world["maria"].id}"' in html
    assert f'href="/conversations/{world["theirs"].id}"' not in html
    if typed != "(202) 555-01":
        assert "James Smith" not in html


def test_a_phone_fragment_of_nobody_finds_nothing_and_three_digits_are_words(client, world):
    login(client, "standard@example.edu")
    _, html = page(client, "9999")
    assert "Nothing you can see matches" in html
    _, html = page(client, "555")
    assert "Maria Garcia" not in html and "James Smith" not in html


def test_part_of_a_phone_matching_many_phones_still_finds_the_users_own(client, world, monkeypatch):
    """More phones match than are read first, and those first are not the user's: all are read."""
    conversation(world["fa_number"], "+12025550100")  # first in phone order, not the user's
    db.session.commit()
    monkeypatch.setattr(contacts, "PHONE_SAMPLE", 1)
    login(client, "standard@example.edu")
    _, html = page(client, "555-01")
    assert "Maria Garcia" in html and "James Smith" in html
    assert html.index("James Smith") < html.index("Maria Garcia")  # newest conversation first


@pytest.mark.parametrize(
    "query", ["gmail", "jane.doe@gmail.com", "example.edu", "apply", "3.75", "2026-4471", "student 4471"]
)
def test_addresses_decimals_and_hyphenated_numbers_are_found_by_their_words(client, world, query):
    """Both databases index the words a search is split into: PostgreSQL's parser used to keep an
    e-mail or web address, a decimal or a signed number whole, so none of their parts was found."""
    add_message(
        world["james"], "My email is jane.doe@gmail.com and site https://www.example.edu/apply?x=1 GPA 3.75"
    )
    add_message(world["james"], "My student ID is 2026-4471")
    db.session.commit()
    login(client, "standard@example.edu")
    status, html = page(client, query)
    assert status == 200
    assert conversation_links(html) == [world["james"].id]


def test_words_with_accents_and_of_other_scripts_are_words(client, world):
    add_message(world["james"], "Un café crème, señor? 李明 (ñandú)")
    db.session.commit()
    login(client, "standard@example.edu")
    for query in ("café", "crème", "señor", "李明", "ñandú"):
        assert conversation_links(page(client, query)[1]) == [world["james"].id], query


def test_a_very_long_text_of_distinct_words_is_stored_and_its_beginning_found(client, setup):
    """700,000 characters of distinct words (more than a PostgreSQL tsvector holds) are stored
    whole; the first 100,000 characters are indexed."""
    body = " ".join(f"w{i:x}" for i in range(150000))[:700000]
    received = inbound.receive(
        InboundMessage(from_phone="+12025550143", to_phone="+12025550100", body=body), "console"
    )
    db.session.expire_all()
    assert db.session.get(Message, received.message_id).body == body
    login(client, "standard@example.edu")
    assert conversation_links(page(client, "w1f")[1]) == [received.conversation_id]
