"""`in_list` and `run_core`, on SQLite and PostgreSQL alike."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import String, bindparam, cast, event, exists, insert, select
from sqlalchemy.exc import DBAPIError, IntegrityError, NoResultFound

from webapp.extensions import db
from webapp.models import Conversation, Message, OptOut
from webapp.services import sending
from webapp.services.dbutil import ByValues, in_list, run_core

LISTED = ["+12025550101", "+12025550102", "+12025550103"]


def _phones(statement, phones: list[str]) -> list[str]:  # noqa: ANN001
    return list(run_core(statement, {"phones": phones}).scalars())


def test_in_list_finds_the_listed_values_with_one_sql_text_for_every_length(app):
    for phone in LISTED:
        db.session.add(OptOut(phone=phone, source="admin"))
    db.session.commit()
    statement = select(OptOut.phone).where(in_list(OptOut.phone, "phones")).order_by(OptOut.phone)
    texts: list[str] = []

    def record(conn, cursor, text, parameters, context, executemany) -> None:  # noqa: ANN001, ARG001
        texts.append(text)

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        found = [
            _phones(statement, []),
            _phones(statement, [LISTED[1]]),
            _phones(statement, [*LISTED, "+12025550199", LISTED[0]]),
        ]
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
    assert found == [[], [LISTED[1]], LISTED]
    assert len(set(texts)) == 1, texts  # unlike an expanding IN, rewritten per length


def test_by_values_binds_one_value_itself_and_a_list_as_one_parameter(app):
    for phone in LISTED:
        db.session.add(OptOut(phone=phone, source="admin"))
    db.session.commit()
    statement = ByValues(
        "phones", lambda phone_in: select(OptOut.phone).where(phone_in(OptOut.phone)).order_by(OptOut.phone)
    )
    texts: list[str] = []

    def record(conn, cursor, text, parameters, context, executemany) -> None:  # noqa: ANN001, ARG001
        texts.append(text)

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        one = [list(statement.run(phones).scalars()) for phones in ([LISTED[1]], [LISTED[2], LISTED[2]])]
        one_texts, texts[:] = set(texts), []
        several = [
            list(statement.run(phones).scalars())
            for phones in ([], LISTED[:2], [*LISTED, "+12025550199", LISTED[0]])
        ]
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
    assert one == [[LISTED[1]], [LISTED[2]]]
    assert several == [[], LISTED[:2], LISTED]
    assert len(one_texts) == 1 and len(set(texts)) == 1 and one_texts != set(texts)
    (one_text,) = one_texts
    assert "json_each" not in one_text and "ANY" not in one_text, one_text


def test_not_in_list_excludes_the_listed_values(app):
    for phone in LISTED:
        db.session.add(OptOut(phone=phone, source="admin"))
    db.session.commit()
    statement = select(OptOut.phone).where(~in_list(OptOut.phone, "phones")).order_by(OptOut.phone)
    assert _phones(statement, [LISTED[0], LISTED[2]]) == [LISTED[1]]
    assert _phones(statement, []) == LISTED


# run_core runs prebuilt statements on the driver's cursor: its results must be SQLAlchemy's own.
def _both(statement, params: dict) -> tuple[list, list]:  # noqa: ANN001
    ours = run_core(statement, params)
    theirs = db.session.connection().execute(statement, params)
    return [tuple(row) for row in ours], [tuple(row) for row in theirs]


def test_run_core_reads_every_kind_of_value_as_sqlalchemy_does(app, setup):
    number = setup["number"]
    sender = setup["users"]["standard"]
    queued = sending.create_text(sender, number.id, "2025550143", "Hello there", "key-1")
    db.session.commit()
    statement = select(
        Message.id,
        Message.body,
        Message.media_urls,  # JSON
        Message.created_at,  # aware UTC datetime
        Message.error_code,  # NULL
        Conversation.needs_attention,  # boolean
        exists().where(OptOut.phone == Conversation.contact_phone).label("opted_out"),
    ).join(Conversation).where(Message.idempotency_key == bindparam("key"))
    ours, theirs = _both(statement, {"key": "key-1"})
    assert ours == theirs
    assert ours == [(queued.id, "Hello there", [], queued.created_at, None, False, False)]
    row = run_core(statement, {"key": "key-1"}).one()
    assert row.created_at.tzinfo is UTC and row.opted_out is False and row.body == "Hello there"
    assert run_core(statement, {"key": "no such key"}).first() is None


def test_run_core_writes_with_returning_and_binds_values_as_sqlalchemy_does(app, setup):
    moment = datetime(2026, 3, 5, 9, 7, 30, 250_000, tzinfo=UTC)
    statement = (
        insert(OptOut)
        .values(phone=bindparam("phone"), source="admin", created_at=bindparam("at"))
        .returning(OptOut.phone, OptOut.created_at)
    )
    assert run_core(statement, {"phone": "+12025550171", "at": moment}).one() == ("+12025550171", moment)
    db.session.connection().execute(statement, {"phone": "+12025550172", "at": moment})
    stored = select(cast(OptOut.created_at, String)).order_by(OptOut.phone)
    ours, theirs = db.session.scalars(stored).all()
    assert ours == theirs  # stored exactly as SQLAlchemy stores it


def test_run_core_raises_sqlalchemys_errors_and_the_transaction_goes_on(app, setup):
    statement = insert(OptOut).values(
        phone=bindparam("phone"), source="admin", created_at=bindparam("at")
    )
    params = {"phone": "+12025550172", "at": datetime.now(UTC)}
    run_core(statement, params)
    db.session.commit()
    with pytest.raises(IntegrityError):
        run_core(statement, params)
    db.session.rollback()
    assert run_core(select(OptOut.phone), {}).scalars() == ["+12025550172"]
    with pytest.raises(NoResultFound):
        run_core(select(OptOut.phone).where(OptOut.phone == "+1"), {}).one()


def test_a_statement_with_defaults_computed_in_python_runs_through_sqlalchemy(app, setup):
    # created_at is left to the model's default (utcnow), which SQLAlchemy computes per execution.
    statement = insert(OptOut).values(phone=bindparam("phone"), source="admin").returning(OptOut.created_at)
    before = datetime.now(UTC)
    created_at = run_core(statement, {"phone": "+12025550173"}).scalar_one()
    assert before <= created_at <= datetime.now(UTC)


def test_run_core_on_a_lost_connection_raises_sqlalchemys_error_and_discards_it(app, setup):
    connection = db.session.connection()
    connection.connection.driver_connection.close()  # the server went away, say
    with pytest.raises(DBAPIError) as raised:
        run_core(select(OptOut.phone), {})
    assert raised.value.connection_invalidated or connection.invalidated
    db.session.rollback()
    assert run_core(select(OptOut.phone), {}).scalars() == []  # a new connection from the pool


def test_run_core_follows_the_sessions_transaction_through_commits_rollbacks_and_savepoints(app, setup):
    statement = insert(OptOut).values(
        phone=bindparam("phone"), source="admin", created_at=bindparam("at")
    )

    def add(last_digits: int) -> None:
        run_core(statement, {"phone": f"+120255501{last_digits}", "at": datetime.now(UTC)})

    add(81)
    db.session.commit()  # kept
    add(82)
    db.session.rollback()  # undone with the session's transaction
    add(83)
    db.session.add(OptOut(phone="+12025550184", source="admin"))
    db.session.flush()
    add(85)
    with db.session.begin_nested():
        add(86)
    savepoint = db.session.begin_nested()
    add(87)
    savepoint.rollback()  # undone with its savepoint only
    add(88)
    db.session.commit()
    db.session.close()
    stored = db.session.scalars(select(OptOut.phone).order_by(OptOut.phone)).all()
    assert [int(phone[-2:]) for phone in stored] == [81, 83, 84, 85, 86, 88]
