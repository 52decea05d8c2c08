"""Parley: a 1:1 texting inbox. `create_app()` builds the Flask app; there is no module-level app."""

from __future__ import annotations

import logging
import sqlite3
import time
from pathlib import Path

from dotenv import load_dotenv
from flask import Flask, Response, current_app, request
from flask_compress import Compress
from sqlalchemy import event
from werkzeug.middleware.proxy_fix import ProxyFix

from webapp.config import Config
from webapp.extensions import csrf, db, htmx, login_manager, migrate
from webapp.models.types import render_migration_item
from webapp.plugin_api.registry import load_plugins
from webapp.sqlite_checkpoints import FALLBACK_PAGES, Checkpointer

ROOT = Path(__file__).resolve().parent.parent
log = logging.getLogger(__name__)
BUSY_TIMEOUT_MS = 5000  # SQLite: how long a statement waits for a lock before "database is locked"

# Flask-Compress (issue 8): brotli or gzip, only when the client asks (Accept-Encoding), only for text,
# never for bodies under 500 bytes. Static files are streamed responses, hence the streaming list too.
# A config object may override any of these.
COMPRESSION = {
    "COMPRESS_ALGORITHM": ["br", "gzip"],
    "COMPRESS_ALGORITHM_STREAMING": ["br", "gzip"],
    "COMPRESS_LEVEL": 6,  # gzip
    "COMPRESS_BR_LEVEL": 5,  # measured: smaller than gzip -6 on our CSS, JS and pages, no slower
    "COMPRESS_MIN_SIZE": 500,
    "COMPRESS_MIMETYPES": [
        "text/html",
        "text/css",
        "text/javascript",
        "application/javascript",
        "application/json",
        "image/svg+xml",
    ],
    "COMPRESS_REGISTER": False,  # registered below, with the exceptions of _compress()
}


def create_app(config: object | None = None) -> Flask:
    load_dotenv()
    app = Flask(
        __name__,
        instance_path=str(ROOT / "instance"),
        template_folder=str(ROOT / "templates"),
    )
    app.config.from_object(config if config is not None else Config(app.instance_path))
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)

    db.init_app(app)
    with app.app_context():
        if db.engine.dialect.name == "sqlite":
            _tune_sqlite(app, db.engine)
        _watch_transactions(db.engine)
    _end_reads_with_commit(app)
    migrate.init_app(
        app,
        db,
        directory=str(ROOT / "migrations"),
        render_as_batch=True,
        render_item=render_migration_item,
    )
    login_manager.init_app(app)
    from webapp.web import request_limits

    request_limits.init_app(app)  # first: the CSRF check reads the body
    csrf.init_app(app)
    if app.config["TRUSTED_PROXIES"]:
        # Behind reverse proxies, the client's address (login throttling) is the one they forward.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=app.config["TRUSTED_PROXIES"])
    htmx.init_app(app)
    for key, value in COMPRESSION.items():
        app.config.setdefault(key, value)
    # One Compress per app: it keeps the app's settings on itself when initialised.
    app.extensions["compress"] = Compress(app)
    app.after_request(_compress)

    from webapp.services.plugin_records import records
    from webapp.tasks import init_queue

    app.extensions["parley"] = load_plugins(app.config, records())
    init_queue(app)

    from webapp import cli, web

    web.register(app)
    cli.register(app)
    return app


def _compress(response: Response) -> Response:
    """Flask-Compress's own hook, except for /healthz (the benchmark baseline stays bare) and partial
    content (a 206's Content-Range counts uncompressed bytes)."""
    if request.endpoint == "health.healthz" or response.status_code == 206:
        return response
    body = response.response
    response = current_app.extensions["compress"].after_request(response)
    if response.response is not body and hasattr(body, "close"):
        # A streamed body (a static file) was wrapped in a compressing generator, or dropped for a 304:
        # closing the response must still close the file.
        response.call_on_close(body.close)
    return response


def _tune_sqlite(app: Flask, engine) -> None:  # noqa: ANN001
    """WAL, a busy timeout and real transactions (begun by `_watch_transactions`) on every SQLite
    connection; WAL checkpoints in a thread, off the request path (`webapp.sqlite_checkpoints`)."""
    checkpointer = None
    path = engine.url.database
    if app.config["SQLITE_BACKGROUND_CHECKPOINTS"] and path and path != ":memory:":
        checkpointer = app.extensions["parley.checkpointer"] = Checkpointer(path)
        event.listen(engine, "commit", lambda _connection: checkpointer.committed())

    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection, _record) -> None:  # noqa: ANN001
        dbapi_connection.isolation_level = None  # let SQLAlchemy (below) emit BEGIN itself
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        if checkpointer is not None:
            cursor.execute(f"PRAGMA wal_autocheckpoint={FALLBACK_PAGES}")
        cursor.close()


