"""quiet hour holds: a held message says whether the office's quiet hours hold it

A scheduled message waits either for the end of its office's quiet hours or for the time an agent
chose with Send later. Only the first kind follows the quiet hours when they are switched off or
changed, so `messages.held_by_quiet_hours` tells them apart. Of the messages held now, those not
written by an agent (bots, the API, automatic answers) can only be held by quiet hours; an agent's
held text cannot be told apart any more, so it keeps its time, as before.

Revision ID: 0020_quiet_hour_holds
Revises: 0019_read_mark_versions
"""

import sqlalchemy as sa
from alembic import op

revision = "0020_quiet_hour_holds"
down_revision = "0019_read_mark_versions"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column(
        "messages",
        sa.Column("held_by_quiet_hours", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.execute(
        "UPDATE messages SET held_by_quiet_hours = true "
        "WHERE status = 'scheduled' AND author_kind <> 'agent'"
    )


def downgrade():
    op.drop_column("messages", "held_by_quiet_hours")
