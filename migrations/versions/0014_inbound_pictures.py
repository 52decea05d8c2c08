"""inbound pictures: a contact's pictures copied from the provider

A picture in `message_pictures` may now come from an inbound MMS: the worker downloads the
provider's media link and keeps the file like an agent's upload; `source_url` is the link it came
from (NULL for an agent's picture), so the thread shows a thumbnail in place of that link.

Revision ID: 0016_inbound_pictures
Revises: 0015_search_media
"""

import sqlalchemy as sa
from alembic import op

revision = "0016_inbound_pictures"
down_revision = "0015_search_media"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("message_pictures", sa.Column("source_url", sa.Text(), nullable=True))


def downgrade():
    with op.batch_alter_table("message_pictures") as batch_op:
        batch_op.drop_column("source_url")
