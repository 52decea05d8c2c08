"""sso: how and when each user last signed in (shown in the admin console)

Revision ID: 0011_sso
Revises: 0010_activity_webhooks
"""

import sqlalchemy as sa
from alembic import op

revision = "0011_sso"
down_revision = "0010_activity_webhooks"
branch_labels = None
depends_on = None


# Plain ALTER TABLE, not batch mode: recreating `users` on SQLite would drop its triggers.
def upgrade():
    op.add_column("users", sa.Column("last_sign_in_at", sa.DateTime(), nullable=True))
    op.add_column("users", sa.Column("last_sign_in_method", sa.String(length=16), nullable=True))


def downgrade():
    op.drop_column("users", "last_sign_in_method")
    op.drop_column("users", "last_sign_in_at")
