"""search words: PostgreSQL indexes message text as the words a search is split into

A search is split into words of letters and digits (services/search.py), and SQLite's FTS5
tokenizer splits message text the same way. PostgreSQL's parser kept an e-mail address, a web
address, a decimal or a signed number whole (`jane.doe@gmail.com`, `3.75`, `-4471`), so searching
for `gmail` or `2026-4471` found nothing there. The generated `search_vector` column is made again
with punctuation read as a space, and from the first 100,000 characters of a message only: a
`tsvector` holds at most 1 MB of words, and a longer text of distinct words (a 700 KB inbound text)
could not be stored at all. Every existing message is indexed again here. SQLite is unchanged.

Revision ID: 0023_search_words
Revises: 0022_api_key_names_per_office
"""

from alembic import op

revision = "0023_search_words"
down_revision = "0022_api_key_names_per_office"
branch_labels = None
depends_on = None

# Punctuation ([[:punct:]], ASCII and, in a UTF-8 locale, the rest of Unicode's) becomes a space,
# so that words split where the query's do; letters of any script (é, ñ, 李) stay in their words.
# Only the first 100,000 characters are indexed: at most 400 KB of words, so no text is too long
# for a tsvector (1 MB) and every message is stored, however long. Both functions are IMMUTABLE,
# as a generated column requires.
WORDS = "to_tsvector('simple'::regconfig, regexp_replace(left(body, 100000), '[[:punct:]]+', ' ', 'g'))"
# As migration 0013_search_media made it: the text whole, as PostgreSQL's parser reads it.
AS_WRITTEN = "to_tsvector('simple'::regconfig, body)"


def _search_vector(expression: str) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP INDEX ix_messages_search")
    op.execute("ALTER TABLE messages DROP COLUMN search_vector")
    op.execute(
        "ALTER TABLE messages ADD COLUMN search_vector tsvector GENERATED ALWAYS AS ("
        f"CASE WHEN direction <> 'event' THEN {expression} END) STORED"
    )
    op.execute("CREATE INDEX ix_messages_search ON messages USING gin (search_vector)")
    # The new column's word statistics, which search reads to choose its plan (services/search.py).
    op.execute("ANALYZE messages (search_vector)")


def upgrade():
    _search_vector(WORDS)


def downgrade():
    _search_vector(AS_WRITTEN)
