"""Single sign-on in a real browser: Sign in with SSO goes to the identity provider (a real one on
127.0.0.1, tests/fake_oidc.py) and comes back signed in; refusals are pages a person can read."""

from __future__ import annotations

import re

import pytest
from flask import Flask
from playwright.sync_api import Page, expect

from tests import fake_oidc
from tests.browser.conftest import World
from tests.fake_oidc import CLIENT_ID, CLIENT_SECRET, FakeIdentityProvider

provider = fake_oidc.provider  # the identity provider on 127.0.0.1, one per test


@pytest.fixture
def sso(app: Flask, live_server: str, provider: FakeIdentityProvider, world: World) -> FakeIdentityProvider:
    """The live app with single sign-on through `provider`; the provider sends browsers back to it."""
    app.config.update(
        PUBLIC_BASE_URL=live_server,
        OIDC_ISSUER=provider.issuer,
        OIDC_CLIENT_ID=CLIENT_ID,
        OIDC_CLIENT_SECRET=CLIENT_SECRET,
    )
    return provider


def test_sign_in_with_sso_lands_in_the_inbox(page: Page, sso: FakeIdentityProvider):
    sso.sign_in_as("standard@example.edu")
    page.goto("/inbox")
    expect(page).to_have_url(re.compile(r"/login"))
    page.get_by_role("link", name="Sign in with SSO").click()
    expect(page).to_have_url(re.compile(r"/inbox$"))
    expect(page.get_by_role("tab", name=re.compile("Needs Attention"))).to_be_visible()
    expect(page.get_by_text("Sam Standard").first).to_be_visible()
    assert sso.count("/token") == 1


def test_with_password_login_off_the_login_page_offers_only_sso(
    page: Page, app: Flask, sso: FakeIdentityProvider
):
    app.config["PASSWORD_LOGIN"] = False
    page.goto("/login")
    expect(page.get_by_role("link", name="Sign in with SSO")).to_be_visible()
    expect(page.get_by_label("Password")).to_have_count(0)
    expect(page.get_by_role("button", name="Log in")).to_have_count(0)


def test_an_unknown_email_gets_a_page_saying_whom_to_ask(page: Page, sso: FakeIdentityProvider):
    sso.sign_in_as("stranger@example.edu")
    page.goto("/login")
    page.get_by_role("link", name="Sign in with SSO").click()
    expect(page.get_by_role("heading", name="You don't have access to Parley")).to_be_visible()
    expect(page.get_by_text(re.compile(r"stranger@example\.edu .*Ask an administrator"))).to_be_visible()
    page.goto("/inbox")
    expect(page).to_have_url(re.compile(r"/login"))
