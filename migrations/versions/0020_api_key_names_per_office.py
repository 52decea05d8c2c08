"""API key names per office: two offices may each have an active key of the same name

Revision ID: 0022_api_key_names_per_office
Revises: 0021_webhook_secret_rotation
"""

import sqlalchemy as sa
from alembic import op

revision = "0022_api_key_names_per_office"
down_revision = "0021_webhook_secret_rotation"
branch_labels = None
depends_on = None

ACTIVE = sa.text("revoked_at IS NULL")


def upgrade():
    op.drop_index("uq_api_keys_active_name", table_name="api_keys")
    op.create_index(
        "uq_api_keys_office_active_name", "api_keys", ["office_id", "name"], unique=True,
        sqlite_where=ACTIVE, postgresql_where=ACTIVE,
    )  # fmt: skip


def downgrade():
    # Refused (an integrity error) while two offices have active keys of the same name: revoke one.
    op.drop_index("uq_api_keys_office_active_name", table_name="api_keys")
    op.create_index(
        "uq_api_keys_active_name", "api_keys", ["name"], unique=True,
        sqlite_where=ACTIVE, postgresql_where=ACTIVE,
    )  # fmt: skip
