"""Polling refreshes the inbox every few seconds; it must not pull the rug from under the reader:
keyboard focus, the scroll of the list and of the thread, and rows from "Load more" all stay."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.browser.conftest import World, log_in, sms_receive


def wait_for_poll(page: Page, path: str) -> None:
    """Wait until the page has polled `path` and htmx has swapped the answer in."""
    with page.expect_response(re.compile(re.escape(path) + "$")):
        pass
    page.wait_for_timeout(300)  # the swap and settle follow the response


def rows(page: Page):
    return page.get_by_role("tabpanel").get_by_role("link", name=re.compile(r"\(202\) 555"))


def test_polling_keeps_keyboard_focus(page: Page, app, world: World):
    sms_receive(app, "2025550143", world.number_phone, "First question")
    sms_receive(app, "2025550144", world.number_phone, "Second question")
    log_in(page, "standard@example.edu")
    page.goto("/inbox")
    row = rows(page).filter(has_text="First question")
    row.focus()
    wait_for_poll(page, "/inbox?tab=attention")
    expect(row).to_be_focused()

    row.click()
    # Opening it takes focus to its heading once the pane has settled; the agent moves on from there.
    expect(page.locator("#conversation-heading")).to_be_focused()
    clear = page.get_by_role("button", name="Does Not Need Attention")
    clear.focus()
    conversation_path = re.sub(r"^https?://[^/]+", "", page.url)
    wait_for_poll(page, f"{conversation_path}/live")
    expect(clear).to_be_focused()
    page.keyboard.press("Enter")  # still operable from the keyboard after the refresh
    expect(clear).to_have_count(0)


def test_polling_keeps_scroll_and_loaded_rows(page: Page, app, world: World):
    app.config["INBOX_PAGE_SIZE"] = 5
    for n in range(8):
        sms_receive(app, f"20255501{50 + n}", world.number_phone, f"Question number {n}")
    page.set_viewport_size({"width": 1280, "height": 500})
    log_in(page, "standard@example.edu")
    page.goto("/inbox")
    expect(rows(page)).to_have_count(5)
    panel = page.get_by_role("tabpanel")
    top = panel.evaluate("(el) => { el.scrollTop = 100; return el.scrollTop; }")
    assert top > 50, "the list should scroll at this height"
    wait_for_poll(page, "/inbox?tab=attention")
    assert panel.evaluate("(el) => el.scrollTop") == top

    page.get_by_role("link", name="Load more").click()
    expect(rows(page)).to_have_count(8)
    panel.evaluate("(el) => { el.scrollTop = el.scrollHeight; }")
    scrolled = panel.evaluate("(el) => el.scrollTop")
    assert scrolled > top

    sms_receive(app, "2025550199", world.number_phone, "A brand new question")
    # The counts stay live while the reader is further down the list…
    expect(page.get_by_role("tab", name="Needs Attention")).to_contain_text("9")
    wait_for_poll(page, "/inbox?tab=attention")
    # …and the rows they loaded and where they scrolled to stay put.
    expect(rows(page)).to_have_count(8)
    assert panel.evaluate("(el) => el.scrollTop") == scrolled

    # Back at the top of a fresh list, new conversations come in by themselves again.
    page.get_by_role("tab", name="Needs Attention").click()
    expect(rows(page).first).to_contain_text("A brand new question")


def test_polling_keeps_the_thread_where_the_reader_scrolled(page: Page, app, world: World):
    for n in range(30):
        sms_receive(app, "2025550143", world.number_phone, f"Line {n} of a long story")
    page.set_viewport_size({"width": 1280, "height": 600})
    log_in(page, "standard@example.edu")
    page.goto("/inbox")
    rows(page).first.click()
    thread = page.get_by_role("list", name="Conversation history")
    expect(thread).to_contain_text("Line 29 of a long story")
    at_bottom = "(el) => el.scrollHeight - el.scrollTop - el.clientHeight < 40"
    assert thread.evaluate(at_bottom), "a conversation opens at its newest message"
    thread.evaluate("(el) => { el.scrollTop = 200; }")
    conversation_path = re.sub(r"^https?://[^/]+", "", page.url)
    wait_for_poll(page, f"{conversation_path}/live")
    assert thread.evaluate("(el) => el.scrollTop") == 200

    thread.evaluate("(el) => { el.scrollTop = el.scrollHeight; }")
    sms_receive(app, "2025550143", world.number_phone, "And one more thing")
    expect(thread).to_contain_text("And one more thing")
    # A reader at the bottom follows new messages (once the swap has settled and scrolled).
    page.wait_for_function(at_bottom, arg=thread.element_handle())
