"""The agent's day in a real browser: compose, live inbox updates, reply, clear, switch mode."""

from __future__ import annotations

import io
import re

from playwright.sync_api import BrowserContext, Page, expect

from tests.browser.conftest import World, count_messages, log_in, release, sms_receive
from webapp.extensions import db
from webapp.models import User
from webapp.services import campaigns, sending

CONTACT = "+12025550143"


def tab(page: Page, name: str):
    return page.get_by_role("tablist").get_by_role("tab", name=name)


def expect_counts(
    page: Page, attention: int, participating: int, timeout: float | None = None
) -> None:
    expect(tab(page, "Needs Attention")).to_have_text(
        re.compile(rf"Needs Attention\s+{attention}\s*$"), timeout=timeout
    )
    expect(tab(page, "Participating")).to_have_text(
        re.compile(rf"Participating\s+{participating}\s*$"), timeout=timeout
    )


def conversation_rows(page: Page):
    return page.get_by_role("tabpanel").get_by_role("link")


def thread(page: Page):
    return page.get_by_role("list", name="Conversation history")


def start_conversation(email: str, number_id: int, body: str = "Hello from Admissions") -> int:
    """A 1:1 text sent through the service (for tests whose subject is what comes after)."""
    user = db.session.query(User).filter_by(email=email).one()
    message = sending.create_text(user, number_id, CONTACT, body)
    conversation_id = message.conversation_id
    release()
    return conversation_id


def test_compose_reply_and_live_inbox(
    page: Page, context: BrowserContext, live_server: str, app, world: World
):
    log_in(page, "standard@example.edu")
    page.get_by_role("button", name="Create Content").click()
    page.get_by_role("menuitem", name="Create 1:1 Text").click()
    expect(page).to_have_url(re.compile(r"/texts/new$"))

    page.get_by_label("From").select_option(label="Admissions Main · (202) 555-0100")
    page.get_by_label("To").fill("202-555-0143")
    message = page.get_by_label("Message")
    # The live counter is the field's description: characters and SMS segments as you type.
    message.fill("Hello")
    expect(message).to_have_accessible_description("5 / 1,600 characters · 1 segment")
    message.fill("Hello ł")  # not in GSM-7: the message becomes UCS-2
    expect(message).to_have_accessible_description("7 / 1,600 characters · 1 segment (Unicode)")
    message.fill("😀" * 36)  # 72 UTF-16 units > 70: two UCS-2 parts
    expect(message).to_have_accessible_description("36 / 1,600 characters · 2 segments (Unicode)")
    message.fill("a" * 161)
    expect(message).to_have_accessible_description("161 / 1,600 characters · 2 segments")
    message.fill("Hello from Admissions!")
    expect(message).to_have_accessible_description("22 / 1,600 characters · 1 segment")
    page.get_by_role("button", name="Send").click()

    expect(page).to_have_url(re.compile(r"/conversations/\d+$"))
    sent = thread(page).get_by_role("listitem").filter(has_text="Hello from Admissions!")
    expect(sent).to_contain_text("Sam Standard")
    expect(sent).to_contain_text(re.compile(r"Queued|Sent"))
    expect(page.get_by_role("heading", name="(202) 555-0143")).to_be_visible()
    expect(tab(page, "Participating")).to_have_attribute("aria-selected", "true")
    expect_counts(page, attention=0, participating=1)
    expect(tab(page, "Participating")).to_have_accessible_name("Participating")  # the label alone
    expect(tab(page, "Participating")).to_have_accessible_description("1")  # its count, read out
    expect(conversation_rows(page)).to_have_count(1)
    expect(conversation_rows(page).first).to_contain_text("(202) 555-0143")

    # A colleague in the same office inbox watches their inbox meanwhile.
    colleague = context.browser.new_context(base_url=live_server)
    other = colleague.new_page()
    log_in(other, "limited@example.edu")
    expect(other).to_have_url(re.compile(r"/inbox$"))
    expect_counts(other, attention=0, participating=0)

    sms_receive(app, "(202) 555-0143", world.number_phone, "When is the deadline?")

    # No reload: the open thread and the counts update by polling (every 3 s; the wait leaves
    # slack for a busy test machine).
    expect(thread(page)).to_contain_text("When is the deadline?", timeout=8_000)
    expect_counts(page, attention=1, participating=0, timeout=8_000)
    expect(page.get_by_role("button", name="Does Not Need Attention")).to_be_visible()
    tab(page, "Needs Attention").click()
    expect(conversation_rows(page)).to_have_count(1)
    expect(conversation_rows(page).first).to_contain_text("When is the deadline?")

    # The colleague, who has not read it, sees it arrive unread in Needs Attention.
    expect_counts(other, attention=1, participating=0)
    row = conversation_rows(other).first
    expect(row).to_contain_text("When is the deadline?")
    expect(row).to_have_accessible_name(re.compile(r"Unread"))
    colleague.close()

    page.get_by_label("Message").fill("March 1st!")
    page.get_by_role("button", name="Send").click()
    expect(thread(page)).to_contain_text("March 1st!")
    expect(page.get_by_label("Message")).to_have_value("")
    expect(page.get_by_role("button", name="Does Not Need Attention")).to_have_count(0)
    expect_counts(page, attention=0, participating=1)
    expect(conversation_rows(page)).to_have_count(0)  # the Needs Attention list is empty now
    tab(page, "Participating").click()
    expect(conversation_rows(page).first).to_contain_text("March 1st!")
    assert count_messages("outbound") == 2


