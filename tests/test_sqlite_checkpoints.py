"""SQLite's WAL checkpoints run in a thread of each process, not inside the request that commits
(webapp/sqlite_checkpoints.py). These tests use a SQLite database of their own on every run."""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

from sqlalchemy import text

from tests.conftest import make_app
from webapp import sqlite_checkpoints
from webapp.extensions import db
from webapp.models import User


def wal_state(database: Path) -> tuple[int, int]:
    """(frames in the write-ahead log, frames of it already copied into the database), read from
    the WAL index without running a checkpoint (https://www.sqlite.org/walformat.html)."""
    header = Path(f"{database}-shm").read_bytes()[:100]
    frames = int.from_bytes(header[16:20], sys.byteorder)  # mxFrame
    copied = int.from_bytes(header[96:100], sys.byteorder)  # nBackfill
    return frames, copied


def add_user(k: int) -> None:
    db.session.add(User(email=f"user{k}@example.edu", name=f"User {k}", password_hash="x"))
    db.session.commit()


def checkpoint_threads() -> int:
    return sum(thread.name == "sqlite-checkpoints" for thread in threading.enumerate())


def test_a_commit_leaves_the_checkpoint_to_the_thread(tmp_path: Path, monkeypatch) -> None:
    # create_all's commits wake the thread already: the user must be added within its wait, long
    # enough for a busy test machine.
    monkeypatch.setattr(sqlite_checkpoints, "GATHER_SECONDS", 3)
    database = tmp_path / "parley.db"
    app = make_app(f"sqlite:///{database}", tmp_path, SQLITE_BACKGROUND_CHECKPOINTS=True)
    with app.app_context():
        db.create_all()
        # Requests' connections checkpoint by themselves only far past SQLite's 1,000 pages.
        autocheckpoint = db.session.execute(text("PRAGMA wal_autocheckpoint")).scalar()
        assert autocheckpoint == sqlite_checkpoints.FALLBACK_PAGES
        add_user(1)
        frames, copied = wal_state(database)
        assert frames > 0 and copied < frames  # committed: in the log, not yet in the database

        deadline = time.monotonic() + 20
        while wal_state(database)[1] < frames and time.monotonic() < deadline:
            time.sleep(0.05)
        assert wal_state(database)[1] >= frames  # copied by the thread, with no commit since
        assert app.extensions["parley.checkpointer"].checkpoints >= 1
        db.session.remove()
        db.engine.dispose()


def test_only_commits_that_wrote_ask_for_a_checkpoint(tmp_path: Path, monkeypatch) -> None:
    """A transaction that only read leaves the log as it was: its commit wakes no checkpoint."""
    app = make_app(f"sqlite:///{tmp_path / 'parley.db'}", tmp_path, SQLITE_BACKGROUND_CHECKPOINTS=True)
    with app.app_context():
        db.create_all()
        asked: list[bool] = []
        monkeypatch.setattr(app.extensions["parley.checkpointer"], "committed", lambda: asked.append(True))
        db.session.execute(text("SELECT count(*) FROM users")).scalar()
        db.session.commit()
        assert asked == []
        add_user(1)
        assert asked == [True]
        db.session.remove()
        db.engine.dispose()


def test_each_process_starts_its_own_thread(tmp_path: Path, monkeypatch) -> None:
    """A gunicorn worker is a fork of its master: the thread the master started is not in it."""
    database = tmp_path / "parley.db"
    app = make_app(f"sqlite:///{database}", tmp_path, SQLITE_BACKGROUND_CHECKPOINTS=True)
    with app.app_context():
        db.create_all()
        add_user(1)
        started = checkpoint_threads()
        add_user(2)
        assert checkpoint_threads() == started  # one thread per process, not per commit

        monkeypatch.setattr(sqlite_checkpoints.os, "getpid", lambda: 1_000_000_007)  # as in a fork
        add_user(3)
        assert checkpoint_threads() == started + 1
        db.session.remove()
        db.engine.dispose()


def test_without_the_thread_sqlite_checkpoints_as_usual(tmp_path: Path) -> None:
    database = tmp_path / "parley.db"
    app = make_app(f"sqlite:///{database}", tmp_path)  # the tests' setting: no thread
    with app.app_context():
        db.create_all()
        add_user(1)
        assert "parley.checkpointer" not in app.extensions
        assert db.session.execute(text("PRAGMA wal_autocheckpoint")).scalar() == 1000
        db.session.remove()
        db.engine.dispose()
