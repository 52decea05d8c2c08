"""The agent's workspace in a real browser, with Plivo pointed at a fake API: a saved reply with
merge fields inserted from the keyboard (an unfilled field blocks Send until it is filled), a note
that never reaches the provider, and axe-core on the new screens."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from playwright.sync_api import Browser, Page, expect

from tests.browser.axe import Audit
from tests.browser.conftest import count_messages, log_in, release
from tests.conftest import serving
from tests.fake_plivo import FakePlivo
from tests.plivo.conftest import PLIVO_NUMBER, plivo_app
from webapp.extensions import db
from webapp.models import Conversation
from webapp.plugin_api import InboundMessage
from webapp.services import campaigns, inbound

CONTACT = "+12025550143"
SAVED = "Hi {first_name} {last_name}, {agent_first_name} here: your transcript arrived."


@pytest.fixture
def fake_plivo() -> Iterator[FakePlivo]:
    with FakePlivo() as server:
        yield server


@pytest.fixture
def app(database_url: str, tmp_path: Path, fake_plivo: FakePlivo) -> Iterator[Flask]:
    with serving(plivo_app(database_url, tmp_path, fake_plivo)) as app:
        yield app


@pytest.fixture
def conversation_id(setup, make) -> int:
    """Maria (no last name on the campaign record) texted the office's Plivo number."""
    make.number(PLIVO_NUMBER, provider="plivo", inboxes=("Admissions",), label="Admissions Plivo")
    listing = io.BytesIO(b"first_name,last_name,phone\nMaria,,2025550143\n")
    campaigns.import_campaign("Fall", "Admissions", listing, launch=True)
    inbound.receive(InboundMessage(CONTACT, PLIVO_NUMBER, "Did my transcript arrive?"), "plivo")
    db.session.commit()
    found = db.session.scalar(db.select(Conversation.id))
    release()
    return found


def test_a_saved_reply_with_merge_fields_and_a_note(page: Page, conversation_id: int, fake_plivo: FakePlivo):
    audit = Audit(1280)
    # An admin adds the office's saved reply.
    log_in(page, "admin@example.edu")
    page.goto("/admin/saved-replies")
    page.get_by_label("Title").fill("Transcript received")
    page.get_by_label("Text").fill("Hi {nickname}")
    page.get_by_role("button", name="Add saved reply").click()
    expect(page.get_by_text(re.compile(r"\{nickname\} is not a merge field"))).to_be_visible()
    audit.check(page, "saved replies admin, refused")
    page.get_by_label("Text").fill(SAVED)
    page.get_by_role("button", name="Add saved reply").click()
    expect(page.get_by_role("link", name="Transcript received")).to_be_visible()
    page.get_by_role("button", name="Log out").click()

    # An agent inserts it from the keyboard: type to filter, Enter to insert.
    log_in(page, "standard@example.edu")
    page.goto(f"/conversations/{conversation_id}")
    message = page.get_by_label("Message")
    message.fill("")
    button = page.get_by_role("button", name="Saved replies")
    button.focus()
    page.keyboard.press("Enter")
    expect(button).to_have_attribute("aria-expanded", "true")
    listbox = page.get_by_role("listbox", name="Saved replies")
    expect(listbox).to_be_visible()
    audit.check(page, "conversation with the saved replies list open")
    filter_box = page.get_by_role("combobox", name="Filter saved replies")
    expect(filter_box).to_be_focused()
    filter_box.press_sequentially("zzz")  # no match: said, as the list empties silently
    expect(page.locator("#announcer")).to_have_text("No saved reply matches.")
    filter_box.fill("")
    filter_box.press_sequentially("transcript")
    expect(page.get_by_role("option", name=re.compile("Transcript received"))).to_have_attribute(
        "aria-selected", "true"
    )
    page.keyboard.press("Enter")
    expect(listbox).to_have_count(0)
    expect(message).to_have_value("Hi Maria {last_name}, Sam here: your transcript arrived.")
    expect(message).to_be_focused()
    expect(page.get_by_text("Fill in {last_name} before sending")).to_be_visible()

    # Send refuses while {last_name} is unfilled: nothing reaches Plivo.
    page.get_by_role("button", name="Send", exact=True).click()
    expect(message).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_role("alert")).to_contain_text("Fill in {last_name}")
    assert fake_plivo.requests == [] and count_messages("outbound") == 0

    # Escape closes the list without inserting anything.
    button.click()
    expect(listbox).to_be_visible()
    page.keyboard.press("Escape")
    expect(listbox).to_have_count(0)
    expect(button).to_be_focused()

    # So does tabbing out of it, on to the next field.
    button.click()
    expect(filter_box).to_be_focused()
    page.keyboard.press("Tab")
    expect(listbox).to_have_count(0)
    expect(button).to_have_attribute("aria-expanded", "false")

    message.fill("Hi Maria Garcia, Sam here: your transcript arrived.")
    expect(page.get_by_text("Fill in {last_name} before sending")).to_have_count(0)
    page.get_by_role("button", name="Send", exact=True).click()
    thread = page.get_by_role("list", name="Conversation history")
    expect(thread).to_contain_text("Hi Maria Garcia, Sam here: your transcript arrived.")
    assert [r.json["text"] for r in fake_plivo.requests] == [
        "Hi Maria Garcia, Sam here: your transcript arrived."
    ]

    # A note: in the timeline, labelled, with its author; Plivo never hears of it.
    page.get_by_label("Message").fill("Half-written")
    note = page.get_by_label("Note", exact=True)
    page.get_by_role("button", name="Add note").click()
    expect(page.get_by_role("alert")).to_contain_text("empty note was not added")
    expect(note).to_be_focused()  # at the field the error is about, which it describes
    expect(note).to_have_accessible_description(re.compile(r"empty note was not added"))
    note.fill("Registrar confirmed by phone.")
    page.get_by_role("button", name="Add note").click()
    card = thread.get_by_role("listitem").filter(has_text="Registrar confirmed by phone.")
    expect(card).to_contain_text("Note")
    expect(card).to_contain_text("Sam Standard")
    expect(page.get_by_label("Message")).to_have_value("Half-written")
    expect(note).to_have_value("")
    expect(note).to_be_focused()  # ready for the next note, as Message is after a send
    audit.check(page, "conversation with a note")
    assert len(fake_plivo.requests) == 1 and count_messages("note") == 1
    audit.assert_clean()


