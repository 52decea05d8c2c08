"""Participations carry their conversation's inbox fields, kept by triggers, for the tabs' index.

The Participating tab (and Needs Attention for conversations joined on other numbers) reads the
user's participations newest first. Joining every participation to its conversation to sort them
cost grew with an agent's history; with the conversation's number, attention flag and last
activity copied onto the participation, one index range answers a page. Database triggers keep the
copies exact whatever writes the conversation.

Revision ID: 0006_participant_inbox
Revises: 0002_admin
"""

import sqlalchemy as sa
from alembic import op

revision = "0006_participant_inbox"
down_revision = "0002_admin"
branch_labels = None
depends_on = None

COPY = """
UPDATE conversation_participants SET
  number_id = (SELECT c.number_id FROM conversations c WHERE c.id = conversation_id),
  needs_attention = (SELECT c.needs_attention FROM conversations c WHERE c.id = conversation_id),
  last_activity_at = (SELECT c.last_activity_at FROM conversations c WHERE c.id = conversation_id)
"""

SQLITE_TRIGGERS = [
    """
    CREATE TRIGGER participants_copy_conversation AFTER INSERT ON conversation_participants
    BEGIN
      UPDATE conversation_participants SET
        number_id = (SELECT number_id FROM conversations WHERE id = NEW.conversation_id),
        needs_attention = (SELECT needs_attention FROM conversations WHERE id = NEW.conversation_id),
        last_activity_at = (SELECT last_activity_at FROM conversations WHERE id = NEW.conversation_id)
      WHERE conversation_id = NEW.conversation_id AND user_id = NEW.user_id;
    END
    """,
    """
    CREATE TRIGGER conversations_copy_to_participants
    AFTER UPDATE OF needs_attention, last_activity_at ON conversations
    BEGIN
      UPDATE conversation_participants
      SET needs_attention = NEW.needs_attention, last_activity_at = NEW.last_activity_at
      WHERE conversation_id = NEW.id;
    END
    """,
]

POSTGRESQL_TRIGGERS = [
    """
    CREATE FUNCTION participants_copy_conversation() RETURNS trigger AS $$
    BEGIN
      SELECT c.number_id, c.needs_attention, c.last_activity_at
      INTO NEW.number_id, NEW.needs_attention, NEW.last_activity_at
      FROM conversations c WHERE c.id = NEW.conversation_id;
      RETURN NEW;
    END $$ LANGUAGE plpgsql
    """,
    """
    CREATE TRIGGER participants_copy_conversation BEFORE INSERT ON conversation_participants
    FOR EACH ROW EXECUTE FUNCTION participants_copy_conversation()
    """,
    """
    CREATE FUNCTION conversations_copy_to_participants() RETURNS trigger AS $$
    BEGIN
      UPDATE conversation_participants
      SET needs_attention = NEW.needs_attention, last_activity_at = NEW.last_activity_at
      WHERE conversation_id = NEW.id;
      RETURN NULL;
    END $$ LANGUAGE plpgsql
    """,
    """
    CREATE TRIGGER conversations_copy_to_participants
    AFTER UPDATE OF needs_attention, last_activity_at ON conversations
    FOR EACH ROW
    WHEN (OLD.needs_attention IS DISTINCT FROM NEW.needs_attention
          OR OLD.last_activity_at IS DISTINCT FROM NEW.last_activity_at)
    EXECUTE FUNCTION conversations_copy_to_participants()
    """,
]


def upgrade():
    op.add_column("conversation_participants", sa.Column("number_id", sa.Integer(), nullable=True))
    op.add_column(
        "conversation_participants", sa.Column("needs_attention", sa.Boolean(), nullable=True)
    )
    op.add_column(
        "conversation_participants", sa.Column("last_activity_at", sa.DateTime(), nullable=True)
    )
    op.execute(COPY)
    op.create_index(
        "ix_participants_inbox",
        "conversation_participants",
        ["user_id", "needs_attention", "last_activity_at", "conversation_id"],
    )
    postgresql = op.get_bind().dialect.name == "postgresql"
    for statement in POSTGRESQL_TRIGGERS if postgresql else SQLITE_TRIGGERS:
        op.execute(statement)


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER conversations_copy_to_participants ON conversations")
        op.execute("DROP TRIGGER participants_copy_conversation ON conversation_participants")
        op.execute("DROP FUNCTION conversations_copy_to_participants()")
        op.execute("DROP FUNCTION participants_copy_conversation()")
    else:
        op.execute("DROP TRIGGER conversations_copy_to_participants")
        op.execute("DROP TRIGGER participants_copy_conversation")
    op.drop_index("ix_participants_inbox", table_name="conversation_participants")
    with op.batch_alter_table("conversation_participants") as batch_op:
        batch_op.drop_column("last_activity_at")
        batch_op.drop_column("needs_attention")
        batch_op.drop_column("number_id")
