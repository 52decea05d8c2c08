"""How requests use database transactions, on SQLite and on PostgreSQL.

A read request is a GET or HEAD whose view is not marked `@writes`. It only reads: a write inside
one raises `WriteInReadOnlyRequest`, on both databases, in tests too. It runs in autocommit: no
BEGIN or COMMIT to send (on SQLite, where readers never wait for a writer in WAL mode, and on
PostgreSQL), each statement on its own snapshot, as READ COMMITTED would give it in a transaction.

Any other request writes, in one transaction per commit. On SQLite that transaction starts with
`BEGIN IMMEDIATE`: it takes the write lock before its first read, so a read never has to turn into
a write (which fails with "database is locked" once another writer has committed since the read);
writers queue for the lock through SQLite's own `busy_timeout`. On PostgreSQL it is a plain
READ COMMITTED transaction.

Reads that a write request does before its writes (the signed-in user, a login's lookup before
the password is hashed, a compose's checks) go in a `read_first()` block. On SQLite that is a
read transaction of its own: the write lock is held for the writes alone. On PostgreSQL, where
reading takes no lock, the reads simply begin the request's transaction (one connection taken
from the pool, not one per block); the transaction then stays open through the work between reads
and writes (a login's password hash), holding no lock a writer waits for. A read request that
turns out to write (opening a conversation that has a new reply marks it read) calls
`start_writing()` first.

A write request that ends without writing (a refused compose, a throttled login) commits what it
read rather than rolling back: on PostgreSQL a ROLLBACK makes psycopg drop every statement the
connection had prepared. One that failed, or wrote and did not commit, is rolled back. A view that
refuses mid-way calls `discard_writes()`, which decides the same way.

On PostgreSQL a request's statements keep one plan each, made without the bound values; work
outside requests (the worker, the CLI) is planned for its values (`_plan_for_the_caller`).
"""

from __future__ import annotations

import logging
import select
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Any, TypeVar

import flask_sqlalchemy.session
from flask import Flask, current_app, g, has_request_context, request
from sqlalchemy import Engine, event, text
from sqlalchemy.exc import DBAPIError, InvalidatePoolError, SQLAlchemyError

from webapp.sqlite_checkpoints import FALLBACK_PAGES, Checkpointer

log = logging.getLogger(__name__)
View = TypeVar("View", bound=Callable)
SAFE_METHODS = frozenset({"GET", "HEAD"})
WRITE_VERBS = ("INSERT", "UPDATE", "DELETE", "REPLACE")
# A statement that starts otherwise counts as a write when a transaction ends: a mistake there
# costs a rollback, never a commit of something a refusal meant to undo.
READ_VERBS = ("SELECT", "SHOW", "SET", "BEGIN", "SAVEPOINT", "RELEASE")
WROTE_KEY = "parley_wrote"  # in a connection's `info`: has its transaction written?
BUSY_TIMEOUT_MS = 5000  # SQLite: how long a statement waits for a lock before "database is locked"
# A database server's pooled connection idle longer than this is pinged before use (a failover or
# a firewall may have dropped it, leaving no trace until the next packet); one used more recently
# is checked without a round trip (`_keep_pooled_connections_alive`).
PING_AFTER_IDLE_SECONDS = 1.0
CHECKED_IN_AT = "parley_checked_in_at"  # in a pooled connection's `info`: time.monotonic()


class WriteInReadOnlyRequest(RuntimeError):
    pass


def writes(view: View) -> View:
    """Mark a GET view that writes (an embedded launch): its transaction may write."""
    view.writes_on_get = True  # type: ignore[attr-defined]
    return view


def request_only_reads() -> bool:
    """Is the whole request read-only: a GET or HEAD whose view does not write?"""
    if request.method not in SAFE_METHODS or g.get("parley_writing"):
        return False
    view = current_app.view_functions.get(request.endpoint or "")
    return not getattr(view, "writes_on_get", False)