def test_saved_replies_with_none_yet_keeps_focus_and_says_so(page: Page, conversation_id: int):
    log_in(page, "standard@example.edu")
    page.goto(f"/conversations/{conversation_id}")
    button = page.get_by_role("button", name="Saved replies")
    button.focus()
    page.keyboard.press("Enter")
    hint = "Your office has no saved replies yet; an administrator adds them."
    # Shown in the conversation, and said by the page's live region (visually hidden, outside it).
    expect(page.get_by_role("region", name="Conversation", exact=True).get_by_text(hint)).to_be_visible()
    expect(page.locator("#announcer")).to_have_text(hint)
    expect(button).to_be_focused()  # not dropped to the page while the button was busy


def test_typed_reply_and_note_survive_the_conversations_buttons(page: Page, conversation_id: int):
    """Does Not Need Attention and Switch Mode redraw the pane: what the agent had typed and not
    sent stays in the reply and note boxes."""
    log_in(page, "standard@example.edu")
    page.goto(f"/conversations/{conversation_id}")
    message = page.get_by_label("Message")
    note = page.get_by_label("Note", exact=True)
    message.fill("Your transcript came on Monday")
    note.fill("Check with the registrar")
    page.get_by_text("Send later", exact=True).click()
    page.get_by_label(re.compile("^Send at")).fill("2030-01-15T09:30")
    page.get_by_role("button", name="Does Not Need Attention").click()
    expect(page.get_by_role("button", name="Does Not Need Attention")).to_have_count(0)
    expect(message).to_have_value("Your transcript came on Monday")
    expect(note).to_have_value("Check with the registrar")
    page.get_by_role("button", name="Switch Mode").click()
    expect(page.get_by_text("1:1 Text (Bot)")).to_be_visible()
    expect(message).to_have_value("Your transcript came on Monday")
    expect(note).to_have_value("Check with the registrar")
    expect(page.get_by_label(re.compile("^Send at"))).to_have_value("2030-01-15T09:30")
    assert count_messages("outbound") == 0 and count_messages("note") == 0

    # An empty reply is refused at its field, which is marked as compose's and the note's are.
    message.fill("")
    page.get_by_role("button", name="Send", exact=True).click()
    expect(page.get_by_role("alert")).to_contain_text("Enter a message")
    expect(message).to_have_attribute("aria-invalid", "true")
    expect(message).to_have_css("border-top-color", "rgb(180, 35, 24)")  # --danger


