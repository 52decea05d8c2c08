"""An admin form sent back with errors puts focus on its first error, in the order of the page,
where a screen reader reads it: the field is invalid and described by its error (a group of
choices likewise), and a refusal of the whole form is an alert. The same whether the page came
back whole (a plain form post) or htmx swapped the form in."""

from __future__ import annotations

import re
from pathlib import Path

from flask import Flask
from playwright.sync_api import Page, expect

from tests.browser.conftest import World, log_in, run_cli
from tests.browser.test_keyboard import focus_is_visible


def test_a_page_sent_back_with_errors_starts_at_its_first_error(page: Page, world: World):
    log_in(page, "admin@example.edu")
    page.goto("/admin/saved-replies")  # a plain form: the whole page comes back (422)
    page.get_by_role("button", name="Add saved reply").press("Enter")

    title = page.get_by_label("Title")
    expect(title).to_be_focused()
    expect(title).to_have_attribute("aria-invalid", "true")
    expect(title).to_have_accessible_description(
        "Give the saved reply a title agents will recognise it by."
    )
    focus_is_visible(page)
    # The other wrong field says so when the admin gets there; focus stays on the first.
    text = page.get_by_label("Text", exact=True)
    expect(text).to_have_attribute("aria-invalid", "true")
    expect(text).to_have_accessible_description(re.compile(r"Write the text of the saved reply\.$"))

    title.fill("Transcript received")
    text.fill("Hi {first_name}, we have your transcript.")
    page.get_by_role("button", name="Add saved reply").press("Enter")
    expect(page.get_by_role("status")).to_contain_text("Saved reply Transcript received added.")
    # No error: the page starts on what happened, read out as it takes the focus.
    expect(page.get_by_role("status")).to_be_focused()
    expect(page.get_by_label("Title")).not_to_be_focused()


def test_a_form_htmx_swaps_in_with_errors_focuses_its_first_error(page: Page, world: World):
    log_in(page, "admin@example.edu")
    page.goto("/admin/users/new")
    page.get_by_label("Name", exact=True).fill("Nia Navarro")
    page.get_by_label("Password", exact=True).fill("nia-password-1")
    offices = page.get_by_role("group", name="Offices")
    offices.get_by_label("Admissions").uncheck()
    with page.expect_response(lambda response: "hx-request" in response.request.headers):
        page.get_by_role("button", name="Create user").click()  # htmx swaps the form in

    # Email and Offices are both wrong: Email comes first on the page.
    email = page.get_by_label("Email", exact=True)
    expect(email).to_be_focused()
    expect(email).to_have_attribute("aria-invalid", "true")
    expect(email).to_have_accessible_description(re.compile(r"Enter an email address, like .+\.$"))
    expect(offices).to_have_attribute("aria-invalid", "true")

    email.fill("nia@example.edu")
    email.press("Enter")
    expect(offices).to_be_focused()  # the group, with its legend and error
    expect(offices).to_have_accessible_description("Choose at least one office.")
    expect(email).not_to_have_attribute("aria-invalid", "true")
    focus_is_visible(page)


def test_a_refused_action_focuses_its_alert(page: Page, app: Flask, world: World, tmp_path: Path):
    csv = tmp_path / "contacts.csv"
    csv.write_text("first_name,last_name,phone\nMaria,Garcia,2025550143\n")
    run_cli(app, "campaigns", "import", "Fall Open House", str(csv), "--office", "Admissions")
    log_in(page, "admin@example.edu")
    page.goto("/admin/campaigns")
    page.get_by_role("link", name="Fall Open House").click()
    run_cli(app, "campaigns", "launch", "Fall Open House")  # meanwhile, from elsewhere

    page.get_by_role("button", name="Launch campaign").press("Enter")
    alert = page.get_by_role("alert")
    expect(alert).to_have_text("This campaign is already launched.")
    expect(alert).to_be_focused()
    focus_is_visible(page)


def test_an_upload_the_queue_could_not_take_is_sent_again_without_choosing_it_again(
    page: Page, world: World, tmp_path: Path, monkeypatch
):
    def queue_down(*args):
        raise ConnectionError("redis is down")

    csv = tmp_path / "contacts.csv"
    csv.write_text("first_name,last_name,phone\nMaria,Garcia,2025550143\n")
    monkeypatch.setattr("webapp.queue.enqueue_import_check", queue_down)
    log_in(page, "admin@example.edu")
    page.goto("/admin/campaigns/new")
    page.get_by_label("Campaign name").fill("Fall Open House")
    page.get_by_label("Contact list (CSV)").set_input_files(str(csv))
    with page.expect_response(lambda response: "hx-request" in response.request.headers):
        page.get_by_role("button", name="Upload and preview").click()  # htmx swaps the form in

    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("contacts.csv was not checked and nothing was saved yet")
    expect(alert).to_be_focused()
    expect(page.get_by_label("Campaign name")).to_have_value("Fall Open House")
    expect(page.get_by_label("Contact list (CSV)")).to_have_accessible_description(
        re.compile(r"^Kept from your last try: contacts\.csv\.")
    )

    monkeypatch.undo()  # the queue is back
    page.get_by_role("button", name="Upload and preview").click()
    expect(page.get_by_role("heading", name="Preview: Fall Open House")).to_be_visible()
    expect(page.get_by_text("contacts.csv · Admissions")).to_be_visible()
