"""Create Content and the compose form in a real browser: roles, inline errors, double submits,
keyboard use of the menu."""

from __future__ import annotations

import io
import re

import pytest
from playwright.sync_api import Locator, Page, expect
from sqlalchemy import select

from tests.browser.axe import Audit
from tests.browser.conftest import World, count_messages, log_in, release, sms_receive
from webapp.extensions import db
from webapp.models import Message, Office, User
from webapp.services import campaigns, saved_replies


def test_limited_user_has_no_create_item_and_gets_403(page: Page, world: World):
    log_in(page, "limited@example.edu")
    page.get_by_role("button", name="Create Content").click()
    menu = page.get_by_role("menu")
    expect(menu).to_be_visible()
    expect(menu).to_contain_text("can reply to conversations but not start them")
    expect(page.get_by_role("menuitem", name="Create 1:1 Text")).to_have_count(0)
    expect(page.get_by_text("Create 1:1 Text")).to_have_count(0)
    # The one item says why, disabled: a menu of menu items, as the keyboard and axe expect.
    audit = Audit(1280)
    audit.check(page, "a Limited user's Create Content menu, open")
    audit.assert_clean()
    page.keyboard.press("Escape")
    page.get_by_role("button", name="Create Content").press("ArrowDown")
    expect(page.get_by_role("menuitem", disabled=True)).to_be_focused()

    response = page.goto("/texts/new")
    assert response is not None and response.status == 403
    expect(page.get_by_role("heading", name="You don't have access to this")).to_be_visible()
    expect(page.get_by_label("Message")).to_have_count(0)


def test_invalid_to_shows_inline_error_and_keeps_the_message(page: Page, world: World):
    log_in(page, "standard@example.edu")
    page.goto("/texts/new")
    page.get_by_label("To").fill("12345")
    page.get_by_label("Message").fill("Your transcript arrived.")
    page.get_by_role("button", name="Send").click()

    to = page.get_by_label("To")
    expect(to).to_have_attribute("aria-invalid", "true")
    expect(to).to_be_focused()  # focus starts at the error, where a screen reader reads it
    # The error sits next to To and is announced with it.
    expect(to).to_have_accessible_description(re.compile(r"Enter a 10-digit US phone number"))
    expect(page.get_by_text(re.compile(r"Enter a 10-digit US phone number"))).to_be_visible()
    expect(to).to_have_value("12345")
    expect(page.get_by_label("Message")).to_have_value("Your transcript arrived.")
    expect(page).to_have_url(re.compile(r"/texts/new$"))
    assert count_messages() == 0

    # With two errors, focus takes the first on the page (To), not the one the server found first.
    page.get_by_label("Message").fill("")
    page.get_by_role("button", name="Send").click()
    expect(page.get_by_label("Message")).to_have_attribute("aria-invalid", "true")
    expect(to).to_be_focused()

    # Corrected, it goes through.
    to.fill("(202) 555-0143")
    page.get_by_label("Message").fill("Your transcript arrived.")
    page.get_by_role("button", name="Send").click()
    expect(page).to_have_url(re.compile(r"/conversations/\d+$"))
    expect(page.get_by_text("Your transcript arrived.").first).to_be_visible()
    assert count_messages("outbound") == 1
    # The new conversation starts at its name, as one opened from the list does.
    expect(page.get_by_role("heading", name="(202) 555-0143")).to_be_focused()


def test_an_error_about_the_whole_form_takes_focus(page: Page, app, world: World):
    sms_receive(app, "+12025550143", world.number_phone, "STOP")
    log_in(page, "standard@example.edu")
    page.goto("/texts/new")
    page.get_by_label("To").fill("202-555-0143")
    page.get_by_label("Message").fill("Are you still interested?")
    page.get_by_role("button", name="Send").click()
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("opted out")
    expect(alert).to_be_focused()  # read first, not lost to the page's body
    assert count_messages("outbound") == 0


def test_a_corrected_field_loses_its_old_error(page: Page, world: World):
    log_in(page, "standard@example.edu")
    page.goto("/texts/new")
    to = page.get_by_label("To")
    to.fill("555-0143")
    page.get_by_label("Message").fill("Hello")
    page.get_by_role("button", name="Send").click()
    expect(to).to_have_attribute("aria-invalid", "true")
    expect(to).to_have_accessible_description(re.compile(r"10-digit"))

    # Corrected, while the message goes past its limit: the browser refuses the send, and the
    # error about To, which no longer applies, is gone with its mark.
    to.fill("202-555-0143")
    message = page.get_by_label("Message")
    message.focus()
    page.keyboard.insert_text("x" * 1601)  # a paste
    page.get_by_role("button", name="Send").click()
    expect(page.get_by_role("alert")).to_contain_text("Message can be at most 1,600 characters")
    expect(message).to_be_focused()
    expect(to).not_to_have_attribute("aria-invalid", "true")
    expect(to).to_have_accessible_description("")
    expect(page.get_by_text(re.compile(r"10-digit"))).to_have_count(0)
    assert len(message.input_value()) == 1606  # kept whole
    assert count_messages() == 0


