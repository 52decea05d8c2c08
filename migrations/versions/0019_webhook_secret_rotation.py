"""webhook secret rotation: an endpoint's previous secret signs alongside the new one for a while

Rotating an endpoint's signing secret keeps the old one, and until when it still signs, so that a
CRM can switch to the new secret without refusing the deliveries in between.

Revision ID: 0021_webhook_secret_rotation
Revises: 0020_quiet_hour_holds
"""

import sqlalchemy as sa
from alembic import op

revision = "0021_webhook_secret_rotation"
down_revision = "0020_quiet_hour_holds"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("webhook_endpoints", sa.Column("previous_secret", sa.String(length=100), nullable=True))
    op.add_column("webhook_endpoints", sa.Column("previous_secret_until", sa.DateTime(), nullable=True))


def downgrade():
    with op.batch_alter_table("webhook_endpoints") as batch:
        batch.drop_column("previous_secret_until")
        batch.drop_column("previous_secret")
