"""poll versions: counters raised by triggers at every change an inbox poll would show

A poll (a tab of the inbox, the open conversation) answers 304 while these counters, read in one
small query, are unchanged. Triggers raise them, so every writer counts: web requests, the
worker, the CLI, another server.

- `conversation`: the conversation's row, its messages (new ones, statuses) and its contact's
  opt-out: everything the open conversation shows.
- `number`: any conversation of the number inserted, changed or opted out: what the tabs list and
  count.
- `user`: the user's read marks and participations.
- `directory` (id 0): campaigns (contacts' names) and users' names.

Revision ID: 0008_poll_versions
Revises: 0007_trust
"""

import sqlalchemy as sa
from alembic import op

revision = "0008_poll_versions"
down_revision = "0007_trust"
branch_labels = None
depends_on = None


def _sqlite_bump(scope: str, key: str, where: str = "") -> str:
    """Raise one counter (or, with `where`, one per row selected) in SQLite."""
    source = f"SELECT '{scope}', {key}, 1 {where or 'WHERE true'}"
    return (
        f"INSERT INTO poll_versions (scope, scope_id, version) {source} "
        "ON CONFLICT (scope, scope_id) DO UPDATE SET version = poll_versions.version + 1;"
    )


OPTED_OUT = {
    # The conversations of the phone, and their numbers (once each).
    "conversation": "FROM conversations WHERE contact_phone = {row}.phone",
    "number": "FROM conversations WHERE contact_phone = {row}.phone GROUP BY number_id",
}


def _sqlite_opt_out(row: str) -> str:
    return "\n".join(
        _sqlite_bump(scope, "id" if scope == "conversation" else "number_id", where.format(row=row))
        for scope, where in OPTED_OUT.items()
    )


# (trigger name, event, body)
SQLITE_TRIGGERS = [
    ("conversations_insert", "AFTER INSERT ON conversations",
     _sqlite_bump("number", "NEW.number_id")),
    ("conversations_update", "AFTER UPDATE ON conversations",
     _sqlite_bump("conversation", "NEW.id") + _sqlite_bump("number", "NEW.number_id")
     + _sqlite_bump("number", "OLD.number_id", "WHERE OLD.number_id <> NEW.number_id")),
    ("conversations_delete", "AFTER DELETE ON conversations", _sqlite_bump("number", "OLD.number_id")),
    ("messages_insert", "AFTER INSERT ON messages", _sqlite_bump("conversation", "NEW.conversation_id")),
    ("messages_update", "AFTER UPDATE ON messages", _sqlite_bump("conversation", "NEW.conversation_id")),
    ("messages_delete", "AFTER DELETE ON messages", _sqlite_bump("conversation", "OLD.conversation_id")),
    ("participants_insert", "AFTER INSERT ON conversation_participants",
     _sqlite_bump("user", "NEW.user_id")),
    ("participants_delete", "AFTER DELETE ON conversation_participants",
     _sqlite_bump("user", "OLD.user_id")),
    ("reads_insert", "AFTER INSERT ON conversation_reads", _sqlite_bump("user", "NEW.user_id")),
    ("reads_update", "AFTER UPDATE ON conversation_reads", _sqlite_bump("user", "NEW.user_id")),
    ("reads_delete", "AFTER DELETE ON conversation_reads", _sqlite_bump("user", "OLD.user_id")),
    ("opt_outs_insert", "AFTER INSERT ON opt_outs", _sqlite_opt_out("NEW")),
    ("opt_outs_delete", "AFTER DELETE ON opt_outs", _sqlite_opt_out("OLD")),
    ("campaigns_insert", "AFTER INSERT ON campaigns", _sqlite_bump("directory", "0")),
    ("campaigns_update", "AFTER UPDATE ON campaigns", _sqlite_bump("directory", "0")),
    ("campaigns_delete", "AFTER DELETE ON campaigns", _sqlite_bump("directory", "0")),
    ("users_rename", "AFTER UPDATE OF name ON users", _sqlite_bump("directory", "0")),
]  # fmt: skip

POSTGRESQL_BUMP = """
CREATE FUNCTION poll_versions_bump(bump_scope text, bump_id integer) RETURNS void AS $$
  INSERT INTO poll_versions (scope, scope_id, version) VALUES (bump_scope, bump_id, 1)
  ON CONFLICT (scope, scope_id) DO UPDATE SET version = poll_versions.version + 1
$$ LANGUAGE sql
"""


