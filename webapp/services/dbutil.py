"""Small database helpers that work the same on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from functools import lru_cache
from typing import Any

from sqlalchemy import Result, String, bindparam, literal_column
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import ColumnElement
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import TypeDecorator

from webapp.extensions import db

# Every id column is a 32-bit integer (PostgreSQL's `integer`): a larger number names no row.
MAX_ROW_ID = 2**31 - 1


def row_id(value: str | None) -> int | None:
    """The row id a form or query value names (ASCII digits, at most MAX_ROW_ID); None for anything
    else, which names no row (never a number the database would refuse). Its length is checked
    first: Python refuses to read an integer of over 4,300 digits (ValueError)."""
    value = (value or "").strip()
    if value.isascii() and value.isdigit() and len(value) <= 20 and int(value) <= MAX_ROW_ID:
        return int(value)
    return None


def unstorable(text: str) -> str | None:
    """Why no text column can keep `text`, or None: PostgreSQL refuses NUL characters, and a lone
    surrogate (which JSON's escapes and Python allow) has no UTF-8."""
    if "\x00" in text:
        return "must not contain NUL characters"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "must be valid Unicode text"
    return None


def written_limit(rows: int) -> ColumnElement[int]:
    """A prebuilt statement's LIMIT written into its SQL, not bound: PostgreSQL plans a bound LIMIT
    as if it could be anything, judges that plan costlier than one made for the value given, and
    so plans the statement again on every run. Use it where the limit is part of the statement's
    shape (statements cached per limit)."""
    return literal_column(str(int(rows)))


class _ListValue(TypeDecorator):
    """A Python list bound as one parameter: JSON text for SQLite's json_each, an array of the
    column's type for PostgreSQL."""

    impl = String
    cache_ok = True

    def __init__(self, item_type: Any) -> None:
        super().__init__()
        self.item_type = item_type

    def load_dialect_impl(self, dialect) -> Any:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(postgresql.ARRAY(self.item_type))
        return dialect.type_descriptor(String())

    def process_bind_param(self, value: Any, dialect) -> Any:
        values = list(value)
        return json.dumps(values) if dialect.name == "sqlite" else values


class _InList(FunctionElement):
    """`column IN (the values of a list)`: a construct of SQLAlchemy's documented compiler
    extension (`sqlalchemy.ext.compiler`), whose two arguments are the column and the list. It has
    no SQL type, not Boolean: SQLite would otherwise compare it with 1, which no index serves."""

    name = "in_list"
    inherit_cache = True


def in_list(column: Any, name: str) -> ColumnElement[bool]:
    """`column IN (the values of a list)`, the list bound as one parameter named `name`.

    SQLAlchemy's expanding IN writes one placeholder per value, so its SQL differs with the list's
    length and every length is a new statement to the database; this SQL is the same for all."""
    return _InList(column, bindparam(name, type_=_ListValue(column.type)))


# @compiles: the list becomes rows the way each database reads a bound list (json_each on SQLite,
# an array on PostgreSQL); SQLAlchemy has no construct that binds a whole list as one parameter.
@compiles(_InList, "sqlite")
def _in_list_sqlite(element: _InList, compiler: Any, **kw: Any) -> str:
    column, values = (compiler.process(clause, **kw) for clause in element.clauses)
    return f"({column} IN (SELECT value FROM json_each({values})))"


@compiles(_InList)
def _in_list_postgresql(element: _InList, compiler: Any, **kw: Any) -> str:
    column, values = (compiler.process(clause, **kw) for clause in element.clauses)
    return f"({column} = ANY({values}))"


class ByValues:
    """A prebuilt statement that filters a column by values bound as one parameter, built in two
    forms: `column = :name` when one value is given (a contact lookup, a webhook's phone),
    `in_list` for several (a page of the inbox).

    One value is the common case, and `= :name` is a plain index probe planned for one row, where a
    list costs an array (PostgreSQL) or json_each (SQLite) and a plan made for ten values.
    `build` gets the condition for a column and returns the statement."""

    def __init__(self, name: str, build: Callable[[Callable[[Any], ColumnElement[bool]]], Any]) -> None:
        self.name = name
        self.one = build(lambda column: column == bindparam(name))
        self.many = build(lambda column: in_list(column, name))

    def run(self, values: Iterable, params: dict | None = None) -> Result:
        distinct = list(dict.fromkeys(values))
        if len(distinct) == 1:
            return db.session.execute(self.one, {**(params or {}), self.name: distinct[0]})
        return db.session.execute(self.many, {**(params or {}), self.name: distinct})


def insert_ignoring_conflict(model: type, index_elements: list[str], **values: Any) -> bool:
    """INSERT … ON CONFLICT DO NOTHING; True when a row was inserted. No race, no savepoint."""
    statement = _insert_ignoring(_dialect(), model, tuple(index_elements), tuple(sorted(values)))
    return db.session.execute(statement, _bound("v_", values)).first() is not None


def upsert(model: type, index_elements: list[str], values: dict, update: dict) -> None:
    """INSERT … ON CONFLICT DO UPDATE."""
    shape = (tuple(index_elements), tuple(sorted(values)), tuple(sorted(update)))
    statement = _upsert(_dialect(), model, *shape)
    db.session.execute(statement, {**_bound("v_", values), **_bound("u_", update)})


# The statements are built once per table and set of columns, and bound per call: building
# them is most of their cost. Parameters are prefixed: a column's own name is reserved.
def _dialect() -> str:
    return db.session.get_bind().dialect.name


def dialect_insert(dialect: str):
    """The INSERT construct with ON CONFLICT for the database's dialect."""
    return postgresql.insert if dialect == "postgresql" else sqlite.insert


def _bound(prefix: str, values: dict) -> dict:
    return {f"{prefix}{key}": value for key, value in values.items()}


def _params(model: type, prefix: str, keys: tuple) -> dict:
    columns = model.__table__.c
    return {key: bindparam(f"{prefix}{key}", type_=columns[key].type) for key in keys}


@lru_cache(maxsize=64)
def _insert_ignoring(dialect: str, model: type, index_elements: tuple, keys: tuple):
    insert = dialect_insert(dialect)
    statement = insert(model.__table__).values(_params(model, "v_", keys))
    # RETURNING tells reliably whether a row went in (rowcount does not on every driver).
    key = next(iter(model.__table__.primary_key.columns))
    return statement.on_conflict_do_nothing(index_elements=list(index_elements)).returning(key)


@lru_cache(maxsize=64)
def _upsert(dialect: str, model: type, index_elements: tuple, keys: tuple, update: tuple):
    insert = dialect_insert(dialect)
    return (
        insert(model.__table__)
        .values(_params(model, "v_", keys))
        .on_conflict_do_update(
            index_elements=list(index_elements), set_=_params(model, "u_", update)
        )
    )
