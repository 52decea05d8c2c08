"""`UTCDateTime`: an aware UTC time goes in, the same aware UTC time comes back, on both databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import literal, literal_column, select, type_coerce

from webapp.extensions import db
from webapp.models.types import UTCDateTime


@pytest.mark.parametrize(
    "moment",
    [
        datetime(2026, 3, 5, 9, 7, 1, 123456, tzinfo=UTC),
        datetime(2026, 3, 5, 9, 7, tzinfo=UTC),  # no microseconds
        datetime(2026, 11, 26, 20, 30, tzinfo=timezone(timedelta(hours=-5))),  # stored as UTC
    ],
)
def test_a_time_comes_back_as_the_same_moment_in_utc(app, moment):
    back = db.session.scalar(select(literal(moment, UTCDateTime())))
    assert back == moment and back.tzinfo == UTC


def test_a_stored_time_without_microseconds_reads_as_utc(app):
    # As the database hands it back: text on SQLite (read by UTCDateTime's own parser), a naive
    # timestamp on PostgreSQL.
    stored = "'2026-03-05 09:07:00'" + ("::timestamp" if db.engine.dialect.name == "postgresql" else "")
    time = type_coerce(literal_column(stored), UTCDateTime())
    assert db.session.scalar(select(time)) == datetime(2026, 3, 5, 9, 7, tzinfo=UTC)


def test_a_naive_time_is_refused(app):
    with pytest.raises(Exception, match="naive datetime"):
        db.session.scalar(select(literal(datetime(2026, 3, 5, 9, 7), UTCDateTime())))
