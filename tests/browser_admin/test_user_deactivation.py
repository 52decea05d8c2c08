"""Deactivating a user signs them out everywhere, so the admin confirms it first, with or
without scripts; Cancel changes nothing."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, expect

from tests.browser_admin.conftest import log_in
from tests.conftest import PASSWORD
from webapp.extensions import db
from webapp.models import User


def is_active(user_id: int) -> bool:
    db.session.expire_all()
    active = db.session.get(User, user_id).active
    db.session.commit()  # no SQLite lock held while the browser works
    return active


@pytest.mark.parametrize("scripts", [True, False], ids=["htmx", "no-js"])
def test_deactivate_user_asks_first_and_cancel_keeps_them(
    browser: Browser, live_server: str, setup, scripts: bool
):
    sam = setup["users"]["standard"].id
    db.session.commit()
    context = browser.new_context(
        base_url=live_server, viewport={"width": 1280, "height": 900}, java_script_enabled=scripts
    )
    page = context.new_page()
    if scripts:
        log_in(page, "admin@example.edu", PASSWORD)
    else:
        page.goto("/login")
        page.get_by_label("Email").fill("admin@example.edu")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url("**/inbox")
    page.goto(f"/admin/users/{sam}")

    page.get_by_role("button", name="Deactivate user").click()
    question = page.get_by_text("Deactivate Sam Standard?")
    expect(question).to_be_visible()
    expect(page.get_by_text("They are signed out everywhere and can no longer log in.")).to_be_visible()
    expect(question.locator("xpath=..")).to_be_focused()
    assert is_active(sam)  # asking changed nothing

    page.get_by_role("link", name="Cancel").click()
    expect(page.get_by_role("button", name="Deactivate user")).to_be_focused()
    assert is_active(sam)

    page.get_by_role("button", name="Deactivate user").click()
    page.get_by_role("button", name="Deactivate", exact=True).click()
    expect(page.get_by_text("Sam Standard is deactivated")).to_be_visible()
    expect(page.get_by_role("button", name="Reactivate user")).to_be_visible()
    assert not is_active(sam)
    context.close()


def test_a_refusal_in_place_clears_the_last_changes_confirmation(browser: Browser, live_server: str, setup):
    """The password set a moment ago is confirmed above; a second try refused in place is not."""
    sam = setup["users"]["standard"].id
    db.session.commit()
    page = browser.new_context(base_url=live_server, viewport={"width": 1280, "height": 900}).new_page()
    log_in(page, "admin@example.edu", PASSWORD)
    page.goto(f"/admin/users/{sam}")
    page.get_by_label("New password").fill("sam-password-2")
    page.get_by_role("button", name="Set password").click()
    confirmed = page.get_by_role("status").filter(has_text="New password set for Sam Standard")
    expect(confirmed).to_be_visible()
    page.get_by_label("New password").fill("short")
    page.get_by_role("button", name="Set password").click()
    expect(page.get_by_label("New password")).to_have_attribute("aria-invalid", "true")
    expect(confirmed).to_have_count(0)
