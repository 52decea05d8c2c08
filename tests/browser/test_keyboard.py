"""The seed's whole flow without a mouse: log in, Create Content → Create 1:1 Text, send, open the
reply, reply, Does Not Need Attention. Focus is visible at every step and lands somewhere sensible
after every htmx swap; new replies and count changes are announced without moving focus. Also:
reduced motion and 200% zoom."""

from __future__ import annotations

import re
import time

import pytest
from flask import Flask
from playwright.sync_api import Browser, Locator, Page, expect

from tests.browser.conftest import World, count_messages, log_in, sms_receive
from tests.browser.test_inbox_flow import start_conversation
from tests.browser.test_layout import assert_no_horizontal_overflow
from tests.conftest import PASSWORD

FOCUSED = "el => el === document.activeElement"
# A focus ring: an outline or a box-shadow, drawn by :focus-visible, that the element does not
# have without focus (a primary button's own shadow is no ring): compared with an unfocused copy
# of it, in the same place. The thread's list sits in a scroller that would clip its ring: the
# scroller draws it (app.css).
RING = """() => {
  const el = document.activeElement;
  if (!el || el === document.body) return "nothing is focused";
  const look = (node) => {
    const style = getComputedStyle(node);
    const outline = style.outlineStyle !== "none" && parseFloat(style.outlineWidth) > 0;
    return outline ? `outline ${style.outlineStyle} ${style.outlineWidth} ${style.outlineColor}`
                   : style.boxShadow;
  };
  const drawer = el.id === "thread" ? el.parentElement : el;
  const focused = look(drawer);
  const copy = drawer.cloneNode(false);
  copy.removeAttribute("id");
  drawer.parentNode.insertBefore(copy, drawer);
  const unfocused = look(copy);
  copy.remove();
  const ringed = focused !== "none" && focused !== unfocused;
  return ringed ? "" : `no visible focus on ${el.outerHTML.slice(0, 80)}`;
}"""


def focus_is_visible(page: Page) -> None:
    problem = page.evaluate(RING)
    assert not problem, problem


def tab_to(page: Page, target: Locator, backwards: bool = False, limit: int = 40) -> None:
    """Tab (or Shift+Tab) until `target` has focus, checking the focus ring at every stop."""
    if target.evaluate(FOCUSED):  # already there (autofocus)
        focus_is_visible(page)
        return
    for _ in range(limit):
        page.keyboard.press("Shift+Tab" if backwards else "Tab")
        focus_is_visible(page)
        if target.evaluate(FOCUSED):
            return
    raise AssertionError(f"{target} never got focus in {limit} Tab presses")


def focused(page: Page) -> Locator:
    return page.locator("*:focus")


def test_the_whole_flow_by_keyboard(page: Page, app: Flask, world: World):
    page.goto("/login")
    tab_to(page, page.get_by_label("Email"))
    page.keyboard.type("standard@example.edu")
    tab_to(page, page.get_by_label("Password"))
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/inbox"))
    page.wait_for_load_state("load")

    create = page.get_by_role("button", name="Create Content")
    tab_to(page, create)
    page.keyboard.press("Enter")
    item = page.get_by_role("menuitem", name="Create 1:1 Text")
    expect(item).to_be_focused()
    focus_is_visible(page)
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/texts/new$"))
    page.wait_for_load_state("load")

    tab_to(page, page.get_by_label("To"))
    page.keyboard.type("202-555-0143")
    tab_to(page, page.get_by_label("Message"))
    page.keyboard.type("Hello from Admissions")
    tab_to(page, page.get_by_role("button", name="Send"))
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/conversations/\d+$"))
    page.wait_for_load_state("load")
    assert count_messages("outbound") == 1

    # The contact answers: the count changes and is announced; focus stays where it was.
    send = page.get_by_role("button", name="Send")
    tab_to(page, page.get_by_label("Message"))
    sms_receive(app, "2025550143", world.number_phone, "When is the deadline?")
    needs = page.get_by_role("tab", name=re.compile("Needs Attention"))
    expect(needs).to_contain_text("1")
    expect(page.locator("#announcer")).to_have_text(
        re.compile(r"New reply from \(202\) 555-0143|Needs Attention: 1")
    )
    expect(page.get_by_label("Message")).to_be_focused()
    expect(page).to_have_title(re.compile(r"^\(1\) "))

    # Open the reply from the Needs Attention tab.
    # The tab list is one stop (the selected tab); arrow keys move between tabs (WAI-ARIA tabs).
    tab_to(page, page.get_by_role("tab", name=re.compile("Participating")), backwards=True, limit=60)
    page.keyboard.press("ArrowLeft")
    expect(needs).to_have_attribute("aria-selected", "true")
    expect(needs).to_be_focused()  # the tab list was swapped; focus came back to the tab
    participating = page.get_by_role("tab", name="Participating", exact=True)
    page.keyboard.press("End")  # the last tab, and Home the first
    expect(participating).to_have_attribute("aria-selected", "true")
    expect(participating).to_be_focused()
    page.keyboard.press("Home")
    expect(needs).to_have_attribute("aria-selected", "true")
    expect(needs).to_be_focused()
    row = page.get_by_role("tabpanel").get_by_role("link").first
    tab_to(page, row)
    page.keyboard.press("Enter")
    heading = page.get_by_role("heading", name="(202) 555-0143")
    expect(heading).to_be_focused()  # the conversation opened: focus went to its name
    focus_is_visible(page)
    thread = page.get_by_role("list", name="Conversation history")
    expect(thread).to_contain_text("When is the deadline?")

    # Reply.
    tab_to(page, page.get_by_label("Message"))
    page.keyboard.type("January 15.")
    tab_to(page, send)
    page.keyboard.press("Enter")
    expect(thread).to_contain_text("January 15.")
    expect(page.get_by_label("Message")).to_be_focused()  # ready for the next message
    assert count_messages("outbound") == 2

    # Another reply needs attention again; Does Not Need Attention clears it.
    sms_receive(app, "2025550143", world.number_phone, "Thanks!")
    clear = page.get_by_role("button", name="Does Not Need Attention")
    expect(clear).to_be_visible()
    tab_to(page, clear, backwards=True)
    page.keyboard.press("Enter")
    expect(clear).to_have_count(0)
    expect(focused(page)).to_have_count(1)  # not lost to the page's body
    focus_is_visible(page)
    expect(needs).to_contain_text("0")
    expect(page).to_have_title("(202) 555-0143 · Parley")  # no count: the conversation's name alone


