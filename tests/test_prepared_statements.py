"""PostgreSQL: requests that only read keep the statements psycopg prepared on their connection.

psycopg prepares a statement once a connection has run it five times, and drops them all on a
ROLLBACK. A read-only request's transaction therefore ends with COMMIT: ended with the session's
ROLLBACK, every request would plan the inbox's statements again (issue 8).
"""

from __future__ import annotations

import pytest
from sqlalchemy import event

from tests.conftest import login
from webapp.extensions import db

HTMX = {"HX-Request": "true"}


def test_inbox_statements_stay_prepared_across_requests(client, setup):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("psycopg's prepared statements: PostgreSQL only (SQLite keeps its own cache)")
    login(client, "standard@example.edu")
    used = []  # the driver connections the requests ran on

    def noted(dbapi_connection, record, proxy) -> None:  # noqa: ANN001, ARG001
        used.append(dbapi_connection)

    db.session.commit()
    event.listen(db.engine, "checkout", noted)
    try:
        for _ in range(8):
            assert client.get("/inbox?tab=attention", headers=HTMX).status_code == 200
    finally:
        event.remove(db.engine, "checkout", noted)
    connection = used[-1]
    assert all(c is connection for c in used[-3:])  # one connection, back in the pool each time
    assert connection.info.transaction_status.name == "IDLE"  # nothing left open
    prepared = [row[0] for row in connection.execute("SELECT statement FROM pg_prepared_statements")]
    connection.rollback()
    assert any("FROM conversations" in statement for statement in prepared), prepared


def test_a_read_only_request_whose_commit_fails_still_answers(client, setup, caplog):
    """The connection lost as the request ends: it only read, so the page still goes out, and the
    next request gets a working connection."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("the COMMIT that ends a read-only request: PostgreSQL only")
    import psycopg

    login(client, "standard@example.edu")
    broken = []

    def break_commit(dbapi_connection, record, proxy) -> None:  # noqa: ANN001, ARG001
        def commit() -> None:
            del dbapi_connection.commit  # only this once
            broken.append(dbapi_connection)
            raise psycopg.OperationalError("server closed the connection unexpectedly")

        dbapi_connection.commit = commit

    db.session.commit()
    event.listen(db.engine, "checkout", break_commit, once=True)
    response = client.get("/inbox?tab=attention", headers=HTMX)
    assert response.status_code == 200 and "Needs Attention" in response.get_data(as_text=True)
    assert broken and "could not end a read-only transaction" in caplog.text
    assert client.get("/inbox?tab=attention", headers=HTMX).status_code == 200
