"""`in_list`: a column IN a list bound as one parameter, on SQLite and PostgreSQL alike."""

from __future__ import annotations

from sqlalchemy import event, select

from webapp.extensions import db
from webapp.models import OptOut
from webapp.services.dbutil import in_list, run_core

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


def test_not_in_list_excludes_the_listed_values(app):
    for phone in LISTED:
        db.session.add(OptOut(phone=phone, source="admin"))
    db.session.commit()
    statement = select(OptOut.phone).where(~in_list(OptOut.phone, "phones")).order_by(OptOut.phone)
    assert _phones(statement, [LISTED[0], LISTED[2]]) == [LISTED[1]]
    assert _phones(statement, []) == LISTED
