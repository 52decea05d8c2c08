"""trust: server-side session records, login failures, webhook nonces, an opt-out's number

The participations' inbox index gains the number, so that the tabs check from the index alone
whether a participation still makes its conversation visible (the user still belongs to the
number's office).

Revision ID: 0007_trust
Revises: 0006_participant_inbox
"""

import re

import sqlalchemy as sa
from alembic import op

revision = "0007_trust"
down_revision = "0006_participant_inbox"
branch_labels = None
depends_on = None

INBOX_COLUMNS = ["user_id", "needs_attention", "last_activity_at", "conversation_id"]


def upgrade():
    op.create_table(
        "user_sessions",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("method", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_user_sessions_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_user_sessions")),
    )
    with op.batch_alter_table("user_sessions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_user_sessions_user_id"), ["user_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_user_sessions_created_at"), ["created_at"], unique=False)

    op.create_table(
        "login_failures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("ip", sa.String(length=64), nullable=False),
        sa.Column("failed_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_login_failures")),
    )
    with op.batch_alter_table("login_failures", schema=None) as batch_op:
        batch_op.create_index("ix_login_failures_email", ["email", "failed_at"], unique=False)
        batch_op.create_index("ix_login_failures_ip", ["ip", "failed_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_login_failures_failed_at"), ["failed_at"], unique=False)

    op.create_table(
        "webhook_nonces",
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("nonce", sa.String(length=255), nullable=False),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("provider", "nonce", name=op.f("pk_webhook_nonces")),
    )

    with op.batch_alter_table("opt_outs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("number_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_opt_outs_number_id_reusable_numbers"),
            "reusable_numbers",
            ["number_id"],
            ["id"],
            ondelete="SET NULL",
        )
    _number_of_earlier_opt_outs()

    op.drop_index("ix_participants_inbox", table_name="conversation_participants")
    op.create_index("ix_participants_inbox", "conversation_participants", INBOX_COLUMNS + ["number_id"])


def _number_of_earlier_opt_outs():
    """The number each earlier STOP came through, so that its office's admins may remove it, as
    they may one made from now on: its history says so ("texted +12025550100"). Kept for every
    office (no number) where the history names none, or the phone also texted another office's
    number (it may have said STOP there too, which nothing recorded)."""
    bind = op.get_bind()
    texted = {}  # phone → the number named by the event that opted it out (the latest)
    for phone, detail in bind.execute(
        sa.text(
            "SELECT e.phone, e.detail FROM opt_out_events e JOIN opt_outs o ON o.phone = e.phone "
            "WHERE o.source <> 'admin' AND e.action = 'opt_out' ORDER BY e.id"
        )
    ):
        found = re.fullmatch(r"texted (\+\d{8,15})", detail or "")
        texted[phone] = found.group(1) if found else None
    for phone, number_phone in texted.items():
        if number_phone is None:
            continue
        offices = bind.execute(
            sa.text(
                "SELECT DISTINCT n.office_id FROM conversations c "
                "JOIN reusable_numbers n ON n.id = c.number_id WHERE c.contact_phone = :phone"
            ),
            {"phone": phone},
        ).scalars().all()
        number = bind.execute(
            sa.text("SELECT id, office_id FROM reusable_numbers WHERE phone = :phone"),
            {"phone": number_phone},
        ).first()
        if number is not None and set(offices) <= {number.office_id}:
            bind.execute(
                sa.text("UPDATE opt_outs SET number_id = :number WHERE phone = :phone"),
                {"number": number.id, "phone": phone},
            )


def downgrade():
    op.drop_index("ix_participants_inbox", table_name="conversation_participants")
    op.create_index("ix_participants_inbox", "conversation_participants", INBOX_COLUMNS)
    with op.batch_alter_table("opt_outs", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_opt_outs_number_id_reusable_numbers"), type_="foreignkey")
        batch_op.drop_column("number_id")
    op.drop_table("webhook_nonces")
    with op.batch_alter_table("login_failures", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_login_failures_failed_at"))
        batch_op.drop_index("ix_login_failures_ip")
        batch_op.drop_index("ix_login_failures_email")
    op.drop_table("login_failures")
    with op.batch_alter_table("user_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_user_sessions_created_at"))
        batch_op.drop_index(batch_op.f("ix_user_sessions_user_id"))
    op.drop_table("user_sessions")