def read_only_request() -> bool:
    """Does the current transaction only read (a read request, or a `read_first` block)?"""
    if not has_request_context():
        return False
    return bool(g.get("parley_reading")) or request_only_reads()


@contextmanager
def read_first() -> Iterator[None]:
    """Reads before a request's writes: on SQLite in a read transaction ended at the block's end,
    what they loaded staying loaded. On PostgreSQL, in a read request, or once a write transaction
    has begun, it changes nothing."""
    session = _session()
    if request_only_reads() or session.in_transaction() or session.get_bind().dialect.name != "sqlite":
        yield
        return
    g.parley_reading = True
    try:
        yield
    finally:
        g.parley_reading = False
    # Ended without expiring what it loaded: reloaded, it would be read again under the write lock.
    session.expire_on_commit = False
    try:
        session.commit()
    finally:
        session.expire_on_commit = True


def discard_writes() -> None:
    """Before answering a refusal: undo what the request's transaction wrote, or, when it only
    read, end it with COMMIT (which keeps the statements psycopg prepared on PostgreSQL)."""
    session = _session()
    if not _commit_if_unwritten(session):
        session.rollback()


def start_writing() -> None:
    """In a read request that turns out to write: end its read transaction, so that the next
    statement begins one that may write. What was loaded is reloaded as needed."""
    _session().commit()
    g.parley_writing = True


class RequestSession(flask_sqlalchemy.session.Session):
    """`db.session`: on PostgreSQL, a transaction that only reads gets a connection in autocommit
    (Flask-SQLAlchemy's documented way to customise the session is a subclass)."""

    def get_bind(self, mapper: Any = None, clause: Any = None, bind: Any = None, **kwargs: Any) -> Any:
        engine = super().get_bind(mapper, clause=clause, bind=bind, **kwargs)
        if isinstance(engine, Engine) and engine.dialect.name == "postgresql" and read_only_request():
            return _autocommit(engine)
        return engine


@lru_cache(maxsize=8)
def _autocommit(engine: Engine) -> Engine:
    """The engine's twin whose connections run in autocommit (the same pool; the isolation level
    is restored when a connection goes back to it)."""
    return engine.execution_options(isolation_level="AUTOCOMMIT")


def init_app(app: Flask, engine: Engine) -> None:
    """Every transaction knows whether it may write; each database's connections are set up."""
    if engine.dialect.name == "sqlite":
        _set_up_sqlite(app, engine)
    elif engine.dialect.name == "postgresql":
        _keep_pooled_connections_alive(engine)  # first: the next listener sends a SET
        event.listen(engine, "connect", _without_jit)
        event.listen(engine, "checkout", _plan_for_the_caller)
    event.listen(engine, "begin", _begin)
    event.listen(engine, "before_cursor_execute", _watch_writes)
    app.teardown_request(_end_request)  # before Flask-SQLAlchemy's removal of the session


