"""Search from the header: type words of a message, open the search, follow a result."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.browser.axe import Audit
from tests.browser.conftest import World, log_in, release, sms_receive
from webapp.plugin_api import InboundMessage
from webapp.services import inbound
from webapp.services.search import PAGE_SIZE


def test_search_from_the_header_finds_a_message_and_opens_its_conversation(
    app, live_server: str, page: Page, world: World
):
    sms_receive(app, "+12025550143", world.number_phone, "Where is the <b>financial aid</b> office?")
    sms_receive(app, "+12025550178", world.number_phone, "Thanks, see you Monday")
    log_in(page, "standard@example.edu")
    page.get_by_label("Look up a contact by phone or name").fill("financial office")
    page.get_by_role("link", name="Search messages for “financial office”").click()
    expect(page).to_have_url(re.compile(r"/search\?q=financial"))
    expect(page.get_by_role("searchbox", name="Search conversations")).to_have_value("financial office")
    hits = page.locator(".search-hit")
    expect(hits).to_have_count(1)
    expect(hits.locator("mark")).to_have_text(["financial", "office"])
    expect(hits).to_contain_text("Where is the <b>financial aid</b> office?")  # shown as typed
    audit = Audit(1280)
    audit.check(page, "search results")
    page.get_by_role("searchbox", name="Search conversations").fill("a" * 2000)
    page.get_by_role("button", name="Search").click()
    expect(page.locator("#search-error")).to_contain_text("Search for at most 200 characters")
    audit.check(page, "search refused")
    audit.assert_clean()
    page.go_back()
    page.get_by_role("link", name="(202) 555-0143").click()
    expect(page).to_have_url(re.compile(r"/conversations/\d+"))
    expect(page.locator("#thread")).to_contain_text("financial aid")


def test_older_results_start_at_the_results_they_bring(live_server: str, page: Page, world: World):
    for n in range(PAGE_SIZE + 2):
        text = InboundMessage("+12025550143", world.number_phone, f"Parking question {n}")
        inbound.receive(text, "console")
    release()
    log_in(page, "standard@example.edu")
    page.goto("/search?q=parking")
    page.get_by_role("link", name="Older results").click()
    expect(page).to_have_url(re.compile(r"before="))
    expect(page.get_by_role("heading", name="Messages (older)")).to_be_focused()
    # And back to the newest, without the browser's Back button.
    page.get_by_role("link", name="Newest results").click()
    expect(page).not_to_have_url(re.compile(r"before="))
    expect(page.get_by_role("heading", name="Messages", exact=True)).to_be_visible()
    expect(page.get_by_text(f"Parking question {PAGE_SIZE + 1}")).to_be_visible()
    expect(page.get_by_role("link", name="Newest results")).to_have_count(0)