def _pg_bump(scope: str, key: str) -> str:
    return f"PERFORM poll_versions_bump('{scope}', {key});"


def _pg_opt_out(row: str) -> str:
    return "\n".join(
        f"INSERT INTO poll_versions (scope, scope_id, version) "
        f"SELECT '{scope}', {'id' if scope == 'conversation' else 'number_id'}, 1 "
        f"{where.format(row=row)} "
        "ON CONFLICT (scope, scope_id) DO UPDATE SET version = poll_versions.version + 1;"
        for scope, where in OPTED_OUT.items()
    )


# (function and trigger name, events, body for INSERT, UPDATE, DELETE: whichever apply)
POSTGRESQL_TRIGGERS = [
    ("poll_versions_conversations", "INSERT OR UPDATE OR DELETE ON conversations", {
        "INSERT": _pg_bump("number", "NEW.number_id"),
        "UPDATE": _pg_bump("conversation", "NEW.id") + _pg_bump("number", "NEW.number_id")
        + "IF OLD.number_id <> NEW.number_id THEN " + _pg_bump("number", "OLD.number_id") + " END IF;",
        "DELETE": _pg_bump("number", "OLD.number_id"),
    }),
    ("poll_versions_messages", "INSERT OR UPDATE OR DELETE ON messages", {
        "INSERT": _pg_bump("conversation", "NEW.conversation_id"),
        "UPDATE": _pg_bump("conversation", "NEW.conversation_id"),
        "DELETE": _pg_bump("conversation", "OLD.conversation_id"),
    }),
    ("poll_versions_participants", "INSERT OR DELETE ON conversation_participants", {
        "INSERT": _pg_bump("user", "NEW.user_id"),
        "DELETE": _pg_bump("user", "OLD.user_id"),
    }),
    ("poll_versions_reads", "INSERT OR UPDATE OR DELETE ON conversation_reads", {
        "INSERT": _pg_bump("user", "NEW.user_id"),
        "UPDATE": _pg_bump("user", "NEW.user_id"),
        "DELETE": _pg_bump("user", "OLD.user_id"),
    }),
    ("poll_versions_opt_outs", "INSERT OR DELETE ON opt_outs", {
        "INSERT": _pg_opt_out("NEW"),
        "DELETE": _pg_opt_out("OLD"),
    }),
    ("poll_versions_campaigns", "INSERT OR UPDATE OR DELETE ON campaigns", {
        "INSERT": _pg_bump("directory", "0"),
        "UPDATE": _pg_bump("directory", "0"),
        "DELETE": _pg_bump("directory", "0"),
    }),
    ("poll_versions_users", "UPDATE OF name ON users", {
        "UPDATE": _pg_bump("directory", "0"),
    }),
]  # fmt: skip


def _pg_function(name: str, bodies: dict[str, str]) -> str:
    branches = "\n".join(
        f"IF TG_OP = '{operation}' THEN {body} END IF;" for operation, body in bodies.items()
    )
    return (
        f"CREATE FUNCTION {name}() RETURNS trigger AS $$\nBEGIN\n{branches}\nRETURN NULL;\n"
        "END $$ LANGUAGE plpgsql"
    )


def upgrade():
    op.create_table(
        "poll_versions",
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("scope_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("scope", "scope_id", name=op.f("pk_poll_versions")),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(POSTGRESQL_BUMP)
        for name, events, bodies in POSTGRESQL_TRIGGERS:
            op.execute(_pg_function(name, bodies))
            op.execute(f"CREATE TRIGGER {name} AFTER {events} FOR EACH ROW EXECUTE FUNCTION {name}()")
    else:
        for name, event, body in SQLITE_TRIGGERS:
            op.execute(f"CREATE TRIGGER poll_versions_{name} {event} BEGIN\n{body}\nEND")


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        for name, events, _bodies in POSTGRESQL_TRIGGERS:
            table = events.rsplit(" ON ", 1)[1]
            op.execute(f"DROP TRIGGER {name} ON {table}")
            op.execute(f"DROP FUNCTION {name}()")
        op.execute("DROP FUNCTION poll_versions_bump(text, integer)")
    else:
        for name, _event, _body in SQLITE_TRIGGERS:
            op.execute(f"DROP TRIGGER poll_versions_{name}")
    op.drop_table("poll_versions")
