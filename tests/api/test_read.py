"""Reading through the API: a message, a contact's conversations, a conversation's messages (oldest
first, a page at a time) and a contact lookup, always limited to the key's office."""

from __future__ import annotations

import base64
from datetime import timedelta

from sqlalchemy import update

from tests.api.conftest import assert_problem
from webapp.extensions import db
from webapp.models import Conversation, Message, utcnow
from webapp.plugin_api import InboundMessage
from webapp.services import campaigns, conversations, inbound, optouts


def launch_admissions_list() -> None:
    campaigns.launch_campaign(campaigns.campaign_by_name("Admissions List"))
    db.session.commit()


def receive(text: str, contact: str = "+12025550143", number: str = "+12025550100") -> int:
    received = inbound.receive(
        InboundMessage(from_phone=contact, to_phone=number, body=text), "console"
    )
    db.session.commit()
    return received.conversation_id


def test_a_message_of_the_office_is_read_and_another_offices_is_not_there(crm, other_crm):
    sent = crm.send(text="Ours").get_json()
    theirs = other_crm.send(from_="+12025550200", text="Theirs").get_json()
    mine = crm.get(f"/api/v1/messages/{sent['id']}")
    assert mine.status_code == 200 and mine.get_json()["text"] == "Ours"
    assert_problem(crm.get(f"/api/v1/messages/{theirs['id']}"), 404, "not-found")
    assert_problem(crm.get("/api/v1/messages/2147483647"), 404)
    assert_problem(crm.get("/api/v1/messages/99999999999999999999"), 404)
    assert_problem(crm.get("/api/v1/messages/abc"), 404)


def test_a_conversations_messages_come_oldest_first_a_page_at_a_time(crm):
    conversation_id = receive("Is my transcript in?")
    crm.send(text="Yes, it arrived Monday.")
    receive("Thanks!")
    conversation = db.session.get(Conversation, conversation_id)
    conversations.add_event(conversation, "A note in the history, not a message")
    db.session.commit()

    path = f"/api/v1/conversations/{conversation_id}/messages"
    everything = crm.get(path).get_json()
    assert everything["next_cursor"] is None
    assert [(m["direction"], m["text"], m["author"]) for m in everything["data"]] == [
        ("inbound", "Is my transcript in?", "+12025550143"),
        ("outbound", "Yes, it arrived Monday.", "Slate"),
        ("inbound", "Thanks!", "+12025550143"),
    ]
    first = everything["data"][0]
    assert first["from"] == "+12025550143" and first["to"] == "+12025550100"
    assert first["status"] == "received"

    page = crm.get(path, query_string={"limit": 2}).get_json()
    assert [m["text"] for m in page["data"]] == ["Is my transcript in?", "Yes, it arrived Monday."]
    rest = crm.get(path, query_string={"limit": 2, "cursor": page["next_cursor"]}).get_json()
    assert [m["text"] for m in rest["data"]] == ["Thanks!"] and rest["next_cursor"] is None

    # Anything that is not a cursor this API returned is refused as one, not as a request.
    for garbled in ("garbage", "!!!", "a" * 101, page["next_cursor"] + "=="):
        assert_problem(crm.get(path, query_string={"cursor": garbled}), 422, "invalid-cursor")
    assert_problem(crm.get(path, query_string={"limit": 0}), 422, "invalid-request")
    assert_problem(crm.get(path, query_string={"limit": 201}), 422)
    assert_problem(crm.get(path, query_string={"sort": "desc"}), 422)


