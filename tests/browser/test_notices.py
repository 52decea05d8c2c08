"""What the inbox and the reply box say about a conversation's state: where a conversation went,
an opted-out contact, held messages, the field a Send later error is about, and the header
lookup's short announcements."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

from playwright.sync_api import Page, expect

from tests.browser.conftest import World, log_in, run_cli, sms_receive
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


OPTED_OUT = "This contact opted out: texts cannot be sent to them until they text START."


def test_an_opted_out_contact_is_said_before_send_and_notes_still_work(page: Page, app, world: World):
    conversation_id = start_conversation("standard@example.edu", world.number_id)
    sms_receive(app, "2025550143", world.number_phone, "STOP")
    log_in(page, "standard@example.edu")
    page.goto(f"/conversations/{conversation_id}")
    reply = page.locator("#reply-form")
    expect(reply.get_by_text(OPTED_OUT)).to_be_visible()
    expect(page.get_by_label("Message")).to_have_accessible_description(re.compile(re.escape(OPTED_OUT)))
    expect(reply.get_by_role("button", name="Send")).to_be_disabled()
    expect(reply.get_by_role("button", name="Send")).to_have_css("cursor", "not-allowed")  # not "busy"
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

    # Typed into To, it is said as well, before Send; and gone again for another phone.
    to = page.get_by_label("To")
    to.fill("202-555-0143")
    expect(page.get_by_text(OPTED_OUT)).to_be_visible()
    expect(to).to_have_accessible_description(OPTED_OUT)
    expect(to).to_be_focused()
    to.fill("202-555-0199")
    expect(page.get_by_text(OPTED_OUT)).to_have_count(0)
    expect(to).to_have_accessible_description("")
    expect(page.get_by_role("button", name="Send")).to_be_enabled()


def test_a_stop_while_the_conversation_is_open_disables_send_at_once(page: Page, app, world: World):
    conversation_id = start_conversation("standard@example.edu", world.number_id)
    log_in(page, "standard@example.edu")
    page.goto(f"/conversations/{conversation_id}")
    reply = page.locator("#reply-form")
    send = reply.get_by_role("button", name="Send")
    message = page.get_by_label("Message")
    message.fill("Are you still coming on Saturday?")
    expect(page.get_by_text(OPTED_OUT)).to_have_count(0)
    panel = page.get_by_role("complementary", name="Contact")
    expect(panel).to_contain_text("Can be texted")

    send.focus()  # about to press it
    sms_receive(app, "2025550143", world.number_phone, "STOP")  # the refresh brings it
    expect(reply.get_by_text(OPTED_OUT)).to_be_visible(timeout=8_000)
    expect(send).to_be_disabled()
    expect(message).to_be_focused()  # not lost with the button: to the field the notice describes
    expect(message).to_have_accessible_description(re.compile(re.escape(OPTED_OUT)))
    expect(message).to_have_value("Are you still coming on Saturday?")  # what was typed stays
    expect(panel).to_contain_text("Opted out")  # the contact panel beside it too

    sms_receive(app, "2025550143", world.number_phone, "START")
    expect(send).to_be_enabled(timeout=8_000)
    expect(page.get_by_text(OPTED_OUT)).to_be_hidden()
    expect(message).not_to_have_accessible_description(re.compile("opted out"))
    expect(panel).to_contain_text("Can be texted")
    send.click()
    thread = page.get_by_role("list", name="Conversation history")
    expect(thread).to_contain_text("Are you still coming on Saturday?")


def test_a_number_deactivated_while_the_conversation_is_open_disables_send_until_it_is_back(
    page: Page, context, live_server: str, world: World
):
    conversation_id = start_conversation("standard@example.edu", world.number_id)
    log_in(page, "standard@example.edu")
    page.goto(f"/conversations/{conversation_id}")
    reply = page.locator("#reply-form")
    send = reply.get_by_role("button", name="Send")
    message = page.get_by_label("Message")
    message.fill("See you at the open house!")
    off = f"{world.number_label} has been deactivated by an administrator: nothing can be sent from it."

    admin_context = context.browser.new_context(base_url=live_server)
    admin = admin_context.new_page()
    log_in(admin, "admin@example.edu")
    admin.goto(f"/admin/numbers/{world.number_id}")
    admin.get_by_role("button", name="Deactivate number").click()
    expect(admin.get_by_role("button", name="Reactivate number")).to_be_visible()

    # No reload: the refresh brings it, and what was typed stays.
    expect(reply.get_by_text(off)).to_be_visible(timeout=8_000)
    expect(send).to_be_disabled()
    expect(message).to_have_accessible_description(re.compile(re.escape(off)))
    expect(message).to_have_value("See you at the open house!")

    admin.get_by_role("button", name="Reactivate number").click()
    expect(admin.get_by_role("button", name="Deactivate number")).to_be_visible()
    expect(send).to_be_enabled(timeout=8_000)
    expect(reply.get_by_text(off)).to_be_hidden()
    expect(message).not_to_have_accessible_description(re.compile("deactivated"))
    admin_context.close()
    send.click()
    thread = page.get_by_role("list", name="Conversation history")
    expect(thread).to_contain_text("See you at the open house!")


def send_later(page: Page, text: str, when: str) -> None:
    page.get_by_label("Message").fill(text)
    send_at = page.get_by_label("Send at")
    if not send_at.is_visible():
        page.get_by_text("Send later", exact=True).click()
    send_at.fill(when)
    page.locator("#reply-form").get_by_role("button", name="Send").click()


def test_a_send_later_error_focuses_send_at(page: Page, app, world: World):
    conversation_id = start_conversation("standard@example.edu", world.number_id)
    log_in(page, "standard@example.edu")
    page.goto(f"/conversations/{conversation_id}")
    send_later(page, "Your interview is tomorrow at 10.", "2020-01-01T09:00")
    send_at = page.get_by_label("Send at")
    expect(send_at).to_be_focused()
    expect(send_at).to_have_accessible_description(re.compile("That time has passed"))
    expect(page.get_by_label("Message")).to_have_value("Your interview is tomorrow at 10.")
    expect(page.get_by_label("Message")).not_to_have_attribute("aria-invalid", "true")


def test_each_scheduled_message_cancel_says_which_message(page: Page, app, world: World):
    conversation_id = start_conversation("standard@example.edu", world.number_id)
    log_in(page, "standard@example.edu")
    page.goto(f"/conversations/{conversation_id}")
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).strftime("%Y-%m-%dT")
    send_later(page, "Your interview is tomorrow at 10.", tomorrow + "09:00")
    history = page.get_by_role("list", name="Conversation history")
    expect(history.get_by_role("button", name="Cancel")).to_have_count(1)
    expect(page.locator("#announcer")).to_have_text("Reply held until the time shown.")
    send_later(page, "Bring your ID.", tomorrow + "11:30")
    cancels = history.get_by_role("button", name="Cancel")
    expect(cancels).to_have_count(2)
    # Named "Cancel" each, and told apart by their description: the message and when it goes.
    expect(cancels.first).to_have_accessible_description(
        re.compile(r"^Your interview is tomorrow at 10\. Scheduled · goes .*9:00")
    )
    expect(cancels.last).to_have_accessible_description(
        re.compile(r"^Bring your ID\. Scheduled · goes .*11:30")
    )
    cancels.last.click()
    expect(history.get_by_role("button", name="Cancel")).to_have_count(1)
    expect(page.locator("#announcer")).to_have_text("Withdrawn; nothing will go.")


def test_the_header_lookup_announces_a_short_count_not_the_whole_dropdown(
    page: Page, app, world: World, tmp_path: Path
):
    csv = tmp_path / "contacts.csv"
    csv.write_text("first_name,last_name,phone\nMaria,Lopez,2025550143\nMaria,Garcia,2025550144\n")
    run_cli(app, "campaigns", "import", "Fall Open House", str(csv), "--office", "Admissions", "--launch")
    log_in(page, "standard@example.edu")
    page.goto("/inbox")
    search = page.get_by_label("Look up a contact by phone or name")
    dropdown = page.locator("#header-lookup-results")
    live_region = page.locator("#announcer")
    search.press_sequentially("Maria")
    expect(dropdown).to_contain_text("Maria Garcia")
    expect(live_region).to_have_text("2 contacts")
    expect(live_region).to_have_attribute("aria-live", "polite")
    # The dropdown is not read out again on each keystroke.
    assert dropdown.evaluate("el => el.closest('[aria-live]')") is None
    search.press_sequentially(" L")
    expect(dropdown).not_to_contain_text("Maria Garcia")
    expect(live_region).to_have_text("1 contact")
    search.fill("Zebulon")
    expect(live_region).to_have_text("No contact found")
    search.fill("")
    expect(dropdown).to_be_hidden()

    # Tabbed through and past, it closes: open, it would cover what has focus next.
    search.fill("Maria")
    expect(dropdown).to_contain_text("Maria Garcia")
    inside = "() => !!document.activeElement.closest('#header-lookup')"
    for _ in range(8):
        page.keyboard.press("Tab")
        if not page.evaluate(inside):
            break
    assert not page.evaluate(inside)
    expect(dropdown).to_be_empty()
