"""A page with several forms: saving one reloads the page, so the admin is asked before edits not yet
saved in another form are lost, and may keep them."""

from __future__ import annotations

from playwright.sync_api import Browser, Dialog, expect

from tests.browser_admin.conftest import log_in, new_page, release_database
from tests.conftest import PASSWORD
from webapp.extensions import db
from webapp.models import ReusableNumber


def test_saving_one_form_asks_before_losing_another_forms_edits(browser: Browser, live_server: str, setup):
    number_id = setup["number"].id
    release_database()
    page = new_page(browser, live_server)
    log_in(page, "admin@example.edu", PASSWORD)
    page.goto(f"/admin/numbers/{number_id}")
    label = page.get_by_label("Label")
    original_label = label.input_value()
    sam = page.get_by_role("checkbox", name="Sam Standard")

    # Nothing else edited: the save goes without a question.
    questions: list[str] = []
    accept = False

    def answer(dialog: Dialog) -> None:
        questions.append(dialog.message)
        dialog.accept() if accept else dialog.dismiss()

    page.on("dialog", answer)
    sam.check()
    page.get_by_role("button", name="Save settings").click()
    expect(page.get_by_text("Unsolicited Message Settings saved.", exact=False)).to_be_visible()
    page.wait_for_load_state("load")  # the reloaded page's admin.js (deferred) is listening
    assert questions == []
    expect(page.get_by_role("checkbox", name="Sam Standard")).to_be_checked()

    # The label typed but not saved; then the settings are saved: the admin is asked, declines,
    # and keeps both edits on the page with nothing sent.
    label.fill("Front desk")
    page.get_by_role("checkbox", name="Sam Standard").uncheck()
    page.get_by_role("button", name="Save settings").click()
    expect(label).to_have_value("Front desk")
    assert questions == [
        "Changes in Number details are not saved yet and will be lost. Go on anyway?"
    ]
    expect(page.get_by_role("checkbox", name="Sam Standard")).not_to_be_checked()
    number = db.session.get(ReusableNumber, number_id)
    assert [agent.email for agent in number.agents] == ["standard@example.edu"]
    assert number.label == original_label
    release_database()

    # Saving the details instead asks about the settings' unsaved change; accepted, the details
    # are saved and the settings' change is gone, as the admin was told.
    accept = True
    page.get_by_role("button", name="Save details").click()
    expect(page.get_by_text("Front desk saved.")).to_be_visible()
    assert questions[1:] == [
        "Changes in Unsolicited Message Settings are not saved yet and will be lost. Go on anyway?"
    ]
    expect(page.get_by_role("checkbox", name="Sam Standard")).to_be_checked()
    number = db.session.get(ReusableNumber, number_id)
    assert number.label == "Front desk"
    assert [agent.email for agent in number.agents] == ["standard@example.edu"]