def answer_late(app: Flask, delays: dict[str, float]) -> None:
    """The server answers late, by the element that asked (htmx names it in HX-Trigger): a tab,
    or the list pane refreshing itself."""
    inner = app.wsgi_app

    def wsgi(environ, start_response):
        time.sleep(delays.get(environ.get("HTTP_HX_TRIGGER", ""), 0))
        return inner(environ, start_response)

    app.wsgi_app = wsgi


def open_inbox_at_needs_attention(page: Page, world: World) -> tuple[Locator, Locator]:
    start_conversation("standard@example.edu", world.number_id)  # in Participating only
    log_in(page, "standard@example.edu")
    page.goto("/inbox?tab=attention")
    page.wait_for_load_state("load")
    page.evaluate("window.notReloaded = true")  # a tab key must swap the list, not load a page
    return page.get_by_role("tab", name="Needs Attention"), page.get_by_role("tab", name="Participating")


def expect_tab_chosen(page: Page, chosen: Locator, other: Locator, content: str) -> None:
    assert page.evaluate("window.notReloaded"), "a tab key loaded a whole new page"
    expect(chosen).to_be_focused()
    expect(chosen).to_have_attribute("aria-selected", "true")
    expect(other).to_have_attribute("aria-selected", "false")
    expect(page.get_by_role("tabpanel")).to_contain_text(content)


@pytest.mark.parametrize(
    ("delays", "refresh"),
    [
        ({}, False),
        ({"tab-attention": 0.5}, False),
        ({"tab-attention": 0.5, "tab-participating": 0.5, "list-pane": 0.2}, True),
    ],
    ids=["as-fast-as-they-come", "needs-attention-answers-late", "a-refresh-meanwhile"],
)
def test_quick_tab_keys_end_on_the_tab_chosen_last(page: Page, app: Flask, world: World, delays, refresh):
    needs, participating = open_inbox_at_needs_attention(page, world)
    answer_late(app, delays)
    needs.focus()
    page.keyboard.press("ArrowRight")  # each key faster than the list it asks for
    if refresh:  # the list pane refreshes itself (its poll, or a conversation's change) meanwhile
        page.evaluate("htmx.trigger(document.body, 'inbox-changed')")
    for key in ["ArrowLeft", "End", "Home", "End"]:
        page.keyboard.press(key)
    # The last choice holds, and still holds once every slower answer would have come.
    expect_tab_chosen(page, participating, needs, "(202) 555-0143")
    page.wait_for_timeout(1000 * max(delays.values(), default=0) + 500)
    expect_tab_chosen(page, participating, needs, "(202) 555-0143")
    expect(page).to_have_url(re.compile(r"tab=participating$"))


