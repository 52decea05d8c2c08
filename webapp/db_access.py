"""Which requests only read the database: on SQLite they skip the write lock (see
`webapp._watch_transactions`).

GET and HEAD requests are read-only unless their view is marked with `@writes`. A read-only SQLite
transaction cannot safely turn into a write (another writer may have committed since it began), so
a write there raises `WriteInReadOnlyRequest` on every run, in tests too, never only under load;
PostgreSQL enforces the same rule, so that both databases accept the same requests.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from flask import current_app, g, has_request_context, request

from webapp.extensions import db

View = TypeVar("View", bound=Callable)
SAFE_METHODS = frozenset({"GET", "HEAD"})
WRITE_VERBS = ("INSERT", "UPDATE", "DELETE", "REPLACE")


class WriteInReadOnlyRequest(RuntimeError):
    pass


def writes(view: View) -> View:
    """Mark a GET view that writes (e.g. marking a conversation read): it takes the write lock."""
    view.writes_on_get = True  # type: ignore[attr-defined]
    return view


def start_writing() -> None:
    """In a read-only request that turns out to need a write: end its read transaction, so the next
    statement begins one that takes the write lock. What was loaded is reloaded as needed."""
    db.session.commit()
    g.parley_writing = True


def checks_first(view: View) -> View:
    """Mark a view that writes after its own `read_first` block of checks (compose): the signed-in
    user is loaded in that same read transaction, one transaction fewer per request."""
    view.checks_first = True  # type: ignore[attr-defined]
    return view


@contextmanager
def read_first(*, continued: bool = False) -> Iterator[None]:
    """Reads that come before a request's writes (the signed-in user), in a read-only transaction
    ended at the block's end, with what it loaded kept: the write lock is then held only for the
    view's own work. A request that only reads stays in one transaction.

    `continued`: the transaction is not ended here but by the view's own `read_first` block (a
    `@checks_first` view)."""
    if request_only_reads():
        yield
        return
    g.parley_reading = True
    try:
        yield
    except BaseException:
        g.parley_reading = False
        raise
    if continued:
        return
    g.parley_reading = False
    _reads_end()


def _reads_end() -> None:
    """The reads are done; the session's transaction goes on to write. On SQLite the reads' own
    transaction ends here and the next statement takes the write lock (see `begin_pending_write`):
    the same as committing and beginning again, without the session and pool doing it."""
    session = db.session()
    if not session.in_transaction():
        return
    connection = session.connection()
    if not connection.info.get("read_only"):
        return  # the transaction began as a write (e.g. the user was loaded before the block)
    connection.info["read_only"] = False
    driver = connection.connection.driver_connection
    if connection.dialect.name == "sqlite":
        driver.execute("COMMIT")
        connection.info["begin_writing"] = True
    else:
        driver.autocommit = False  # the reads ran without a transaction; the writes begin one


def read_only_request() -> bool:
    """Does the current transaction only read (a read-only request, or a `read_first` block)?"""
    if not has_request_context():
        return False
    return bool(g.get("parley_reading")) or request_only_reads()


def request_only_reads() -> bool:
    """Is the whole request read-only: a GET or HEAD whose view does not write?"""
    if request.method not in SAFE_METHODS or g.get("parley_writing"):
        return False
    view = current_app.view_functions.get(request.endpoint or "")
    return not getattr(view, "writes_on_get", False)


def guard_read_only(conn, cursor, statement, parameters, context, executemany) -> None:  # noqa: ANN001, ARG001
    if conn.info.get("read_only") and statement.lstrip()[:7].upper().startswith(WRITE_VERBS):
        raise WriteInReadOnlyRequest(
            f"{request.method} {request.path} wrote to the database; mark its view with @writes"
        )
