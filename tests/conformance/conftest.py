"""The provider conformance kit (webapp.plugin_api.testing) run on the suite's own database."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine

from webapp.extensions import db


class OnTheSuitesDatabase:
    """Mixed into a kit's test class: its checks run on the suite's database (SQLite, or PostgreSQL
    with DATABASE_URL, one per xdist worker) instead of the kit's own SQLite copy, emptied after
    each check as the suite's other tests leave it."""

    @pytest.fixture
    def parley_database_url(self, database_url: str) -> Iterator[str]:
        yield database_url
        engine = create_engine(database_url)
        with engine.begin() as conn:
            for table in reversed(db.metadata.sorted_tables):
                conn.execute(table.delete())
        engine.dispose()
