"""Saved replies: admins manage an office's at /admin/saved-replies (unknown merge fields refused);
agents get them merged for the contact ({first_name}, {last_name} from the campaign record,
{agent_first_name} from themselves); a message still holding a merge field is not sent."""

from __future__ import annotations

import html

import pytest
from sqlalchemy import func, select

from tests.admin.conftest import as_admin, post, world  # noqa: F401  (fixture)
from tests.conftest import login
from webapp.extensions import db
from webapp.models import AuditEvent, Message, SavedReply
from webapp.plugin_api import InboundMessage
from webapp.services import campaigns, inbound, saved_replies

MARIA = "+12025550143"  # Maria Garcia in the Admissions List
STRANGER = "+12025550199"  # in no campaign
TEXT = "Hi {first_name} {last_name}, this is {agent_first_name}: your transcript arrived."


def launch(world) -> None:  # noqa: F811
    campaigns.launch_campaign(world["campaign"])
    db.session.commit()


def add(office, title: str = "Transcript received", body: str = TEXT) -> SavedReply:
    reply = saved_replies.create(None, office, title, body)
    db.session.commit()
    return reply


def conversation_with(phone: str) -> int:
    return inbound.receive(InboundMessage(phone, "+12025550100", "Hello?"), "console").conversation_id


def listed(client, query: str) -> str:
    return html.unescape(client.get(f"/saved-replies?{query}").get_data(as_text=True))


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def test_an_admin_adds_changes_and_deletes_a_saved_reply(client, world):  # noqa: F811
    as_admin(client)
    page = client.get("/admin/saved-replies")
    assert page.status_code == 200 and "No saved replies yet" in page.get_data(as_text=True)
    form = {"office_id": world["office"].id, "title": "Transcript received", "body": TEXT}
    response = post(client, "/admin/saved-replies", form)
    assert response.status_code == 303
    reply = db.session.scalar(select(SavedReply))
    assert (reply.title, reply.body, reply.office_id) == ("Transcript received", TEXT, world["office"].id)
    listed = client.get("/admin/saved-replies").get_data(as_text=True)
    assert "Transcript received" in listed

    response = post(client, f"/admin/saved-replies/{reply.id}", {"title": "Transcript in", "body": "Got it!"})
    assert response.status_code == 303
    db.session.refresh(reply)
    assert (reply.title, reply.body) == ("Transcript in", "Got it!")

    # Delete asks first (agents lose the reply for good); asking deletes nothing.
    deleting = f'method="post" action="/admin/saved-replies/{reply.id}/delete"'
    assert deleting not in client.get("/admin/saved-replies").get_data(as_text=True)
    asked = client.get(f"/admin/saved-replies/{reply.id}/delete").get_data(as_text=True)
    assert "Delete Transcript in?" in asked and deleting in asked
    assert count(SavedReply) == 1
    assert post(client, f"/admin/saved-replies/{reply.id}/delete").status_code == 303
    assert count(SavedReply) == 0
    kinds = set(db.session.scalars(select(AuditEvent.kind)))
    assert {"saved_reply.created", "saved_reply.updated", "saved_reply.deleted"} <= kinds


def test_an_unknown_merge_field_is_refused_and_nothing_is_saved(client, world):  # noqa: F811
    as_admin(client)
    response = post(client, "/admin/saved-replies",
                    {"office_id": world["office"].id, "title": "Hi", "body": "Hi {nickname}!"})  # fmt: skip
    text = html.unescape(response.get_data(as_text=True))
    assert response.status_code == 422
    assert "{nickname} is not a merge field Parley knows" in text
    assert "{first_name}, {last_name} and {agent_first_name}" in text
    assert "Hi {nickname}!" in text  # what was typed stays
    assert count(SavedReply) == 0


