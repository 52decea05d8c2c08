"""crm api: API keys of offices, and the key that authored a message sent through the API

Revision ID: 0009_crm_api
Revises: 0008_poll_versions
"""

import sqlalchemy as sa
from alembic import op

revision = "0009_crm_api"
down_revision = "0008_poll_versions"
branch_labels = None
depends_on = None

ACTIVE = sa.text("revoked_at IS NULL")


def upgrade():
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("office_id", sa.Integer(), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("last_used_at", sa.DateTime(), nullable=True),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["users.id"], name=op.f("fk_api_keys_created_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["office_id"], ["offices.id"], name=op.f("fk_api_keys_office_id_offices"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_api_keys_key_hash")),
    )
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_api_keys_office_id"), ["office_id"], unique=False)
        batch_op.create_index(
            "uq_api_keys_active_name", ["name"], unique=True,
            sqlite_where=ACTIVE, postgresql_where=ACTIVE,
        )
    # Not a batch operation: on SQLite that would rebuild `messages` and drop its triggers (poll
    # versions, participants' copies). SQLite adds a nullable column with its reference in place.
    if op.get_bind().dialect.name == "sqlite":
        op.execute("ALTER TABLE messages ADD COLUMN author_api_key_id INTEGER REFERENCES api_keys (id)")
    else:
        op.add_column("messages", sa.Column("author_api_key_id", sa.Integer(), nullable=True))
        op.create_foreign_key(
            op.f("fk_messages_author_api_key_id_api_keys"), "messages", "api_keys",
            ["author_api_key_id"], ["id"],
        )


def downgrade():
    if op.get_bind().dialect.name == "sqlite":
        # SQLite cannot drop a column that references another table without rebuilding `messages`
        # (and losing its triggers): the column stays, unused.
        pass
    else:
        op.drop_constraint(op.f("fk_messages_author_api_key_id_api_keys"), "messages", type_="foreignkey")
        op.drop_column("messages", "author_api_key_id")
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.drop_index("uq_api_keys_active_name")
        batch_op.drop_index(batch_op.f("ix_api_keys_office_id"))
    op.drop_table("api_keys")
