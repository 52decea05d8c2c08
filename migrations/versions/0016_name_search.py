"""name search: the name indexes carry what a search by name reads

A search by name reads every listed contact of that name in the user's offices before it looks for
their conversations (services/contacts.py). On PostgreSQL the lower(first_name) and
lower(last_name) indexes now include the names, the campaign and the phone, so that this is an
index-only scan. (PostgreSQL needs the raw columns in an expression index for that.) SQLite's
indexes have no INCLUDE and stay as they are.

Revision ID: 0017_name_search
Revises: 0016_inbound_pictures
"""

from alembic import op

revision = "0017_name_search"
down_revision = "0016_inbound_pictures"
branch_labels = None
depends_on = None

NAME_COLUMNS = ("first_name", "last_name")


def _recreate(include: str) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for column in NAME_COLUMNS:
        op.execute(f"DROP INDEX ix_campaign_contacts_{column}_lower")
        op.execute(
            f"CREATE INDEX ix_campaign_contacts_{column}_lower "
            f"ON campaign_contacts (lower({column}) text_pattern_ops){include}"
        )


def upgrade():
    _recreate(" INCLUDE (first_name, last_name, campaign_id, phone)")


def downgrade():
    _recreate("")
