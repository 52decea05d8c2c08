"""embedding: used launch tokens; indexes for contact lookup by name

Revision ID: 0005_embed
Revises: 0001
Create Date: 2026-11-26 09:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0005_embed'
down_revision = '0001'
branch_labels = None
depends_on = None

NAME_COLUMNS = ('first_name', 'last_name')


def upgrade():
    op.create_table('embed_used_tokens',
    sa.Column('jti', sa.String(length=255), nullable=False),
    sa.Column('expires_at', sa.DateTime(), nullable=False),
    sa.Column('used_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('jti', name=op.f('pk_embed_used_tokens'))
    )
    with op.batch_alter_table('embed_used_tokens', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_embed_used_tokens_expires_at'), ['expires_at'], unique=False)

    # Prefix search on names: expression indexes; on PostgreSQL with text_pattern_ops so that
    # `lower(col) LIKE 'pre%'` uses them under any collation.
    postgresql = op.get_bind().dialect.name == 'postgresql'
    for column in NAME_COLUMNS:
        opclass = ' text_pattern_ops' if postgresql else ''
        op.execute(
            f'CREATE INDEX ix_campaign_contacts_{column}_lower '
            f'ON campaign_contacts (lower({column}){opclass})'
        )


def downgrade():
    for column in NAME_COLUMNS:
        op.execute(f'DROP INDEX ix_campaign_contacts_{column}_lower')
    with op.batch_alter_table('embed_used_tokens', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_embed_used_tokens_expires_at'))

    op.drop_table('embed_used_tokens')