def _keep_pooled_connections_alive(engine: Engine) -> None:
    """A connection taken from the pool is checked that the server has not dropped it (a restart,
    pg_terminate_backend, a failover or a firewall that answers with a reset); if it has, the pool
    replaces it, and every other connection it held as long, instead of failing the request or
    task that takes it (SQLAlchemy's documented use of `InvalidatePoolError` in a checkout
    listener, as its own `pool_pre_ping` raises it).

    `pool_pre_ping` checks with a query, a round trip before every request's own. Here only a
    connection that sat in the pool longer than PING_AFTER_IDLE_SECONDS gets that query: a busy
    server's connections come back within milliseconds, and a server that closes a connection
    sends a closing error and ends the stream, which makes the idle connection's socket readable.
    So a recently used connection is checked by its socket alone (nothing else arrives on an idle
    connection). What that misses: a drop in the few milliseconds before the server's goodbye
    arrives, or one without a word within the idle limit; the request then fails with a 503 the
    client may retry, and the pool replaces its connections. A network that swallows packets
    makes any first use wait for TCP's own timeout, ping or not (libpq's `tcp_user_timeout`, in
    DATABASE_URL, shortens it)."""
    dialect = engine.dialect
    driver_error = dialect.loaded_dbapi.Error

    @event.listens_for(engine, "checkin")
    def checked_in(_dbapi_connection: Any, record: Any) -> None:
        record.info[CHECKED_IN_AT] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def replace_if_dropped(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        checked_in_at = record.info.get(CHECKED_IN_AT)
        if checked_in_at is None:
            return  # just opened
        try:
            if time.monotonic() - checked_in_at > PING_AFTER_IDLE_SECONDS:
                dialect.do_ping(dbapi_connection)
                return
            poller = select.poll()
            poller.register(dbapi_connection.fileno(), select.POLLIN)
        except driver_error as exc:  # the ping failed, or the connection is closed already
            if not dialect.is_disconnect(exc, dbapi_connection, None):
                raise
            raise InvalidatePoolError("a pooled connection was dropped") from exc
        if poller.poll(0):
            raise InvalidatePoolError("the database server closed a pooled connection")


def out_of_reach(error: BaseException | None) -> bool:
    """The database could not be reached: no connection could be made (refused, no such database,
    an SQLite file that cannot be opened: no statement had run) or one was lost. Retrying later
    may work; any other database error is a bug or a conflict."""
    return isinstance(error, DBAPIError) and (error.statement is None or error.connection_invalidated)


def reason(error: DBAPIError) -> str:
    """The driver's message in one line (psycopg's run over several)."""
    return " ".join(str(error.orig).split())


def _end_request(error: BaseException | None) -> None:
    """End what the request left open, before Flask-SQLAlchemy's removal of the session rolls it
    back. A read request whose connection is lost as it ends still answers: it changed nothing.
    A write request that ended without writing (a refused compose, a throttled login) commits
    its reads: on PostgreSQL a ROLLBACK makes psycopg drop every statement the connection had
    prepared. A request that failed, or wrote and did not commit, is rolled back as always."""
    scoped = current_app.extensions["sqlalchemy"].session
    if error is not None or not scoped.registry.has():
        return  # failed, or it never used the database
    if request_only_reads():
        try:
            scoped.close()
        except DBAPIError:
            log.warning("could not end a read-only transaction", exc_info=True)
        return
    _commit_if_unwritten(scoped())


def _commit_if_unwritten(session: Any) -> bool:
    """Commit the session's transaction if it wrote nothing (no statement, no pending change);
    True when nothing is left to undo."""
    if not session.in_transaction():
        return True
    if session.new or session.dirty or session.deleted:
        return False
    try:
        if session.connection().info.get(WROTE_KEY):
            return False
        session.commit()
        return True
    except SQLAlchemyError:
        # Its connection failed in the request (the error was answered already): roll it back.
        log.info("could not commit a transaction that only read", exc_info=True)
        return False


def _begin(connection: Any) -> None:
    read_only = read_only_request()
    connection.info["read_only"] = read_only
    connection.info[WROTE_KEY] = False
    if connection.dialect.name == "sqlite" and not read_only:
        # The driver begins no transaction of its own (isolation_level None): SQLAlchemy's
        # documented recipe for real SQLite transactions, with the BEGIN chosen here. Reads send
        # none: each statement then reads on its own.
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def _watch_writes(conn, cursor, statement, parameters, context, executemany) -> None:
    """Refuse a write in a read-only transaction; note one that may write in a write transaction."""
    verb = statement.lstrip()[:9].upper()
    if verb.startswith(READ_VERBS):
        return
    if conn.info.get("read_only"):
        if verb.startswith(WRITE_VERBS):
            raise WriteInReadOnlyRequest(
                f"{request.method} {request.path} wrote to the database; mark its view with @writes"
            )
        return
    conn.info[WROTE_KEY] = True


def _set_up_sqlite(app: Flask, engine: Engine) -> None:
    """WAL (readers beside a writer), a busy timeout, foreign keys, and no transaction begun by the
    driver itself; WAL checkpoints in a thread, off the request path (`webapp.sqlite_checkpoints`)."""
    checkpointer = None
    path = engine.url.database
    if app.config["SQLITE_BACKGROUND_CHECKPOINTS"] and path and path != ":memory:":
        checkpointer = app.extensions["parley.checkpointer"] = Checkpointer(path)

        @event.listens_for(engine, "commit")
        def on_commit(connection: Any) -> None:
            if connection.info.get(WROTE_KEY):
                checkpointer.committed()

    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection, _record) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        if checkpointer is not None:
            cursor.execute(f"PRAGMA wal_autocheckpoint={FALLBACK_PAGES}")
        cursor.close()