def test_does_not_need_attention_and_switch_mode(page: Page, app, world: World):
    conversation_id = start_conversation("standard@example.edu", world.number_id)
    sms_receive(app, CONTACT, world.number_phone, "Can I visit campus?")
    log_in(page, "standard@example.edu")
    page.goto(f"/conversations/{conversation_id}")
    expect_counts(page, attention=1, participating=0)
    expect(page.get_by_text("1:1 Text (Agent)")).to_be_visible()

    # Not while it needs attention: a visible explanation that takes focus, and the mode stays.
    page.get_by_role("button", name="Switch Mode").click()
    expect(page.get_by_role("alert")).to_contain_text("needs attention")
    expect(page.get_by_role("alert")).to_be_focused()
    expect(page.get_by_text("1:1 Text (Agent)")).to_be_visible()

    # Each action is confirmed by the page's live region, for whoever does not see the change.
    announcer = page.locator("#announcer")
    page.get_by_role("button", name="Does Not Need Attention").click()
    expect(page.get_by_role("button", name="Does Not Need Attention")).to_have_count(0)
    expect(page.get_by_role("alert")).to_have_count(0)
    expect(announcer).to_have_text(re.compile("Attention cleared.|Needs Attention: 0"))
    expect_counts(page, attention=0, participating=1)
    tab(page, "Needs Attention").click()
    expect(conversation_rows(page)).to_have_count(0)

    page.get_by_role("button", name="Switch Mode").click()
    expect(page.get_by_text("1:1 Text (Bot)")).to_be_visible()
    expect(page.get_by_text("1:1 Text (Agent)")).to_have_count(0)
    expect(announcer).to_have_text("Mode switched: the bot answers now.")
    page.get_by_label("Note").fill("Asked about visits")
    page.get_by_role("button", name="Add note").click()
    expect(announcer).to_have_text("Note added.")
    page.get_by_label("Message").fill("Tours run daily.")
    page.get_by_role("button", name="Send", exact=True).click()
    expect(announcer).to_have_text("Reply on its way.")
    page.get_by_role("button", name="Switch Mode").click()
    expect(page.get_by_text("1:1 Text (Agent)")).to_be_visible()
    expect(page.get_by_text("1:1 Text (Bot)")).to_have_count(0)


def test_a_conversation_has_the_same_title_opened_from_the_list_or_by_its_link(
    page: Page, app, world: World
):
    listing = io.BytesIO(b"first_name,last_name,phone\nMaria,Garcia,2025550143\n")
    campaigns.import_campaign("Fall", "Admissions", listing, launch=True)
    release()
    sms_receive(app, CONTACT, world.number_phone, "Can I visit campus?")
    sms_receive(app, "+12025550178", world.number_phone, "Is the portal down?")
    log_in(page, "standard@example.edu")
    page.goto("/inbox")
    expect(page).to_have_title("(2) Inbox · Parley")

    # Opened from the list: the title names the contact (or the phone), as the page itself does.
    conversation_rows(page).filter(has_text="Maria Garcia").click()
    expect(thread(page)).to_contain_text("Can I visit campus?")
    expect(page).to_have_title("(2) Maria Garcia · Parley")
    maria_url = page.url
    conversation_rows(page).filter(has_text="Is the portal down?").click()
    expect(thread(page)).to_contain_text("Is the portal down?")
    expect(page).to_have_title("(2) (202) 555-0178 · Parley")
    page.reload()
    expect(page).to_have_title("(2) (202) 555-0178 · Parley")
    expect(page.locator("title")).to_have_count(1)  # the page's own, in its head

    # Back, conversation by conversation, to the inbox's own title.
    page.go_back()
    expect(page).to_have_url(maria_url)
    expect(page).to_have_title("(2) Maria Garcia · Parley")
    page.go_back()
    expect(page).to_have_url(re.compile(r"/inbox$"))
    expect(page).to_have_title("(2) Inbox · Parley")

    # On a phone the conversation closes by its back link: the inbox's title again.
    page.set_viewport_size({"width": 375, "height": 740})
    conversation_rows(page).filter(has_text="Maria Garcia").click()
    expect(page).to_have_title("(2) Maria Garcia · Parley")
    page.get_by_role("link", name="← Inbox").click()
    expect(conversation_rows(page).first).to_be_visible()
    expect(page).to_have_title("(2) Inbox · Parley")
