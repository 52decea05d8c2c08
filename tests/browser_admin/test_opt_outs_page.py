"""The opt-outs page in words an admin reads (who added an opt-out, that a contact texted STOP),
and a refused removal that keeps the reason field, its focus and a usable address."""

from __future__ import annotations

from playwright.sync_api import Browser, expect

from tests.browser_admin.conftest import log_in, new_page
from tests.conftest import PASSWORD
from webapp.extensions import db
from webapp.models import OptOut
from webapp.plugin_api import InboundMessage
from webapp.services import inbound, optouts


def test_opt_outs_read_as_words_and_a_removal_without_reason_keeps_the_page_usable(
    browser: Browser, live_server: str, setup
):
    optouts.opt_out("+12025550188", source="admin", user=setup["users"]["admin"], detail="")
    inbound.receive(
        InboundMessage(from_phone="+12025550143", to_phone=setup["number"].phone, body="STOP"),
        "console",
    )
    db.session.commit()
    page = new_page(browser, live_server)
    log_in(page, "admin@example.edu", PASSWORD)
    page.goto("/admin/opt-outs/")
    table = page.get_by_role("region", name="Opted-out phones").get_by_role("table")
    added = table.get_by_role("row").filter(has_text="(202) 555-0188")
    expect(added).to_contain_text("Added by Alex Admin")
    expect(added).to_contain_text("No number: added by hand")
    expect(added).not_to_contain_text("admin (")
    texted = table.get_by_role("row").filter(has_text="(202) 555-0143")
    expect(texted).to_contain_text("Texted STOP or a similar word")
    expect(texted).to_contain_text("Admissions Main")
    expect(table).not_to_contain_text("keyword")
    expect(table).not_to_contain_text("every office")

    page.get_by_role("button", name="Remove opt-out for (202) 555-0188").click()
    reason = page.get_by_label("Reason for removing the opt-out for (202) 555-0188")
    expect(reason).to_be_focused()
    expect(reason).to_have_attribute("aria-invalid", "true")
    # The address the refusal is shown at leads back to the list when opened again, not to a 405.
    page.goto(page.url)
    expect(page.get_by_role("heading", name="Opt-outs", level=1)).to_be_visible()
    expect(page.get_by_role("button", name="Remove opt-out for (202) 555-0188")).to_be_visible()
    page.get_by_label("Reason for removing the opt-out for (202) 555-0188").fill("Asked us by phone")
    page.get_by_role("button", name="Remove opt-out for (202) 555-0188").click()
    expect(page.get_by_text("(202) 555-0188 is off the opt-out list")).to_be_visible()
    db.session.expire_all()
    assert db.session.get(OptOut, "+12025550188") is None
    db.session.commit()
    page.context.close()