ONE_PLAN = "SET plan_cache_mode = force_generic_plan"
VALUE_PLANS = "SET plan_cache_mode = DEFAULT"  # the server's setting: PostgreSQL's own is `auto`
ONE_PLAN_KEY = "parley_one_plan"  # in a connection's `info`: does it keep one plan per statement?


@contextmanager
def plans_for_values() -> Iterator[None]:
    """Statements in the block are planned for the values they are run with, in a request too:
    for a few heavy statements whose best plan depends on a bound range (a report's dates), where
    planning costs little beside running. Outside requests they always are."""
    session = _session()
    info = session.connection().info
    if not info.get(ONE_PLAN_KEY):
        yield  # SQLite, or work outside a request
        return
    # Unknown until set back: should the block fail (a lost connection, a rollback that undoes
    # the SET), the connection's next checkout sets one plan again, and the error stays the block's.
    info[ONE_PLAN_KEY] = None
    session.execute(text(VALUE_PLANS))
    yield
    session.execute(text(ONE_PLAN))
    info[ONE_PLAN_KEY] = True


def _without_jit(dbapi_connection: Any, _record: Any) -> None:
    """PostgreSQL compiles a statement whose estimated cost passes `jit_above_cost` anew on every
    run. Parley's statements are short; a generic plan's estimate still passes it at times (a
    name search at 100k: 25 ms of compiling for a statement that runs in 80), so JIT stays off for
    its connections."""
    _set_for_the_connection(dbapi_connection, "SET jit = off")


def _set_for_the_connection(dbapi_connection: Any, statement: str) -> None:
    """A SET outside any transaction: it lasts for the connection."""
    autocommit = dbapi_connection.autocommit
    dbapi_connection.autocommit = True
    cursor = dbapi_connection.cursor()
    cursor.execute(statement)
    cursor.close()
    dbapi_connection.autocommit = autocommit


def _plan_for_the_caller(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
    """A request's statements keep one plan per statement and connection, made without looking
    at the bound values; work outside requests (the worker, the CLI) gets plans for its values.

    psycopg prepares a statement once a connection has run it five times. PostgreSQL's default
    then still planned it anew on every run whenever a plan for the values at hand looked cheaper
    than the generic one, and for the inbox's polled statements planning took three times as long
    as running. Requests' statements are written for one plan (keyset pages, LIMITs and a search's
    prefix in the SQL), or run in `plans_for_values()`. The worker's sweeps look for rare rows (a
    queued or scheduled message) by a status and a time: a plan made without the values read the
    whole messages table at 100k (docs/performance.md).

    Set as a connection is taken from the pool, only when it last served the other kind of caller:
    a web server's connections are set once, a worker's never.
    """
    one_plan = has_request_context()
    if record.info.get(ONE_PLAN_KEY, False) == one_plan:
        return
    _set_for_the_connection(dbapi_connection, ONE_PLAN if one_plan else VALUE_PLANS)
    record.info[ONE_PLAN_KEY] = one_plan


def _session() -> Any:
    """The request's `db.session` (this module sits below `webapp.extensions`, which imports it)."""
    return current_app.extensions["sqlalchemy"].session()