def test_a_colleague_viewing_typing_and_replying_first(
    page: Page, browser: Browser, live_server: str, conversation_id: int, fake_plivo: FakePlivo
):
    audit = Audit(1280)
    log_in(page, "standard@example.edu")
    page.goto(f"/conversations/{conversation_id}")
    page.get_by_label("Message").fill("The deadline is")

    colleague_context = browser.new_context(base_url=live_server, viewport={"width": 1280, "height": 800})
    colleague = colleague_context.new_page()
    try:
        log_in(colleague, "admin@example.edu")
        colleague.goto(f"/conversations/{conversation_id}")
        # Sam keeps typing: Alex sees it; Sam sees Alex there.
        page.get_by_label("Message").press_sequentially(" January 15")
        expect(colleague.locator("#presence")).to_have_text("Sam Standard is typing a reply…")
        expect(page.locator("#presence")).to_have_text("Alex Admin is viewing this conversation.")
        colleague.get_by_label("Message").fill("It is January 15.")
        colleague.get_by_role("button", name="Send", exact=True).click()
        colleague_thread = colleague.get_by_role("list", name="Conversation history")
        expect(colleague_thread).to_contain_text("It is January 15.")
    finally:
        colleague_context.close()

    # Sam's Send warns instead of sending, and keeps what Sam wrote.
    page.get_by_role("button", name="Send", exact=True).click()
    warning = page.get_by_role("alert").filter(has_text="replied")
    expect(warning).to_contain_text(re.compile(r"Alex replied (just now|\d+ seconds ago)\."))
    expect(page.get_by_label("Message")).to_have_value("The deadline is January 15")
    expect(page.get_by_role("list", name="Conversation history")).to_contain_text("It is January 15.")
    audit.check(page, "conversation with the collision warning")
    assert [r.json["text"] for r in fake_plivo.requests] == ["It is January 15."]

    page.get_by_role("button", name="Send anyway").click()
    thread = page.get_by_role("list", name="Conversation history")
    expect(thread).to_contain_text("The deadline is January 15")
    sent = [r.json["text"] for r in fake_plivo.requests]
    assert sent == ["It is January 15.", "The deadline is January 15"]
    audit.assert_clean()


def colleague_replies(browser: Browser, live_server: str, conversation_id: int, text: str) -> None:
    """Alex answers the conversation from another browser."""
    context = browser.new_context(base_url=live_server, viewport={"width": 1280, "height": 800})
    try:
        colleague = context.new_page()
        log_in(colleague, "admin@example.edu")
        colleague.goto(f"/conversations/{conversation_id}")
        colleague.get_by_label("Message").fill(text)
        colleague.get_by_role("button", name="Send", exact=True).click()
        expect(colleague.get_by_role("list", name="Conversation history")).to_contain_text(text)
    finally:
        context.close()


@pytest.mark.parametrize("press", ["mouse", "keyboard"])
def test_the_collision_warning_takes_focus_however_send_was_pressed(
    page: Page, browser: Browser, live_server: str, conversation_id: int, fake_plivo: FakePlivo, press: str
):
    log_in(page, "standard@example.edu")
    page.goto(f"/conversations/{conversation_id}")
    page.get_by_label("Message").fill("The deadline is January 15")
    colleague_replies(browser, live_server, conversation_id, "It is January 15.")

    send = page.get_by_role("button", name="Send", exact=True)
    if press == "mouse":
        send.click()
    else:
        send.focus()
        page.keyboard.press("Enter")
    warning = page.get_by_role("alert").filter(has_text="replied")
    expect(warning).to_contain_text("Nothing was sent")
    # Focus lands on the warning's first choice, so that the agent decides there.
    expect(warning.get_by_role("button", name="Send anyway")).to_be_focused()
    page.keyboard.press("Tab")
    expect(warning.get_by_role("link", name="Look first")).to_be_focused()
    # Looking first takes focus to the colleague's reply, where reading goes on.
    page.keyboard.press("Enter")
    thread = page.get_by_role("list", name="Conversation history")
    expect(thread.get_by_role("listitem").filter(has_text="It is January 15.")).to_be_focused()
    # Not sent, so still a draft of this tab: a reload brings it back.
    page.reload()
    expect(page.get_by_label("Message")).to_have_value("The deadline is January 15")


