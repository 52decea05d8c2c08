"""Narrow screens (a phone, a slim CRM frame) and long or right-to-left names and texts."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import World, log_in, run_cli, screenshot, sms_receive
from tests.browser.test_inbox_flow import start_conversation
from tests.browser.test_layout import assert_no_horizontal_overflow


@pytest.mark.parametrize("width", [320, 360, 599])
def test_the_transcript_stacks_its_rows_on_a_phone_and_stays_a_table(
    browser: Browser, live_server: str, app, world: World, width: int
):
    conversation_id = start_conversation("standard@example.edu", world.number_id)
    sms_receive(app, "2025550143", world.number_phone, "Is the campus tour on Saturday still on?")
    context = browser.new_context(base_url=live_server, viewport={"width": width, "height": 740})
    page = context.new_page()
    try:
        log_in(page, "standard@example.edu")
        page.goto(f"/conversations/{conversation_id}/transcript")
        table = page.get_by_role("table")
        expect(table.get_by_role("row")).to_have_count(3)  # the header and two messages
        expect(table.get_by_role("columnheader", name="Status")).to_be_attached()
        expect(table.get_by_role("cell", name="Is the campus tour on Saturday still on?")).to_be_visible()
        assert_no_horizontal_overflow(page)
        screenshot(page, f"{width}-transcript")
        # Printed, it is a table of columns again (a page is wider than a phone).
        page.emulate_media(media="print")
        assert page.get_by_role("columnheader", name="Text").is_visible()
    finally:
        context.close()


LONG_NAME = "Maximiliana-Alexandrina Featherstonehaugh-Wolfeschlegelsteinhausenbergerdorff"
FITS = "(el) => el.scrollWidth <= el.clientWidth && el.getBoundingClientRect().right <= window.innerWidth"


def import_contact(app, tmp_path: Path, first: str, last: str, phone: str = "2025550143") -> None:
    csv = tmp_path / "contacts.csv"
    csv.write_text(f"first_name,last_name,phone\n{first},{last},{phone}\n", encoding="utf-8")
    run_cli(app, "campaigns", "import", "Fall Open House", str(csv), "--office", "Admissions", "--launch")


def test_a_long_unbroken_name_wraps_in_the_heading_and_the_contact_panel(
    browser: Browser, live_server: str, app, world: World, tmp_path: Path
):
    first, last = LONG_NAME.split(" ")
    import_contact(app, tmp_path, first, last)
    conversation_id = start_conversation("standard@example.edu", world.number_id)
    sms_receive(app, "2025550143", world.number_phone, "Is the campus tour on Saturday still on?")
    context = browser.new_context(base_url=live_server, viewport={"width": 1024, "height": 800})
    page = context.new_page()
    try:
        log_in(page, "standard@example.edu")
        page.goto(f"/conversations/{conversation_id}")
        heading = page.get_by_role("heading", name=LONG_NAME)
        panel = page.get_by_role("complementary", name="Contact")
        for width in [768, 800, 900, 1024, 1280]:
            page.set_viewport_size({"width": width, "height": 800})
            expect(heading).to_be_visible()
            assert heading.evaluate(FITS), f"the heading overflows at {width}px"
            assert_no_horizontal_overflow(page)
            if panel.is_visible():
                expect(panel).to_contain_text("Featherstonehaugh")
                assert panel.evaluate(FITS), f"the contact panel overflows at {width}px"
        page.goto("/inbox")
        expect(page.get_by_role("tabpanel").get_by_role("link")).to_contain_text("Maximiliana")
        assert_no_horizontal_overflow(page)
        page.set_viewport_size({"width": 320, "height": 800})
        page.goto(f"/conversations/{conversation_id}/transcript")
        expect(page.get_by_role("heading", name=f"Transcript: {LONG_NAME}")).to_be_visible()
        assert_no_horizontal_overflow(page)
    finally:
        context.close()


# Whether an element's text runs right to left: its first letter shows right of its last one.
# Each text begins in Arabic and ends in English, so only a right-to-left base direction puts
# the first letter at the right end (left to right, the English would follow the Arabic).
RUNS_RTL = """(el) => {
    const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
    const texts = [];
    while (walker.nextNode()) { if (walker.currentNode.data.trim()) texts.push(walker.currentNode); }
    const box = (node, at) => {
        const range = document.createRange();
        range.setStart(node, at);
        range.setEnd(node, at + 1);
        return range.getBoundingClientRect();
    };
    const first = texts[0], last = texts[texts.length - 1];
    const start = first.data.search(/\\S/), end = last.data.trimEnd().length - 1;
    return box(first, start).left > box(last, end).left;
}"""
ARABIC_REPLY = "هل الجولة يوم السبت؟ Campus tour"
ARABIC_NOTE = "اتصلت بها يوم الاثنين Monday"


def test_right_to_left_names_and_texts_read_right_to_left(
    page, app, world: World, tmp_path: Path
):
    import_contact(app, tmp_path, "محمد", "Smith")
    conversation_id = start_conversation("standard@example.edu", world.number_id)
    sms_receive(app, "2025550143", world.number_phone, ARABIC_REPLY)
    log_in(page, "standard@example.edu")
    page.goto("/inbox")
    row = page.get_by_role("tabpanel").get_by_role("link", name="محمد Smith")
    assert row.locator(".conv-name").evaluate(RUNS_RTL), "the row's name"
    assert row.locator(".conv-preview").evaluate(RUNS_RTL), "the row's preview"

    page.goto(f"/conversations/{conversation_id}")
    assert page.get_by_role("heading", name="محمد Smith").evaluate(RUNS_RTL), "the heading"
    history = page.get_by_role("list", name="Conversation history")
    assert history.get_by_text(ARABIC_REPLY).evaluate(RUNS_RTL), "the message"
    # An English text stays left to right.
    assert not history.get_by_text("Hello from Admissions").evaluate(RUNS_RTL)
    page.get_by_label("Note").fill(ARABIC_NOTE)
    page.get_by_role("button", name="Add note").click()
    assert history.get_by_text(ARABIC_NOTE).evaluate(RUNS_RTL), "the note"
    panel = page.get_by_role("complementary", name="Contact")
    assert panel.get_by_text("محمد Smith").evaluate(RUNS_RTL), "the contact panel"

    page.goto("/search?q=Campus")
    results = page.locator("#search-results")
    assert results.get_by_role("link", name="محمد Smith").evaluate(RUNS_RTL), "the result's name"
    assert results.get_by_text("هل الجولة").evaluate(RUNS_RTL), "the result's text"


def test_on_a_phone_a_conversation_opens_at_its_newest_message_and_forms_stay_put(
    page: Page, app, world: World
):
    """On a phone the page scrolls, not the thread: opened from the list or by its link, a long
    conversation shows its newest message; adding a note, with texts that came meanwhile, keeps
    Add note under the finger (a second tap must not land on Send)."""
    for n in range(25):
        sms_receive(app, "2025550143", world.number_phone, f"Question {n} about my application")
    page.set_viewport_size({"width": 390, "height": 844})
    log_in(page, "standard@example.edu")
    page.goto("/inbox")
    page.get_by_role("tabpanel").get_by_role("link").first.click()
    history = page.get_by_role("list", name="Conversation history")
    newest = history.get_by_role("listitem").last
    expect(newest).to_contain_text("Question 24")
    expect(newest).to_be_in_viewport()
    expect(history.get_by_role("listitem").first).not_to_be_in_viewport()
    page.reload()
    page.wait_for_load_state("load")
    expect(history.get_by_role("listitem").last).to_be_in_viewport()
    expect(page.locator("#conversation-heading")).to_be_focused()  # where a screen reader starts

    add_note = page.get_by_role("button", name="Add note")
    add_note.scroll_into_view_if_needed()
    before = add_note.bounding_box()["y"]
    page.get_by_label("Note").fill("Called the school counselor; transcript is on its way.")
    for n in range(3):  # come in meanwhile: the redrawn pane shows them too
        sms_receive(app, "2025550143", world.number_phone, f"And one more thing, number {n}")
    add_note.click()
    expect(history).to_contain_text("Called the school counselor")
    assert abs(add_note.bounding_box()["y"] - before) <= 2
