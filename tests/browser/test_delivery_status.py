"""Delivery reports in the browser: a delivered message says so, a failed one shows its reason."""

from __future__ import annotations

from playwright.sync_api import Page, expect
from sqlalchemy import select

from tests.browser.conftest import World, log_in, release
from webapp.extensions import db
from webapp.models import User
from webapp.plugin_api import StatusUpdate
from webapp.services import delivery_reports, sending


def test_delivered_status_and_failed_reason_update_in_place(page: Page, world: World):
    agent = db.session.scalars(select(User).where(User.email == "standard@example.edu")).one()
    first = sending.create_text(agent, world.number_id, "2025550143", "See you Friday")
    second = sending.create_text(agent, world.number_id, "2025550143", "Bring your transcript")
    conversation_id, first_id, second_id = first.conversation_id, first.id, second.id
    release()

    log_in(page, "standard@example.edu")
    page.goto(f"/conversations/{conversation_id}")
    history = page.get_by_role("list", name="Conversation history")
    expect(history.get_by_text("Sent", exact=True)).to_have_count(2)

    # The provider reports back while the agent watches: no reload.
    delivery_reports.record(StatusUpdate("r-1", "delivered", parley_message_id=first_id), "console")
    delivery_reports.record(
        StatusUpdate("r-2", "failed", parley_message_id=second_id, error_code="50",
                     error_reason="The destination number is invalid"),
        "console",
    )
    release()
    expect(history.get_by_text("Delivered", exact=True)).to_be_visible()
    expect(history.get_by_text("Failed: The destination number is invalid")).to_be_visible()
    expect(history.get_by_role("button", name="Retry")).to_have_count(1)
    # A failure is read out too (a delivery is not: it needs nothing done).
    expect(page.locator("#announcer")).to_have_text("A text in this conversation did not go out.")
