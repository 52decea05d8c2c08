"""Drafts: what an agent types in compose, a reply or a note stays in the tab until it is sent,
through opening another conversation, a reload, and signing in again after the session ended;
logging out forgets it, and compose opened for another contact never brings it."""

from __future__ import annotations

import re

from playwright.sync_api import Page, Request, Route, expect
from sqlalchemy import select

from tests.browser.conftest import World, count_messages, log_in, release, sms_receive
from tests.browser.test_request_failures import workspace_ready
from tests.conftest import PASSWORD, Factory
from webapp.extensions import db
from webapp.models import User
from webapp.services import sessions


def open_conversation(page: Page, preview: str) -> None:
    page.get_by_role("link", name=re.compile(preview)).click()
    expect(page.get_by_role("heading", level=2)).to_be_visible()
    workspace_ready(page)


def reply_typed(page: Page, app, world: World, text: str) -> None:
    """Signed in, with a contact's question open and `text` typed in its reply box."""
    sms_receive(app, "2025550143", world.number_phone, "Did my transcript arrive?")
    log_in(page, "standard@example.edu")
    page.goto("/inbox")
    open_conversation(page, "Did my transcript arrive")
    page.get_by_label("Message").fill(text)


def compose_typed(page: Page) -> None:
    """Signed in, with To and Message typed in compose."""
    log_in(page, "standard@example.edu")
    page.goto("/texts/new")
    page.get_by_label("To").fill("(202) 555-0143")
    page.get_by_label("Message").fill("Your open house visit is on Saturday.")


def expect_an_empty_compose(page: Page) -> None:
    page.goto("/texts/new")
    expect(page.get_by_label("To")).to_have_value("")
    expect(page.get_by_label("Message")).to_have_value("")


def end_sessions(app, email: str) -> None:
    with app.app_context():
        sessions.end_all(db.session.scalar(select(User.id).where(User.email == email)))
        db.session.commit()
    release()


def send_held(page: Page) -> Route:
    """Send pressed, and its request held in the browser: under way until the test lets it go."""
    held: list[Route] = []
    page.route(re.compile(r"/messages$"), lambda route: held.append(route))
    page.get_by_role("button", name="Send", exact=True).click()
    for _ in range(100):
        if held:
            return held[0]
        page.wait_for_timeout(50)
    raise AssertionError("Send made no request")


def stored_drafts(page: Page) -> list[str]:
    return page.evaluate(
        "() => Object.keys(sessionStorage).filter(function (k) { return k.startsWith('parley-draft:'); })"
    )


def test_a_reply_waits_in_its_conversation_while_another_is_open_and_goes_once_sent(
    page: Page, app, world: World
):
    sms_receive(app, "2025550143", world.number_phone, "Did my transcript arrive?")
    sms_receive(app, "2025550144", world.number_phone, "When is the campus tour?")
    log_in(page, "standard@example.edu")
    page.goto("/inbox")
    message, note = page.get_by_label("Message"), page.get_by_label("Note")

    open_conversation(page, "Did my transcript arrive")
    message.fill("Yes, it arrived on Monday.")
    note.fill("Registrar confirmed.")
    page.get_by_text("Send later").click()
    page.get_by_label("Send at").fill("2030-01-15T09:00")
    open_conversation(page, "When is the campus tour")
    expect(message).to_have_value("")
    expect(note).to_have_value("")
    message.fill("Tours run every Saturday at 10.")

    open_conversation(page, "Did my transcript arrive")
    expect(message).to_have_value("Yes, it arrived on Monday.")
    expect(note).to_have_value("Registrar confirmed.")
    expect(page.get_by_text("26 / 1,600 characters")).to_be_visible()  # its counter follows
    expect(page.get_by_label("Send at")).to_have_value("2030-01-15T09:00")  # shown: it is not sent now
    page.get_by_label("Send at").fill("")
    page.get_by_role("button", name="Send", exact=True).click()
    thread = page.get_by_role("list", name="Conversation history")
    expect(thread).to_contain_text("Yes, it arrived on Monday.")
    expect(message).to_have_value("")
    expect(note).to_have_value("Registrar confirmed.")  # the note was not added: it stays

    page.reload()
    workspace_ready(page)
    expect(message).to_have_value("")  # sent: not brought back
    expect(note).to_have_value("Registrar confirmed.")
    page.get_by_role("button", name="Add note").click()
    expect(page.get_by_role("list", name="Conversation history")).to_contain_text("Registrar confirmed.")
    expect(note).to_have_value("")

    page.goto("/inbox")
    open_conversation(page, "When is the campus tour")
    expect(message).to_have_value("Tours run every Saturday at 10.")
    message.fill("")  # emptied: nothing is kept
    page.reload()
    workspace_ready(page)
    expect(message).to_have_value("")
    assert stored_drafts(page) == []


