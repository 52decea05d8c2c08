"""A table's action buttons (Revoke, Redeliver) are in view on a laptop's screen, not clipped at
the edge of a table that scrolls sideways."""

from __future__ import annotations

from playwright.sync_api import Browser, Locator, expect
from sqlalchemy import select

from tests.browser_admin.conftest import log_in, release_database
from tests.conftest import PASSWORD
from webapp.extensions import db
from webapp.models import User
from webapp.plugin_api import InboundMessage
from webapp.services import api_keys, inbound, webhooks


def assert_in_view(button: Locator) -> None:
    expect(button).to_be_visible()
    box = button.bounding_box()
    scroller = button.evaluate("el => el.closest('.table-wrap').getBoundingClientRect().right")
    assert box["x"] + box["width"] <= scroller, (box, scroller)


def test_revoke_and_redeliver_are_in_view_at_1280(browser: Browser, live_server: str, setup, app):
    admin = db.session.scalar(select(User).where(User.email == "admin@example.edu"))
    for name in ("Slate CRM production", "Salesforce sandbox"):
        api_keys.create_key(name, setup["office"], created_by=admin)
    endpoint = webhooks.add_endpoint(
        "http://127.0.0.1:9/parley-events", setup["office"], [], created_by=admin, allow_private=True
    ).endpoint
    endpoint_id = endpoint.id
    db.session.commit()
    app.config["WEBHOOK_ALLOW_PRIVATE"] = True
    inbound.receive(InboundMessage("+12025550143", setup["number"].phone, "Hello"), "console")
    db.session.commit()
    release_database()

    context = browser.new_context(base_url=live_server, viewport={"width": 1280, "height": 800})
    page = context.new_page()
    log_in(page, "admin@example.edu", PASSWORD)
    page.goto("/admin/api-keys")
    assert_in_view(page.get_by_role("button", name="Revoke Slate CRM production"))
    page.goto(f"/admin/webhooks/{endpoint_id}")
    assert_in_view(page.get_by_role("button", name="Redeliver").first)
    context.close()