@pytest.mark.parametrize(
    ("body", "shown", "field"),
    [("Hi {first_name, welcome", "{first_name", "{first_name}"),
     ("Hi first_name}!", "first_name}", "{first_name}"),
     ("Hi { last_name }", "{ last_name }", "{last_name}"),
     ("Hi { first_name}", "{ first_name}", "{first_name}"),
     ("Hi {{first_name}}, thanks!", "{{first_name}}", "{first_name}"),
     ("Hi {{first_name}, thanks!", "{{first_name}", "{first_name}"),
     ("Hi {{ agent_first_name }}", "{{ agent_first_name }}", "{agent_first_name}"),
     ("Hi ${last_name}", "${last_name}", "{last_name}"),
     ("Hi [first_name], thanks!", "[first_name]", "{first_name}"),
     ("Hi %first_name%, thanks!", "%first_name%", "{first_name}"),
     ("Hi <first_name>, thanks!", "<first_name>", "{first_name}"),
     ("Hi $first_name, thanks!", "$first_name", "{first_name}"),
     ("Hi {first name}, thanks!", "{first name}", "{first_name}"),
     ("Dear [First Name] [Last Name]", "[First Name]", "{first_name}"),
     ("Hi {First_Name}", "{First_Name}", "{first_name}")],
)
def test_a_merge_field_written_otherwise_is_refused(client, world, body, shown, field):  # noqa: F811
    """Only {field} is filled in: any other way of writing one would reach the contact as typed."""
    as_admin(client)
    form = {"office_id": world["office"].id, "title": "Hi", "body": body}
    response = post(client, "/admin/saved-replies", form)
    text = html.unescape(response.get_data(as_text=True))
    assert response.status_code == 422
    assert f"Write {field}, not “{shown}”: only {field} is filled in, and “{shown}” would be sent" in text
    assert f">{body}</textarea>" in text  # what was typed stays
    assert count(SavedReply) == 0


def test_a_merge_field_written_otherwise_is_refused_when_a_reply_is_changed(client, world):  # noqa: F811
    reply = add(world["office"], "Welcome", "Welcome!")
    as_admin(client)
    form = {"title": "Welcomed", "body": "Hi {{last_name}}"}
    response = post(client, f"/admin/saved-replies/{reply.id}", form)
    text = html.unescape(response.get_data(as_text=True))
    assert response.status_code == 422 and "Write {last_name}, not “{{last_name}}”" in text
    assert 'value="Welcomed"' in text and ">Hi {{last_name}}</textarea>" in text
    db.session.refresh(reply)
    assert (reply.title, reply.body) == ("Welcome", "Welcome!")


@pytest.mark.parametrize(
    "body",
    ["A $50 fee applies [optional] <b>only</b> at 100%.", "We're on a 100% first name basis.",
     "Send us your first name and last name (first_name, last_name).", "Hi {first_name}, 20% off!",
     # How an address is made, explained: not a merge field.
     "Your student email is [firstname].[lastname]@students.example.edu",
     "Format: <firstname>.<lastname>@example.edu", "Email <firstname.lastname@example.edu> for help"],
)
def test_plain_text_with_brackets_or_a_fields_words_is_accepted(world, body):  # noqa: F811
    assert add(world["office"], "Plain", body).body == body


def test_a_field_in_doubled_braces_saved_before_the_check_is_not_filled_in(world):  # noqa: F811
    """Filled in, "{{first_name}}" would reach the contact as "{Maria}": left whole, the message is
    held as unfilled for the agent to correct."""
    reply = SavedReply(office_id=world["office"].id, title="Old", body="Hi {{first_name}} {last_name}!")
    merged = saved_replies.merge(reply, {"first_name": "Maria", "last_name": "Garcia"})
    assert merged.text == "Hi {{first_name}} Garcia!" and merged.unfilled == ("first_name",)


def test_empty_and_too_long_saved_replies_are_refused(client, world):  # noqa: F811
    as_admin(client)
    empty = post(client, "/admin/saved-replies", {"office_id": world["office"].id, "title": " ", "body": ""})
    assert empty.status_code == 422
    assert "Give the saved reply a title" in empty.get_data(as_text=True)
    blank = {"office_id": world["office"].id, "title": "Blank", "body": "\u3164"}
    filler = post(client, "/admin/saved-replies", blank)
    assert "Write the text of the saved reply." in filler.get_data(as_text=True)  # it could never be sent
    form = {"office_id": world["office"].id, "title": "Long", "body": "x" * 1601}
    long = post(client, "/admin/saved-replies", form)
    assert "at most 1,600 characters" in long.get_data(as_text=True)
    assert count(SavedReply) == 0


