"""attention versions: a number's counter also counts what its Needs Attention tab shows

The Needs Attention tab lists a number's conversations that need attention and counts both tabs.
A reply or a status change in a conversation that needs no attention, before or after, changes
neither, yet it raised the number's counter, so every agent of the number rendered the tab again.
The number's row of `poll_versions` now has a second counter, `attention`, raised with `version`
in the same upsert when the change touches that tab: a conversation inserted, deleted or moved to
another number, one that needs attention before or after the update, and an opt-out (its
conversations' tags). The Participating tab still follows `version`, which counts every change.

Revision ID: 0018_attention_versions
Revises: 0017_name_search
"""

import sqlalchemy as sa
from alembic import context, op

revision = "0018_attention_versions"
down_revision = "0017_name_search"
branch_labels = None
depends_on = None

# Whether a conversation's update changes what Needs Attention shows (SQL over OLD and NEW).
TOUCHES_ATTENTION = "OLD.needs_attention OR NEW.needs_attention OR OLD.number_id <> NEW.number_id"


def _bump_number(key: str, attention: str, where: str = "WHERE true") -> str:
    """Raise a number's counter, and its attention counter by `attention` (SQL: 0 or 1), for
    SQLite's triggers and the opt-outs of both databases."""
    return (
        f"INSERT INTO poll_versions (scope, scope_id, version, attention) "
        f"SELECT 'number', {key}, 1, {attention} {where} "
        "ON CONFLICT (scope, scope_id) DO UPDATE SET version = poll_versions.version + 1, "
        "attention = poll_versions.attention + excluded.attention;"
    )


def _opt_out(row: str) -> str:
    """An opt-out's conversations (their counters) and their numbers, once each, both counters
    (SQL that SQLite and PostgreSQL both run)."""
    phone_of = f"FROM conversations WHERE contact_phone = {row}.phone"
    return _earlier()._sqlite_bump("conversation", "id", phone_of) + _bump_number(
        "number_id", "1", f"{phone_of} GROUP BY number_id"
    )


def _sqlite_triggers() -> list[tuple[str, str, str]]:
    """(trigger name, event, body): they replace 0007_poll_versions' triggers of the same names."""
    return [
        ("conversations_insert", "AFTER INSERT ON conversations", _bump_number("NEW.number_id", "1")),
        ("conversations_update", "AFTER UPDATE ON conversations",
         _earlier()._sqlite_bump("conversation", "NEW.id")
         + _bump_number("NEW.number_id", f"({TOUCHES_ATTENTION})")
         + _bump_number("OLD.number_id", "1", "WHERE OLD.number_id <> NEW.number_id")),
        ("conversations_delete", "AFTER DELETE ON conversations", _bump_number("OLD.number_id", "1")),
        ("opt_outs_insert", "AFTER INSERT ON opt_outs", _opt_out("NEW")),
        ("opt_outs_delete", "AFTER DELETE ON opt_outs", _opt_out("OLD")),
    ]  # fmt: skip


POSTGRESQL_BUMP_NUMBER = """
CREATE FUNCTION poll_versions_bump_number(bump_id integer, bump_attention integer) RETURNS void AS $$
  INSERT INTO poll_versions (scope, scope_id, version, attention) VALUES ('number', bump_id, 1, bump_attention)
  ON CONFLICT (scope, scope_id) DO UPDATE
  SET version = poll_versions.version + 1, attention = poll_versions.attention + bump_attention
$$ LANGUAGE sql
"""


def _pg_bump_number(key: str, attention: str) -> str:
    return f"PERFORM poll_versions_bump_number({key}, {attention});"


def _postgresql_functions() -> dict[str, dict[str, str]]:
    """Bodies for INSERT, UPDATE, DELETE by function name: they replace 0007_poll_versions'."""
    return {
        "poll_versions_conversations": {
            "INSERT": _pg_bump_number("NEW.number_id", "1"),
            "UPDATE": "PERFORM poll_versions_bump('conversation', NEW.id);"
            + _pg_bump_number("NEW.number_id", f"({TOUCHES_ATTENTION})::integer")
            + "IF OLD.number_id <> NEW.number_id THEN " + _pg_bump_number("OLD.number_id", "1") + " END IF;",
            "DELETE": _pg_bump_number("OLD.number_id", "1"),
        },
        "poll_versions_opt_outs": {"INSERT": _opt_out("NEW"), "DELETE": _opt_out("OLD")},
    }  # fmt: skip


def _earlier():
    """0007_poll_versions' module: the triggers and functions this migration replaces."""
    return context.script.get_revision("0008_poll_versions").module


def _replace_pg_function(name: str, bodies: dict[str, str]) -> None:
    function = _earlier()._pg_function(name, bodies)
    op.execute(function.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1))


def _replace_sqlite_trigger(name: str, event: str, body: str) -> None:
    op.execute(f"DROP TRIGGER poll_versions_{name}")
    op.execute(f"CREATE TRIGGER poll_versions_{name} {event} BEGIN\n{body}\nEND")


def upgrade():
    op.add_column("poll_versions", sa.Column("attention", sa.Integer(), server_default="0", nullable=False))
    if op.get_bind().dialect.name == "postgresql":
        op.execute(POSTGRESQL_BUMP_NUMBER)
        for name, bodies in _postgresql_functions().items():
            _replace_pg_function(name, bodies)
    else:
        for name, event, body in _sqlite_triggers():
            _replace_sqlite_trigger(name, event, body)


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        replaced = _postgresql_functions()
        for name, _events, bodies in _earlier().POSTGRESQL_TRIGGERS:
            if name in replaced:
                _replace_pg_function(name, bodies)
        op.execute("DROP FUNCTION poll_versions_bump_number(integer, integer)")
    else:
        replaced = {name for name, _event, _body in _sqlite_triggers()}
        for name, event, body in _earlier().SQLITE_TRIGGERS:
            if name in replaced:
                _replace_sqlite_trigger(name, event, body)
    op.drop_column("poll_versions", "attention")
