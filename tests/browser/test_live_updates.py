"""Polling refreshes the inbox every few seconds; it must not pull the rug from under the reader:
keyboard focus, the scroll of the list and of the thread, and rows from "Load more" all stay."""

from __future__ import annotations

import re
import time

from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Page, expect

from tests.browser.conftest import World, log_in, sms_receive


def wait_for_poll(page: Page, path: str) -> None:
    """Wait until the page has polled `path` and htmx has swapped the answer in."""
    # The list says how far down it shows.
    with page.expect_response(re.compile(re.escape(path) + r"(&rows=\d+&through=[^&]+)?$")):
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
    # The conversation refreshes when something in it changed: the contact writes again.
    sms_receive(app, "2025550143", world.number_phone, "One more thing")
    wait_for_poll(page, f"{conversation_path}/live")
    expect(page.get_by_role("list", name="Conversation history")).to_contain_text("One more thing")
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
    expect(rows(page).nth(5)).to_be_focused()  # the first row it brought: read on from there
    panel.evaluate("(el) => { el.scrollTop = el.scrollHeight; }")
    scrolled = panel.evaluate("(el) => el.scrollTop")
    assert scrolled > top
    on_it = rows(page).nth(5)
    on_it_id, on_it_at = on_it.get_attribute("id"), on_it.bounding_box()["y"]

    sms_receive(app, "2025550199", world.number_phone, "A brand new question")
    # The list stays live while the reader is further down it: the new conversation comes in on
    # top, the title and the announcement follow the count…
    expect(page.get_by_role("tab", name="Needs Attention")).to_contain_text("9")
    expect(rows(page).first).to_contain_text("A brand new question")
    expect(page).to_have_title("(9) Inbox · Parley")
    expect(page.locator("#announcer")).to_have_text("Needs Attention: 9")
    # …and the rows they loaded and the row they are on stay, where it was on the screen: the
    # list scrolled down by the row that came in above it.
    expect(rows(page)).to_have_count(9)
    expect(rows(page).nth(6)).to_be_focused()
    assert rows(page).nth(6).get_attribute("id") == on_it_id
    assert abs(rows(page).nth(6).bounding_box()["y"] - on_it_at) <= 1
    assert panel.evaluate("(el) => el.scrollTop") > scrolled

    # A conversation read elsewhere loses its unread mark here too, even far down the list.
    oldest = rows(page).last
    expect(oldest.get_by_role("img", name="Unread")).to_have_count(1)
    page.context.new_page().goto(oldest.get_attribute("href"))  # the next poll shows it
    expect(oldest.get_by_role("img", name="Unread")).to_have_count(0)


def test_load_more_keeps_focus_and_its_rows_through_a_refresh(page: Page, app, world: World):
    """On a busy morning the list changes every few seconds: focus on Load more stays on it, and
    rows it is still loading are not thrown away by a refresh that lands meanwhile."""
    app.config["INBOX_PAGE_SIZE"] = 5
    for n in range(8):
        sms_receive(app, f"20255501{50 + n}", world.number_phone, f"Question number {n}")
    log_in(page, "standard@example.edu")
    page.goto("/inbox")
    expect(rows(page)).to_have_count(5)
    more = page.get_by_role("link", name="Load more")
    more.focus()
    sms_receive(app, "2025550199", world.number_phone, "A brand new question")
    expect(rows(page).first).to_contain_text("A brand new question")
    expect(more).to_be_focused()

    # Load more's answer is slow; a contact writes meanwhile, and the refresh waits its turn.
    def slow(route):
        time.sleep(4)  # longer than the poll interval: a refresh falls due while it loads
        route.continue_()

    page.route(re.compile(r"/inbox\?.*cursor="), slow)
    sms_receive(app, "2025550198", world.number_phone, "Another new question")
    more.press("Enter")
    expect(rows(page)).to_have_count(10, timeout=15_000)  # 8, the 2 new ones, none lost
    expect(rows(page).first).to_contain_text("Another new question")


# The message at the top of the thread's visible part, and where it is on the screen.
TOP_IN_VIEW = """(thread) => {
  const view = thread.parentElement.getBoundingClientRect();
  const li = [...thread.children].find((item) => item.getBoundingClientRect().top >= view.top);
  return [li.id, Math.round(li.getBoundingClientRect().top)];
}"""


def open_long_conversation(page: Page, app, world: World, count: int, text: str, height: int):
    for n in range(count):
        sms_receive(app, "2025550143", world.number_phone, text.format(n=n))
    page.set_viewport_size({"width": 1280, "height": height})
    log_in(page, "standard@example.edu")
    page.goto("/inbox")
    rows(page).first.click()
    return page.get_by_role("list", name="Conversation history")