def test_the_offices_messages_are_listed_after_a_given_one_a_page_at_a_time(crm, other_crm):
    """How a CRM catches up after missing events: every message of its office since the last
    one it holds, across conversations, oldest first; never another office's."""
    receive("Is my transcript in?")
    other_crm.send(from_="+12025550200", text="Financial Aid's own")
    receive("Hello", contact="+12025550178")
    kept = crm.send(text="Yes, it arrived Monday.").get_json()["id"]  # the last one the CRM holds
    receive("Thanks!")
    crm.send(to="2025550178", text="Hi there")
    receive("Aid question", number="+12025550200")  # Financial Aid's
    # Listed once settled (a later id may be seen before an earlier one commits).
    assert crm.get("/api/v1/messages").get_json() == {"data": [], "next_cursor": None}
    db.session.execute(update(Message).values(created_at=utcnow() - timedelta(minutes=1)))
    db.session.commit()

    everything = crm.get("/api/v1/messages").get_json()
    assert [m["text"] for m in everything["data"]] == [
        "Is my transcript in?", "Hello", "Yes, it arrived Monday.", "Thanks!", "Hi there"
    ]
    assert everything["next_cursor"] is None
    missed = crm.get("/api/v1/messages", query_string={"after": kept, "limit": 1}).get_json()
    assert [m["text"] for m in missed["data"]] == ["Thanks!"]
    rest = crm.get("/api/v1/messages", query_string={"cursor": missed["next_cursor"]}).get_json()
    assert [m["text"] for m in rest["data"]] == ["Hi there"] and rest["next_cursor"] is None
    assert [m["text"] for m in other_crm.get("/api/v1/messages").get_json()["data"]] == [
        "Financial Aid's own", "Aid question"
    ]

    both = crm.get("/api/v1/messages", query_string={"after": kept, "cursor": missed["next_cursor"]})
    assert assert_problem(both, 422, "invalid-request")["errors"][0]["field"] == "after"
    assert_problem(crm.get("/api/v1/messages?after=-1"), 422, "invalid-request")
    assert_problem(crm.get("/api/v1/messages?after=x"), 422, "invalid-request")
    assert_problem(crm.get("/api/v1/messages?after=99999999999999999999"), 422, "invalid-request")
    # A cursor is for the list that gave it: not another office's, not a conversation's.
    theirs = other_crm.get("/api/v1/messages?limit=1").get_json()["next_cursor"]
    assert_problem(crm.get(f"/api/v1/messages?cursor={theirs}"), 422, "cursor-mismatch")
    conversation_id = everything["data"][0]["conversation_id"]
    page = crm.get(f"/api/v1/conversations/{conversation_id}/messages?limit=1").get_json()
    assert_problem(crm.get(f"/api/v1/messages?cursor={page['next_cursor']}"), 422, "cursor-mismatch")


def test_another_offices_conversation_is_not_there(crm, other_crm):
    theirs = receive("Financial aid question", number="+12025550200")
    assert_problem(crm.get(f"/api/v1/conversations/{theirs}/messages"), 404, "not-found")
    assert other_crm.get(f"/api/v1/conversations/{theirs}/messages").status_code == 200


def test_conversations_with_a_phone_are_the_offices_only_newest_first(app, crm, make):
    launch_admissions_list()
    make.number("+12025550101", office="Admissions", label="Admissions Second")
    first = receive("On the main line")
    second = receive("On the second line", number="+12025550101")
    receive("Financial aid", number="+12025550200")  # another office's
    receive("Another contact", contact="+12025550178")

    found = crm.get("/api/v1/conversations", query_string={"phone": "(202) 555-0143"}).get_json()
    assert [c["id"] for c in found["data"]] == [second, first]
    assert found["next_cursor"] is None
    newest = found["data"][0]
    assert newest["number"] == "+12025550101" and newest["contact_phone"] == "+12025550143"
    assert newest["contact_name"] == "Maria Garcia"  # from the office's campaign records
    assert newest["mode"] == "agent" and newest["needs_attention"] is True

    page = crm.get("/api/v1/conversations?phone=2025550143&limit=1").get_json()
    assert [c["id"] for c in page["data"]] == [second]
    rest = crm.get(f"/api/v1/conversations?phone=2025550143&limit=1&cursor={page['next_cursor']}")
    assert [c["id"] for c in rest.get_json()["data"]] == [first]

    assert_problem(crm.get("/api/v1/conversations?phone=12345"), 422, "invalid-phone")
    assert_problem(crm.get("/api/v1/conversations"), 422, "invalid-request")


def test_a_contact_lookup_gives_name_opt_out_and_the_offices_conversations(crm, other_crm):
    launch_admissions_list()
    conversation_id = receive("Hello")
    receive("Hello FA", number="+12025550200")
    contact = crm.get("/api/v1/contacts/lookup?phone=202.555.0143").get_json()
    assert contact["phone"] == "+12025550143" and contact["name"] == "Maria Garcia"
    assert contact["opted_out"] is False
    assert [c["id"] for c in contact["conversations"]] == [conversation_id]

    optouts.opt_out("+12025550143", source="admin")
    db.session.commit()
    assert crm.get("/api/v1/contacts/lookup?phone=2025550143").get_json()["opted_out"] is True

    stranger = crm.get("/api/v1/contacts/lookup?phone=2025550111").get_json()
    assert stranger == {"phone": "+12025550111", "name": None, "opted_out": False, "conversations": []}
    assert_problem(crm.get("/api/v1/contacts/lookup?phone=12345"), 422, "invalid-phone")
    letters = assert_problem(crm.get("/api/v1/contacts/lookup?phone=hello"), 422, "invalid-phone")
    assert letters["errors"][0]["field"] == "phone"
    assert "phone must be a US phone number such as (617) 555-0123" in letters["detail"]


