"""GET /readyz (SPEC 10): for load balancers, without a session: 200 while the database and the
queue answer, else 503 with a plain-text line naming the one that does not."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from flask import Flask

from tests.conftest import make_app
from webapp.extensions import db

CLOSED_PORT = 1  # nothing listens there: connections are refused at once


@contextmanager
def served(app: Flask) -> Iterator[Flask]:
    try:
        yield app
    finally:
        with app.app_context():
            db.engine.dispose()


def readiness(app: Flask) -> tuple[int, str, str]:
    response = app.test_client().get("/readyz")
    return response.status_code, response.get_data(as_text=True), response.mimetype


def test_ready_when_the_database_and_the_queue_answer(database_url: str, tmp_path: Path):
    # A real queue (a SQLite file in the instance folder), not the tests' in-memory one.
    with served(make_app(database_url, tmp_path, QUEUE_IMMEDIATE=False)) as app:
        assert readiness(app) == (200, "ready\n", "text/plain")


def test_the_redis_queue_down_is_named(database_url: str, tmp_path: Path):
    queue_url = f"redis://127.0.0.1:{CLOSED_PORT}/0"
    with served(make_app(database_url, tmp_path, QUEUE_URL=queue_url, QUEUE_IMMEDIATE=False)) as app:
        assert readiness(app) == (503, "queue unavailable\n", "text/plain")


def test_an_unreadable_sqlite_queue_is_named(database_url: str, tmp_path: Path):
    queue = tmp_path / "queue.db"
    app = make_app(database_url, tmp_path, QUEUE_URL=f"sqlite:///{queue}", QUEUE_IMMEDIATE=False)
    with served(app):
        assert readiness(app)[0] == 200
        # The queue's file is gone and cannot be opened again (a directory stands in its place).
        app.extensions["parley.huey"].storage.close()
        for leftover in tmp_path.glob("queue.db*"):
            leftover.unlink()
        queue.mkdir()
        assert readiness(app) == (503, "queue unavailable\n", "text/plain")


def test_a_sqlite_queue_that_can_be_opened_later_is_ready_without_a_restart(
    database_url: str, tmp_path: Path
):
    queue = tmp_path / "queue.db"
    queue.mkdir()
    app = make_app(database_url, tmp_path, QUEUE_URL=f"sqlite:///{queue}", QUEUE_IMMEDIATE=False)
    with served(app):
        assert readiness(app)[0] == 503
        queue.rmdir()  # the operator fixes it
        assert readiness(app) == (200, "ready\n", "text/plain")


@pytest.mark.parametrize("kind", ["postgresql", "sqlite"])
def test_the_database_down_is_named(kind: str, tmp_path: Path):
    if kind == "postgresql":
        url = f"postgresql+psycopg://postgres@127.0.0.1:{CLOSED_PORT}/parley"
    else:
        (tmp_path / "parley.db").mkdir()  # a database file that cannot be opened
        url = f"sqlite:///{tmp_path / 'parley.db'}"
    with served(make_app(url, tmp_path, QUEUE_IMMEDIATE=False)) as app:
        assert readiness(app) == (503, "database unavailable\n", "text/plain")


def test_readyz_needs_no_session_and_sets_none(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert "Set-Cookie" not in response.headers
    assert response.headers["Cache-Control"] == "no-store"
