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
    """Each index built anew beside the old one, then swapped in: CONCURRENTLY, outside the
    migration's transaction, so that name lookups and imports go on while a large list is indexed."""
    if op.get_bind().dialect.name != "postgresql":
        return
    with op.get_context().autocommit_block():
        for column in NAME_COLUMNS:
            name = f"ix_campaign_contacts_{column}_lower"
            op.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}_new")  # left by an interrupted run
            op.execute(
                f"CREATE INDEX CONCURRENTLY {name}_new "
                f"ON campaign_contacts (lower({column}) text_pattern_ops){include}"
            )
            op.execute(f"DROP INDEX CONCURRENTLY {name}")
            op.execute(f"ALTER INDEX {name}_new RENAME TO {name}")


def upgrade():
    _recreate(" INCLUDE (first_name, last_name, campaign_id, phone)")


def downgrade():
    _recreate("")
