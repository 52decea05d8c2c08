"""The agent UI's look, as a person would check it: a one-row header on a phone with the search
and the menu folded, the open conversation kept marked in the list, the contact panel on wide
screens, bot messages and system events told apart from people's messages."""

from __future__ import annotations

import re
from pathlib import Path

from flask import Flask
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import World, log_in, release, run_cli, sms_receive
from tests.browser.test_inbox_flow import start_conversation
from tests.conftest import Factory


def test_phone_header_is_one_row_with_search_and_menu_folded(
    browser: Browser, live_server: str, world: World
):
    context = browser.new_context(base_url=live_server, viewport={"width": 360, "height": 740})
    page = context.new_page()
    try:
        log_in(page, "admin@example.edu")
        header = page.locator("header.app-header")
        assert header.bounding_box()["height"] <= 64
        search = page.get_by_label("Look up a contact by phone or name")
        expect(search).to_be_hidden()
        expect(page.get_by_role("button", name="Log out")).to_be_hidden()
        expect(page.get_by_role("button", name="Create Content")).to_be_visible()

        page.get_by_role("button", name="Search contacts").click()
        expect(search).to_be_focused()
        page.keyboard.press("Escape")
        expect(search).to_be_hidden()
        expect(page.get_by_role("button", name="Search contacts")).to_be_focused()

        menu = page.get_by_role("button", name="Menu")
        menu.click()
        expect(menu).to_have_attribute("aria-expanded", "true")
        nav = page.get_by_role("navigation", name="Main")
        expect(nav.get_by_role("link", name="Admin")).to_be_visible()
        expect(page.get_by_role("link", name="Alex Admin")).to_be_visible()
        page.get_by_role("button", name="Log out").click()
        expect(page).to_have_url(re.compile(r"/login"))
    finally:
        context.close()


def test_the_open_conversation_stays_marked_after_it_changes_tab(page: Page, app: Flask, world: World):
    conversation_id = start_conversation("standard@example.edu", world.number_id)
    sms_receive(app, "2025550143", world.number_phone, "Is the deadline in January?")
    log_in(page, "standard@example.edu")
    page.goto("/inbox?tab=attention")
    row = page.locator(f"#conv-link-{conversation_id}")
    row.click()
    expect(row).to_have_attribute("aria-current", "true")

    page.get_by_label("Message").fill("Yes, January 15.")
    page.get_by_role("button", name="Send").click()  # the conversation moves to Participating
    expect(page.get_by_role("tab", name=re.compile("Needs Attention"))).to_contain_text("0")
    page.get_by_role("tab", name=re.compile("Participating")).click()
    marked = page.locator(f"#conv-link-{conversation_id}")
    expect(marked).to_have_attribute("aria-current", "true")
    expect(marked).to_have_css("background-color", "rgb(233, 239, 255)")  # --primary-soft


def test_the_contact_panel_says_who_the_contact_is(
    page: Page, app: Flask, world: World, make: Factory, tmp_path: Path
):
    csv = tmp_path / "contacts.csv"
    csv.write_text("first_name,last_name,phone\nMaria,Garcia,2025550143\n")
    run_cli(app, "campaigns", "import", "Fall Open House", str(csv), "--office", "Admissions", "--launch")
    make.number("+12025550101", inboxes=("Admissions",), label="Financial Aid Line")
    release()
    conversation_id = start_conversation("standard@example.edu", world.number_id)
    sms_receive(app, "2025550143", "+12025550101", "Question about my aid")
    log_in(page, "standard@example.edu")
    page.goto(f"/conversations/{conversation_id}")

    panel = page.get_by_role("complementary", name="Contact")
    expect(panel).to_contain_text("Maria Garcia")
    expect(panel).to_contain_text("(202) 555-0143")
    expect(panel).to_contain_text("Can be texted")
    expect(panel).to_contain_text("Fall Open House")
    other = panel.get_by_role("link", name="On Financial Aid Line")
    expect(other).to_be_visible()
    other.click()
    expect(page).to_have_url(re.compile(r"/conversations/\d+$"))
    expect(page.get_by_role("list", name="Conversation history")).to_contain_text("Question about my aid")

    page.set_viewport_size({"width": 1000, "height": 800})  # narrower: no room, no panel
    expect(panel).to_be_hidden()


def test_bot_messages_and_events_look_different(page: Page, app: Flask, world: World, make: Factory):
    make.number("+12025550101", backing="bot", agents=("standard@example.edu",), label="FAQ Bot")
    release()
    answer = "Applications close January 15."
    run_cli(app, "kb", "add", "Admissions", "--question", "deadline", "--answer", answer)
    sms_receive(app, "2025550143", "+12025550101", "When is the deadline?")
    log_in(page, "standard@example.edu")
    page.goto("/inbox?tab=participating")
    page.get_by_role("tabpanel").get_by_role("link").first.click()
    thread = page.get_by_role("list", name="Conversation history")
    bot = thread.get_by_role("listitem").filter(has_text=answer)
    expect(bot).to_contain_text("Bot")
    page.get_by_role("button", name="Switch Mode").click()  # recorded as a system event
    event = thread.locator(".msg-event").last
    expect(event).to_be_visible()
    page.get_by_label("Message").fill("An agent here.")
    page.get_by_role("button", name="Send").click()
    agent = thread.get_by_role("listitem").filter(has_text="An agent here.")
    expect(agent).to_contain_text("Sam Standard")

    def background(item) -> str:
        return item.evaluate("el => getComputedStyle(el.querySelector('.msg-bubble') || el).backgroundColor")

    colours = {"bot": background(bot), "agent": background(agent), "event": background(event)}
    assert len(set(colours.values())) == 3, colours