def test_a_title_the_office_already_has_is_refused(client, world):  # noqa: F811
    """Agents pick a saved reply by its title: two alike in one office could not be told apart."""
    welcome = add(world["office"], "Welcome", "Welcome to Admissions!")
    add(world["other_office"], "Campus tour", "Tours run daily.")  # another office's: no clash
    as_admin(client)
    form = {"office_id": world["office"].id, "title": " welcome ", "body": "Hello again"}
    again = post(client, "/admin/saved-replies", form)
    assert again.status_code == 422
    assert "Admissions already has a saved reply titled “welcome”" in again.get_data(as_text=True)
    assert post(client, "/admin/saved-replies", {**form, "title": "Campus tour"}).status_code == 303
    tour = db.session.scalar(select(SavedReply).where(SavedReply.body == "Hello again"))
    renamed = post(client, f"/admin/saved-replies/{tour.id}", {"title": "WELCOME", "body": "Hello again"})
    assert renamed.status_code == 422 and "already has a saved reply titled" in renamed.get_data(as_text=True)
    kept = post(client, f"/admin/saved-replies/{welcome.id}", {"title": "Welcome", "body": "Welcome, all!"})
    assert kept.status_code == 303  # its own title is no clash
    db.session.expire_all()
    assert sorted(db.session.scalars(select(SavedReply.title))) == ["Campus tour", "Campus tour", "Welcome"]
    # Any script's capitals: "École" is "école" (SQLite's lower() would not say so).
    add(world["office"], "École visits", "Visits start at 9.")
    accented = post(client, "/admin/saved-replies", {**form, "title": "école VISITS"})
    assert accented.status_code == 422
    assert "already has a saved reply titled" in accented.get_data(as_text=True)
    # Two alike from before titles were checked: each can still be edited under its own title.
    db.session.add(SavedReply(office_id=world["office"].id, title="Welcome", body="An old twin"))
    db.session.commit()
    twin = db.session.scalar(select(SavedReply).where(SavedReply.body == "An old twin"))
    edited = post(client, f"/admin/saved-replies/{twin.id}", {"title": "Welcome", "body": "Hi!"})
    assert edited.status_code == 303


def test_saved_replies_of_another_office_are_out_of_reach(client, world):  # noqa: F811
    theirs = add(world["other_office"], "FA only", "Financial aid answer")
    as_admin(client)
    assert client.get(f"/admin/saved-replies/{theirs.id}").status_code == 404
    assert post(client, f"/admin/saved-replies/{theirs.id}/delete").status_code == 404
    assert client.get(f"/admin/saved-replies/{theirs.id}/delete").status_code == 404
    other = post(client, "/admin/saved-replies",
                 {"office_id": world["other_office"].id, "title": "Sneaky", "body": "x"})  # fmt: skip
    assert other.status_code == 422
    assert count(SavedReply) == 1
    assert "FA only" not in client.get("/admin/saved-replies").get_data(as_text=True)


def test_agents_cannot_manage_saved_replies(client, world):  # noqa: F811
    login(client, "standard@example.edu")
    assert client.get("/admin/saved-replies").status_code == 403


def test_in_a_conversation_the_list_is_merged_for_the_contact(client, world):  # noqa: F811
    launch(world)
    add(world["office"])
    add(world["other_office"], "FA only", "Financial aid answer")
    conversation_id = conversation_with(MARIA)
    db.session.commit()
    login(client, "standard@example.edu")
    page = client.get(f"/saved-replies?conversation_id={conversation_id}", headers={"HX-Request": "true"})
    text = html.unescape(page.get_data(as_text=True))
    assert page.status_code == 200
    assert "Hi Maria Garcia, this is Sam: your transcript arrived." in text
    assert 'role="listbox"' in text and "Filter saved replies" in text
    assert "FA only" not in text
    assert "data-unnamed" not in text  # a conversation's contact does not change


def test_a_field_without_a_value_stays_unfilled(client, world):  # noqa: F811
    add(world["office"])
    conversation_id = conversation_with(STRANGER)
    db.session.commit()
    login(client, "standard@example.edu")
    text = listed(client, f"conversation_id={conversation_id}")
    assert "Hi {first_name} {last_name}, this is Sam: your transcript arrived." in text


def test_on_compose_the_list_follows_the_chosen_number_and_phone(client, world):  # noqa: F811
    launch(world)
    add(world["office"])
    login(client, "standard@example.edu")
    number_id = world["number"].id
    text = listed(client, f"number_id={number_id}&to=(202) 555-0143")
    assert "Hi Maria Garcia, this is Sam" in text
    text = listed(client, f"number_id={number_id}&to=nonsense")
    assert "Hi {first_name} {last_name}, this is Sam" in text


def test_on_compose_each_reply_also_comes_without_the_contacts_names(client, world):  # noqa: F811
    """So that the page can take a filled-in name back when the To phone changes."""
    launch(world)
    add(world["office"])
    login(client, "standard@example.edu")
    text = listed(client, f"number_id={world['number'].id}&to=(202) 555-0143")
    assert 'data-text="Hi Maria Garcia, this is Sam: your transcript arrived."' in text
    assert 'data-unnamed="Hi {first_name} {last_name}, this is Sam: your transcript arrived."' in text
    assert 'data-merged-for="(202) 555-0143"' in text
    assert 'data-merged-names="Maria\nGarcia"' in text


