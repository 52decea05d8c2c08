"""What the inbox shows about contacts: names from launched campaigns, and text that stays text."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import Page, expect

from tests.browser.conftest import World, log_in, run_cli, sms_receive


def write_csv(path: Path, rows: list[str]) -> str:
    path.write_text("first_name,last_name,phone,program\n" + "\n".join(rows) + "\n")
    return str(path)


def test_names_come_from_launched_campaigns_only(page: Page, app, world: World, tmp_path: Path):
    launched = write_csv(tmp_path / "open-house.csv", ["Maria,Lopez,202-555-0143,Nursing"])
    # Imported later, but a draft: neither of its names may show.
    draft = write_csv(
        tmp_path / "draft.csv",
        ["Wrong,Name,2025550143,Nursing", "Dana,Draft,(202) 555-0144,Biology"],
    )
    run_cli(
        app,
        "campaigns",
        "import",
        "Fall Open House",
        launched,
        "--office",
        "Admissions",
        "--launch",
    )
    run_cli(app, "campaigns", "import", "Spring Draft", draft, "--office", "Admissions")
    sms_receive(app, "2025550143", world.number_phone, "Is the tour still on?")
    sms_receive(app, "2025550144", world.number_phone, "Do you have a biology lab?")

    log_in(page, "standard@example.edu")
    page.goto("/inbox")
    rows = page.get_by_role("tabpanel").get_by_role("link")
    expect(rows).to_have_count(2)
    maria = rows.filter(has_text="Is the tour still on?")
    expect(maria).to_contain_text("Maria Lopez")
    unnamed = rows.filter(has_text="Do you have a biology lab?")
    expect(unnamed).to_contain_text("(202) 555-0144")
    expect(page.get_by_text("Dana Draft")).to_have_count(0)
    expect(page.get_by_text("Wrong Name")).to_have_count(0)

    maria.click()
    expect(page.get_by_role("heading", name="Maria Lopez")).to_be_visible()
    # The phone under the name (the contact panel, once loaded, shows it too).
    expect(page.locator("#conversation-live").get_by_text("(202) 555-0143")).to_be_visible()
    unnamed.click()
    expect(page.get_by_role("heading", name="(202) 555-0144")).to_be_visible()
    expect(page.get_by_role("heading", name="Dana Draft")).to_have_count(0)
    expect(page.get_by_text("Dana Draft")).to_have_count(0)


def test_message_markup_is_shown_as_text(page: Page, app, world: World):
    attack = "<img src=x onerror=alert(1)>"
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))

    log_in(page, "standard@example.edu")
    page.goto("/texts/new")
    page.get_by_label("To").fill("2025550143")
    page.get_by_label("Message").fill(attack)
    page.get_by_role("button", name="Send").click()
    expect(page).to_have_url(re.compile(r"/conversations/\d+$"))
    sms_receive(app, "2025550143", world.number_phone, attack)

    thread = page.get_by_role("list", name="Conversation history")
    # The reply arrives by polling (the fragment path), then again on a full page load.
    expect(thread.get_by_text(attack, exact=True)).to_have_count(2)
    expect(thread.get_by_text(attack, exact=True).last).to_be_visible()
    expect(thread.get_by_role("img")).to_have_count(0)
    page.reload()
    expect(thread.get_by_text(attack, exact=True)).to_have_count(2)
    expect(thread.get_by_role("img")).to_have_count(0)
    page.get_by_role("tablist").get_by_role("tab", name="Needs Attention").click()
    expect(page.get_by_role("tabpanel").get_by_text(attack, exact=True)).to_be_visible()
    page.wait_for_timeout(300)  # give a stray handler time to fire
    assert dialogs == []


def test_a_web_address_in_a_message_is_a_readable_link_shown_whole(page: Page, app, world: World):
    link = "https://apply.example.edu/portal/status?applicant=" + "0123456789abcdef" * 4
    log_in(page, "standard@example.edu")
    page.goto("/texts/new")
    page.get_by_label("To").fill("2025550143")
    page.get_by_label("Message").fill(f"Your status page: {link}")
    page.get_by_role("button", name="Send").click()
    thread = page.get_by_role("list", name="Conversation history")
    anchor = thread.get_by_role("link", name=link, exact=True)  # the whole address, never cut
    expect(anchor).to_have_attribute("href", link)
    expect(anchor).to_have_attribute("target", "_blank")
    expect(anchor).to_have_css("color", "rgb(255, 255, 255)")  # white on the outgoing blue