@pytest.mark.parametrize("arrival", ["a tab's list", "a refresh"])
def test_a_tab_key_pressed_as_a_list_arrives_stays_in_the_page(page: Page, world: World, arrival):
    needs, participating = open_inbox_at_needs_attention(page, world)
    # A key pressed the moment a list is in (before htmx has set up its tabs): Home after
    # Participating's list, End after a refresh of Needs Attention.
    key = "Home" if arrival == "a tab's list" else "End"
    page.evaluate("""(key) => document.addEventListener("htmx:afterSwap", () => setTimeout(() => {
      window.keyPressed = true;
      document.activeElement.dispatchEvent(new KeyboardEvent("keydown", { key: key, bubbles: true }));
    }), { once: true })""", key)
    needs.focus()
    if arrival == "a tab's list":
        page.keyboard.press("ArrowRight")
    else:
        page.evaluate("htmx.trigger(document.body, 'inbox-changed')")
    page.wait_for_function("() => window.keyPressed")
    page.wait_for_timeout(1000)  # time enough for a whole new page, had the key loaded one
    if key == "Home":
        expect_tab_chosen(page, needs, participating, "Nothing needs attention")
    else:
        expect_tab_chosen(page, participating, needs, "(202) 555-0143")


def test_reduced_motion_turns_transitions_off(browser: Browser, live_server: str, world: World):
    context = browser.new_context(base_url=live_server, reduced_motion="reduce")
    page = context.new_page()
    try:
        page.goto("/login")
        durations = page.evaluate(
            """() => Array.from(document.querySelectorAll("body, body *"))
                .map((el) => getComputedStyle(el))
                .flatMap((s) => [s.transitionDuration, s.animationDuration])
                .flatMap((d) => d.split(",").map(parseFloat))"""
        )
        assert max(durations) <= 0.001
    finally:
        context.close()


def test_200_percent_zoom_keeps_everything_reachable(browser: Browser, live_server: str, app, world: World):
    """200% zoom of a 1280 px window: a 640 px viewport of twice the pixel density."""
    context = browser.new_context(
        base_url=live_server, viewport={"width": 640, "height": 400}, device_scale_factor=2
    )
    page = context.new_page()
    try:
        page.goto("/login")
        page.get_by_label("Email").fill("standard@example.edu")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        expect(page).to_have_url(re.compile(r"/inbox"))
        page.wait_for_load_state("load")  # app.js (the menu) is running, as for a person
        assert_no_horizontal_overflow(page)
        page.get_by_role("button", name="Create Content").click()
        page.get_by_role("menuitem", name="Create 1:1 Text").click()
        # A link: measure the compose page once it is there, not the document being replaced.
        expect(page.get_by_role("heading", name="Create 1:1 Text")).to_be_visible()
        assert_no_horizontal_overflow(page)
        page.get_by_label("To").fill("2025550143")
        page.get_by_label("Message").fill("Zoomed in")
        page.get_by_role("button", name="Send").click()
        expect(page).to_have_url(re.compile(r"/conversations/\d+$"))
        expect(page.get_by_role("button", name="Switch Mode")).to_be_visible()
        assert_no_horizontal_overflow(page)
    finally:
        context.close()


def test_ctrl_enter_sends_compose_a_reply_and_a_note_but_not_a_send_that_is_off(
    page: Page, app: Flask, world: World
):
    log_in(page, "standard@example.edu")
    page.goto("/texts/new")
    page.get_by_label("To").fill("(202) 555-0143")
    message = page.get_by_label("Message")
    message.fill("Your open house visit is on Saturday.")
    send = page.get_by_role("button", name="Send")
    expect(send).to_have_attribute("aria-keyshortcuts", "Control+Enter Meta+Enter")
    message.press("Control+Enter")
    thread = page.get_by_role("list", name="Conversation history")
    expect(thread).to_contain_text("Your open house visit is on Saturday.")
    page.wait_for_load_state("load")  # the conversation's workspace.js (Ctrl+Enter) is running

    message.fill("Parking is free on weekends.")
    message.press("Meta+Enter")  # ⌘+Enter on a Mac
    expect(thread).to_contain_text("Parking is free on weekends.")
    expect(message).to_have_value("")
    message.press("Enter")  # Enter alone is a new line
    expect(message).to_have_value("\n")
    note = page.get_by_label("Note")
    note.fill("Asked about parking.")
    note.press("Control+Enter")
    expect(thread).to_contain_text("Asked about parking.")
    assert count_messages("outbound") == 2

    sms_receive(app, "2025550143", world.number_phone, "STOP")
    page.reload()
    expect(page.get_by_role("button", name="Send", exact=True)).to_be_disabled()
    message.fill("Are you still coming?")
    message.press("Control+Enter")
    page.wait_for_timeout(500)  # a send would have been under way by now
    assert count_messages("outbound") == 2
    expect(message).to_have_value("Are you still coming?")
