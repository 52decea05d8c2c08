"""Browser tests: the real app served on 127.0.0.1 from a thread, driven by headless Chromium.

One browser per session, a fresh context (cookies, storage) per test. The live server uses the
test's own app and database, so the shared factories (`setup`, `make`) build what the browser sees.

SQLite note: every transaction outside a GET request (the test thread's too) starts with BEGIN
IMMEDIATE, so a transaction the test thread keeps open blocks the server's writes. Everything here
that touches the database ends with `release()`; tests read what they need into plain values
before driving the browser.
"""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from flask import Flask
from playwright.sync_api import Browser, BrowserContext, Page, expect
from sqlalchemy import func, select
from werkzeug.serving import make_server

from tests.conftest import PASSWORD
from tests.server_threads import server_thread
from webapp.extensions import db
from webapp.models import ApiKey, Campaign, KnowledgeBaseEntry, Message, Office, User, WebhookEndpoint
from webapp.services import saved_replies
from webapp.services.admin import campaigns

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
# Lists poll every 3 s (and tell the open conversation when it changed); give an update two polls
# and some slack.
expect.set_options(timeout=8_000)
logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one access-log line per poll is noise


def release() -> None:
    """End the test thread's transaction so the server's writes never wait on it."""
    db.session.commit()
    db.session.remove()


@pytest.fixture
def live_server(app: Flask) -> Iterator[str]:
    """The test's app on a free port, with Huey in immediate mode (TestConfig)."""
    release()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = server_thread(server, "live-server")
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)
    release()


@pytest.fixture
def context(browser: Browser, live_server: str) -> Iterator[BrowserContext]:
    context = browser.new_context(base_url=live_server, viewport={"width": 1280, "height": 800})
    context.set_default_timeout(10_000)
    yield context
    context.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if report.when == "call":
        item.browser_failed = report.failed  # read by `page` to keep a screenshot of a failure


@pytest.fixture
def page(context: BrowserContext, request: pytest.FixtureRequest) -> Iterator[Page]:
    page = context.new_page()
    yield page
    if getattr(request.node, "browser_failed", False):
        ARTIFACTS.mkdir(exist_ok=True)
        for index, open_page in enumerate(context.pages):
            name = re.sub(r"[^\w.-]+", "_", request.node.name)
            open_page.screenshot(path=str(ARTIFACTS / f"failed-{name}-{index}.png"), full_page=True)


@dataclass(frozen=True)
class World:
    """What `setup` made, as plain values (no ORM objects that could reopen a transaction)."""

    number_id: int
    number_phone: str
    number_label: str


@pytest.fixture
def world(setup: dict) -> World:
    number = setup["number"]
    values = World(number.id, number.phone, number.display_label)
    release()
    return values


def log_in(page: Page, email: str, password: str = PASSWORD) -> None:
    page.goto("/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    expect(page).not_to_have_url(re.compile(r"/login"))
    page.wait_for_load_state("load")  # app.js (menus, counters) is running, as for a person


def sms_receive(app: Flask, from_phone: str, to_phone: str, text: str) -> None:
    """A contact's reply, fed through the real `flask sms receive` command."""
    release()
    result = app.test_cli_runner().invoke(
        args=["sms", "receive", "--from", from_phone, "--to", to_phone, "--text", text]
    )
    release()
    assert result.exit_code == 0, result.output


def run_cli(app: Flask, *args: str) -> str:
    release()
    result = app.test_cli_runner().invoke(args=list(args))
    release()
    assert result.exit_code == 0, result.output
    return result.output


def count_messages(direction: str | None = None) -> int:
    query = select(func.count()).select_from(Message)
    if direction:
        query = query.where(Message.direction == direction)
    try:
        return db.session.scalar(query) or 0
    finally:
        release()


def screenshot(page: Page, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


# Every admin screen with a record to open, for the audits that visit them all (axe, reflow).
# Admin pages that are fragments polled by a page, not screens of their own:
FRAGMENTS = {"admin.campaign_import_progress"}
REDIRECTS = {"optouts_admin.remove_page"}  # GETs that only lead to another page, not screens
ADMIN_CSV = "first_name,last_name,phone\nMaria,Garcia,2025550143\nJames,Smith,2025550178\nBad,Row,12345\n"


@pytest.fixture
def records(app: Flask, world: World, tmp_path: Path) -> dict[str, int]:
    """One of everything an admin page can open, as ids for the URL map's parameters."""
    app.config["WEBHOOK_ALLOW_PRIVATE"] = True
    csv = tmp_path / "contacts.csv"
    csv.write_text(ADMIN_CSV.replace("Bad,Row,12345\n", ""))
    run_cli(app, "campaigns", "import", "Fall Open House", str(csv), "--office", "Admissions", "--launch")
    run_cli(app, "kb", "add", "Admissions", "--question", "deadline", "--answer", "January 15.")
    run_cli(app, "api-keys", "create", "Slate", "--office", "Admissions")
    run_cli(app, "webhooks", "add", "http://127.0.0.1:9/hook", "--office", "Admissions")
    admin = db.session.query(User).filter_by(email="admin@example.edu").one()
    office = db.session.get(Office, world_office_id())
    saved_reply = saved_replies.create(admin, office, "Deadline", "Hi {first_name}, it is January 15.")
    import_id = campaigns.start_import(
        admin, "Spring Fair", world_office_id(), io.BytesIO(ADMIN_CSV.encode()), "spring.csv"
    )
    db.session.commit()
    ids = {
        "office_id": world_office_id(),
        "user_id": db.session.query(User).filter_by(email="standard@example.edu").one().id,
        "number_id": world.number_id,
        "campaign_id": db.session.query(Campaign).filter_by(name="Fall Open House").one().id,
        "endpoint_id": db.session.query(WebhookEndpoint).one().id,
        "entry_id": db.session.query(KnowledgeBaseEntry).one().id,
        "key_id": db.session.query(ApiKey).one().id,
        "import_id": import_id,
        "reply_id": saved_reply.id,
    }
    release()
    return ids


def world_office_id() -> int:
    return db.session.query(Office).filter_by(name="Admissions").one().id


def admin_pages(app: Flask, ids: dict[str, int]) -> list[str]:
    pages, unknown = [], []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/admin") or "GET" not in rule.methods or rule.endpoint in FRAGMENTS:
            continue
        if rule.endpoint in REDIRECTS:
            continue
        if rule.rule.endswith(("/download", ".csv")):  # files, not screens
            continue
        missing = rule.arguments - ids.keys()
        if missing:
            unknown.append(f"{rule.rule} needs {sorted(missing)}")
            continue
        pages.append(re.sub(r"<(?:\w+:)?(\w+)>", lambda m: str(ids[m[1]]), rule.rule))
    assert not unknown, f"add ids for these admin pages to `records`: {unknown}"
    return sorted(set(pages))
