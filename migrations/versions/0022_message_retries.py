"""message retries: how many times an agent pressed Retry on a message

Each attempt's status callback URL carries the count, so a delivery report of an attempt made
before a Retry, arriving late, is told from a report of the text sent again (it could mark the
retried, delivered text failed). Messages stored before start at 0, as their callback URLs do.

Revision ID: 0024_message_retries
Revises: 0023_search_words
"""

import sqlalchemy as sa
from alembic import op

revision = "0024_message_retries"
down_revision = "0023_search_words"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("messages", sa.Column("retries", sa.Integer(), nullable=False, server_default="0"))


def downgrade():
    op.drop_column("messages", "retries")
