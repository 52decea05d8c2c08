"""Does the database hold every migration this code needs? Read with Alembic's public API.

A database at a revision this code does not know is taken as up to date: newer code migrated it
(during a rolling upgrade the old processes keep serving until they are replaced)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


@lru_cache(maxsize=1)
def _revisions() -> tuple[str, frozenset[str]]:
    """This code's head revision and all its revisions (read once: the files do not change)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    script = ScriptDirectory.from_config(config)
    return script.get_current_head(), frozenset(r.revision for r in script.walk_revisions())


def pending(connection: Connection) -> str | None:
    """None when the schema is this code's (or newer); "never" for a database never migrated;
    "behind" for one at an older revision of this code."""
    head, known = _revisions()
    current = MigrationContext.configure(connection).get_current_revision()
    if current is None:
        return "never"
    return "behind" if current != head and current in known else None
