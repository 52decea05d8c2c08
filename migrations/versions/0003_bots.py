"""bots: knowledge-base entries and each office's "I don't know" setting

Revision ID: 0003_bots
Revises: 0005_embed
Create Date: 2026-11-26 12:00:00

"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0003_bots"
down_revision = "0005_embed"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "knowledge_base_entries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("office_id", sa.Integer(), nullable=False),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("answer", sa.Text(), nullable=False),
        sa.Column("updated_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["office_id"],
            ["offices.id"],
            name=op.f("fk_knowledge_base_entries_office_id_offices"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["updated_by_id"],
            ["users.id"],
            name=op.f("fk_knowledge_base_entries_updated_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_knowledge_base_entries")),
    )
    with op.batch_alter_table("knowledge_base_entries", schema=None) as batch_op:
        batch_op.create_index("ix_knowledge_base_entries_office", ["office_id", "id"], unique=False)

    with op.batch_alter_table("offices", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("idk_action", sa.String(length=10), server_default="escalate", nullable=False)
        )
        batch_op.add_column(sa.Column("idk_message", sa.Text(), server_default="", nullable=False))


def downgrade():
    with op.batch_alter_table("offices", schema=None) as batch_op:
        batch_op.drop_column("idk_message")
        batch_op.drop_column("idk_action")

    with op.batch_alter_table("knowledge_base_entries", schema=None) as batch_op:
        batch_op.drop_index("ix_knowledge_base_entries_office")

    op.drop_table("knowledge_base_entries")
