"""An admin teaches the bot in the browser, and a contact's text gets that answer from "Bot"."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.browser_bots.conftest import settle
from tests.conftest import PASSWORD
from webapp.plugin_api import InboundMessage
from webapp.services import inbound

TOUR_ANSWER = "Campus tours run weekdays at 10am and 2pm. Book at visit.example.edu."


def log_in(page, email: str) -> None:
    page.goto("/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(r"/inbox"))


def test_admin_adds_an_entry_and_the_bot_answers_a_contact_with_it(page, setup, make):
    make.number(
        "+12025550101",
        backing="bot",
        agents=("standard@example.edu",),
        inboxes=("Admissions",),
        label="Admissions FAQ Bot",
    )
    settle()

    log_in(page, "admin@example.edu")
    page.get_by_role("link", name="Knowledge base").click()
    expect(page.get_by_role("heading", name="Admissions knowledge base")).to_be_visible()
    expect(page.get_by_text("No entries yet")).to_be_visible()

    page.get_by_role("link", name="Add entry").click()
    page.get_by_label("Questions").fill("campus tour\nvisit campus")
    page.get_by_label("Answer").fill(TOUR_ANSWER)
    page.get_by_role("button", name="Save entry").click()
    expect(page.get_by_role("status").filter(has_text="Entry added.")).to_be_visible()
    entry = page.locator(".kb-entry")
    expect(entry).to_have_count(1)
    expect(entry.get_by_text("visit campus")).to_be_visible()
    expect(entry.get_by_text(TOUR_ANSWER)).to_be_visible()

    # The "try a question" box: typos, order and case forgiven; shows the entry and confidence.
    page.get_by_role("textbox", name="Try a question").fill("Can I TUOR the campus?")
    page.get_by_role("button", name="Try", exact=True).click()
    trial = page.locator(".kb-trial")
    expect(trial).to_contain_text("would answer")
    expect(trial).to_contain_text(re.compile(r"\d+%"))
    expect(trial).to_contain_text(TOUR_ANSWER)

    # The contact texts the bot-backed number (as a provider webhook would deliver it).
    result = inbound.receive(
        InboundMessage(
            from_phone="+12025550143", to_phone="+12025550101", body="can i visit the campus?"
        ),
        "console",
    )
    settle()

    page.goto(f"/conversations/{result.conversation_id}")
    expect(page.get_by_text("1:1 Text (Bot)")).to_be_visible()
    thread = page.get_by_role("list", name="Conversation history")
    expect(thread.get_by_text("can i visit the campus?")).to_be_visible()
    answer = thread.locator(".msg-out")
    expect(answer.locator(".msg-body")).to_have_text(TOUR_ANSWER)
    expect(answer.locator(".msg-author")).to_have_text("Bot")
    expect(answer.locator(".status")).to_have_text("Sent")
    expect(page.get_by_text("Needs attention", exact=True)).to_have_count(0)


def test_admin_sets_the_idk_message_and_deletes_an_entry(page, setup):
    from webapp.services import knowledge_base

    knowledge_base.add_entry(setup["office"], "transcripts", "Email them to us.")
    office_id = setup["office"].id  # read before settling: a later read would hold SQLite's lock
    settle()
    log_in(page, "admin@example.edu")
    page.goto(f"/admin/kb/{office_id}")
    # A trial question refused, then typed and left: it saves nothing, so no save below asks about it
    # (an unanswered question would be dismissed, and the save not sent).
    page.get_by_role("button", name="Try", exact=True).click()
    expect(page.get_by_role("textbox", name="Try a question")).to_have_attribute("aria-invalid", "true")

    page.get_by_label("Send a message").check()
    page.get_by_label("“I don't know” message").fill("")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator("#idk-box").get_by_role("alert")).to_have_text(
        "Enter the message the bot sends when it does not know."
    )
    page.get_by_label("“I don't know” message").fill("A counselor will text you back.")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator("#idk-box").get_by_role("status")).to_have_text("Saved.")

    page.get_by_role("textbox", name="Try a question").fill("parking")
    questions: list[str] = []
    page.on("dialog", lambda dialog: (questions.append(dialog.message), dialog.accept()))
    page.get_by_role("button", name="Delete “transcripts”").click()
    expect(page.get_by_text("Entry deleted.")).to_be_visible()
    assert questions == ["Delete this entry? The bot stops using it at once."]
    expect(page.get_by_text("No entries yet")).to_be_visible()
