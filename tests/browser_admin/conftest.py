"""A live Parley server on 127.0.0.1 (random port) and Debian's Chromium, for the admin tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask
from playwright.sync_api import Browser, Page
from werkzeug.serving import make_server

from tests.server_threads import server_thread
from webapp.extensions import db


def release_database() -> None:
    """End the test thread's transaction: with SQLite every transaction holds the write lock
    (BEGIN IMMEDIATE), and the server's threads must not wait on it."""
    db.session.commit()
    db.session.remove()


@pytest.fixture
def live_server(app: Flask) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = server_thread(server)
    thread.start()
    release_database()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)


def new_page(browser: Browser, base_url: str) -> Page:
    context = browser.new_context(base_url=base_url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    return context.new_page()


def log_in(page: Page, email: str, password: str) -> None:
    page.goto("/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/inbox")
