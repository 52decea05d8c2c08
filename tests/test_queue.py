"""The queue: the embedded SQLite queue is durable like the database, without an fsync per task;
its worker needs a thread at least."""

from __future__ import annotations

import pytest

from webapp.queue import make_huey


def test_the_sqlite_queue_syncs_like_the_database_and_keeps_its_tasks(tmp_path):
    url = f"sqlite:///{tmp_path / 'queue.db'}"
    huey = make_huey(url)
    conn = huey.storage.conn
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL, as the database
    huey.storage.enqueue(b"a task")
    huey.storage.close()

    assert make_huey(url).storage.queue_size() == 1  # a restarted worker finds it


@pytest.mark.parametrize("threads", ["0", "-1", "many"])
def test_a_worker_with_no_threads_is_refused_before_it_starts(app, threads):
    result = app.test_cli_runner().invoke(args=["worker", "--workers", threads])
    assert result.exit_code == 2 and "Invalid value for '--workers'" in result.output
