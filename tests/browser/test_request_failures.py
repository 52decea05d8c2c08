"""When Parley cannot be reached, or fails on its side: the agent is told, by the action, in an
alert, and what they typed stays; failing polls show one quiet "Reconnecting…" until one succeeds."""

from __future__ import annotations

import re

from playwright.sync_api import Page, Route, expect

from tests.browser.conftest import World, log_in, sms_receive

UNREACHABLE = "Parley could not be reached. Your text is kept — try again."


def server_error(route: Route) -> None:
    route.fulfill(status=500, content_type="text/html", body="<h1>Internal Server Error</h1>")


def workspace_ready(page: Page) -> None:
    """workspace.js, which comes with the conversation pane (and says what failed), is set up."""
    for _ in range(100):
        if page.evaluate("() => window.parleyWorkspace === true"):
            return
        page.wait_for_timeout(50)
    raise AssertionError("workspace.js did not load")


def test_conversation_actions_that_fail_say_so_and_keep_the_text(page: Page, app, world: World):
    sms_receive(app, "2025550143", world.number_phone, "Did my transcript arrive?")
    log_in(page, "standard@example.edu")
    page.goto("/inbox")
    page.get_by_role("link", name=re.compile("Did my transcript arrive")).click()
    workspace_ready(page)
    message = page.get_by_label("Message")
    message.fill("Yes, it arrived on Monday.")
    send = page.get_by_role("button", name="Send", exact=True)

    page.route(re.compile(r"/messages$"), lambda route: route.abort())
    send.click()
    alert = page.get_by_role("alert")
    expect(alert).to_have_text(UNREACHABLE)
    expect(alert).to_be_focused()  # the pressed button was busy: focus goes to why
    expect(message).to_have_value("Yes, it arrived on Monday.")
    expect(send).to_be_enabled()

    page.unroute(re.compile(r"/messages$"))
    page.route(re.compile(r"/messages$"), server_error)
    send.focus()
    page.keyboard.press("Enter")
    expect(alert).to_have_text("Something went wrong on our side (500). Your text is kept — try again.")
    expect(alert).to_have_count(1)
    expect(message).to_have_value("Yes, it arrived on Monday.")

    page.route(re.compile(r"/notes$"), server_error)
    page.get_by_label("Note").fill("Checked with the registrar.")
    page.get_by_role("button", name="Add note").click()
    expect(alert).to_have_text("Something went wrong on our side (500). Your text is kept — try again.")
    expect(page.get_by_label("Note")).to_have_value("Checked with the registrar.")

    page.route(re.compile(r"/attention"), lambda route: route.abort())
    page.get_by_role("button", name="Does Not Need Attention").click()
    expect(alert).to_have_text("Parley could not be reached. Try again.")
    expect(page.get_by_role("button", name="Does Not Need Attention")).to_be_visible()

    # Back online: the next Send goes, and the alert with the old news goes too.
    page.unroute_all()
    send.click()
    thread = page.get_by_role("list", name="Conversation history")
    expect(thread).to_contain_text("Yes, it arrived on Monday.")
    expect(page.get_by_role("alert")).to_have_count(0)


def test_a_compose_send_that_cannot_reach_parley_says_so(page: Page, app, world: World):
    log_in(page, "standard@example.edu")
    page.goto("/texts/new")
    page.get_by_label("To").fill("(202) 555-0143")
    page.get_by_label("Message").fill("Your open house visit is on Saturday.")
    page.route(re.compile(r"/texts/new$"), lambda route: route.abort() if route.request.method == "POST"
               else route.continue_())
    page.get_by_role("button", name="Send", exact=True).click()
    expect(page.get_by_role("alert")).to_have_text(UNREACHABLE)
    expect(page.get_by_label("Message")).to_have_value("Your open house visit is on Saturday.")


def test_failing_polls_show_one_quiet_reconnecting_until_one_succeeds(page: Page, app, world: World):
    sms_receive(app, "2025550143", world.number_phone, "Did my transcript arrive?")
    log_in(page, "standard@example.edu")
    page.goto("/inbox")
    page.get_by_role("link", name=re.compile("Did my transcript arrive")).click()
    page.context.set_offline(True)
    status = page.get_by_role("status").filter(has_text="Reconnecting…")
    expect(status).to_be_visible()
    expect(page.locator("#announcer")).to_have_text("Reconnecting…")
    page.wait_for_timeout(7_000)  # a few more failed polls (the list's and the thread's)
    expect(status).to_have_count(1)
    expect(page.get_by_role("alert")).to_have_count(0)  # no alarm: nothing the agent did failed

    page.context.set_offline(False)
    expect(status).to_have_count(0)
    sms_receive(app, "2025550143", world.number_phone, "Hello again")
    expect(page.get_by_role("list", name="Conversation history")).to_contain_text("Hello again")


def test_a_tab_a_row_or_load_more_that_fails_to_load_says_so_where_it_would_have_come(
    page: Page, app, world: World
):
    sms_receive(app, "2025550143", world.number_phone, "Did my transcript arrive?")
    log_in(page, "standard@example.edu")
    page.goto("/inbox")
    panel = page.get_by_role("tabpanel")
    row = panel.get_by_role("link", name=re.compile("Did my transcript arrive"))
    expect(row).to_be_visible()
    page.wait_for_load_state("networkidle")

    # A tab: only a click's request fails (a poll of the list would say "Reconnecting…").
    page.route(re.compile(r"/inbox\?tab=participating$"), lambda route: route.abort())
    page.get_by_role("tab", name="Participating").click()
    alert = page.get_by_role("alert")
    expect(alert).to_have_text("Parley could not be reached, so this did not load. Try again.")
    expect(page.get_by_role("tab", name="Needs Attention")).to_have_attribute("aria-selected", "true")
    expect(row).to_be_visible()  # the list shown is still there

    # A conversation that fails on our side says so in the conversation's place.
    page.route(re.compile(r"/conversations/\d+$"), server_error)
    row.click()
    expect(alert).to_have_count(1)
    expect(page.get_by_role("region", name="Conversation").get_by_role("alert")).to_have_text(
        "Something went wrong on our side (500), so this did not load. Try again."
    )

    # Back online: the next try loads, and the old news goes with the part it was in.
    page.unroute_all()
    row.click()
    expect(page.get_by_role("heading", name="(202) 555-0143")).to_be_visible()
    expect(page.get_by_role("alert")).to_have_count(0)
