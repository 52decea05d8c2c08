"""Narrow screens (a phone, a slim CRM frame) and long or right-to-left names and texts."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, expect

from tests.browser.conftest import World, log_in, screenshot, sms_receive
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