def test_double_click_on_send_sends_once(page: Page, world: World):
    log_in(page, "standard@example.edu")
    page.goto("/texts/new")
    page.get_by_label("To").fill("2025550143")
    page.get_by_label("Message").fill("Only once, please.")
    page.get_by_role("button", name="Send").dblclick()
    expect(page).to_have_url(re.compile(r"/conversations/\d+$"))
    thread = page.get_by_role("list", name="Conversation history")
    expect(thread.get_by_role("listitem").filter(has_text="Only once, please.")).to_have_count(1)
    page.wait_for_timeout(500)  # a second request, had one left, would have landed by now
    assert count_messages("outbound") == 1


def test_create_content_menu_works_from_the_keyboard(page: Page, world: World):
    log_in(page, "standard@example.edu")
    button = page.get_by_role("button", name="Create Content")
    menu = page.get_by_role("menu")
    item = page.get_by_role("menuitem", name="Create 1:1 Text")
    expect(menu).to_be_hidden()

    button.focus()
    page.keyboard.press("Enter")
    expect(menu).to_be_visible()
    expect(button).to_have_attribute("aria-expanded", "true")
    expect(item).to_be_focused()
    page.keyboard.press("Escape")
    expect(menu).to_be_hidden()
    expect(button).to_have_attribute("aria-expanded", "false")
    expect(button).to_be_focused()

    page.keyboard.press("ArrowDown")
    expect(menu).to_be_visible()
    expect(item).to_be_focused()
    page.keyboard.press("Escape")
    expect(menu).to_be_hidden()

    page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")  # activates the focused item
    expect(page).to_have_url(re.compile(r"/texts/new$"))
    expect(page.get_by_label("To")).to_be_visible()


@pytest.fixture
def welcome_reply(world: World) -> str:
    """The office's saved reply "Welcome", and Maria Garcia (202) 555-0143 on a launched campaign."""
    admin = db.session.query(User).filter_by(email="admin@example.edu").one()
    office = db.session.query(Office).one()
    saved_replies.create(admin, office, "Welcome", "Hi {first_name}, welcome to campus!")
    listing = io.BytesIO(b"first_name,last_name,phone\nMaria,Garcia,2025550143\n")
    campaigns.import_campaign("Fall", "Admissions", listing, launch=True)
    release()
    return "Welcome"


def insert_saved_reply(page: Page, title: str) -> None:
    page.get_by_role("button", name="Saved replies").click()
    page.get_by_role("option", name=re.compile(title)).click()


def thread(page: Page):
    return page.get_by_role("list", name="Conversation history")


def sent_texts() -> list[str]:
    try:
        return list(db.session.scalars(select(Message.body).where(Message.direction == "outbound")))
    finally:
        release()


def saved_reply_for_maria(page: Page, title: str) -> tuple[Locator, Locator]:
    """Compose as the agent, To Maria's phone, with the saved reply inserted: (To, Message)."""
    log_in(page, "standard@example.edu")
    page.goto("/texts/new")
    to, message = page.get_by_label("To"), page.get_by_label("Message")
    to.fill("(202) 555-0143")
    insert_saved_reply(page, title)
    return to, message


def send_and_see(page: Page, text: str) -> None:
    """Send; the text shows in the conversation and it is the only one sent."""
    page.get_by_role("button", name="Send", exact=True).click()
    expect(thread(page)).to_contain_text(text)
    assert sent_texts() == [text]


def test_a_saved_reply_inserted_before_the_phone_gets_the_contacts_name(page: Page, welcome_reply: str):
    log_in(page, "standard@example.edu")
    page.goto("/texts/new")
    message = page.get_by_label("Message")
    insert_saved_reply(page, welcome_reply)
    expect(message).to_have_value("Hi {first_name}, welcome to campus!")
    expect(message).to_have_accessible_description(
        re.compile(r"The message still has \{first_name\}: enter a phone with a known contact, or edit")
    )

    # The phone names Maria: her name takes the field's place, and the warning goes.
    page.get_by_label("To").fill("(202) 555-0143")
    expect(message).to_have_value("Hi Maria, welcome to campus!")
    expect(page.get_by_text("The message still has")).to_have_count(0)
    send_and_see(page, "Hi Maria, welcome to campus!")


def test_a_name_filled_in_for_one_phone_goes_when_the_phone_changes(page: Page, welcome_reply: str):
    to, message = saved_reply_for_maria(page, welcome_reply)  # the list comes filled in for Maria
    expect(message).to_have_value("Hi Maria, welcome to campus!")

    # Another phone, with no contact: the name goes and the field is back, to be filled in.
    to.fill("(202) 555-0199")
    expect(message).to_have_value("Hi {first_name}, welcome to campus!")
    expect(message).to_have_accessible_description(
        re.compile(r"The message still has \{first_name\}: enter a phone with a known contact")
    )
    page.get_by_role("button", name="Send", exact=True).click()
    expect(page.get_by_role("alert")).to_contain_text("The message still has {first_name}")
    assert sent_texts() == []

    # Back to Maria's phone, written another way: her name again.
    to.fill("2025550143")
    expect(message).to_have_value("Hi Maria, welcome to campus!")
    send_and_see(page, "Hi Maria, welcome to campus!")