def test_a_colleagues_typing_line_goes_when_their_reply_arrives(
    page: Page, browser: Browser, live_server: str, conversation_id: int, fake_plivo: FakePlivo
):
    log_in(page, "standard@example.edu")
    page.goto(f"/conversations/{conversation_id}")
    context = browser.new_context(base_url=live_server, viewport={"width": 1280, "height": 800})
    try:
        colleague = context.new_page()
        log_in(colleague, "admin@example.edu")
        colleague.goto(f"/conversations/{conversation_id}")
        told = []  # Alex's page told the server that Alex is typing
        colleague.on("response", lambda r: told.append(1) if r.url.endswith("/presence")
                     and "typing=1" in (r.request.post_data or "") else None)
        box = colleague.get_by_label("Message")
        box.fill("It is January 15")
        typing = page.locator("#presence")
        for _ in range(60):  # Alex types on, a key at a time, until Sam sees it
            box.press(".")
            if typing.text_content() == "Alex Admin is typing a reply…":
                break
            page.wait_for_timeout(200)
        expect(typing).to_have_text("Alex Admin is typing a reply…")
        told.clear()
        for _ in range(60):  # …and sends just after Alex's page said so again: it would show for seconds
            if told:
                break
            box.press(".")
            page.wait_for_timeout(200)
        colleague.get_by_role("button", name="Send", exact=True).click()
        thread = page.get_by_role("list", name="Conversation history")
        expect(thread).to_contain_text("It is January 15.")
        # Sam sees Alex's reply and, with it, that Alex no longer types.
        expect(typing).to_have_text("Alex Admin is viewing this conversation.", timeout=1500)
    finally:
        context.close()


def test_the_colleagues_line_is_read_out_when_it_changes_not_at_every_poll(
    page: Page, browser: Browser, live_server: str, conversation_id: int
):
    """The line is a live region: a poll that brings the same words leaves it alone."""
    log_in(page, "standard@example.edu")
    page.goto(f"/conversations/{conversation_id}")
    colleague_context = browser.new_context(base_url=live_server)
    colleague = colleague_context.new_page()
    try:
        log_in(colleague, "admin@example.edu")
        colleague.goto(f"/conversations/{conversation_id}")
        line = page.locator("#presence")
        expect(line).to_have_text("Alex Admin is viewing this conversation.")
        line.evaluate(
            """el => { window.presenceChanges = 0;
                new MutationObserver(() => window.presenceChanges++).observe(el, {childList: true}); }"""
        )
        for _ in range(2):  # two more polls, every 5 s, with the same answer
            with page.expect_response(lambda response: response.url.endswith("/presence"), timeout=8000):
                pass
        page.wait_for_timeout(200)
        assert page.evaluate("window.presenceChanges") == 0
        expect(line).to_have_text("Alex Admin is viewing this conversation.")
    finally:
        colleague_context.close()
    # When the words change, they are swapped in (and read out).
    expect(page.locator("#presence")).to_have_text("", timeout=15000)


def test_a_note_added_does_not_take_focus_from_a_reply_begun_meanwhile(page: Page, conversation_id: int):
    """The agent adds a note and goes on to the reply while it is saved: the rest of the sentence
    goes into Message, not into Note."""
    log_in(page, "standard@example.edu")
    page.goto(f"/conversations/{conversation_id}")
    page.wait_for_load_state("load")

    def slowly(route):
        page.wait_for_timeout(1000)
        route.continue_()

    page.route(re.compile(r"/notes$"), slowly)
    page.get_by_label("Note", exact=True).fill("Called the counselor.")
    page.get_by_role("button", name="Add note").click()
    message = page.get_by_label("Message")
    message.click()
    message.press_sequentially("Hello ")
    expect(page.get_by_role("list", name="Conversation history")).to_contain_text("Called the counselor.")
    page.keyboard.type("world")
    expect(message).to_have_value("Hello world")
    expect(page.get_by_label("Note", exact=True)).to_have_value("")


def test_a_reply_being_sent_takes_no_typing_that_its_answer_would_wipe(page: Page, conversation_id: int):
    """On a slow connection the agent starts on the next message before Send's answer comes: the
    box being sent takes no keys until then (the answer empties it), and takes them after."""
    log_in(page, "standard@example.edu")
    page.goto(f"/conversations/{conversation_id}")
    page.wait_for_load_state("load")

    def slowly(route):
        page.wait_for_timeout(1000)
        route.continue_()

    page.route(re.compile(r"/messages$"), slowly)
    message = page.get_by_label("Message")
    message.fill("Your transcript arrived.")
    page.get_by_role("button", name="Send", exact=True).click()
    expect(message).to_have_js_property("readOnly", True)
    message.press_sequentially("next")
    expect(message).to_have_value("Your transcript arrived.")
    expect(page.get_by_role("list", name="Conversation history")).to_contain_text("Your transcript arrived.")
    expect(message).to_have_value("")
    expect(message).to_be_editable()
    message.press_sequentially("Next one")
    expect(message).to_have_value("Next one")
