"""Small database helpers that work the same on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects import postgresql, sqlite

from webapp.extensions import db


def read_rows(statement: Any, params: dict) -> Any:
    """Run a prebuilt read of plain rows (no ORM objects) on the session's connection and
    transaction, without the ORM layer's per-statement work (a third of such a query's cost).
    It does not flush: call it where nothing written in this session is pending."""
    return db.session.connection().execute(statement, params)


def insert_ignoring_conflict(model: type, index_elements: list[str], **values: Any) -> bool:
    """INSERT … ON CONFLICT DO NOTHING; True when a row was inserted. No race, no savepoint."""
    insert = postgresql.insert if db.session.get_bind().dialect.name == "postgresql" else sqlite.insert
    stmt = insert(model).values(**values).on_conflict_do_nothing(index_elements=index_elements)
    # RETURNING tells reliably whether a row went in (rowcount does not on every driver).
    key = next(iter(model.__table__.primary_key.columns))
    return db.session.execute(stmt.returning(key)).first() is not None


def upsert(model: type, index_elements: list[str], values: dict, update: dict) -> None:
    """INSERT … ON CONFLICT DO UPDATE."""
    insert = postgresql.insert if db.session.get_bind().dialect.name == "postgresql" else sqlite.insert
    stmt = insert(model).values(**values).on_conflict_do_update(
        index_elements=index_elements, set_=update
    )
    db.session.execute(stmt)