def _end_reads_with_commit(app: Flask) -> None:
    """A request that only read ends its transaction with COMMIT, not the ROLLBACK of the session's
    removal. For a read-only transaction the two end it alike, but on PostgreSQL a ROLLBACK also
    drops every statement psycopg prepared on the connection (it prepares a statement run five
    times): every request would plan its statements again, which costs more than running them
    (issue 8). PostgreSQL's reads now run without a transaction (`_watch_transactions`), where
    both are no-ops; both databases still run the same code. Registered after Flask-SQLAlchemy's
    teardown, so it runs before it."""

    @app.teardown_appcontext
    def end_reads(error: BaseException | None) -> None:
        if error is not None or not db.session.registry.has():
            return
        session = db.session()
        if not session.in_transaction():
            return
        connection = session.connection()
        if connection.info.get("read_only"):
            try:
                connection.connection.driver_connection.commit()
            except Exception:  # a lost connection: it only read, so the answer stands
                log.warning("could not end a read-only transaction", exc_info=True)
                # Discarded, not rolled back by the session's removal, which would fail the same way.
                connection.invalidate()


def _watch_transactions(engine) -> None:  # noqa: ANN001
    """Each transaction knows whether its request only reads (`webapp.db_access`); a write in one
    that does fails at once, on both databases.

    On SQLite this also picks the BEGIN. A transaction that may write starts with BEGIN IMMEDIATE
    (see `_begin_immediate`): writers queue for the lock instead of failing with "database is
    locked" when a read turns into a write, which a deferred transaction cannot do once another
    writer has committed. Read-only requests start a plain (deferred) BEGIN and run beside each
    other and beside a writer. On PostgreSQL reads run in autocommit, without BEGIN or COMMIT.
    """
    from webapp.db_access import guard_read_only, read_only_request

    sqlite = engine.dialect.name == "sqlite"

    @event.listens_for(engine, "begin")
    def on_begin(connection) -> None:  # noqa: ANN001
        read_only = read_only_request()
        connection.info["read_only"] = read_only
        connection.info.pop("begin_writing", None)
        driver = connection.connection.driver_connection
        # On the driver's connection: a BEGIN through SQLAlchemy costs as much as a query.
        if sqlite and read_only:
            driver.execute("BEGIN")
        elif sqlite:
            _begin_immediate(driver)
        elif driver.autocommit != read_only:
            # PostgreSQL: reads run without BEGIN and COMMIT, two round trips to the server that
            # cost as much as two queries (issue 8). Under READ COMMITTED each statement of a
            # transaction sees its own snapshot anyway, so reads see exactly what they would.
            driver.autocommit = read_only

    @event.listens_for(engine, "commit")
    @event.listens_for(engine, "rollback")
    def on_end(connection) -> None:  # noqa: ANN001
        if connection.invalidated:
            return  # its driver connection is gone; the pool clears its info on reconnecting
        connection.info.pop("read_only", None)
        connection.info.pop("begin_writing", None)

    event.listen(engine, "before_cursor_execute", guard_read_only)
    if sqlite:

        @event.listens_for(engine, "before_cursor_execute")
        def begin_pending_write(connection, cursor, statement, parameters, context, executemany) -> None:  # noqa: ANN001, ARG001
            """After a `read_first` block: its reads' transaction has ended, the write begins now."""
            if connection.info.pop("begin_writing", False):
                _begin_immediate(connection.connection.driver_connection)


def _begin_immediate(dbapi_connection) -> None:  # noqa: ANN001
    """BEGIN IMMEDIATE, waiting for the write lock in steps of a fraction of a millisecond.

    SQLite's own busy handler sleeps 1, 2, 5, 10… ms between tries: a writer waiting behind a
    2 ms transaction often sleeps 8 ms. Short steps hand the lock over soon after it is free.
    """
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    pause = 0.0002
    dbapi_connection.execute("PRAGMA busy_timeout=0")
    try:
        while True:
            try:
                dbapi_connection.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
            time.sleep(pause)
            pause = min(pause * 1.5, 0.002)
    finally:
        dbapi_connection.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
