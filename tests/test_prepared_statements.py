"""Requests that only read leave their connection idle, and on PostgreSQL keep the statements
psycopg prepared on it.

psycopg prepares a statement once a connection has run it five times, and drops them all on a
ROLLBACK. On PostgreSQL a read request runs in autocommit (`webapp.transactions`): there is no
transaction to roll back, so the inbox's statements are not planned again on every request. SQLite's
driver keeps its statement cache whatever ends a transaction; CI runs this file on both databases.
"""

from __future__ import annotations

import contextlib
import re
import tempfile
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, event, text
from sqlalchemy.pool import NullPool

from tests.conftest import csrf_token, login
from webapp import transactions
from webapp.extensions import db
from webapp.services import scheduling, sending

HTMX = {"HX-Request": "true"}


@contextlib.contextmanager
def checkouts() -> Iterator[list]:
    """The driver connections taken from the pool inside the block, in order."""
    used: list = []

    def noted(dbapi_connection, record, proxy) -> None:
        used.append(dbapi_connection)

    db.session.commit()
    event.listen(db.engine, "checkout", noted)
    try:
        yield used
    finally:
        event.remove(db.engine, "checkout", noted)


@contextlib.contextmanager
def plan_modes(fragment: str) -> Iterator[list[str]]:
    """PostgreSQL's `plan_cache_mode` as each statement containing `fragment` ran, in order."""
    modes: list[str] = []

    def noted(conn, cursor, statement, parameters, context, executemany) -> None:
        if fragment in statement and "plan_cache_mode" not in statement:
            modes.append(conn.exec_driver_sql("SHOW plan_cache_mode").scalar())

    event.listen(db.engine, "before_cursor_execute", noted)
    try:
        yield modes
    finally:
        event.remove(db.engine, "before_cursor_execute", noted)


def postgresql_only(what: str) -> None:
    """Skip a test of something only a database server has: PostgreSQL's plan cache
    (plan_cache_mode, pg_prepared_statements), or its connections, which it can drop. SQLite has
    neither (its connection is a file), so there is nothing to observe; CI's PostgreSQL run
    (.ci/run) runs every one of these tests."""
    if db.engine.dialect.name != "postgresql":
        # Nothing to observe on SQLite; CI's PostgreSQL run runs the test.
        pytest.skip(f"checks PostgreSQL's {what}; CI runs it on PostgreSQL")


def test_inbox_requests_leave_their_connection_idle_with_its_statements_prepared(client, setup):
    login(client, "standard@example.edu")
    with checkouts() as used:
        for _ in range(8):
            assert client.get("/inbox?tab=attention", headers=HTMX).status_code == 200
    connection = used[-1]
    assert all(c is connection for c in used[-3:])  # one connection, back in the pool each time
    if db.engine.dialect.name == "sqlite":
        # No read transaction left open: it would hold its snapshot of the WAL, and checkpoints
        # could not copy back the pages written after it.
        assert not connection.in_transaction
        return
    assert connection.info.transaction_status.name == "IDLE"  # nothing left open
    prepared = [row[0] for row in connection.execute("SELECT statement FROM pg_prepared_statements")]
    connection.rollback()
    assert any("FROM conversations" in statement for statement in prepared), prepared


def test_a_read_only_request_whose_connection_is_lost_as_it_ends_still_answers(app, client, setup, caplog):
    """The connection lost as the request ends: it only read, so the page still goes out, and the
    next request gets a working connection."""
    lose = []

    # Registered last, so it runs first when the request ends: just before its transaction ends.
    @app.teardown_request
    def lose_the_connection(error: BaseException | None) -> None:
        if lose:
            lose.pop()
            db.session.connection().connection.driver_connection.close()

    login(client, "standard@example.edu")
    lose.append(True)
    response = client.get("/inbox?tab=attention", headers=HTMX)
    assert response.status_code == 200 and "Needs Attention" in response.get_data(as_text=True)
    assert not lose and "could not end a read-only transaction" in caplog.text
    assert client.get("/inbox?tab=attention", headers=HTMX).status_code == 200


