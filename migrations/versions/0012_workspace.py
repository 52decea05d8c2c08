"""workspace: offices' saved replies; who has a conversation open or is typing in it

Revision ID: 0014_workspace
Revises: 0013_compliance
"""

import sqlalchemy as sa
from alembic import op

revision = "0014_workspace"
down_revision = "0013_compliance"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "saved_replies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("office_id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=100), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["office_id"], ["offices.id"], name=op.f("fk_saved_replies_office_id_offices"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_saved_replies")),
    )
    op.create_index("ix_saved_replies_office", "saved_replies", ["office_id", "title"], unique=False)
    op.create_table(
        "conversation_presence",
        sa.Column("conversation_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("seen_at", sa.DateTime(), nullable=False),
        sa.Column("typing_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["conversation_id"], ["conversations.id"],
            name=op.f("fk_conversation_presence_conversation_id_conversations"), ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_conversation_presence_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("conversation_id", "user_id", name=op.f("pk_conversation_presence")),
    )


def downgrade():
    op.drop_table("conversation_presence")
    op.drop_index("ix_saved_replies_office", table_name="saved_replies")
    op.drop_table("saved_replies")
