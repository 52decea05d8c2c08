"""The accessible names of SPEC section 8 are a contract: each finds exactly one element, with the
default (substring, case-insensitive) matching a screen-reader user or a test would rely on."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.browser.conftest import World, log_in, sms_receive


def expect_one(*locators) -> None:
    for locator in locators:
        expect(locator).to_have_count(1)


def test_contract_names_are_unambiguous(page: Page, app, world: World):
    page.goto("/login")
    expect_one(
        page.get_by_label("Email"),
        page.get_by_label("Password"),
        page.get_by_role("button", name="Log in"),
    )
    log_in(page, "standard@example.edu")
    page.get_by_role("button", name="Create Content").click()
    expect_one(
        page.get_by_role("button", name="Create Content"),
        page.get_by_role("menuitem", name="Create 1:1 Text"),
    )
    page.get_by_role("menuitem", name="Create 1:1 Text").click()
    expect_one(
        page.get_by_label("From"),
        page.get_by_label("To"),
        page.get_by_label("Message"),
        page.get_by_role("button", name="Send"),
    )
    page.get_by_label("To").fill("2025550143")
    page.get_by_label("Message").fill("Hello")
    page.get_by_role("button", name="Send").click()
    expect(page).to_have_url(re.compile(r"/conversations/\d+$"))
    sms_receive(app, "2025550143", world.number_phone, "Hi")
    page.reload()
    expect_one(
        page.get_by_role("tablist"),
        page.get_by_role("tab", name="Needs Attention"),
        page.get_by_role("tab", name="Participating"),
        page.get_by_role("tabpanel"),
        page.get_by_label("Message"),
        page.get_by_role("button", name="Send"),
        page.get_by_role("button", name="Does Not Need Attention"),
        page.get_by_role("button", name="Switch Mode"),
    )