def test_the_inbox_and_a_conversation_write_their_limits_into_the_sql(client, setup):
    """A LIMIT written into the statement, not bound (`dbutil.written_limit`): PostgreSQL judged
    its one plan for any bound LIMIT costlier than a plan for the value given, and so planned the
    inbox page again on every request; at 100k that took longer than running it."""
    login(client, "standard@example.edu")
    location = client.post(
        "/texts/new",
        data={"number_id": setup["number"].id, "to": "2025550143", "body": "Hello"},
        headers={**HTMX, "X-CSRFToken": csrf_token(client, "/texts/new")},
    ).headers["HX-Redirect"]
    statements = []

    def noted(conn, cursor, statement, parameters, context, executemany) -> None:
        statements.append(" ".join(statement.split()))

    event.listen(db.engine, "before_cursor_execute", noted)
    try:
        assert client.get("/inbox?tab=attention", headers=HTMX).status_code == 200
        assert client.get(location, headers=HTMX).status_code == 200
    finally:
        event.remove(db.engine, "before_cursor_execute", noted)
    page = [s for s in statements if " UNION " in s and "last_message_preview" in s]
    history = [s for s in statements if "AS newest JOIN messages" in s]  # the newest 500, then joined
    assert len(page) == 1 and len(history) == 1, statements
    for statement in page + history:
        limits = re.findall(r"LIMIT ([^\s)]+)", statement)
        assert limits and all(limit.isdigit() for limit in limits), statement


def test_the_inbox_polls_statements_are_planned_once_per_connection(client, setup):
    """PostgreSQL keeps one plan per statement and connection (`plan_cache_mode =
    force_generic_plan`): by default it planned the polled inbox statements anew on every run,
    which took longer than running them."""
    postgresql_only("plan cache")
    login(client, "standard@example.edu")
    with checkouts() as used:
        for _ in range(12):  # psycopg prepares a statement on its 6th run
            assert client.get("/inbox?tab=attention", headers=HTMX).status_code == 200
    connection = used[-1]
    assert all(c is connection for c in used)  # one connection, back in the pool each time
    mode = connection.execute("SHOW plan_cache_mode").fetchone()[0]
    plans = connection.execute(
        "SELECT statement, generic_plans, custom_plans FROM pg_prepared_statements"
    ).fetchall()
    connection.rollback()
    assert mode == "force_generic_plan"
    version = [row for row in plans if "number_counter" in row[0]]  # the tab's poll tag
    page = [row for row in plans if " UNION " in row[0] and "last_message_preview" in row[0]]
    assert len(version) == 1 and len(page) == 1, plans
    for _statement, generic, custom in version + page:
        assert generic > 0 and custom == 0, plans


def test_a_lookup_by_one_phone_binds_the_phone_itself_and_keeps_its_plans(client, setup):
    """One phone is bound as `= :phone`, not as a list (`dbutil.ByValues`): PostgreSQL's one plan
    for a list assumes ten values and always looked costlier than a plan for the one phone given,
    so a lookup's three statements were planned again on every request."""
    login(client, "standard@example.edu")
    statements = []

    def noted(conn, cursor, statement, parameters, context, executemany) -> None:
        statements.append(" ".join(statement.split()))

    db.session.commit()
    event.listen(db.engine, "before_cursor_execute", noted)
    try:
        # psycopg prepares a statement on its 6th run.
        for _ in range(14):
            response = client.get("/contacts/lookup?phone=2025550143", headers=HTMX)
            assert response.status_code == 200 and "(202) 555-0143" in response.get_data(as_text=True)
    finally:
        event.remove(db.engine, "before_cursor_execute", noted)
    by_phone = {
        table: [s for s in statements if f"FROM {table}" in s]
        for table in ("conversations", "campaign_contacts", "opt_outs")
    }
    assert all(by_phone.values()), statements
    for table, found in by_phone.items():
        assert all("json_each" not in s and "ANY(" not in s for s in found), (table, found)
    if db.engine.dialect.name != "postgresql":
        return
    connection = db.session.connection().connection.driver_connection
    plans = connection.execute(
        "SELECT statement, generic_plans, custom_plans FROM pg_prepared_statements"
    ).fetchall()
    db.session.rollback()
    for table in by_phone:
        prepared = [row for row in plans if f"FROM {table}" in " ".join(row[0].split())]
        assert prepared and all(generic > 0 for _s, generic, _c in prepared), (table, prepared)


