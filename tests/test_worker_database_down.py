"""A queue worker started while its database is out of reach (a server not listening, a database
not created yet, an SQLite file that cannot be opened) says so in one line, keeps trying, and works
normally once the database answers: it never exits with a traceback."""

from __future__ import annotations

import logging
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.exc import OperationalError

from tests.processes import BIN, ROOT, isolated_env, wait_for
from webapp import queue

UNAVAILABLE = "database unavailable: "


def _env(tmp_path: Path, database_url: str) -> dict[str, str]:
    return isolated_env(
        tmp_path, SECRET_KEY="worker-database-down-test", DATABASE_URL=database_url, PYTHONUNBUFFERED="1"
    )


def _flask(env: dict[str, str], *args: str) -> None:
    subprocess.run([str(BIN / "flask"), "--app", "webapp", *args], cwd=ROOT, env=env, check=True,
                   capture_output=True, timeout=60)  # fmt: skip


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


class Worker:
    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.log = log
        self.process = subprocess.Popen(
            [str(BIN / "flask"), "--app", "webapp", "worker"],
            cwd=ROOT, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


@pytest.fixture
def start_worker(tmp_path):
    started: list[Worker] = []

    def start(env: dict[str, str]) -> Worker:
        worker = Worker(env, tmp_path / f"worker-{len(started)}.log")
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()
        print(worker.output())  # shown by pytest when the test failed


@pytest.fixture
def refused_port() -> Iterator[int]:
    """A port that refuses connections while the test runs: bound, never listening, and so not
    taken meanwhile by another test's server (which could accept and never answer)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


@pytest.mark.parametrize("database", ["nothing listening", "no such database"])
def test_a_worker_waits_for_a_postgresql_server_it_cannot_reach(
    tmp_path, start_worker, database, refused_port
):
    port = refused_port if database == "nothing listening" else 5432
    # "No such database" needs a real PostgreSQL server to answer that the database is missing.
    # `make test` on SQLite asks for none, so a machine without one skips this case; CI and the
    # PostgreSQL run always have one, and there it runs.
    if database == "no such database" and not _listening(port):
        pytest.skip("needs a PostgreSQL server on 127.0.0.1:5432 to ask for a missing database")
    url = f"postgresql+psycopg://postgres@127.0.0.1:{port}/parley_never_created"
    worker = start_worker(_env(tmp_path, url))
    wait_for(lambda: worker.output().count(UNAVAILABLE) >= 2, timeout=30)  # it tried again
    assert worker.process.poll() is None, worker.output()
    lines = [line for line in worker.output().splitlines() if line.startswith(UNAVAILABLE)]
    assert lines[0].endswith(", retrying in 5 s")
    expected = "Connection refused" if database == "nothing listening" else "does not exist"
    assert expected in lines[0]
    assert "Traceback" not in worker.output()


@pytest.mark.parametrize("command", [["offices", "create", "Admissions"], ["db", "upgrade"]])
def test_other_commands_say_in_one_line_that_the_database_cannot_be_reached(tmp_path, command, refused_port):
    url = f"postgresql+psycopg://postgres@127.0.0.1:{refused_port}/parley"
    result = subprocess.run(
        [str(BIN / "flask"), "--app", "webapp", *command],
        cwd=ROOT, env=_env(tmp_path, url), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.startswith("Error: The database could not be reached: connection failed:")
    assert "Connection refused" in result.stderr and len(result.stderr.splitlines()) == 1


def test_a_worker_works_once_the_database_is_back(tmp_path, start_worker):
    """An SQLite database whose folder is not there yet: the worker waits; once it appears, with a
    text waiting in the queue, the worker sends it."""
    ready, later = tmp_path / "ready", tmp_path / "later"
    ready.mkdir()
    env = _env(tmp_path, f"sqlite:///{later / 'parley.db'}")
    worker = start_worker(env)
    wait_for(lambda: UNAVAILABLE + "unable to open database file" in worker.output(), timeout=30)

    # Meanwhile the database is made elsewhere, and a contact's HELP queues Parley's answer.
    prepared = {**env, "DATABASE_URL": f"sqlite:///{ready / 'parley.db'}"}
    _flask(prepared, "db", "upgrade")
    _flask(prepared, "offices", "create", "Admissions")
    _flask(prepared, "numbers", "add", "+12025550100", "--office", "Admissions", "--provider", "console",
           "--backing", "agent")  # fmt: skip
    _flask(prepared, "sms", "receive", "--from", "2025550143", "--to", "+12025550100", "--text", "HELP")
    time.sleep(1)  # the worker keeps trying meanwhile
    assert worker.process.poll() is None, worker.output()

    ready.rename(later)  # the database is back, where the worker looks for it
    wait_for(lambda: "SMS +12025550100 → +12025550143" in worker.output(), timeout=30)
    assert "Admissions: Reply STOP to stop receiving texts" in worker.output()
    assert worker.process.poll() is None
    assert "Traceback" not in worker.output()


@pytest.fixture
def quiet_worker_logs():
    names = ("huey", "huey.consumer", "huey.consumer.Worker", "huey.consumer.Scheduler")
    before = {name: list(logging.getLogger(name).filters) for name in names}
    queue.quiet_outage_logs()
    yield
    for name, filters in before.items():
        logging.getLogger(name).filters[:] = filters


def _task_failed(error: Exception) -> logging.LogRecord:
    record = logging.getLogger("huey").makeRecord(
        "huey", logging.ERROR, __file__, 1, "Unhandled exception in task %s.", ("t1",),
        (type(error), error, None),
    )  # fmt: skip
    logging.getLogger("huey").handle(record)
    return record


def test_a_task_that_fails_while_the_database_is_down_is_one_line(quiet_worker_logs):
    """Once running, a worker whose database goes away logs each task that failed for it in one
    line with the reason, as it does for the queue, not a traceback every time."""
    refused = OperationalError(None, None, Exception("connection failed: Connection refused\n\tIs it up?"))
    record = _task_failed(refused)
    assert record.getMessage() == (
        "Unhandled exception in task t1. "
        "(database unavailable: connection failed: Connection refused Is it up?)"
    )
    assert record.exc_info is None
    # Any other database error is a bug: its traceback stays.
    bug = OperationalError("SELECT nonsense", {}, Exception("no such column: nonsense"))
    assert _task_failed(bug).exc_info is not None