def test_an_edited_message_keeps_its_text_and_says_which_name_was_for_the_old_phone(
    page: Page, welcome_reply: str
):
    log_in(page, "standard@example.edu")
    page.goto("/texts/new")
    to, message = page.get_by_label("To"), page.get_by_label("Message")
    insert_saved_reply(page, welcome_reply)
    to.fill("(202) 555-0143")
    expect(message).to_have_value("Hi Maria, welcome to campus!")  # filled in as the phone came
    message.press("End")
    message.type(" See you Friday.")

    to.fill("(202) 555-0199")
    expect(message).to_have_value("Hi Maria, welcome to campus! See you Friday.")  # nothing typed is lost
    warning = (
        "The message still has Maria, filled in for (202) 555-0143: "
        "check the name before sending to this phone."
    )
    expect(message).to_have_accessible_description(re.compile(re.escape(warning)))

    message.fill("Hi Jordan, welcome to campus! See you Friday.")
    expect(page.get_by_text("The message still has")).to_have_count(0)
    send_and_see(page, "Hi Jordan, welcome to campus! See you Friday.")


def test_a_name_from_an_earlier_saved_reply_is_said_when_the_phone_changes(page: Page, welcome_reply: str):
    to, message = saved_reply_for_maria(page, welcome_reply)
    message.press("End")
    message.type(" ")
    insert_saved_reply(page, welcome_reply)
    expect(message).to_have_value("Hi Maria, welcome to campus! Hi Maria, welcome to campus!")

    # The last fill goes back to its field; the first one's Maria is still there, and said.
    to.fill("(202) 555-0199")
    expect(message).to_have_value("Hi Maria, welcome to campus! Hi {first_name}, welcome to campus!")
    expect(message).to_have_accessible_description(
        re.compile(r"The message still has Maria, filled in for \(202\) 555-0143: check the name")
    )
    # A name of the new phone's own is not said: "Mariana" is not "Maria".
    message.fill("Hi Mariana, welcome to campus!")
    expect(page.get_by_text("The message still has")).to_have_count(0)


def test_a_refused_send_keeps_the_name_tied_to_its_phone(page: Page, welcome_reply: str):
    to, message = saved_reply_for_maria(page, welcome_reply)
    page.get_by_text("Send later").click()
    page.get_by_label("Send at").fill("2020-01-01T09:00")
    page.get_by_role("button", name="Send", exact=True).click()
    expect(page.get_by_label("Send at")).to_have_accessible_description(re.compile("That time has passed"))
    expect(message).to_have_value("Hi Maria, welcome to campus!")  # the form came back from the server

    to.fill("(202) 555-0199")
    expect(message).to_have_value("Hi {first_name}, welcome to campus!")
    assert sent_texts() == []


def test_send_pressed_right_after_the_phone_waits_for_the_contacts_name_and_sends_once(
    page: Page, welcome_reply: str
):
    log_in(page, "standard@example.edu")
    page.goto("/texts/new")
    insert_saved_reply(page, welcome_reply)
    page.get_by_label("To").fill("2025550143")
    page.get_by_role("button", name="Send", exact=True).dblclick()  # before the name has been looked up
    expect(thread(page)).to_contain_text("Hi Maria, welcome to campus!")
    page.wait_for_timeout(500)  # a second request, had one left, would have landed by now
    assert sent_texts() == ["Hi Maria, welcome to campus!"]
    assert count_messages("outbound") == 1


def test_a_saved_reply_for_an_unknown_contact_is_refused_keeping_what_was_typed(
    page: Page, welcome_reply: str
):
    log_in(page, "standard@example.edu")
    page.goto("/texts/new")
    page.get_by_label("To").fill("202-555-0199")  # in no campaign
    message = page.get_by_label("Message")
    message.fill("P.S. ")
    insert_saved_reply(page, welcome_reply)
    expect(message).to_have_value("P.S. Hi {first_name}, welcome to campus!")
    page.get_by_role("button", name="Send", exact=True).click()

    refusal = "The message still has {first_name}: enter a phone with a known contact, or edit the text."
    expect(page.get_by_role("alert")).to_have_text(refusal)
    expect(message).to_have_attribute("aria-invalid", "true")
    expect(message).to_be_focused()
    expect(message).to_have_value("P.S. Hi {first_name}, welcome to campus!")
    expect(page.get_by_label("To")).to_have_value("202-555-0199")
    assert sent_texts() == []

    message.fill("Hi Jordan, welcome to campus!")
    expect(page.get_by_role("alert")).to_have_count(0)
    send_and_see(page, "Hi Jordan, welcome to campus!")
