"""The login form says which field is empty, at that field, and puts focus there; a wrong password
clears it and puts focus back on it. An empty field is not a failed login (no throttling)."""

from __future__ import annotations

from playwright.sync_api import Page, expect
from sqlalchemy import func, select

from tests.browser.conftest import release
from webapp.extensions import db
from webapp.models import LoginFailure


def failures() -> int:
    count = db.session.scalar(select(func.count()).select_from(LoginFailure))
    release()
    return count


def test_empty_fields_are_named_at_the_field_and_focused(page: Page, setup):
    page.goto("/login")
    page.get_by_role("button", name="Log in").click()
    email, password = page.get_by_label("Email"), page.get_by_label("Password")
    expect(email).to_be_focused()
    expect(email).to_have_attribute("aria-invalid", "true")
    expect(email).to_have_accessible_description("Enter your email.")
    expect(password).to_have_accessible_description("Enter your password.")
    expect(page.get_by_text("Email or password is incorrect.")).to_have_count(0)

    email.fill("standard@example.edu")
    page.get_by_role("button", name="Log in").click()
    expect(password).to_be_focused()
    expect(password).to_have_attribute("aria-invalid", "true")
    expect(password).to_have_accessible_description("Enter your password.")
    expect(email).to_have_value("standard@example.edu")
    expect(email).not_to_have_attribute("aria-invalid", "true")
    assert failures() == 0


def test_a_wrong_password_is_cleared_and_focused(page: Page, setup):
    page.goto("/login")
    page.get_by_label("Email").fill("standard@example.edu")
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_have_text("Email or password is incorrect.")
    password = page.get_by_label("Password")
    expect(password).to_be_focused()
    expect(password).to_have_value("")
    expect(password).to_have_accessible_description("Email or password is incorrect.")
    assert failures() == 1
