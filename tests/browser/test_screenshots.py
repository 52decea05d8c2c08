"""The README's screenshots, taken from the running app by this test, so they show the product as
it is: login, the inbox with a conversation open, compose and the admin console, at a desktop
(1280 px) and a phone (360 px) width. They go over docs/screenshots/ only when asked
(`--update-screenshots`): a test run leaves the checkout as it was."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from flask import Flask
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import World, log_in, release, run_cli, sms_receive
from webapp.extensions import db
from webapp.models import User
from webapp.services import sending

README_SHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
CONTACTS = (
    "first_name,last_name,phone\n"
    "Maria,Garcia,2025550143\nJames,Smith,2025550178\nAisha,Khan,2025550199\nDevon,Lee,2025550111\n"
)


@pytest.fixture
def shots(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    """Where the screenshots go: the README's with --update-screenshots, else the test's own folder."""
    return README_SHOTS if request.config.getoption("--update-screenshots") else tmp_path / "screenshots"


def shoot(page: Page, folder: Path, name: str, width: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    page.wait_for_load_state("load")
    page.evaluate("document.fonts.ready")
    path = folder / f"{name}-{width}.png"
    page.screenshot(path=str(path), animations="disabled", caret="initial")
    assert path.stat().st_size > 5_000  # a page, not a blank


@pytest.fixture
def demo(app: Flask, world: World, tmp_path: Path) -> World:
    """A morning's worth of inbox: named contacts, a bot answer, replies waiting."""
    csv = tmp_path / "contacts.csv"
    csv.write_text(CONTACTS)
    run_cli(app, "campaigns", "import", "Fall Open House", str(csv), "--office", "Admissions", "--launch")
    agent = db.session.query(User).filter_by(email="standard@example.edu").one()
    sending.create_text(agent, world.number_id, "2025550143", "Hi Maria, this is Sam from Admissions. "
                        "Your application is complete. Do you have questions about the campus visit?")
    release()
    sms_receive(app, "2025550143", world.number_phone, "Yes! Is the Saturday tour still on? My parents are "
                "driving in from out of state.")
    sms_receive(app, "2025550178", world.number_phone, "Did you get my transcript?")
    sms_receive(app, "2025550199", world.number_phone, "What documents do I need for the scholarship?")
    sms_receive(app, "2025550111", world.number_phone, "Thanks! I will upload the FAFSA tonight")
    return world


@pytest.mark.parametrize("width", [1280, 360])
def test_readme_screenshots(browser: Browser, live_server: str, demo: World, shots: Path, width: int):
    height = 800 if width > 400 else 760
    context = browser.new_context(base_url=live_server, viewport={"width": width, "height": height})
    page = context.new_page()
    try:
        page.goto("/login")
        shoot(page, shots, "login", width)

        log_in(page, "standard@example.edu")
        page.goto("/inbox")
        if width > 400:
            row = page.get_by_role("tabpanel").get_by_role("link").filter(has_text="Maria Garcia")
            row.click()
            expect(page.locator("#contact-panel")).to_contain_text("Fall Open House")
            shoot(page, shots, "inbox", width)
        else:
            shoot(page, shots, "inbox", width)
            page.get_by_role("tabpanel").get_by_role("link").filter(has_text="Maria Garcia").click()
            expect(page.get_by_role("link", name="← Inbox")).to_be_visible()
            shoot(page, shots, "conversation", width)

        page.goto("/texts/new?to=2025550178")
        page.get_by_label("Message").fill("Hi James, we received your transcript on Monday. You're all set!")
        shoot(page, shots, "compose", width)

        page.context.clear_cookies()
        log_in(page, "admin@example.edu")
        page.goto("/admin/")
        expect(page.get_by_role("navigation", name="Admin sections")).to_be_attached()
        shoot(page, shots, "admin", width)
        expect(page).to_have_url(re.compile(r"/admin/$"))
    finally:
        context.close()
