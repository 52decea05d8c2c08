"""Layout sanity on a phone-sized and a desktop screen, with screenshots in test-artifacts/."""

from __future__ import annotations

import re
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import (
    World,
    admin_pages,
    log_in,
    release,
    run_cli,
    screenshot,
    sms_receive,
)
from tests.browser.test_inbox_flow import start_conversation

LONG_LINK = "https://apply.example.edu/portal/status?applicant=" + "0123456789abcdef" * 6


def fill_inbox(app, world: World, tmp_path: Path) -> None:
    csv = tmp_path / "contacts.csv"
    csv.write_text(
        "first_name,last_name,phone\n"
        "Maria,Lopez,2025550143\n"
        "Christopher-Alexander,Montgomery-Vanderbilt,2025550145\n"
    )
    run_cli(
        app,
        "campaigns",
        "import",
        "Fall Open House",
        str(csv),
        "--office",
        "Admissions",
        "--launch",
    )
    sms_receive(
        app, "2025550143", world.number_phone, "Hi! Is the campus tour on Saturday still on?"
    )
    sms_receive(app, "2025550145", world.number_phone, f"My status page says pending: {LONG_LINK}")
    sms_receive(app, "2025550144", world.number_phone, "Who is this?")


def assert_no_horizontal_overflow(page: Page) -> None:
    widths = page.evaluate(
        "() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    )
    if widths[0] > widths[1]:
        culprits = page.evaluate(
            """(limit) => Array.from(document.querySelectorAll("body *"))
                .filter((el) => el.getBoundingClientRect().right > limit + 1)
                .slice(0, 5).map((el) => el.tagName + "." + el.className)""",
            widths[1],
        )
        raise AssertionError(
            f"{page.url} scrolls sideways: {widths[0]}px content in {widths[1]}px; too wide: {culprits}"
        )


def test_phone_width_has_separate_views_and_no_sideways_scroll(
    browser: Browser, live_server: str, app, world: World, tmp_path: Path
):
    fill_inbox(app, world, tmp_path)
    context = browser.new_context(base_url=live_server, viewport={"width": 360, "height": 740})
    page = context.new_page()
    try:
        log_in(page, "standard@example.edu")
        page.goto("/inbox")
        rows = page.get_by_role("tabpanel").get_by_role("link")
        expect(rows).to_have_count(3)
        expect(page.get_by_role("button", name="Create Content")).to_be_visible()
        assert_no_horizontal_overflow(page)
        screenshot(page, "360-inbox")

        rows.filter(has_text="Montgomery").click()
        back = page.get_by_role("link", name="← Inbox")
        expect(back).to_be_visible()
        # The pane brings its stylesheet: measured once it applies, as a person sees the page.
        styled = "() => [...document.styleSheets].some(sheet => (sheet.href || '').includes('workspace.css'))"
        page.wait_for_function(styled)
        expect(page.get_by_role("tablist")).to_be_hidden()  # the list is its own view here
        expect(page.get_by_role("button", name="Send")).to_be_visible()
        expect(page.get_by_role("button", name="Does Not Need Attention")).to_be_visible()
        # The header's short actions share a row, leaving the thread its room.
        switch = page.get_by_role("button", name="Switch Mode").bounding_box()
        transcript = page.get_by_role("link", name="Transcript").bounding_box()
        assert switch["y"] == transcript["y"] and switch["x"] + switch["width"] <= transcript["x"]
        assert_no_horizontal_overflow(page)
        screenshot(page, "360-conversation")

        page.reload()  # the conversation's own URL works as a page too
        expect(back).to_be_visible()
        assert_no_horizontal_overflow(page)
        back.click()
        expect(page).to_have_url(re.compile(r"/inbox"))
        expect(page.get_by_role("tablist")).to_be_visible()
        page.wait_for_load_state("load")  # app.js (the menu) is running, as for a person

        page.get_by_role("button", name="Create Content").click()
        page.get_by_role("menuitem", name="Create 1:1 Text").click()
        expect(page.get_by_label("To")).to_be_visible()
        page.get_by_label("To").fill("12345")
        page.get_by_role("button", name="Send").click()
        expect(page.get_by_label("To")).to_have_attribute("aria-invalid", "true")
        assert_no_horizontal_overflow(page)
        screenshot(page, "360-compose-error")
    finally:
        context.close()


def test_desktop_shows_list_and_conversation_side_by_side(
    page: Page, app, world: World, tmp_path: Path
):
    fill_inbox(app, world, tmp_path)
    page.goto("/login")
    screenshot(page, "1280-login")
    log_in(page, "standard@example.edu")
    screenshot(page, "1280-home")
    page.goto("/inbox")
    rows = page.get_by_role("tabpanel").get_by_role("link")
    expect(rows).to_have_count(3)
    assert_no_horizontal_overflow(page)
    screenshot(page, "1280-inbox")
    rows.filter(has_text="Maria Lopez").click()
    expect(page.get_by_role("heading", name="Maria Lopez")).to_be_visible()
    page.get_by_label("Message").fill("Yes! Check in at the Welcome Center at 10am.")
    page.get_by_role("button", name="Send").click()
    expect(page.get_by_role("list", name="Conversation history")).to_contain_text("Welcome Center")
    # Both panes at once on a wide screen; no back link needed.
    expect(page.get_by_role("tablist")).to_be_visible()
    expect(page.get_by_role("link", name="← Inbox")).to_be_hidden()
    assert_no_horizontal_overflow(page)
    screenshot(page, "1280-conversation")
    rows.filter(has_text="Montgomery").click()
    expect(page.get_by_role("heading", name=re.compile("Montgomery"))).to_be_visible()
    assert_no_horizontal_overflow(page)
    screenshot(page, "1280-conversation-long")
    page.get_by_role("button", name="Create Content").click()
    screenshot(page, "1280-menu-open")
    page.get_by_role("menuitem", name="Create 1:1 Text").click()
    page.get_by_label("Message").fill("Hello ł")
    screenshot(page, "1280-compose")


@pytest.mark.parametrize("width", [360, 320])
def test_every_admin_page_reflows_on_a_phone(
    browser: Browser, live_server: str, app, world: World, records: dict[str, int], make, width: int
):
    """Every admin screen at a phone's width and at WCAG's reflow width (1.4.10, 320 px): no
    sideways scroll, with phones in the opt-outs table and long words in page headings (a
    webhook's page is headed by its URL, a user's by a tag with the email)."""
    sms_receive(app, "2025550143", world.number_phone, "STOP")
    long_email = make.user("christopher.montgomery-vanderbilt@admissions.example.edu", name="Chris M-V").id
    release()
    context = browser.new_context(base_url=live_server, viewport={"width": width, "height": 740})
    page = context.new_page()
    try:
        log_in(page, "admin@example.edu")
        page.goto("/admin/opt-outs/")
        expect(page.get_by_role("table").first).to_contain_text("(202) 555-0143")
        for path in [*admin_pages(app, records), f"/admin/users/{long_email}"]:
            page.goto(path)
            assert_no_horizontal_overflow(page)
        page.goto("/admin/numbers")
        phone = page.locator("table").get_by_text(re.compile(r"^\(\d{3}\) \d{3}-\d{4}$")).first
        assert phone.bounding_box()["height"] < 24, "a phone number broke across lines"
    finally:
        context.close()


HEADER_WIDTHS = [320, 767, 768, 800, 900, 980, 1024, 1100, 1199, 1200, 1280, 1440]


@pytest.mark.parametrize("email", ["admin@example.edu", "standard@example.edu", "limited@example.edu"])
def test_the_header_fits_every_width_for_every_role(
    browser: Browser, live_server: str, world: World, email: str
):
    """The header stays within the window at every width, whatever links the role adds: Create
    Content fully on screen at the top right, the search box wide enough for its placeholder, and
    the navigation and Log out either in the row or behind the Menu button."""
    context = browser.new_context(base_url=live_server, viewport={"width": 1280, "height": 800})
    page = context.new_page()
    try:
        log_in(page, email)
        page.goto("/inbox")
        create = page.get_by_role("button", name="Create Content")
        menu = page.get_by_role("button", name="Menu")
        inbox_link = page.get_by_role("navigation", name="Main").get_by_role("link", name="Inbox")
        log_out = page.get_by_role("button", name="Log out")
        search = page.get_by_label("Look up a contact by phone or name")
        for width in HEADER_WIDTHS:
            page.set_viewport_size({"width": width, "height": 800})
            assert_no_horizontal_overflow(page)
            box = create.bounding_box()
            assert box and box["x"] >= 0 and box["x"] + box["width"] <= width, f"Create Content at {width}px"
            assert box["y"] < 64, f"Create Content is not in the top row at {width}px"
            if inbox_link.is_visible():
                expect(log_out).to_be_visible()
                expect(menu).to_be_hidden()
            else:  # folded: the Menu button holds them
                menu.click()
                expect(inbox_link).to_be_visible()
                expect(log_out).to_be_visible()
                assert_no_horizontal_overflow(page)
                menu.click()
                expect(log_out).to_be_hidden()
            if search.is_visible():
                assert search.bounding_box()["width"] >= 200, f"search box cut short at {width}px"
    finally:
        context.close()


THREAD_IN_VIEW = """(thread) => {
    const box = thread.parentElement.getBoundingClientRect();  // the thread's scroller
    return Math.min(box.bottom, window.innerHeight) - Math.max(box.top, 0);
}"""
HIT = """(el) => {
    const box = el.getBoundingClientRect();
    return el.contains(document.elementFromPoint(box.x + box.width / 2, box.y + box.height / 2));
}"""


@pytest.mark.parametrize("size", [(1366, 768), (1280, 720), (1280, 600), (1000, 560), (800, 600)])
def test_short_windows_keep_the_thread_readable_and_the_header_buttons_usable(
    browser: Browser, live_server: str, app, world: World, size: tuple[int, int]
):
    """The reply and note forms never squeeze the thread out of view nor cover the
    conversation's header: the pane scrolls as a whole when the window is short."""
    conversation_id = start_conversation("standard@example.edu", world.number_id)
    sms_receive(app, "2025550143", world.number_phone, "Is the campus tour on Saturday still on?")
    context = browser.new_context(base_url=live_server, viewport={"width": size[0], "height": size[1]})
    page = context.new_page()
    try:
        log_in(page, "standard@example.edu")
        page.goto(f"/conversations/{conversation_id}")
        thread = page.get_by_role("list", name="Conversation history")
        expect(thread).to_contain_text("campus tour")
        assert thread.evaluate(THREAD_IN_VIEW) >= 160, "the thread is squeezed out of view"
        for name in ["Switch Mode", "Does Not Need Attention"]:
            button = page.get_by_role("button", name=name)
            button.click(trial=True, timeout=2_000)
            assert button.evaluate(HIT), f"{name} is covered"
        assert page.get_by_role("link", name="Transcript").evaluate(HIT)
        page.get_by_label("Message").fill("Yes, 10am at the Welcome Center.")
        page.get_by_role("button", name="Send").click()
        expect(thread).to_contain_text("Welcome Center")
        assert_no_horizontal_overflow(page)
    finally:
        context.close()


def test_a_laptop_screen_gives_the_thread_room_beside_the_reply_box(page: Page, app, world: World):
    """At 1280×800 the reply box is compact (Send later beside the counter and Send), so the
    thread keeps room for a few messages above the reply and note forms."""
    conversation_id = start_conversation("standard@example.edu", world.number_id)
    log_in(page, "standard@example.edu")
    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto(f"/conversations/{conversation_id}")
    page.wait_for_load_state("networkidle")  # the pane's stylesheet is in
    thread = page.get_by_role("list", name="Conversation history")
    assert thread.evaluate(THREAD_IN_VIEW) >= 240, "the reply box takes the thread's room"
    send_later = page.get_by_text("Send later", exact=True).bounding_box()
    send = page.get_by_role("button", name="Send", exact=True).bounding_box()
    assert abs((send_later["y"] + send_later["height"] / 2) - (send["y"] + send["height"] / 2)) < 8


def test_clearing_attention_and_reading_a_row_move_nothing(
    page: Page, app, world: World
):
    """Does Not Need Attention goes away without moving Switch Mode or the thread, and a row's
    time stays where it was when its unread dot goes."""
    conversation_id = start_conversation("standard@example.edu", world.number_id)
    sms_receive(app, "2025550143", world.number_phone, "Is the campus tour on Saturday still on?")
    log_in(page, "standard@example.edu")
    page.goto("/inbox")
    row = page.get_by_role("tabpanel").get_by_role("link", name=re.compile("campus tour"))
    time = row.locator("time")
    expect(row.get_by_role("img", name="Unread")).to_be_visible()
    unread_end = time.bounding_box()["x"] + time.bounding_box()["width"]
    row.click()
    expect(page).to_have_url(re.compile(f"/conversations/{conversation_id}"))
    expect(row.get_by_role("img", name="Unread")).to_have_count(0)
    read_end = time.bounding_box()["x"] + time.bounding_box()["width"]
    assert abs(read_end - unread_end) < 1, "the row's time moved when its unread dot went"

    switch_mode = page.get_by_role("button", name="Switch Mode")
    thread = page.get_by_role("list", name="Conversation history")
    page.wait_for_load_state("networkidle")  # the pane's stylesheet and script are in
    before = switch_mode.bounding_box(), thread.evaluate("el => el.parentElement.getBoundingClientRect().y")
    # The pane's stylesheet must stay through the swap, not be dropped and fetched again (the pane
    # would be drawn unstyled meanwhile): mark the element and find the same one afterwards.
    page.evaluate("document.querySelector('link[href*=\"workspace.css\"]').dataset.kept = 'yes'")
    page.get_by_role("button", name="Does Not Need Attention").click()
    expect(page.get_by_role("button", name="Does Not Need Attention")).to_have_count(0)
    assert page.evaluate(
        "[...document.querySelectorAll('link[href*=\"workspace.css\"]')].map(l => l.dataset.kept || 'new')"
    ) == ["yes"]
    after = switch_mode.bounding_box(), thread.evaluate("el => el.parentElement.getBoundingClientRect().y")
    assert (before[0]["x"], before[0]["y"], before[1]) == (after[0]["x"], after[0]["y"], after[1])


@pytest.mark.parametrize("width", [1280, 1440])
def test_saved_replies_list_fits_its_card_beside_the_form(
    browser: Browser, live_server: str, setup, width: int
):
    """A long title and long texts: every Delete button is whole inside the list's card, and the
    table needs no sideways scroll."""
    from webapp.extensions import db
    from webapp.services import saved_replies

    admin, office = setup["users"]["admin"], setup["office"]
    for title in ("Transcript received", "Campus tour dates and parking for visiting families", "FAFSA"):
        text = "Hi {first_name}, the open house runs 10am-2pm Saturday. See you there! – {agent_first_name}"
        saved_replies.create(admin, office, title, text)
    db.session.commit()
    release()
    context = browser.new_context(base_url=live_server, viewport={"width": width, "height": 900})
    page = context.new_page()
    try:
        log_in(page, "admin@example.edu")
        page.goto("/admin/saved-replies")
        card = page.get_by_role("region", name="Saved replies of your offices", exact=True).bounding_box()
        buttons = page.get_by_role("button", name=re.compile("^Delete "))
        expect(buttons).to_have_count(3)
        for button in buttons.all():
            box = button.bounding_box()
            assert box["x"] + box["width"] <= card["x"] + card["width"], (box, card)
        wrap = page.locator(".table-wrap")
        assert wrap.evaluate("el => el.scrollWidth <= el.clientWidth")
    finally:
        context.close()


# The preview of the first row of the list whose bottom is below the top of the window.
FIRST_ROW_IN_VIEW = """() => [...document.querySelectorAll('.conv-row > a')]
  .find((a) => a.getBoundingClientRect().bottom > 0).querySelector('.conv-preview').textContent"""


@contextmanager
def phone_inbox(browser: Browser, live_server: str, app, world: World, questions: int, width: int = 390):
    """A standard agent's inbox on a phone, with `questions` contacts waiting ("Question number k",
    the newest on top)."""
    for k in range(questions):
        sms_receive(app, f"20255502{k:02d}", world.number_phone, f"Question number {k}")
    context = browser.new_context(base_url=live_server, viewport={"width": width, "height": 740})
    page = context.new_page()
    try:
        log_in(page, "standard@example.edu")
        page.goto("/inbox")
        page.wait_for_load_state("load")
        yield page
    finally:
        context.close()


def listed(page: Page, text: str):
    return page.get_by_role("tabpanel").get_by_role("link").filter(has_text=text)


def open_from_the_list(page: Page, text: str) -> None:
    row = listed(page, text)
    row.scroll_into_view_if_needed()
    row.click()
    expect(page.get_by_role("list", name="Conversation history")).to_contain_text(text)
    # The pane's script (workspace.js) has loaded, as it has by the time a person has read.
    page.wait_for_function("() => window.parleyWorkspace === true")


def test_on_a_phone_back_to_the_inbox_returns_to_the_row_left(
    browser: Browser, live_server: str, app, world: World
):
    """Down a long list, an agent opens a conversation, reads it, and goes back: the list is where
    it was scrolled, with focus on the row they left, ready for the next one."""
    with phone_inbox(browser, live_server, app, world, questions=20) as page:
        row = listed(page, "Question number 3")
        row.scroll_into_view_if_needed()
        assert page.evaluate("window.scrollY") > 500
        open_from_the_list(page, "Question number 3")
        page.get_by_role("link", name="← Inbox").click()
        expect(page.get_by_role("tablist")).to_be_visible()
        expect(page).to_have_url(re.compile(r"/inbox"))
        expect(row).to_be_focused()
        expect(row).to_be_in_viewport()  # down the list still, not at its top
        assert page.evaluate("window.scrollY") > 500


def test_on_a_phone_back_after_answering_goes_to_the_row_below_the_one_left(
    browser: Browser, live_server: str, app, world: World
):
    """Working Needs Attention on a phone: the row answered has left the list, so focus goes to
    the one that was below it, where the agent carries on (not to nowhere)."""
    with phone_inbox(browser, live_server, app, world, questions=12) as page:
        open_from_the_list(page, "Question number 6")
        page.get_by_label("Message").fill("We have it, thank you.")
        page.get_by_role("button", name="Send", exact=True).click()
        expect(page.get_by_role("list", name="Conversation history")).to_contain_text("We have it")
        page.get_by_role("link", name="← Inbox").click()
        expect(page).to_have_url(re.compile(r"/inbox"))
        expect(listed(page, "Question number 6")).to_have_count(0)
        expect(listed(page, "Question number 5")).to_be_focused()
        expect(listed(page, "Question number 5")).to_be_in_viewport()


def test_on_a_phone_a_new_row_on_top_does_not_move_the_rows_being_read(
    browser: Browser, live_server: str, app, world: World
):
    """Scrolled down the list on a phone, a contact writes: the new row comes in on top, and the
    rows on the screen stay where they are (a tap aimed at one lands on it)."""
    with phone_inbox(browser, live_server, app, world, questions=15, width=360) as page:
        page.evaluate("window.scrollTo(0, 900)")
        reading = listed(page, "Question number 5")
        at = reading.bounding_box()["y"]
        assert 0 < at < 740
        sms_receive(app, "2025550299", world.number_phone, "A brand new question")
        expect(page.get_by_role("tabpanel").get_by_role("link").first).to_contain_text("A brand new question")
        assert abs(reading.bounding_box()["y"] - at) <= 1

        # The contact of the first row in view writes again: that row goes to the top, and the
        # rows after it stay put (the view does not follow it up).
        first_in_view = page.evaluate(FIRST_ROW_IN_VIEW)
        number = int(first_in_view.rsplit(" ", 1)[1])
        after = listed(page, f"Question number {number - 1}")
        at = after.bounding_box()["y"]
        sms_receive(app, f"20255502{number:02d}", world.number_phone, "And one more thing")
        expect(page.get_by_role("tabpanel").get_by_role("link").first).to_contain_text("And one more thing")
        assert abs(after.bounding_box()["y"] - at) <= 1


def test_a_field_reached_by_shift_tab_is_not_under_the_sticky_header(page: Page, world: World):
    """Tabbing back up a page scrolls the field into view below the header, not behind it."""
    page.set_viewport_size({"width": 1280, "height": 500})
    log_in(page, "standard@example.edu")
    page.goto("/account")
    page.get_by_label("New password").focus()
    page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
    field = page.get_by_label("Current password")
    for _ in range(5):
        page.keyboard.press("Shift+Tab")
        if field.evaluate("el => el === document.activeElement"):
            break
    expect(field).to_be_focused()
    header = page.locator(".app-header").bounding_box()
    assert field.bounding_box()["y"] >= header["y"] + header["height"]
