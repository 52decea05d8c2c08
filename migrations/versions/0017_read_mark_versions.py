"""read mark versions: a read mark raises the counter of the tab that shows its conversation

A user's row of `poll_versions` counted every read mark in `version`, and both tabs followed it:
reading a conversation in Needs Attention re-rendered the Participating tab, which does not list
it (it lists only conversations that need no attention) and whose counts are of conversations,
not of unread ones. The user's row now keeps its two counters per tab: `attention` for what Needs
Attention shows, `version` for what Participating shows. A read mark raises the one of the tab
its conversation is in; a participation, shown by both tabs, raises both. A conversation that
moves between tabs raises its number's counters, which both tabs follow, so the tab it lands in
shows it with its read mark.

Revision ID: 0019_read_mark_versions
Revises: 0018_attention_versions
"""

from alembic import context, op

revision = "0019_read_mark_versions"
down_revision = "0018_attention_versions"
branch_labels = None
depends_on = None


def _sqlite_bump_user(user: str, version: str, attention: str) -> str:
    return (
        f"INSERT INTO poll_versions (scope, scope_id, version, attention) "
        f"VALUES ('user', {user}, {version}, {attention}) "
        "ON CONFLICT (scope, scope_id) DO UPDATE SET version = poll_versions.version + excluded.version, "
        "attention = poll_versions.attention + excluded.attention;"
    )


def _sqlite_read_mark(row: str) -> str:
    """SQLite writes one transaction at a time: the flag read here is the one that commits. A
    conversation no longer there (NULL) raises both."""
    flag = f"(SELECT needs_attention FROM conversations WHERE id = {row}.conversation_id)"
    return _sqlite_bump_user(f"{row}.user_id", f"1 - coalesce({flag}, 0)", f"coalesce({flag}, 1)")


def _sqlite_triggers() -> list[tuple[str, str, str]]:
    """(trigger name, event, body): they replace 0007_poll_versions' triggers of the same names."""
    return [
        ("participants_insert", "AFTER INSERT ON conversation_participants",
         _sqlite_bump_user("NEW.user_id", "1", "1")),
        ("participants_delete", "AFTER DELETE ON conversation_participants",
         _sqlite_bump_user("OLD.user_id", "1", "1")),
        ("reads_insert", "AFTER INSERT ON conversation_reads", _sqlite_read_mark("NEW")),
        ("reads_update", "AFTER UPDATE ON conversation_reads", _sqlite_read_mark("NEW")),
        ("reads_delete", "AFTER DELETE ON conversation_reads", _sqlite_read_mark("OLD")),
    ]  # fmt: skip


# On PostgreSQL another transaction may be moving the conversation to the other tab while the
# read mark is written: the flag is read under a share lock, so that a move waits for the read
# mark to commit (and then raises the number's counters after it). SKIP LOCKED never waits (a
# wait could deadlock with a reply, which locks the conversation first): a conversation being
# written right now raises both counters instead.
POSTGRESQL_BUMP_READER = """
CREATE FUNCTION poll_versions_bump_reader(bump_user integer, bump_conversation integer)
RETURNS void AS $$
DECLARE
  flagged boolean;
BEGIN
  SELECT needs_attention INTO flagged FROM conversations WHERE id = bump_conversation
  FOR SHARE SKIP LOCKED;
  PERFORM poll_versions_bump_user(
    bump_user, CASE WHEN flagged THEN 0 ELSE 1 END, CASE WHEN flagged IS FALSE THEN 0 ELSE 1 END
  );
END $$ LANGUAGE plpgsql
"""

POSTGRESQL_BUMP_USER = """
CREATE FUNCTION poll_versions_bump_user(bump_id integer, bump_version integer, bump_attention integer)
RETURNS void AS $$
  INSERT INTO poll_versions (scope, scope_id, version, attention)
  VALUES ('user', bump_id, bump_version, bump_attention)
  ON CONFLICT (scope, scope_id) DO UPDATE
  SET version = poll_versions.version + bump_version, attention = poll_versions.attention + bump_attention
$$ LANGUAGE sql
"""


def _postgresql_functions() -> dict[str, dict[str, str]]:
    """Bodies for INSERT, UPDATE, DELETE by function name: they replace 0007_poll_versions'."""
    return {
        "poll_versions_participants": {
            "INSERT": "PERFORM poll_versions_bump_user(NEW.user_id, 1, 1);",
            "DELETE": "PERFORM poll_versions_bump_user(OLD.user_id, 1, 1);",
        },
        "poll_versions_reads": {
            "INSERT": "PERFORM poll_versions_bump_reader(NEW.user_id, NEW.conversation_id);",
            "UPDATE": "PERFORM poll_versions_bump_reader(NEW.user_id, NEW.conversation_id);",
            "DELETE": "PERFORM poll_versions_bump_reader(OLD.user_id, OLD.conversation_id);",
        },
    }


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
    if op.get_bind().dialect.name == "postgresql":
        op.execute(POSTGRESQL_BUMP_USER)
        op.execute(POSTGRESQL_BUMP_READER)
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
        op.execute("DROP FUNCTION poll_versions_bump_reader(integer, integer)")
        op.execute("DROP FUNCTION poll_versions_bump_user(integer, integer, integer)")
    else:
        replaced = {name for name, _event, _body in _sqlite_triggers()}
        for name, event, body in _earlier().SQLITE_TRIGGERS:
            if name in replaced:
                _replace_sqlite_trigger(name, event, body)