def test_polling_keeps_the_thread_where_the_reader_scrolled(page: Page, app, world: World):
    thread = open_long_conversation(page, app, world, 30, "Line {n} of a long story", 800)
    newest = thread.get_by_role("listitem").last
    expect(newest).to_contain_text("Line 29 of a long story")
    expect(newest).to_be_in_viewport(ratio=1)  # a conversation opens at its newest message
    thread.locator("xpath=..").hover()  # the thread scrolls in its parent
    page.mouse.wheel(0, -400)
    expect(newest).not_to_be_in_viewport()
    page.wait_for_timeout(300)  # the wheel's scroll has ended
    reading = thread.evaluate(TOP_IN_VIEW)
    sms_receive(app, "2025550143", world.number_phone, "And one more thing")
    expect(thread).to_contain_text("And one more thing")
    page.wait_for_timeout(300)  # the swap settles
    assert thread.evaluate(TOP_IN_VIEW) == reading, "the reader who scrolled up is not moved"

    page.mouse.wheel(0, 5000)
    expect(thread.get_by_role("listitem").last).to_be_in_viewport(ratio=1)
    sms_receive(app, "2025550143", world.number_phone, "And a last one")
    expect(thread).to_contain_text("And a last one")
    # A reader at the end follows new messages.
    expect(thread.get_by_role("listitem").last).to_be_in_viewport(ratio=1)


def test_a_conversation_opens_with_its_newest_message_in_full_view(page: Page, app, world: World):
    """The pane settles after the swap (its stylesheet, the presence line, the contact panel) and
    resizes the thread: the newest message, its author line too, stays in view."""
    thread = open_long_conversation(page, app, world, 4, "Part {n}: " + "a long question " * 12, 800)
    newest = thread.get_by_role("listitem").last
    expect(newest).to_contain_text("Part 3")
    expect(page.get_by_role("complementary", name="Contact")).to_contain_text("Can be texted")
    expect(thread.get_by_role("listitem").first).not_to_be_in_viewport()  # the thread scrolls
    expect(newest.locator(".msg-meta")).to_be_in_viewport(ratio=1)
    # A smaller window shrinks the thread: it still ends with the newest message.
    page.set_viewport_size({"width": 1280, "height": 700})
    expect(newest.locator(".msg-meta")).to_be_in_viewport(ratio=1)
    # Reading from the top is left alone while the window changes around it.
    page.set_viewport_size({"width": 1280, "height": 800})
    thread.locator("xpath=..").hover()  # the thread scrolls in its parent
    page.mouse.wheel(0, -3000)
    page.wait_for_timeout(300)
    first = thread.evaluate(TOP_IN_VIEW)
    assert first[0] == thread.get_by_role("listitem").first.get_attribute("id")
    page.set_viewport_size({"width": 1280, "height": 700})
    page.wait_for_timeout(300)
    after = thread.evaluate(TOP_IN_VIEW)
    # Within a pixel: the rows' fractional heights (rem gaps) round either way when the box resizes.
    assert after[0] == first[0] and abs(after[1] - first[1]) <= 1


def test_a_reader_who_scrolls_up_before_the_pane_settles_stays_there(page: Page, app, world: World):
    """The pane's stylesheet and script arrive after the thread: a reader already scrolling up is
    not put back at the newest message when they do."""
    held = []
    page.route(re.compile(r"/static/(js|css)/workspace\.(js|css)$"), lambda route: held.append(route))
    thread = open_long_conversation(page, app, world, 30, "Line {n} of a long story", 800)
    expect(thread).to_contain_text("Line 29 of a long story")
    items = thread.get_by_role("listitem")
    first_id, last_id = items.first.get_attribute("id"), items.last.get_attribute("id")
    for _ in range(50):
        if len(held) == 2:
            break
        page.wait_for_timeout(100)
    assert len(held) == 2, "the pane asks for its stylesheet and script"
    thread.locator("xpath=..").hover()  # the thread scrolls in its parent
    page.mouse.wheel(0, -600)  # to the middle of the thread: neither end holds it there
    page.wait_for_timeout(300)
    reading = thread.evaluate(TOP_IN_VIEW)[0]
    assert reading not in (first_id, last_id), reading
    for route in held:
        route.continue_()
    page.wait_for_function("() => window.parleyWorkspace === true")
    expect(page.get_by_role("complementary", name="Contact")).to_contain_text("Can be texted")
    page.wait_for_timeout(300)
    # The thread grew as its stylesheet came: what the reader read is still in view, the
    # newest message is not.
    expect(page.locator(f"#{reading}")).to_be_in_viewport()
    expect(items.last).not_to_be_in_viewport()


def test_a_conversation_named_by_its_phone_keeps_its_title_as_the_count_changes(
    page: Page, app, world: World
):
    sms_receive(app, "2025550143", world.number_phone, "First question")
    log_in(page, "standard@example.edu")
    page.goto("/inbox")
    page.goto(rows(page).first.get_attribute("href"))  # the conversation's own page: its own title
    expect(page).to_have_title("(1) (202) 555-0143 · Parley")
    page.get_by_role("button", name="Does Not Need Attention").click()
    expect(page).to_have_title("(202) 555-0143 · Parley")
    sms_receive(app, "2025550144", world.number_phone, "Second question")
    expect(page).to_have_title("(1) (202) 555-0143 · Parley")  # the area code is not a count