def test_reads_run_in_autocommit_and_writes_always_in_a_transaction(client, setup):
    """A read-only request skips BEGIN and COMMIT, on both databases (on PostgreSQL two round
    trips, as long as two queries): each statement reads on its own snapshot, as under READ
    COMMITTED in a transaction. A compose's writes run in one transaction, after its checks."""
    sqlite = db.engine.dialect.name == "sqlite"
    login(client, "standard@example.edu")
    token = csrf_token(client, "/texts/new")
    number_id = setup["number"].id
    seen = []

    def noted(conn, cursor, statement, parameters, context, executemany) -> None:
        if statement.startswith("BEGIN"):
            return  # SQLite's transaction control
        driver = conn.connection.driver_connection
        in_transaction = driver.in_transaction if sqlite else not driver.autocommit
        seen.append((statement.split()[0].upper(), in_transaction))

    db.session.commit()
    event.listen(db.engine, "before_cursor_execute", noted)
    try:
        assert client.get("/inbox?tab=attention", headers=HTMX).status_code == 200
        reads, seen[:] = list(seen), []
        response = client.post(
            "/texts/new",
            data={"number_id": number_id, "to": "2025550143", "body": "Hello"},
            headers={**HTMX, "X-CSRFToken": token},
        )
        assert response.status_code == 204
    finally:
        event.remove(db.engine, "before_cursor_execute", noted)
    assert reads and not any(in_transaction for _verb, in_transaction in reads), reads
    writes = [in_transaction for verb, in_transaction in seen if verb in ("INSERT", "UPDATE", "DELETE")]
    assert len(writes) >= 2 and all(writes), seen
    # The compose's checks read before its writes: on SQLite outside the write transaction (the
    # write lock is not held while checking), on PostgreSQL in it (reading takes no lock there).
    assert seen[0] == ("SELECT", not sqlite), seen


def test_a_compose_takes_one_pool_connection_on_postgresql_one_per_block_on_sqlite(app, client, setup):
    """A write request's reads begin its transaction on PostgreSQL: a compose takes one connection
    from the pool, where it took one for the signed-in user, one for its checks and one for its
    writes. On SQLite the reads end their own transaction before the writes take the write lock,
    which hands the connection back between."""
    app.extensions["parley.huey"].immediate = False  # the text is only queued, as in production
    login(client, "standard@example.edu")
    token = csrf_token(client, "/texts/new")
    number_id = setup["number"].id
    with checkouts() as used:
        response = client.post(
            "/texts/new",
            data={"number_id": number_id, "to": "2025550143", "body": "Hello"},
            headers={**HTMX, "X-CSRFToken": token},
        )
    assert response.status_code == 204
    # SQLite: the signed-in user's read, the checks' read, then the writes.
    assert len(used) == (1 if db.engine.dialect.name == "postgresql" else 3), used


def test_an_unchanged_poll_is_one_round_trip_to_postgresql(client, setup, monkeypatch):
    """A connection back in the pool moments ago is checked without a query (no `;` sent first to
    see that it is alive): an unchanged poll sends its one statement and waits for one answer."""
    postgresql_only("pooled connections")
    import psycopg

    monkeypatch.setattr(transactions, "PING_AFTER_IDLE_SECONDS", 60.0)  # however slow the machine
    login(client, "standard@example.edu")
    with checkouts() as used:
        etag = client.get("/inbox?tab=attention", headers=HTMX).headers["ETag"]
    connection = used[-1]
    with tempfile.TemporaryFile() as trace, checkouts() as used:
        connection.pgconn.trace(trace.fileno())
        connection.pgconn.set_trace_flags(psycopg.pq.Trace.SUPPRESS_TIMESTAMPS)
        try:
            response = client.get("/inbox?tab=attention", headers={**HTMX, "If-None-Match": etag})
        finally:
            connection.pgconn.untrace()
        trace.seek(0)
        messages = trace.read().decode().splitlines()
    assert response.status_code == 304 and used == [connection]
    # Each line: who sent it (F: the client, B: the server), its length, its type, its fields.
    sent = [line.split("\t")[2] for line in messages if line.startswith("F\t")]
    answers = [line for line in messages if line.startswith("B\t") and "\tReadyForQuery" in line]
    assert "Execute" in sent and "Query" not in sent and len(answers) == 1, messages


