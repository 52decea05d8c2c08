"""Revoking an API key and deleting a saved reply cannot be undone, so the admin confirms them
first, with or without scripts, as webhook Delete and user Deactivate ask; Cancel changes nothing."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, expect

from tests.browser_admin.conftest import log_in, release_database
from tests.conftest import PASSWORD
from webapp.extensions import db
from webapp.models import ApiKey, SavedReply
from webapp.services import api_keys, saved_replies


def still_there(model, row_id: int) -> bool:
    db.session.expire_all()
    row = db.session.get(model, row_id)
    found = row is not None and getattr(row, "revoked_at", None) is None
    release_database()  # no SQLite lock held while the browser works
    return found


@pytest.mark.parametrize("scripts", [True, False], ids=["js", "no-js"])
def test_revoke_and_delete_ask_first_and_cancel_keeps_them(
    browser: Browser, live_server: str, setup, scripts: bool
):
    key = api_keys.create_key("Slate", setup["office"], created_by=None).key
    reply = saved_replies.create(None, setup["office"], "Transcript received", "Got it, {first_name}!")
    key_id, reply_id = key.id, reply.id
    release_database()
    context = browser.new_context(
        base_url=live_server, viewport={"width": 1280, "height": 900}, java_script_enabled=scripts
    )
    context.set_default_timeout(15_000)
    page = context.new_page()
    log_in(page, "admin@example.edu", PASSWORD)

    page.goto("/admin/api-keys")
    page.get_by_role("button", name="Revoke Slate").click()
    question = page.get_by_text("Revoke Slate?")
    expect(question).to_be_visible()
    expect(question.locator("xpath=..")).to_be_focused()
    assert still_there(ApiKey, key_id)  # asking changed nothing
    page.get_by_role("link", name="Cancel").click()
    expect(page.get_by_role("button", name="Revoke Slate")).to_be_visible()
    assert still_there(ApiKey, key_id)
    page.get_by_role("button", name="Revoke Slate").click()
    page.get_by_role("button", name="Revoke", exact=True).click()
    expect(page.get_by_text("API key Slate revoked")).to_be_visible()
    assert not still_there(ApiKey, key_id)

    page.goto("/admin/saved-replies")
    page.get_by_role("button", name="Delete Transcript received").click()
    question = page.get_by_text("Delete Transcript received?")
    expect(question).to_be_visible()
    expect(question.locator("xpath=..")).to_be_focused()
    assert still_there(SavedReply, reply_id)
    page.get_by_role("link", name="Cancel").click()
    expect(page.get_by_role("button", name="Delete Transcript received")).to_be_visible()
    assert still_there(SavedReply, reply_id)
    page.get_by_role("button", name="Delete Transcript received").click()
    page.get_by_role("button", name="Delete", exact=True).click()
    expect(page.get_by_text("Saved reply Transcript received deleted.")).to_be_visible()
    assert not still_there(SavedReply, reply_id)
    context.close()
