"""Small database helpers that work the same on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from sqlalchemy import Boolean, String, bindparam
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import ColumnElement
from sqlalchemy.sql.visitors import InternalTraversal
from sqlalchemy.types import TypeDecorator

from webapp.extensions import db


def run_core(statement: Any, params: dict) -> Any:
    """Run a prebuilt Core statement (plain rows, no ORM objects) on the session's connection and
    transaction, without the ORM layer's per-statement work (two thirds of a short statement's
    cost). It does not flush: call it where nothing written in this session is pending, or flush
    first. ORM objects already loaded do not see what it writes until they are expired."""
    return db.session.connection().execute(statement, params)


class _ListValue(TypeDecorator):
    """A Python list bound as one parameter: JSON text for SQLite's json_each, an array of the
    column's type for PostgreSQL."""

    impl = String
    cache_ok = True

    def __init__(self, item_type: Any) -> None:
        super().__init__()
        self.item_type = item_type

    def load_dialect_impl(self, dialect) -> Any:  # noqa: ANN001
        if dialect.name == "postgresql":
            return dialect.type_descriptor(postgresql.ARRAY(self.item_type))
        return dialect.type_descriptor(String())

    def process_bind_param(self, value: Any, dialect) -> Any:  # noqa: ANN001
        values = list(value)
        return json.dumps(values) if dialect.name == "sqlite" else values


class in_list(ColumnElement[bool]):  # noqa: N801 (used like SQLAlchemy's lowercase constructs)
    """`column IN (the values of a list)`, the list bound as one parameter named `name`.

    SQLAlchemy's expanding IN rewrites the SQL for every call (one placeholder per value), which
    costs more than a short query itself (issue 8); this SQL is the same whatever the list's length.
    """

    type = Boolean()
    _is_implicitly_boolean = True  # a condition as it stands: SQLite needs no "= 1" after it
    inherit_cache = True
    _traverse_internals = [
        ("column", InternalTraversal.dp_clauseelement),
        ("values", InternalTraversal.dp_clauseelement),
    ]

    def __init__(self, column: Any, name: str) -> None:
        self.column = column
        self.values = bindparam(name, type_=_ListValue(column.type))


@compiles(in_list, "sqlite")
def _in_list_sqlite(element: in_list, compiler: Any, **kw: Any) -> str:
    column, values = compiler.process(element.column, **kw), compiler.process(element.values, **kw)
    return f"{column} IN (SELECT value FROM json_each({values}))"


@compiles(in_list)
def _in_list_postgresql(element: in_list, compiler: Any, **kw: Any) -> str:
    column, values = compiler.process(element.column, **kw), compiler.process(element.values, **kw)
    return f"{column} = ANY({values})"


def insert_ignoring_conflict(model: type, index_elements: list[str], **values: Any) -> bool:
    """INSERT … ON CONFLICT DO NOTHING; True when a row was inserted. No race, no savepoint."""
    statement = _insert_ignoring(_dialect(), model, tuple(index_elements), tuple(sorted(values)))
    db.session.flush()
    return run_core(statement, _bound("v_", values)).first() is not None


def upsert(model: type, index_elements: list[str], values: dict, update: dict) -> None:
    """INSERT … ON CONFLICT DO UPDATE."""
    shape = (tuple(index_elements), tuple(sorted(values)), tuple(sorted(update)))
    statement = _upsert(_dialect(), model, *shape)
    db.session.flush()
    run_core(statement, {**_bound("v_", values), **_bound("u_", update)})


# The statements are built once per table and set of columns, and bound per call: building
# them is most of their cost. Parameters are prefixed: a column's own name is reserved.
def _dialect() -> str:
    return db.session.get_bind().dialect.name


def dialect_insert(dialect: str):  # noqa: ANN201
    """The INSERT construct with ON CONFLICT for the database's dialect."""
    return postgresql.insert if dialect == "postgresql" else sqlite.insert


def _bound(prefix: str, values: dict) -> dict:
    return {f"{prefix}{key}": value for key, value in values.items()}


def _params(model: type, prefix: str, keys: tuple) -> dict:
    columns = model.__table__.c
    return {key: bindparam(f"{prefix}{key}", type_=columns[key].type) for key in keys}


@lru_cache(maxsize=64)
def _insert_ignoring(dialect: str, model: type, index_elements: tuple, keys: tuple):  # noqa: ANN202
    insert = dialect_insert(dialect)
    statement = insert(model).values(_params(model, "v_", keys))
    # RETURNING tells reliably whether a row went in (rowcount does not on every driver).
    key = next(iter(model.__table__.primary_key.columns))
    return statement.on_conflict_do_nothing(index_elements=list(index_elements)).returning(key)


@lru_cache(maxsize=64)
def _upsert(dialect: str, model: type, index_elements: tuple, keys: tuple, update: tuple):  # noqa: ANN202
    insert = dialect_insert(dialect)
    return (
        insert(model)
        .values(_params(model, "v_", keys))
        .on_conflict_do_update(
            index_elements=list(index_elements), set_=_params(model, "u_", update)
        )
    )