def test_the_tabs_stay_put_as_the_count_grows_past_99(page: Page, app, world: World):
    """No layout shift when counts update (SPEC 9): "99+" is as wide as "1"."""
    sms_receive(app, "3125550100", world.number_phone, "The first")
    log_in(page, "standard@example.edu")
    page.goto("/inbox")
    participating = page.get_by_role("tab", name="Participating")
    expect(page.get_by_role("tab", name="Needs Attention")).to_have_accessible_description("1")
    before = participating.bounding_box()
    for n in range(101, 200):
        sms_receive(app, f"3125550{n}", world.number_phone, "Me too")
    expect(page.locator("#attention-count")).to_have_text("99+", timeout=15_000)
    assert participating.bounding_box() == before


def test_a_row_a_poll_takes_away_leaves_focus_on_the_tab(page: Page, app, world: World):
    """A colleague answered the conversation the keyboard was on: focus goes to the selected tab,
    where the reader carries on, not to the page's body (a screen reader would be lost)."""
    from sqlalchemy import select

    from tests.browser.conftest import release
    from webapp.extensions import db
    from webapp.models import Conversation, User
    from webapp.services import conversations

    sms_receive(app, "2025550143", world.number_phone, "First question")
    sms_receive(app, "2025550144", world.number_phone, "Second question")
    log_in(page, "standard@example.edu")
    page.goto("/inbox")
    rows(page).filter(has_text="First question").focus()
    colleague = db.session.scalar(select(User).where(User.email == "admin@example.edu"))
    answered = db.session.scalar(select(Conversation).where(Conversation.contact_phone == "+12025550143"))
    conversations.clear_attention(answered, colleague)
    db.session.commit()
    release()
    wait_for_poll(page, "/inbox?tab=attention")
    expect(rows(page)).to_have_count(1)
    expect(page.get_by_role("tab", name="Needs Attention")).to_be_focused()


def held_requests(page: Page, pattern: str) -> list:
    held: list = []
    page.route(re.compile(pattern), lambda route: held.append(route))
    return held


def let_go(page: Page, held: list) -> None:
    """The held requests go on; one the page gave up on meanwhile has nothing to go on with."""
    for route in held:
        try:
            route.continue_()
        except PlaywrightError:  # aborted by the page: exactly what may have happened
            pass
    page.wait_for_timeout(1000)


def test_a_conversation_opened_while_another_is_on_its_way_is_the_one_shown_named_and_addressed(
    page: Page, app, world: World
):
    """On a slow connection an agent clicks one row, then another: the second conversation is
    shown, and the address and title are its own when the first's answer comes late."""
    sms_receive(app, "2025550143", world.number_phone, "First question")
    sms_receive(app, "2025550144", world.number_phone, "Second question")
    log_in(page, "standard@example.edu")
    page.goto("/inbox")
    first, second = rows(page).filter(has_text="First"), rows(page).filter(has_text="Second")
    first_path, second_path = first.get_attribute("href"), second.get_attribute("href")
    held = held_requests(page, re.escape(first_path) + "$")
    first.click()
    page.wait_for_timeout(300)
    assert len(held) == 1, "the first conversation is on its way"
    page.unroute_all()
    second.click()
    expect(page.get_by_role("heading", name="(202) 555-0144")).to_be_visible()
    let_go(page, held)
    expect(page.get_by_role("heading", name="(202) 555-0144")).to_be_visible()
    assert page.url.endswith(second_path)
    expect(page).to_have_title(re.compile(r"\(202\) 555-0144 · Parley$"))


def test_a_reply_answered_after_another_conversation_was_opened_leaves_its_title(
    page: Page, app, world: World
):
    sms_receive(app, "2025550143", world.number_phone, "First question")
    sms_receive(app, "2025550144", world.number_phone, "Second question")
    log_in(page, "standard@example.edu")
    page.goto("/inbox")
    first, second = rows(page).filter(has_text="First"), rows(page).filter(has_text="Second")
    second_path = second.get_attribute("href")
    first.click()
    expect(page.get_by_role("heading", name="(202) 555-0143")).to_be_visible()
    held = held_requests(page, r"/messages$")
    page.get_by_label("Message").fill("It arrived on Monday.")
    page.get_by_role("button", name="Send", exact=True).click()
    page.wait_for_timeout(300)
    assert len(held) == 1, "the reply is on its way"
    second.click()
    expect(page.get_by_role("heading", name="(202) 555-0144")).to_be_visible()
    let_go(page, held)
    assert page.url.endswith(second_path)
    expect(page).to_have_title(re.compile(r"\(202\) 555-0144 · Parley$"))
    expect(page.get_by_role("heading", name="(202) 555-0144")).to_be_visible()
