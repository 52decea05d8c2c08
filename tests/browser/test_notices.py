"""What the inbox and the reply box say about a conversation's state: where a conversation went,
an opted-out contact, held messages, the field a Send later error is about, and the header
lookup's short announcements."""

from __future__ import annotations

import re

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


OPTED_OUT = "This contact opted out (texted STOP). Texts cannot be sent until they text START."


def test_an_opted_out_contact_is_said_before_send_and_notes_still_work(page: Page, app, world: World):
    conversation_id = start_conversation("standard@example.edu", world.number_id)
    sms_receive(app, "2025550143", world.number_phone, "STOP")
    log_in(page, "standard@example.edu")
    page.goto(f"/conversations/{conversation_id}")
    reply = page.locator("#reply-form")
    expect(reply.get_by_text(OPTED_OUT)).to_be_visible()
    expect(page.get_by_label("Message")).to_have_accessible_description(re.compile(re.escape(OPTED_OUT)))
    expect(reply.get_by_role("button", name="Send")).to_be_disabled()
    page.get_by_label("Note").fill("Called them instead.")
    page.get_by_role("button", name="Add note").click()
    expect(page.get_by_role("list", name="Conversation history")).to_contain_text("Called them instead.")
    expect(reply.get_by_role("button", name="Send")).to_be_disabled()

    # A compose link (a CRM's "text this contact") says it too, beside To.
    page.goto("/texts/new?to=(202) 555-0143")
    expect(page.get_by_label("To")).to_have_accessible_description(OPTED_OUT)
    expect(page.get_by_text(OPTED_OUT)).to_be_visible()
    page.goto("/texts/new?to=(202) 555-0144")
    expect(page.get_by_label("To")).to_have_value("(202) 555-0144")
    expect(page.get_by_text(OPTED_OUT)).to_have_count(0)
