"""`in_list`, `ByValues` and `insert_ignoring_conflict`, on SQLite and PostgreSQL alike."""

from __future__ import annotations

from sqlalchemy import event, select

from webapp.extensions import db
from webapp.models import OptOut
from webapp.services.dbutil import ByValues, in_list, insert_ignoring_conflict

LISTED = ["+12025550101", "+12025550102", "+12025550103"]


def _phones(statement, phones: list[str]) -> list[str]:
    return list(db.session.execute(statement, {"phones": phones}).scalars())


def test_in_list_finds_the_listed_values_with_one_sql_text_for_every_length(app):
    for phone in LISTED:
        db.session.add(OptOut(phone=phone, source="admin"))
    db.session.commit()
    statement = select(OptOut.phone).where(in_list(OptOut.phone, "phones")).order_by(OptOut.phone)
    texts: list[str] = []

    def record(conn, cursor, text, parameters, context, executemany) -> None:
        if not text.startswith("BEGIN"):  # SQLite's transaction control
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

    def record(conn, cursor, text, parameters, context, executemany) -> None:
        if not text.startswith("BEGIN"):  # SQLite's transaction control
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


def test_insert_ignoring_conflict_tells_whether_it_inserted_and_keeps_the_first_row(app):
    assert insert_ignoring_conflict(OptOut, ["phone"], phone=LISTED[0], source="keyword")
    assert not insert_ignoring_conflict(OptOut, ["phone"], phone=LISTED[0], source="admin")
    db.session.commit()
    assert db.session.execute(select(OptOut.source)).scalars().all() == ["keyword"]
