"""A live Parley server in a thread and headless Chromium (Debian's, never downloaded)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask
from werkzeug.serving import make_server

from tests.server_threads import server_thread
from webapp.extensions import db


@pytest.fixture
def live_server(app: Flask) -> Iterator[str]:
    """The test's app served on 127.0.0.1 (a free port); each request gets its own session.

    On SQLite every transaction starts with BEGIN IMMEDIATE, so the test ends its own transaction
    before the browser acts (see `settle`)."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = server_thread(server, "live-server")
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(5)


def settle() -> None:
    """End the test thread's transaction so the server's requests never wait on its lock."""
    db.session.commit()


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(base_url=live_server, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(10_000)
    page = context.new_page()
    yield page
    context.close()
