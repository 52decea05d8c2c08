"""Small database helpers that work the same on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections import namedtuple
from collections.abc import Callable, Iterable
from functools import lru_cache
from typing import Any

from sqlalchemy import Boolean, String, bindparam, event, literal_column
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError, MultipleResultsFound, NoResultFound
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import ColumnElement
from sqlalchemy.sql.visitors import InternalTraversal
from sqlalchemy.types import TypeDecorator

from webapp.extensions import db


def run_core(statement: Any, params: dict) -> Rows:
    """Run a prebuilt Core statement (plain rows, no ORM objects) on the session's connection and
    transaction, without the ORM's or even Core's per-statement work (see `_Direct`). It does not
    flush: call it where nothing written in this session is pending, or flush first. ORM objects
    already loaded do not see what it writes until they are expired."""
    session = db.session()
    connection = session.info.get(_CONNECTION)
    if connection is None:
        # Asking the session again costs a few microseconds (SQLite runs a short statement in 4 to
        # 15): remember its answer until its transaction (or any subtransaction, a flush's) ends.
        connection = session.info[_CONNECTION] = session.connection()
    key = (id(statement), connection.dialect.name)
    entry = _DIRECT.get(key)
    if entry is None or entry[0] is not statement:
        if len(_DIRECT) >= 1024:
            # Statements built on demand (lru_cache) are built anew once evicted: start over
            # rather than keep the old ones alive.
            _DIRECT.clear()
        entry = _DIRECT[key] = (statement, _Direct(statement, connection.dialect))
    if entry[1].direct:
        return entry[1].run(connection, params)
    result = connection.execute(statement, params)
    return Rows(result.all() if result.returns_rows else [])


class _Direct:
    """A statement compiled once per database and run on the driver's cursor as SQLAlchemy runs it
    (the same SQL, parameters and result values, the engine's `before_cursor_execute` listeners,
    SQLAlchemy's exceptions), without the rest of its work for each execution: about 40 µs a
    statement, more than SQLite takes to run most of Parley's (issue 8). Statements that need
    SQLAlchemy at execution (defaults computed in Python, values rendered into the SQL) go through
    it. It reads compiler attributes that are not public API, hence SQLAlchemy's pinned minor
    version; tests/test_dbutil.py compares its results with SQLAlchemy's own."""

    def __init__(self, statement: Any, dialect: Any) -> None:
        compiled = statement.compile(dialect=dialect)
        self.direct = not (
            compiled.insert_prefetch
            or compiled.update_prefetch
            or compiled.literal_execute_params
            or compiled.post_compile_params
        )
        self.compiled = compiled
        self.dialect = dialect
        self.sql = compiled.string
        self.positions = compiled.positiontup  # None where parameters are named (psycopg)
        self.bind_processors = [(k, p) for k, p in compiled._bind_processors.items() if p is not None]
        self.columns = compiled._result_columns
        self.row_type = namedtuple("Row", [c.keyname for c in self.columns]) if self.columns else None
        self.result_processors: list | None = None  # from the first result's column types

    def run(self, connection: Any, params: dict) -> Rows:
        values = self.compiled.construct_params(params)
        for key, process in self.bind_processors:
            values[key] = process(values[key])
        parameters = values if self.positions is None else tuple(values[k] for k in self.positions)
        sql = self.sql
        dbapi_connection = connection.connection.dbapi_connection
        cursor = None
        try:
            cursor = dbapi_connection.cursor()
            for listener in connection.dispatch.before_cursor_execute:
                sql, parameters = listener(connection, cursor, sql, parameters, None, False)
            cursor.execute(sql, parameters)
            rows = cursor.fetchall() if self.row_type is not None else []
            if self.result_processors is None and self.row_type is not None:
                self.result_processors = self._result_processors(cursor.description)
        except self.dialect.loaded_dbapi.Error as exc:
            if self.dialect.is_disconnect(exc, dbapi_connection, cursor):
                connection.invalidate(exc)
            raise DBAPIError.instance(
                sql, parameters, exc, self.dialect.loaded_dbapi.Error, dialect=self.dialect
            ) from exc
        finally:
            if cursor is not None:
                cursor.close()
        if self.row_type is None:
            return Rows()
        make, processors = self.row_type._make, self.result_processors
        if not processors:
            return Rows(map(make, rows))
        return Rows(make(p(v) if p else v for p, v in zip(processors, row, strict=True)) for row in rows)

    def _result_processors(self, description: Any) -> list:
        processors = [
            column.type._cached_result_processor(self.dialect, field[1])
            for column, field in zip(self.columns, description, strict=True)
        ]
        return processors if any(processors) else []


class Rows(list):
    """A statement's rows (named tuples), with the part of SQLAlchemy's Result that Parley uses."""

    def first(self) -> Any:
        return self[0] if self else None

    def one(self) -> Any:
        if not self:
            raise NoResultFound("No row was found when one was required")
        if len(self) > 1:
            raise MultipleResultsFound("Multiple rows were found when exactly one was required")
        return self[0]

    def scalar(self) -> Any:
        return self[0][0] if self else None

    def scalar_one(self) -> Any:
        return self.one()[0]

    def scalars(self) -> list:
        return [row[0] for row in self]

    def all(self) -> list:
        return list(self)


_DIRECT: dict[tuple[int, str], tuple[Any, _Direct]] = {}
_CONNECTION = "parley.run_core_connection"


@event.listens_for(db.session, "after_transaction_end")
def _forget_connection(session: Any, _transaction: Any) -> None:
    session.info.pop(_CONNECTION, None)


def written_limit(rows: int) -> ColumnElement[int]:
    """A prebuilt statement's LIMIT written into its SQL, not bound: PostgreSQL plans a bound LIMIT
    as if it could be anything, judges that plan costlier than one made for the value given, and
    so plans the statement again on every run, which can take longer than running it (issue 8).
    Use it where the limit is part of the statement's shape (statements cached per limit)."""
    return literal_column(str(int(rows)))


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


class ByValues:
    """A prebuilt statement that filters a column by values bound as one parameter, built in two
    forms: `column = :name` when one value is given (a contact lookup, a webhook's phone),
    `in_list` for several (a page of the inbox).

    PostgreSQL keeps one plan for `= :name`. For a list it plans every run anew: its one plan for
    any list assumes ten values, which always looks costlier than a plan for the one value given
    (issue 8). `build` gets the condition for a column and returns the statement."""

    def __init__(self, name: str, build: Callable[[Callable[[Any], ColumnElement[bool]]], Any]) -> None:
        self.name = name
        self.one = build(lambda column: column == bindparam(name))
        self.many = build(lambda column: in_list(column, name))

    def run(self, values: Iterable, params: dict | None = None) -> Rows:
        distinct = list(dict.fromkeys(values))
        if len(distinct) == 1:
            return run_core(self.one, {**(params or {}), self.name: distinct[0]})
        return run_core(self.many, {**(params or {}), self.name: distinct})


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
