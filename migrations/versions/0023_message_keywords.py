"""message keywords: an inbound text keeps how Parley read it on arrival (STOP, START, HELP…)

The reports left keywords out of replies and questions by reading each text again in SQL, which
could not read every text as the inbound pipeline does ("stop😤" opted the contact out and counted
as a reply) nor know a keyword the provider read (Twilio's YES). Each inbound text now keeps the
reading it was answered by. Texts stored before are read here by the rule of this migration's day:
the text alone, marks and emoji between or around the words as spaces, full-width letters as the
usual ones (circled ones too). A keyword the provider read in another word (Twilio's YES) is not
known for those.

Revision ID: 0025_message_keywords
Revises: 0024_message_retries
"""

import re
import unicodedata

import sqlalchemy as sa
from alembic import op

revision = "0025_message_keywords"
down_revision = "0024_message_retries"
branch_labels = None
depends_on = None

# Parley's keywords when this migration was written (services/optouts.py reads new texts).
KEYWORDS = {
    **dict.fromkeys(
        ["stop", "stopall", "unsubscribe", "cancel", "end", "quit", "revoke", "optout", "opt out",
         "stop all", "do not text", "do not message", "take me off your list"],
        "optout",
    ),
    **dict.fromkeys(["start", "unstop", "resume"], "optin"),
    **dict.fromkeys(["help", "info"], "help"),
}  # fmt: skip
BATCH = 1000

messages = sa.table(
    "messages",
    sa.column("id", sa.Integer),
    sa.column("direction", sa.String),
    sa.column("body", sa.Text),
    sa.column("keyword", sa.String),
)


def _keyword(text: str | None) -> str | None:
    text = text or ""
    for reading in (text, re.sub(r"[^\w\s]", " ", text)):  # marks as spaces after NFKC, or before too
        words = re.sub(r"[^\w\s]", " ", unicodedata.normalize("NFKC", reading).lower()).split()
        if (keyword := KEYWORDS.get(" ".join(words))) is not None:
            return keyword
    return None


def upgrade():
    op.add_column("messages", sa.Column("keyword", sa.String(length=10), nullable=True))
    connection = op.get_bind()
    after = 0
    while True:  # in pages of ids: a large history is never held in memory at once
        page = connection.execute(
            sa.select(messages.c.id, messages.c.body)
            .where(messages.c.direction == "inbound", messages.c.id > after)
            .order_by(messages.c.id)
            .limit(BATCH)
        ).all()
        if not page:
            break
        after = page[-1].id
        read = [{"key": row.id, "value": _keyword(row.body)} for row in page]
        read = [row for row in read if row["value"] is not None]
        if read:
            connection.execute(
                messages.update().where(messages.c.id == sa.bindparam("key")).values(keyword=sa.bindparam("value")),
                read,
            )


def downgrade():
    op.drop_column("messages", "keyword")