def test_a_conversation_out_of_sight_gives_no_list(client, world):  # noqa: F811
    add(world["office"])
    conversation_id = conversation_with(MARIA)
    db.session.commit()
    login(client, "fa-staff@example.edu")
    assert client.get(f"/saved-replies?conversation_id={conversation_id}").status_code == 404
    login_page = client.get("/saved-replies")
    assert "Transcript received" not in login_page.get_data(as_text=True)


def test_a_reply_still_holding_a_merge_field_is_refused_and_nothing_is_sent(client, world):  # noqa: F811
    conversation_id = conversation_with(STRANGER)
    db.session.commit()
    login(client, "standard@example.edu")
    body = "Hi {first_name}, your transcript arrived."
    response = post(client, f"/conversations/{conversation_id}/messages", {"body": body}, htmx=True)
    text = html.unescape(response.get_data(as_text=True))
    assert "Fill in {first_name} before sending" in text
    assert f">{body}</textarea>" in text
    assert count(Message) == 1  # the contact's text alone
    plain = post(client, f"/conversations/{conversation_id}/messages", {"body": body})
    assert plain.status_code == 422


def compose(client, world, to: str, body: str):  # noqa: F811
    response = post(client, "/texts/new", {"number_id": world["number"].id, "to": to, "body": body},
                    page="/texts/new")  # fmt: skip
    return response.status_code, html.unescape(response.get_data(as_text=True))


def test_compose_refuses_an_unfilled_merge_field(client, world):  # noqa: F811
    login(client, "standard@example.edu")
    status, page = compose(client, world, "2025550143", "Dear {last_name}, hello")
    assert status == 422
    assert (
        "The message still has {last_name}: enter a phone with a known contact, or edit the text. "
        "Nothing was sent." in page
    )
    assert ">Dear {last_name}, hello</textarea>" in page and 'value="2025550143"' in page
    status, page = compose(client, world, "", "Dear {first_name} {last_name}")
    assert "The message still has {first_name}, {last_name}: enter a phone with a known contact" in page
    assert count(Message) == 0


def test_compose_to_a_known_contact_still_refuses_a_field_left_in_the_text(client, world):  # noqa: F811
    # Without the page's script nothing fills the field in: the agent is told what to do.
    launch(world)
    login(client, "standard@example.edu")
    status, page = compose(client, world, "(202) 555-0143", "Dear {first_name}, hello")
    assert status == 422
    assert "The message still has {first_name}: replace it with the contact's name, or edit the text." in page
    status, page = compose(client, world, "(202) 555-0143", "Hi {first_name}, {agent_first_name} here")
    assert "Fill in {first_name}, {agent_first_name} before sending" in page  # the agent's own field too
    assert count(Message) == 0


def test_compose_looks_up_the_contacts_merge_fields_by_phone(app, client, world):  # noqa: F811
    launch(world)
    login(client, "standard@example.edu")
    found = client.get("/saved-replies/contact?to=202.555.0143").get_json()
    assert found == {"known": True, "first_name": "Maria", "last_name": "Garcia"}
    for unknown in (STRANGER, "nonsense", ""):
        found = client.get(f"/saved-replies/contact?to={unknown}").get_json()
        assert found == {"known": False, "first_name": "", "last_name": ""}
    limited = app.test_client()
    login(limited, "limited@example.edu")
    assert limited.get("/saved-replies/contact?to=2025550143").status_code == 403


def test_braces_that_are_not_merge_fields_are_sent(client, world):  # noqa: F811
    login(client, "standard@example.edu")
    response = post(client, "/texts/new", {"number_id": world["number"].id, "to": "2025550143",
                                           "body": "Use code {ABC} or {}"}, page="/texts/new")  # fmt: skip
    assert response.status_code == 303
    assert count(Message) == 1


def test_with_no_saved_replies_the_list_only_says_so(client, world):  # noqa: F811
    conversation_id = conversation_with(MARIA)
    db.session.commit()
    login(client, "standard@example.edu")
    text = listed(client, f"conversation_id={conversation_id}")
    assert "Your office has no saved replies yet; an administrator adds them." in text
    # No empty filter box or list to tab into.
    assert 'role="combobox"' not in text and 'role="listbox"' not in text
    assert "Filter saved replies" not in text
    add(world["office"])
    text = listed(client, f"conversation_id={conversation_id}")
    assert 'role="combobox"' in text and "Filter saved replies" in text
    assert "no saved replies yet" not in text
