"""The task queue (Huey): SQLite in the instance folder by default, Redis at scale.

Services enqueue through the functions below, which find the tasks that `webapp.tasks` registered
on the app: tasks import services, never the other way round.
"""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlparse

import redis
from flask import current_app
from huey import Huey, RedisHuey, SqliteHuey
from huey.storage import SqliteStorage

from webapp import transactions
from webapp.config import ConfigurationError

log = logging.getLogger(__name__)

QUEUE_NAME = "parley"


class QueueUnavailable(RuntimeError):
    """The queue did not take a task (Redis down, the SQLite queue file cannot be opened): nothing
    was queued, and asking again later may work."""


# What reaching a queue that is down raises: Redis stopped or restarting, the SQLite queue's file or
# folder that cannot be opened or made.
OUTAGE_ERRORS = (redis.ConnectionError, redis.TimeoutError, sqlite3.OperationalError, OSError)


class OutageLogFilter(logging.Filter):
    """While the queue or the database is down, the consumer logs every failed poll of every
    thread, and every task that failed for it, with a whole traceback: a line a second that buries
    everything else. One line with the reason says it."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if transactions.out_of_reach(error):
            outage = f"database unavailable: {transactions.reason(error)}"  # type: ignore[arg-type]
        elif isinstance(error, OUTAGE_ERRORS):
            outage = f"queue unreachable: {type(error).__name__}: {error}"
        else:
            return True
        record.msg, record.args = f"{record.getMessage()} ({outage})", None
        record.exc_info = record.exc_text = None
        return True


def quiet_outage_logs() -> None:
    """A worker's consumer logs an unreachable queue or database in one line per failed poll or
    task ("huey" logs the tasks)."""
    for name in ("huey", "huey.consumer", "huey.consumer.Worker", "huey.consumer.Scheduler"):
        logging.getLogger(name).addFilter(OutageLogFilter())


class QueueConnection(sqlite3.Connection):
    """The queue's SQLite connections. Huey hands extra storage options to `sqlite3.connect`, whose
    `factory` makes every connection one of these.

    Opening one makes the queue's folder, and Huey its tables (in a connection of its own, closed
    after, as it does at start-up), rather than at start-up: a queue file that cannot be opened
    then leaves the app running (/readyz names it, enqueueing fails), and the next connection,
    made when Huey next needs one, finds the queue once it can be opened.

    They have the database's durability: WAL and synchronous=NORMAL, so a task costs no fsync of
    its own (SQLite's default syncs every enqueue). As with the database's own last commits, a
    power cut (not a crash) can lose the last tasks queued; messages stay safe: the sweep
    re-queues every message still waiting to be sent."""

    def __init__(self, database: str, *args, **kwargs) -> None:
        Path(database).parent.mkdir(parents=True, exist_ok=True)
        SqliteStorage(QUEUE_NAME, filename=database)  # its tables, "if not exists"
        super().__init__(database, *args, **kwargs)
        self.execute("PRAGMA synchronous=NORMAL")


def shown_url(queue_url: str) -> str:
    """The queue's URL as a log line may show it: a password in it (user:password@, or redis-py's
    ?password=) hidden."""
    parsed = urlparse(queue_url)
    fields = parse_qsl(parsed.query, keep_blank_values=True)
    in_query = any(name.lower() == "password" for name, _value in fields)
    if parsed.password is None and not in_query:
        return queue_url  # as written: a parsed URL put together again may differ (sqlite:////…)
    if parsed.password is not None:
        parsed = parsed._replace(netloc=f"{parsed.username or ''}:***@{parsed.netloc.rsplit('@', 1)[-1]}")
    if in_query:
        hidden = [(name, "***" if name.lower() == "password" else value) for name, value in fields]
        parsed = parsed._replace(query=urlencode(hidden, safe="*"))
    return parsed.geturl()


def make_huey(queue_url: str, immediate: bool = False) -> Huey:
    parsed = urlparse(queue_url)
    if parsed.scheme == "sqlite":
        path = queue_url[len("sqlite:///") :]
        if not path:
            raise ConfigurationError("QUEUE_URL sqlite:///PATH needs a file path")
        huey: Huey = SqliteHuey(
            QUEUE_NAME, filename=path, results=False, create_tables=False, factory=QueueConnection
        )
    elif parsed.scheme in ("redis", "rediss"):
        huey = RedisHuey(QUEUE_NAME, url=queue_url, results=False)
    else:
        shown = f"{parsed.scheme}://…" if parsed.scheme else "a path"  # the rest may hold a password
        raise ConfigurationError(f"QUEUE_URL must start with sqlite:/// or redis://, not {shown}")
    huey.immediate = immediate  # tests: run each task inline, in memory
    return huey


def enqueue_webhook(delivery_id: int) -> bool:
    """Ask the worker to deliver a committed webhook event. If the queue is down, the sweep finds
    the delivery later; nothing is lost."""
    try:
        current_app.extensions["parley.tasks"].deliver_webhook(delivery_id)
    except Exception:  # Redis down, SQLite queue file locked or unwritable, …
        log.warning("could not queue webhook delivery %s; the sweep will", delivery_id, exc_info=True)
        return False
    return True


def enqueue_send(message_id: int) -> bool:
    """Queue a committed message for sending. Call with no open transaction.

    If the queue is down the message stays `queued` in the database and the sweep sends it once the
    queue is back: nothing is lost, the agent just sees that sending is delayed.
    """
    try:
        current_app.extensions["parley.tasks"].send_message(message_id)
    except Exception:  # Redis down, SQLite queue file locked or unwritable, …
        log.warning("could not queue message %s; the sweep will send it later", message_id, exc_info=True)
        return False
    return True


def enqueue_bot_answer(message_id: int, delay: float | None = None) -> None:
    """Queue the bot's answer to a committed inbound message, to run now or in `delay` seconds.
    Call with no open transaction. Raises when the queue is down: the caller decides."""
    task = current_app.extensions["parley.tasks"].answer_with_bot
    if delay is None:
        task(message_id)
    else:
        task.schedule((message_id,), delay=delay)


def enqueue_import_check(import_id: int) -> None:
    """Queue the row-by-row check of an uploaded contact list. Call with no open transaction.
    Raises QueueUnavailable when the queue is down."""
    _enqueue("check_campaign_import", import_id)


def enqueue_import_contacts(import_id: int) -> None:
    """Queue the batch import of a checked contact list. Call with no open transaction.
    Raises QueueUnavailable when the queue is down."""
    _enqueue("import_campaign_contacts", import_id)


def enqueue_export(export_id: int) -> None:
    """Queue the building of a committed office export. Call with no open transaction.
    Raises QueueUnavailable when the queue is down."""
    _enqueue("build_office_export", export_id)


def _enqueue(task: str, *args: object) -> None:
    try:
        getattr(current_app.extensions["parley.tasks"], task)(*args)
    except Exception as exc:  # Redis down, SQLite queue file locked, unwritable or unopenable, …
        raise QueueUnavailable(f"could not queue {task}{args}") from exc


def enqueue_inbound_pictures(message_id: int) -> None:
    """Queue the download of a committed inbound message's media. If the queue is down, the
    thread shows the provider's links instead of thumbnails: nothing is lost."""
    try:
        current_app.extensions["parley.tasks"].keep_inbound_pictures(message_id)
    except Exception:  # Redis down, SQLite queue file locked or unwritable, …
        log.warning("could not queue the pictures of message %s; its links stay", message_id, exc_info=True)