def test_a_draft_brought_back_does_not_tell_colleagues_the_agent_is_typing(page: Page, app, world: World):
    reply_typed(page, app, world, "Yes, it arrived on Monday.")
    page.reload()
    expect(page.get_by_label("Message")).to_have_value("Yes, it arrived on Monday.")
    # The conversation's presence poll, asked at once (a thread change asks it too).
    with page.expect_request(lambda request: request.url.endswith("/presence")) as asked:
        page.evaluate("() => htmx.trigger(document.body, 'thread-changed')")
    assert "typing=1" not in (asked.value.post_data or "")


def test_compose_keeps_its_text_through_a_reload_but_not_for_another_contact(page: Page, world: World):
    compose_typed(page)

    page.reload()
    expect(page.get_by_label("To")).to_have_value("(202) 555-0143")
    expect(page.get_by_label("Message")).to_have_value("Your open house visit is on Saturday.")

    # A CRM's compose link for someone else: the text meant for 555-0143 is not offered to them.
    page.goto("/texts/new?to=2025550199")
    expect(page.get_by_label("To")).not_to_have_value("(202) 555-0143")
    expect(page.get_by_label("Message")).to_have_value("")
    page.goto("/texts/new")
    expect(page.get_by_label("Message")).to_have_value("Your open house visit is on Saturday.")

    page.get_by_role("button", name="Send", exact=True).click()
    expect(page.get_by_role("list", name="Conversation history")).to_contain_text("Your open house visit")
    expect_an_empty_compose(page)
    assert stored_drafts(page) == []


def test_back_after_a_sent_text_shows_an_empty_compose(page: Page, world: World):
    """The browser's Back to compose after Send: what was sent is not offered again, for another
    contact (the browser's own restoring of a page's fields included)."""
    compose_typed(page)
    page.get_by_role("button", name="Send", exact=True).click()
    expect(page.get_by_role("list", name="Conversation history")).to_contain_text("Your open house visit")
    page.go_back()
    expect(page.get_by_role("heading", name="Create 1:1 Text")).to_be_visible()
    expect(page.get_by_label("To")).to_have_value("")
    expect(page.get_by_label("Message")).to_have_value("")


def test_compose_cancelled_forgets_its_text(page: Page, world: World):
    compose_typed(page)
    page.get_by_role("link", name="Cancel").click()
    expect(page.get_by_role("tab", name=re.compile("Needs Attention"))).to_be_visible()
    expect_an_empty_compose(page)


def test_a_reply_typed_as_the_session_ended_is_there_after_signing_in_again(page: Page, app, world: World):
    reply_typed(page, app, world, "Yes, it arrived on Monday.")
    # Send is what finds the ended session here: the page's polls (which would find it first on a
    # slow run and go to the login page themselves) are held back until the login page shows.
    page.route(re.compile(r"/(inbox\?tab=|conversations/\d+/(live|presence))"), lambda route: route.abort())
    end_sessions(app, "standard@example.edu")  # ended elsewhere: an administrator, a password change

    page.get_by_role("button", name="Send", exact=True).click()
    expect(page.get_by_text("Your session ended. Log in again.")).to_be_visible()
    page.unroute_all()
    page.get_by_label("Email").fill("standard@example.edu")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    workspace_ready(page)
    expect(page.get_by_label("Message")).to_have_value("Yes, it arrived on Monday.")
    page.get_by_role("button", name="Send", exact=True).click()
    thread = page.get_by_role("list", name="Conversation history")
    expect(thread).to_contain_text("Yes, it arrived on Monday.")


def test_logging_out_forgets_the_drafts(page: Page, world: World):
    compose_typed(page)
    assert len(stored_drafts(page)) == 1

    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("button", name="Log in")).to_be_visible()
    assert stored_drafts(page) == []
    log_in(page, "standard@example.edu")
    expect_an_empty_compose(page)


