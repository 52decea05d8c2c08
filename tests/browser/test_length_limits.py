"""A pasted message longer than the limit stays whole; the counter turns red and says by how much,
and Send is refused in the browser with a message naming the limit. Nothing is sent."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.browser.conftest import World, count_messages, log_in
from tests.browser.test_inbox_flow import start_conversation

PASTED = ("Thank you for your question about the application. " * 40)[:2000]
REFUSAL = "Message can be at most 1,600 characters; this has 2,000 (400 too many). Shorten it."


def paste(page: Page, field, text: str) -> None:
    field.focus()
    page.keyboard.insert_text(text)  # as a paste does: one input event, no key presses


def test_a_pasted_2000_character_message_is_kept_whole_and_refused(page: Page, world: World):
    log_in(page, "standard@example.edu")
    page.goto("/texts/new")
    page.get_by_label("To").fill("2025550143")
    message = page.get_by_label("Message")
    paste(page, message, PASTED)

    assert len(message.input_value()) == 2000
    expect(message).to_have_accessible_description(
        "2,000 / 1,600 characters · 400 over the limit · 14 segments"
    )
    counter = page.locator("#compose-counter")
    expect(counter).to_have_class(re.compile(r"\bis-over\b"))
    red = counter.evaluate("el => getComputedStyle(el).color")
    assert red == "rgb(180, 35, 24)", red

    page.get_by_role("button", name="Send").click()
    expect(page.get_by_role("alert")).to_have_text(REFUSAL)
    expect(message).to_be_focused()
    expect(message).to_have_attribute("aria-invalid", "true")
    expect(page).to_have_url(re.compile(r"/texts/new$"))
    assert len(message.input_value()) == 2000
    assert count_messages() == 0

    # Shortened, the refusal goes and the message is sent.
    message.fill(PASTED[:1600])
    expect(page.get_by_role("alert")).to_have_count(0)
    expect(message).not_to_have_attribute("aria-invalid", "true")
    page.get_by_role("button", name="Send").click()
    expect(page).to_have_url(re.compile(r"/conversations/\d+$"))
    assert count_messages("outbound") == 1


def test_a_long_reply_is_refused_in_the_browser(page: Page, world: World):
    conversation_id = start_conversation("standard@example.edu", world.number_id)
    log_in(page, "standard@example.edu")
    page.goto(f"/conversations/{conversation_id}")
    message = page.get_by_label("Message")
    paste(page, message, PASTED)
    page.get_by_role("button", name="Send").click()
    expect(page.get_by_role("alert")).to_have_text(REFUSAL)
    assert len(message.input_value()) == 2000
    assert count_messages("outbound") == 1  # the first text only


def test_every_limited_field_counts_instead_of_cutting(page: Page, world: World):
    log_in(page, "admin@example.edu")
    page.goto("/admin/offices")
    name = page.get_by_label("Office name")
    paste(page, name, "N" * 130)
    assert len(name.input_value()) == 130
    expect(name).to_have_accessible_description(re.compile(r"130 / 120 characters · 10 over the limit"))
    name.press("Enter")
    expect(page.get_by_role("alert")).to_have_text(
        "Office name can be at most 120 characters; this has 130 (10 too many). Shorten it."
    )
    expect(name).to_be_focused()