def test_a_name_comes_only_from_the_keys_offices_campaigns(app, crm, other_crm):
    """Admissions launched its list; Financial Aid's list of the same phones is still a draft. The
    web inbox names the contact everywhere, but a Financial Aid key learns nothing of Admissions'
    contact list: neither in a lookup nor in its own conversations with that phone."""
    launch_admissions_list()
    receive("Hello FA", number="+12025550200")
    contact = other_crm.get("/api/v1/contacts/lookup?phone=2025550143").get_json()
    assert contact["name"] is None
    assert [c["contact_name"] for c in contact["conversations"]] == [None]
    listed = other_crm.get("/api/v1/conversations?phone=2025550143").get_json()
    assert [c["contact_name"] for c in listed["data"]] == [None]
    assert crm.get("/api/v1/contacts/lookup?phone=2025550143").get_json()["name"] == "Maria Garcia"

    # Once its own list is launched, Financial Aid's key gets its own record's name.
    campaigns.launch_campaign(campaigns.campaign_by_name("FA List"))
    db.session.commit()
    assert other_crm.get("/api/v1/contacts/lookup?phone=2025550143").get_json()["name"] == "Maria Garcia"


def test_a_cursor_continues_only_the_list_that_returned_it(app, crm, make):
    make.number("+12025550101", office="Admissions", label="Admissions Second")
    first = receive("On the main line")
    receive("Still on the main line")
    second = receive("On the second line", number="+12025550101")
    receive("Still on the second line", number="+12025550101")
    receive("Another contact", contact="+12025550178")

    listed = crm.get("/api/v1/conversations?phone=2025550143&limit=1").get_json()
    conversations_cursor = listed["next_cursor"]
    messages_path = f"/api/v1/conversations/{first}/messages"
    read = crm.get(messages_path, query_string={"limit": 1}).get_json()
    messages_cursor = read["next_cursor"]

    # Each keeps working where it came from, whatever form the phone is typed in.
    typed = {"phone": "(202) 555-0143", "cursor": conversations_cursor}
    again = crm.get("/api/v1/conversations", query_string=typed)
    assert [c["id"] for c in again.get_json()["data"]] == [first]
    rest = crm.get(messages_path, query_string={"cursor": messages_cursor}).get_json()
    assert [m["text"] for m in rest["data"]] == ["Still on the main line"]

    # Anywhere else it would give a wrong page: it is refused, saying where it belongs.
    elsewhere = [
        (messages_path, {"cursor": conversations_cursor}, "another list"),
        (f"/api/v1/conversations/{second}/messages", {"cursor": messages_cursor}, "another conversation"),
        ("/api/v1/conversations", {"phone": "2025550143", "cursor": messages_cursor}, "another list"),
        ("/api/v1/conversations", {"phone": "2025550178", "cursor": conversations_cursor}, "another phone"),
    ]
    for path, query, said in elsewhere:
        refused = assert_problem(crm.get(path, query_string=query), 422, "cursor-mismatch")
        assert said in refused["detail"] and refused["errors"][0]["field"] == "cursor"
    assert "cursor-mismatch" in crm.get("/api/v1/docs").get_data(as_text=True)


def test_a_cursor_issued_before_cursors_named_their_list_still_works(crm):
    conversation_id = receive("Is my transcript in?")
    receive("Thanks!")
    first_id = crm.get(f"/api/v1/conversations/{conversation_id}/messages").get_json()["data"][0]["id"]
    legacy = base64.urlsafe_b64encode(f"v1:{first_id}".encode()).decode().rstrip("=")
    rest = crm.get(f"/api/v1/conversations/{conversation_id}/messages", query_string={"cursor": legacy})
    assert [m["text"] for m in rest.get_json()["data"]] == ["Thanks!"]


