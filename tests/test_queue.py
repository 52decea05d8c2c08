"""The queue: the embedded SQLite queue is durable like the database, without an fsync per task;
its worker needs a thread at least."""

from __future__ import annotations

import subprocess
import threading

import pytest

from tests.processes import BIN, ROOT, isolated_env
from webapp.queue import make_huey, shown_url


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


@pytest.mark.parametrize(
    ("url", "shown"),
    [("redis://:hunter2@127.0.0.1:9/0", "redis://:***@127.0.0.1:9/0"),
     ("rediss://parley:hunter2@127.0.0.1:6380/1", "rediss://parley:***@127.0.0.1:6380/1"),
     ("redis://127.0.0.1:9/0?password=hunter2&db=1", "redis://127.0.0.1:9/0?password=***&db=1"),
     ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
     ("sqlite:////var/lib/parley/queue.db", "sqlite:////var/lib/parley/queue.db")],
)  # fmt: skip
def test_a_queue_url_is_shown_without_its_password(url, shown):
    assert shown_url(url) == shown


def test_the_worker_names_its_queue_without_the_password(app, database_url, tmp_path):
    """Its first line goes to the terminal and the service's log."""
    settings = {"SECRET_KEY": "worker-line-test", "DATABASE_URL": database_url,
                "QUEUE_URL": "redis://:hunter2@127.0.0.1:9/0"}  # fmt: skip
    worker = subprocess.Popen(
        [str(BIN / "flask"), "--app", "webapp", "worker"],
        cwd=ROOT, env=isolated_env(tmp_path, **settings),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    stop = threading.Timer(60, worker.kill)  # a worker that never says a line fails, not hangs
    stop.start()
    try:
        first = worker.stdout.readline()
    finally:
        stop.cancel()
        worker.kill()
        worker.communicate(timeout=30)
    assert first.startswith("Parley worker: 2 threads on redis://:***@127.0.0.1:9/0, "), first
