"""compliance: offices' time zone, quiet hours, retention; scheduled messages; office exports

Revision ID: 0013_compliance
Revises: 0011_sso
"""

import sqlalchemy as sa
from alembic import op

revision = "0013_compliance"
down_revision = "0011_sso"
branch_labels = None
depends_on = None


# Plain ALTER TABLE, not batch mode: recreating `messages` on SQLite would drop its triggers.
def upgrade():
    op.add_column("offices", sa.Column("time_zone", sa.String(length=64), nullable=True))
    op.add_column("offices", sa.Column("quiet_hours_start", sa.Time(), nullable=True))
    op.add_column("offices", sa.Column("quiet_hours_end", sa.Time(), nullable=True))
    op.add_column("offices", sa.Column("retention_days", sa.Integer(), nullable=True))
    op.add_column("messages", sa.Column("send_at", sa.DateTime(), nullable=True))
    op.add_column("messages", sa.Column("erased_at", sa.DateTime(), nullable=True))
    op.create_table(
        "office_exports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("office_id", sa.Integer(), nullable=False),
        sa.Column("requested_by_id", sa.Integer(), nullable=True),
        sa.Column("date_from", sa.Date(), nullable=False),
        sa.Column("date_to", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("total_rows", sa.Integer(), nullable=True),
        sa.Column("rows_written", sa.Integer(), nullable=False),
        sa.Column("file_name", sa.String(length=80), nullable=False),
        sa.Column("error", sa.String(length=300), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.Column("expires_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["office_id"], ["offices.id"], name=op.f("fk_office_exports_office_id_offices"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["requested_by_id"], ["users.id"], name=op.f("fk_office_exports_requested_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_office_exports")),
    )
    op.create_index("ix_office_exports_office", "office_exports", ["office_id", "id"], unique=False)


def downgrade():
    op.drop_index("ix_office_exports_office", table_name="office_exports")
    op.drop_table("office_exports")
    op.drop_column("messages", "erased_at")
    op.drop_column("messages", "send_at")
    op.drop_column("offices", "retention_days")
    op.drop_column("offices", "quiet_hours_end")
    op.drop_column("offices", "quiet_hours_start")
    op.drop_column("offices", "time_zone")