def test_both_conversation_lists_put_the_latest_activity_first_and_page_by_it(app, crm, make):
    """Three lines with one contact: the oldest conversation is texted again last; the list and
    the lookup agree, and pages of one walk it whole, once each, even with equal times."""
    make.number("+12025550101", office="Admissions", label="Admissions Second")
    make.number("+12025550102", office="Admissions", label="Admissions Third")
    make.number("+12025550103", office="Admissions", label="Admissions Fourth")
    oldest = receive("First line")
    middle = receive("Second line", number="+12025550101")
    newest = receive("Third line", number="+12025550102")
    fourth = receive("Fourth line", number="+12025550103")
    receive("Back on the first line")  # the oldest conversation is now the latest active
    same = db.session.get(Conversation, fourth).last_activity_at
    db.session.get(Conversation, middle).last_activity_at = same  # a tie: the newer id first
    db.session.commit()
    expected = [oldest, fourth, middle, newest]

    listed = crm.get("/api/v1/conversations?phone=2025550143").get_json()
    assert [c["id"] for c in listed["data"]] == expected
    looked_up = crm.get("/api/v1/contacts/lookup?phone=2025550143").get_json()
    assert [c["id"] for c in looked_up["conversations"]] == expected

    walked, cursor = [], None
    while True:
        query = {"phone": "2025550143", "limit": 1} | ({"cursor": cursor} if cursor else {})
        page = crm.get("/api/v1/conversations", query_string=query).get_json()
        walked += [c["id"] for c in page["data"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert walked == expected

    # A cursor from when the list went by id alone continues after that conversation's place.
    legacy = base64.urlsafe_b64encode(f"v2:conversations:+12025550143:{fourth}".encode()).decode().rstrip("=")
    rest = crm.get("/api/v1/conversations", query_string={"phone": "2025550143", "cursor": legacy})
    assert [c["id"] for c in rest.get_json()["data"]] == [middle, newest]


def cursor(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def test_a_made_up_conversations_cursor_is_refused_as_one(crm, other_crm):
    """A time past any date, an id of another office's conversation or of another phone's, or
    of none: each is not a cursor this list returned."""
    ours = receive("Hello")
    other_phone = receive("Hello too", contact="+12025550178")
    theirs = receive("Hello FA", number="+12025550200")
    made_up = [
        cursor("v2:conversations:+12025550143:999999999999999999.1"),
        cursor(f"v2:conversations:+12025550143:{theirs}"),
        cursor(f"v2:conversations:+12025550143:{other_phone}"),
        cursor("v2:conversations:+12025550143:999999"),
    ]
    for text in made_up:
        query = {"phone": "2025550143", "cursor": text}
        assert_problem(crm.get("/api/v1/conversations", query_string=query), 422, "invalid-cursor")
    own = {"phone": "2025550143", "cursor": cursor(f"v2:conversations:+12025550143:{ours}")}
    assert crm.get("/api/v1/conversations", query_string=own).get_json() == {"data": [], "next_cursor": None}


def test_a_query_naming_a_parameter_twice_is_told_so_not_that_its_type_is_wrong(crm):
    """As a body naming a field twice: which value was meant is a guess, whatever the values."""
    for path, name in (
        ("/api/v1/conversations?phone=2025550143&limit=5&limit=5", "limit"),
        ("/api/v1/conversations?phone=2025550143&phone=2025550143", "phone"),
        ("/api/v1/contacts/lookup?phone=2025550143&phone=2025550144", "phone"),
        ("/api/v1/messages?after=1&after=2", "after"),
        ("/api/v1/reports/summary?from=2026-09-01&from=2026-09-02", "from"),
    ):
        body = assert_problem(crm.get(path), 422, "invalid-request")
        assert body["detail"] == f"The query names {name} more than once; give it once.", body
        assert body["errors"] == [{"field": name, "message": "named more than once"}]
    # Another refusal in the same query is still named, and an unknown name stays unknown.
    both = assert_problem(crm.get("/api/v1/conversations?phone=abc&limit=5&limit=6&x=1&x=2"), 422)
    assert both["detail"].startswith("The query names limit more than once; give it once. ")
    assert {e["field"]: e["message"] for e in both["errors"]} == {
        "limit": "named more than once",
        "phone": "phone must be a US phone number such as (617) 555-0123",
        "x": "x is not a field of this request; leave it out",
    }
