"""What the inbox and the reply box say about a conversation's state: where a conversation went,
an opted-out contact, held messages, the field a Send later error is about, and the header
lookup's short announcements."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.browser.conftest import World, log_in, sms_receive
from tests.browser.test_inbox_flow import conversation_rows, start_conversation, tab


def test_an_empty_participating_tab_says_the_conversations_need_attention(page: Page, app, world: World):
    log_in(page, "standard@example.edu")
    page.goto("/inbox?tab=participating")
    expect(page.get_by_role("tabpanel")).to_contain_text("No conversations yet.")

    start_conversation("standard@example.edu", world.number_id)
    sms_receive(app, "2025550143", world.number_phone, "Is the campus tour on Saturday still on?")
    page.goto("/inbox")
    tab(page, "Participating").click()
    panel = page.get_by_role("tabpanel")
    expect(panel).to_contain_text(
        "Nothing here right now — your conversations that need attention are under Needs Attention."
    )
    expect(panel).not_to_contain_text("No conversations yet")
    tab(page, "Needs Attention").click()
    expect(conversation_rows(page)).to_have_count(1)
    conversation_rows(page).first.click()
    page.get_by_role("button", name="Does Not Need Attention").click()
    tab(page, "Participating").click()
    expect(conversation_rows(page)).to_have_count(1)