def test_a_reply_whose_answer_never_came_is_not_sent_twice_from_its_draft(page: Page, app, world: World):
    reply_typed(page, app, world, "Yes, it arrived on Monday.")
    # A note first: the pane comes back, the reply box with its text and a form key of its own.
    page.get_by_label("Note").fill("Registrar confirmed.")
    page.get_by_role("button", name="Add note").click()
    expect(page.get_by_label("Note")).to_have_value("")

    def sent_but_unanswered(route: Route) -> None:
        route.fetch()  # Parley gets it and sends the text; the answer is lost on the way back
        route.abort()

    page.route(re.compile(r"/messages$"), sent_but_unanswered)
    page.get_by_role("button", name="Send", exact=True).click()
    expect(page.get_by_role("alert")).to_contain_text("Parley could not be reached")
    page.unroute_all()
    page.reload()
    workspace_ready(page)
    expect(page.get_by_label("Message")).to_have_value("Yes, it arrived on Monday.")
    page.get_by_role("button", name="Send", exact=True).click()  # the same form, sent again
    expect(page.get_by_label("Message")).to_have_value("")
    assert count_messages("outbound") == 1
    thread = page.get_by_role("list", name="Conversation history")
    expect(thread.get_by_text("Yes, it arrived on Monday.")).to_have_count(1)


def test_ctrl_enter_waits_while_a_reply_is_being_sent(page: Page, app, world: World):
    reply_typed(page, app, world, "Yes, it arrived on Monday.")
    notes: list[Request] = []
    page.on("request", lambda request: notes.append(request) if request.url.endswith("/notes") else None)
    held = send_held(page)
    note = page.get_by_label("Note")
    note.fill("Registrar confirmed.")
    note.press("Control+Enter")  # the note would carry the reply box's text, sent meanwhile
    page.wait_for_timeout(300)
    assert notes == []
    held.continue_()
    thread = page.get_by_role("list", name="Conversation history")
    expect(thread).to_contain_text("Yes, it arrived on Monday.")
    expect(page.get_by_label("Message")).to_have_value("")
    expect(note).to_have_value("Registrar confirmed.")
    note.press("Control+Enter")
    expect(thread).to_contain_text("Registrar confirmed.")
    expect(page.get_by_label("Message")).to_have_value("")


def test_a_page_of_another_user_forgets_the_drafts_left_in_the_tab(page: Page, app, world: World):
    compose_typed(page)
    end_sessions(app, "standard@example.edu")  # without Log out (a time-out); someone else signs in
    log_in(page, "admin@example.edu")
    page.goto("/texts/new")
    expect(page.get_by_label("Message")).to_have_value("")
    assert stored_drafts(page) == []


def test_a_reply_answered_after_another_conversation_was_opened_does_not_come_back(
    page: Page, app, world: World
):
    sms_receive(app, "2025550144", world.number_phone, "When is the campus tour?")
    reply_typed(page, app, world, "Yes, it arrived on Monday.")
    held = send_held(page)
    open_conversation(page, "When is the campus tour")  # at once, before Send is answered
    with page.expect_response(re.compile(r"/messages$")):
        held.continue_()
    page.goto("/inbox?tab=participating")  # replied: the conversation is there now
    open_conversation(page, "Yes, it arrived on Monday")
    thread = page.get_by_role("list", name="Conversation history")
    expect(thread).to_contain_text("Yes, it arrived on Monday.")
    expect(page.get_by_label("Message")).to_have_value("")


def test_compose_brings_back_the_number_it_was_sending_from(page: Page, world: World, make: Factory):
    make.number("+12025550101", inboxes=("Admissions",), label="Financial Aid Line")
    release()
    compose_typed(page)
    aid_line = "Financial Aid Line · (202) 555-0101"
    page.get_by_label("From").select_option(label=aid_line)
    page.reload()
    expect(page.get_by_label("Message")).to_have_value("Your open house visit is on Saturday.")
    assert page.get_by_label("From").evaluate("select => select.selectedOptions[0].text") == aid_line


def test_a_reply_answered_after_its_conversation_was_opened_again_does_not_come_back(
    page: Page, app, world: World
):
    sms_receive(app, "2025550144", world.number_phone, "When is the campus tour?")
    reply_typed(page, app, world, "Yes, it arrived on Monday.")
    held = send_held(page)
    open_conversation(page, "When is the campus tour")
    open_conversation(page, "Did my transcript arrive")  # again, before Send is answered
    message = page.get_by_label("Message")
    expect(message).to_have_value("")  # not back as a draft while its send is under way
    with page.expect_response(re.compile(r"/messages$")):
        held.continue_()
    expect(message).to_have_value("")
    page.reload()
    workspace_ready(page)
    expect(message).to_have_value("")
    thread = page.get_by_role("list", name="Conversation history")
    expect(thread).to_contain_text("Yes, it arrived on Monday.")
