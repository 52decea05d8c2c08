"""axe-core on every screen, at a desktop (1280 px) and a phone (360 px) width: no WCAG 2.1 A/AA
violation of impact serious or critical (tests/browser/axe.py).

Admin pages are found in the app's URL map, so a new admin page is audited without a change here;
one with a new kind of id in its URL fails until `records` (conftest.py) says which record to open.
"""

from __future__ import annotations

import re

import pytest
from flask import Flask
from playwright.sync_api import Browser, Page, expect

from tests.browser.axe import Audit
from tests.browser.conftest import World, admin_pages, log_in, sms_receive

WIDTHS = [1280, 360]
# Forms submitted empty (or wrong), so that every error they can show is on the screen.
ERROR_FORMS = [
    ("/admin/offices", "Create office"),
    ("/admin/users/new", "Create user"),
    ("/admin/numbers/new", "Add number"),
    ("/admin/campaigns/new", "Upload and preview"),
    ("/admin/api-keys", "Create API key"),
    ("/admin/webhooks", "Add endpoint"),
    ("/admin/saved-replies", "Add saved reply"),
    ("/admin/opt-outs/", "Add opt-out"),
    ("/admin/kb/{office_id}/entries/new", "Save entry"),
    ("/admin/kb/{office_id}", "Try"),
    ("/account", "Change password"),
]


def new_page(browser: Browser, live_server: str, width: int) -> Page:
    height = 800 if width > 400 else 740
    context = browser.new_context(base_url=live_server, viewport={"width": width, "height": height})
    context.set_default_timeout(10_000)
    return context.new_page()


@pytest.mark.parametrize("width", WIDTHS)
def test_public_and_refusal_screens(browser: Browser, live_server: str, world: World, width: int):
    audit = Audit(width)
    page = new_page(browser, live_server, width)
    page.goto("/login")
    audit.check(page, "login")
    page.get_by_label("Email").fill("standard@example.edu")
    page.get_by_label("Password").fill("wrong password")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_be_visible()
    audit.check(page, "login with an error")
    page.goto("/embed/launch?token=not-a-token")
    audit.check(page, "embedded launch refused (403)")
    page.goto("/embed/check")
    audit.check(page, "embedded: cookies blocked")
    log_in(page, "limited@example.edu")
    page.goto("/texts/new")
    audit.check(page, "403 page (Limited user on compose)")
    page.goto("/conversations/999999")
    audit.check(page, "404 page")
    page.context.close()
    audit.assert_clean()


@pytest.mark.parametrize("width", WIDTHS)
def test_agent_screens(browser: Browser, live_server: str, app: Flask, world: World, width: int):
    audit = Audit(width)
    page = new_page(browser, live_server, width)
    log_in(page, "standard@example.edu")
    page.goto("/inbox?tab=attention")
    audit.check(page, "inbox, Needs Attention, empty")
    page.goto("/inbox?tab=participating")
    audit.check(page, "inbox, Participating, empty")

    page.goto("/texts/new")
    audit.check(page, "compose, empty")
    page.get_by_label("To").fill("12345")
    page.get_by_role("button", name="Send").click()
    expect(page.get_by_label("To")).to_have_attribute("aria-invalid", "true")
    # The refused form puts focus on To once it settles; typing before that would land there.
    expect(page.get_by_label("To")).to_be_focused()
    page.wait_for_load_state("networkidle")
    page.get_by_label("Message").fill("x" * 1700)
    page.get_by_role("button", name="Send").click()
    expect(page.get_by_role("alert")).to_contain_text("1,600")
    audit.check(page, "compose, every error shown")

    page.get_by_label("To").fill("2025550143")
    page.get_by_label("Message").fill("Hello from Admissions")
    page.get_by_role("button", name="Send").click()
    expect(page).to_have_url(re.compile(r"/conversations/\d+$"))
    sms_receive(app, "2025550143", world.number_phone, "When is the deadline?")
    sms_receive(app, "2025550178", world.number_phone, "Is the tour on Saturday?")
    page.goto("/inbox?tab=attention")
    expect(page.get_by_role("tabpanel").get_by_role("link")).to_have_count(2)
    audit.check(page, "inbox, Needs Attention, full")
    page.get_by_role("tabpanel").get_by_role("link").first.click()
    expect(page.get_by_role("button", name="Does Not Need Attention")).to_be_visible()
    audit.check(page, "inbox with a conversation open")
    page.get_by_role("button", name="Does Not Need Attention").click()
    page.goto("/inbox?tab=participating")
    audit.check(page, "inbox, Participating, full")

    page.goto("/contacts/lookup?phone=2025550143")
    audit.check(page, "contact lookup")
    page.goto("/contacts/lookup?phone=12")
    audit.check(page, "contact lookup, bad phone")
    page.goto("/inbox")
    search = page.get_by_role("searchbox").first
    if not search.is_visible():  # folded behind its button on a phone
        page.get_by_role("button", name=re.compile("Search|Look up", re.I)).click()
    search.fill("2025")
    expect(page.locator("#header-lookup-results")).not_to_be_empty()
    audit.check(page, "header search with results")
    page.goto("/search?q=deadline")
    audit.check(page, "search results")
    page.goto("/search?q=" + "x" * 2000)
    audit.check(page, "search with its error shown")
    page.goto("/account")
    audit.check(page, "your account")
    page.context.close()
    audit.assert_clean()


@pytest.mark.parametrize("width", WIDTHS)
def test_admin_screens_and_forms(
    browser: Browser, live_server: str, app: Flask, records: dict[str, int], width: int
):
    audit = Audit(width)
    page = new_page(browser, live_server, width)
    log_in(page, "admin@example.edu")
    pages = admin_pages(app, records)
    assert "/admin/" in pages and f"/admin/users/{records['user_id']}" in pages
    for path in pages:
        response = page.goto(path)
        assert response is not None and response.status == 200, path
        audit.check(page, path)
    for path, button in ERROR_FORMS:
        page.goto(path.format(**records))
        page.get_by_role("button", name=button, exact=True).click()
        expect(page.locator(".field-error, .alert-error").first).to_be_visible()
        expect(page.locator(":focus")).to_have_attribute("aria-invalid", "true")  # the first error
        audit.check(page, f"{path} with its errors")
    page.context.close()
    audit.assert_clean()
