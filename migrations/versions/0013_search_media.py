"""search and pictures: full-text search of message text; pictures attached to messages

Message text is searched through the database's own full-text index, kept current by the database
whatever writes a message (a send, a webhook, retention erasing it):
- SQLite: an FTS5 table over `messages.body` (external content, no second copy of the text), fed
  by triggers;
- PostgreSQL: a stored generated `tsvector` column with a GIN index.
History events (mode switches and the like) are not indexed. Existing rows are indexed here.

`message_pictures` holds the pictures agents attach (the files live in the media storage, by
default under the instance folder); each has a random token its links are made from.

Revision ID: 0015_search_media
Revises: 0014_workspace
"""

import sqlalchemy as sa
from alembic import op

revision = "0015_search_media"
down_revision = "0014_workspace"
branch_labels = None
depends_on = None

SQLITE_SEARCH = [
    """
    CREATE VIRTUAL TABLE messages_fts USING fts5(
      body, content='messages', content_rowid='id', tokenize='unicode61 remove_diacritics 2'
    )
    """,
    """
    CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages WHEN NEW.direction <> 'event'
    BEGIN
      INSERT INTO messages_fts (rowid, body) VALUES (NEW.id, NEW.body);
    END
    """,
    """
    CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages WHEN OLD.direction <> 'event'
    BEGIN
      INSERT INTO messages_fts (messages_fts, rowid, body) VALUES ('delete', OLD.id, OLD.body);
    END
    """,
    """
    CREATE TRIGGER messages_fts_update AFTER UPDATE OF body ON messages WHEN OLD.direction <> 'event'
    BEGIN
      INSERT INTO messages_fts (messages_fts, rowid, body) VALUES ('delete', OLD.id, OLD.body);
      INSERT INTO messages_fts (rowid, body) VALUES (NEW.id, NEW.body);
    END
    """,
    "INSERT INTO messages_fts (rowid, body) SELECT id, body FROM messages WHERE direction <> 'event'",
]

POSTGRESQL_SEARCH = [
    # 'simple': words as written (lower-cased), the same words SQLite's tokenizer makes.
    """
    ALTER TABLE messages ADD COLUMN search_vector tsvector GENERATED ALWAYS AS (
      CASE WHEN direction <> 'event' THEN to_tsvector('simple'::regconfig, body) END
    ) STORED
    """,
    "CREATE INDEX ix_messages_search ON messages USING gin (search_vector)",
]


def upgrade():
    postgresql = op.get_bind().dialect.name == "postgresql"
    for statement in POSTGRESQL_SEARCH if postgresql else SQLITE_SEARCH:
        op.execute(statement)
    op.create_table(
        "message_pictures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=False),
        sa.Column("token", sa.String(length=64), nullable=False),
        sa.Column("content_type", sa.String(length=20), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("storage_key", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["messages.id"],
            name=op.f("fk_message_pictures_message_id_messages"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_message_pictures")),
        sa.UniqueConstraint("token", name=op.f("uq_message_pictures_token")),
    )
    op.create_index("ix_message_pictures_message", "message_pictures", ["message_id", "id"], unique=False)


def downgrade():
    op.drop_index("ix_message_pictures_message", table_name="message_pictures")
    op.drop_table("message_pictures")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX ix_messages_search")
        op.execute("ALTER TABLE messages DROP COLUMN search_vector")
    else:
        for trigger in ("messages_fts_update", "messages_fts_delete", "messages_fts_insert"):
            op.execute(f"DROP TRIGGER {trigger}")
        op.execute("DROP TABLE messages_fts")