@pytest.mark.parametrize("idle_limit", [3600.0, 0.0], ids=["used-moments-ago", "idle-then-pinged"])
def test_a_connection_the_server_dropped_is_replaced_without_failing_the_request(
    client, setup, monkeypatch, idle_limit
):
    """PostgreSQL restarted, failed over or ended a backend (pg_terminate_backend) while its
    connection sat in the pool: the next request gets a new connection and answers as usual,
    whether the pooled one is checked by its socket (used moments ago) or by a query (idle)."""
    postgresql_only("pooled connections")
    monkeypatch.setattr(transactions, "PING_AFTER_IDLE_SECONDS", idle_limit)
    login(client, "standard@example.edu")
    with checkouts() as used:
        assert client.get("/inbox?tab=attention", headers=HTMX).status_code == 200
    pooled = used[-1]
    dropped = pooled.info.backend_pid
    outside = create_engine(db.engine.url, poolclass=NullPool)  # not one of the pool's connections
    with outside.connect() as conn:
        # With a timeout, it returns once the backend has ended (and sent its goodbye).
        assert conn.scalar(text("SELECT pg_terminate_backend(:pid, 5000)"), {"pid": dropped})
    outside.dispose()
    replaced = []

    def noted(dbapi_connection, record, exception) -> None:
        replaced.append(dbapi_connection)

    event.listen(db.engine, "invalidate", noted)
    try:
        with checkouts() as used:
            response = client.get("/inbox?tab=attention", headers=HTMX)
    finally:
        event.remove(db.engine, "invalidate", noted)
    assert response.status_code == 200 and "Needs Attention" in response.get_data(as_text=True)
    # The pool's connection was the one dropped, and it was replaced.
    assert len(replaced) == 1 and replaced[0] is pooled
    assert used and used[-1].info.backend_pid != dropped
    # Outside requests too (the worker, the CLI): a query on a fresh session just works.
    with outside.connect() as conn:
        conn.scalar(text("SELECT pg_terminate_backend(:pid, 5000)"), {"pid": used[-1].info.backend_pid})
    outside.dispose()
    assert db.session.scalar(text("SELECT 1")) == 1


@contextlib.contextmanager
def transaction_ends() -> Iterator[list[str]]:
    """"commit" or "rollback" for each transaction ended in the block, in order."""
    ends: list[str] = []
    listeners = [(name, lambda _conn, name=name: ends.append(name)) for name in ("commit", "rollback")]
    for name, listener in listeners:
        event.listen(db.engine, name, listener)
    try:
        yield ends
    finally:
        for name, listener in listeners:
            event.remove(db.engine, name, listener)


def test_a_write_request_that_writes_nothing_commits_and_keeps_the_prepared_statements(client, setup):
    """A refused compose read (the signed-in user, the number) and wrote nothing: its transaction
    ends with COMMIT, not ROLLBACK, on which psycopg drops every statement the connection had
    prepared, the polls' too."""
    login(client, "standard@example.edu")
    token = csrf_token(client, "/texts/new")
    with checkouts() as used:
        for _ in range(8):  # psycopg prepares a statement on its 6th run
            assert client.get("/inbox?tab=attention", headers=HTMX).status_code == 200
        with transaction_ends() as ends:
            refused = client.post(
                "/texts/new",
                data={"number_id": setup["number"].id, "to": "2025550143", "body": ""},
                headers={"X-CSRFToken": token},
            )
    assert refused.status_code == 422, refused.status_code
    assert ends and "rollback" not in ends, ends
    if db.engine.dialect.name != "postgresql":
        return  # SQLite's driver keeps its statement cache whatever ends a transaction
    connection = used[-1]
    assert all(c is connection for c in used[-3:])  # the polls' connection served the compose
    prepared = [row[0] for row in connection.execute("SELECT statement FROM pg_prepared_statements")]
    connection.rollback()
    assert any("number_counter" in statement for statement in prepared), prepared


def test_a_write_request_that_wrote_and_did_not_commit_is_still_rolled_back(app, client, setup):
    """Only a transaction that wrote nothing commits as the request ends: a view that wrote (a
    statement, or a change to a loaded row) and answered without committing leaves nothing."""
    from flask import abort

    from webapp.models import Office

    office_id = setup["office"].id

    @app.post("/test-only/write-then-refuse/<kind>")
    def write_then_refuse(kind: str):
        if kind == "statement":
            db.session.execute(Office.__table__.update().values(name="Changed by statement"))
        elif kind == "cte":  # a write that does not start with its verb counts as one too
            db.session.execute(
                text(
                    "WITH renamed AS (SELECT 'Changed by CTE' AS name) "
                    "UPDATE offices SET name = (SELECT name FROM renamed)"
                )
            )
        else:
            db.session.get(Office, office_id).name = "Changed on the row"
            if kind == "flushed":  # written, and no longer a pending change of the session
                db.session.flush()
        abort(409)

    login(client, "standard@example.edu")
    token = csrf_token(client, "/texts/new")
    for kind in ("statement", "cte", "row", "flushed"):
        with transaction_ends() as ends:
            answer = client.post(f"/test-only/write-then-refuse/{kind}", headers={"X-CSRFToken": token})
        assert answer.status_code == 409
        assert ends[-1] == "rollback", (kind, ends)  # SQLite commits the signed-in user's read before
    db.session.expire_all()
    assert db.session.get(Office, office_id).name == "Admissions"


def test_a_report_is_planned_for_its_range_and_leaves_one_plan_per_statement_after(app, client, setup):
    """A report's statements are planned for its dates (`transactions.plans_for_values`): with one
    plan made without them, the Reports page took three times as long at 100k. The connection goes
    back to one plan per statement afterwards."""
    postgresql_only("plan cache")
    login(client, "admin@example.edu")
    with checkouts() as used, plan_modes("FROM messages") as modes:
        response = client.get("/reports?range=30")
    assert response.status_code == 200 and "Texts per day" in response.get_data(as_text=True)
    assert modes and set(modes) == {"auto"}, modes
    after = used[-1].execute("SHOW plan_cache_mode").fetchone()[0]
    used[-1].rollback()
    assert after == "force_generic_plan"


def test_work_outside_requests_is_planned_for_its_values(app, client, setup):
    """The worker's sweeps look for rare rows by a status and a time (a queued message nobody
    picked up, a scheduled one now due): at 100k, a plan made without those values read the whole
    messages table, 200 ms a sweep instead of 0.1 ms. So work outside a request (the worker, the
    CLI) gets PostgreSQL's default, and a connection that serves both kinds is switched as it is
    taken from the pool."""
    postgresql_only("plan cache")
    login(client, "standard@example.edu")
    with checkouts() as used:
        with plan_modes("FROM ") as in_request:
            assert client.get("/inbox?tab=attention", headers=HTMX).status_code == 200
        # The worker's sweeps, run here outside any request (the test's own app context).
        with plan_modes("FROM ") as outside:
            assert sending.stuck_message_ids() == [] and scheduling.due_message_ids() == []
        with plan_modes("FROM ") as in_request_again:
            assert client.get("/inbox?tab=attention", headers=HTMX).status_code == 200
    assert len(set(used)) == 1  # one connection served all three, switched each time
    assert in_request and set(in_request) == {"force_generic_plan"}, in_request
    assert outside and set(outside) == {"auto"}, outside
    assert in_request_again and set(in_request_again) == {"force_generic_plan"}, in_request_again


def test_a_failed_block_planned_for_its_values_keeps_its_error_and_the_next_request_one_plan(
    app, client, setup
):
    """A block in `plans_for_values()` that fails on a lost connection raises its own error, not
    the failed attempt to set one plan back; the connection's next request has one plan again."""
    postgresql_only("plan cache")
    login(client, "admin@example.edu")
    db.session.commit()
    with app.test_request_context("/reports"):
        with pytest.raises(ValueError, match="the report's own error"):
            with transactions.plans_for_values():
                db.session.connection().invalidate()  # the connection is lost
                raise ValueError("the report's own error")
        db.session.remove()
    with plan_modes("FROM conversations") as modes:
        for _ in range(3):
            assert client.get("/inbox?tab=attention", headers=HTMX).status_code == 200
    assert modes and set(modes) == {"force_generic_plan"}, modes


def test_requests_and_the_worker_run_without_jit_compiling(app, client, setup):
    """PostgreSQL would compile a statement whose estimate passes `jit_above_cost` on every run
    (a name search at 100k spent 25 ms compiling for 80 ms of work): Parley's connections run
    without it, in requests and outside them, the server's own setting notwithstanding."""
    postgresql_only("JIT setting")
    login(client, "standard@example.edu")
    with checkouts() as used:
        assert client.get("/search?q=Maria", headers=HTMX).status_code == 200
        with db.engine.connect() as outside:  # the request's connection, back in the pool
            assert outside.exec_driver_sql("SHOW jit").scalar() == "off"
    assert len(set(used)) == 1
    with db.engine.connect() as fresh:  # a connection the pool makes anew has it too
        fresh.invalidate()
    with db.engine.connect() as replaced:
        assert replaced.exec_driver_sql("SHOW jit").scalar() == "off"
