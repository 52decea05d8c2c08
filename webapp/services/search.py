"""Search: the conversations a user may see, by contact name, phone (any format) or message text.

Message text is matched by the database's full-text index (SQLite FTS5, PostgreSQL `tsvector` with
a GIN index of the words of a message's first 100,000 characters, punctuation read as a space; see
migrations/versions/0013_search_media.py and 0021_search_words.py), newest message first, a page at
a time after the last message id shown (keyset, no OFFSET). The newest matches are read in id order
straight from the index and filtered by visibility until a page is full, so a page costs about the
same whatever the number of older matches.

What the user types is never passed on as query syntax: it is split into words (letters and
digits), and every word must occur. Quotes, NEAR, AND, *, -, parentheses and the like are not
operators, they are simply not words.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from markupsafe import Markup, escape
from sqlalchemy import String, bindparam, func, literal_column, select, table, text

from webapp.extensions import db
from webapp.models import Conversation, Direction, Message, ReusableNumber, User
from webapp.services import access, contacts
from webapp.services.contacts import ContactSearch, display_names
from webapp.services.dbutil import written_limit
from webapp.services.phones import PhoneError, format_phone, parse_any_phone

MAX_QUERY_LENGTH = 200
MAX_WORDS = 10
PAGE_SIZE = 20
EXCERPT_LENGTH = 160

WORD = re.compile(r"[^\W_]+")  # letters and digits: the words both databases' tokenizers make

_MESSAGES = Message.__table__
_CONVERSATIONS = Conversation.__table__
_NUMBERS = ReusableNumber.__table__
_FTS = table("messages_fts")  # SQLite's FTS5 index of message text (the migration makes it)


class SearchError(ValueError):
    """A query that cannot be searched; the message says what to type instead."""


@dataclass(frozen=True)
class MessageHit:
    message_id: int
    conversation_id: int
    display_name: str
    phone: str  # formatted
    number_label: str
    direction: str
    status: str  # an outbound text's: sent, delivered, failed, scheduled, cancelled…
    created_at: datetime
    excerpt: Markup  # escaped text with the matched words in <mark>


@dataclass(frozen=True)
class Results:
    query: str
    words: tuple[str, ...] = ()
    contacts: ContactSearch | None = None  # name or phone matches (first page only)
    messages: tuple[MessageHit, ...] = ()
    next_before: int | None = None  # the "Older results" cursor: message ids below this
    error: str | None = None
    paged: bool = False

    @property
    def empty(self) -> bool:
        found_contacts = bool(self.contacts and self.contacts.results)
        return not self.error and not found_contacts and not self.messages


def words_of(query: str) -> tuple[str, ...]:
    """The words searched for, lower-cased, each once, in order; at most MAX_WORDS."""
    return tuple(dict.fromkeys(word.lower() for word in WORD.findall(query)))[:MAX_WORDS]


def check_query(query: str) -> str:
    """The query with its spaces tidied; SearchError when it is too long or has no word."""
    if len(query) > MAX_QUERY_LENGTH:
        raise SearchError(
            f"Search for at most {MAX_QUERY_LENGTH} characters (this has {len(query):,}): "
            "a few words from the message, a name or a phone number."
        )
    query = " ".join(query.split())
    if query and not words_of(query):
        raise SearchError("Type a name, a phone number or words from a message (letters or digits).")
    return query


def search(user: User, query: str, before: int | None = None, limit: int = PAGE_SIZE) -> Results:
    """Conversations the user may see whose contact's name or phone matches the query, and
    messages of such conversations containing every word of it (newest first)."""
    try:
        query = check_query(query or "")
    except SearchError as exc:
        return Results(query=query, error=str(exc))  # kept whole in the field: nothing typed is cut
    if not query:
        return Results(query="")
    words = words_of(query)
    if not any(char.isalpha() for char in query):
        try:
            phone = parse_any_phone(query)
        except PhoneError:
            phone = None
        if phone is not None:  # a phone number: its conversations, not messages quoting it
            found = ContactSearch(query, "phone", [contacts.lookup(user, phone)])
            return Results(query=query, words=words, contacts=found)
    found = None
    if before is None and any(char.isalpha() for char in query):
        found = contacts.search(user, query, with_conversations=True)
    elif before is None and (digits := contacts.phone_fragment_digits(query)):
        found = contacts.search_phone_digits(user, digits)  # part of a phone ("555-0143")
    hits, next_before = _messages(user, words, before, limit)
    return Results(
        query=query,
        words=words,
        contacts=found,
        messages=tuple(hits),
        next_before=next_before,
        paged=before is not None,
    )


@lru_cache(maxsize=16)
def _message_statement(dialect: str, admin: bool, paged: bool, limit: int, rare: bool = False):
    """Built once per shape. The newest matching message ids come from the full-text index in
    descending order; each is joined to its conversation only to check visibility.

    PostgreSQL's GIN index gives matches in no order, so there are two shapes (see _rare): for
    words found in many messages, messages newest first, each tested against the query, stopping
    at `limit` visible ones; for rare words, every match from the GIN index first (a MATERIALIZED
    CTE, so that it is read that way), then the newest of them."""
    columns = (
        _MESSAGES.c.id,
        _MESSAGES.c.conversation_id,
        _MESSAGES.c.body,
        _MESSAGES.c.direction,
        _MESSAGES.c.status,
        _MESSAGES.c.created_at,
        _CONVERSATIONS.c.contact_phone,
        _NUMBERS.c.label,
        _NUMBERS.c.phone.label("number_phone"),
    )
    visible = access.visible_conversation_clause(bindparam("user_id"), admin)
    if dialect == "postgresql":
        order_key = _MESSAGES.c.id
        # The words are written into the statement (escaped by the dialect), not bound: a prepared
        # statement's generic plan, made for any words, reads 125,000 matches of a common word.
        terms = bindparam("terms", type_=String(), literal_execute=True)
        matches = literal_column("messages.search_vector").op("@@")(
            func.plainto_tsquery(literal_column("'simple'::regconfig"), terms)
        )
        if rare:
            matching = select(_MESSAGES.c.id).where(matches, _MESSAGES.c.direction != Direction.EVENT.value)
            if paged:
                matching = matching.where(_MESSAGES.c.id < bindparam("before"))
            found = matching.cte("matching").prefix_with("MATERIALIZED")
            statement = select(*columns).select_from(found).join(_MESSAGES, _MESSAGES.c.id == found.c.id)
        else:
            statement = select(*columns).select_from(_MESSAGES).where(matches)
    else:
        order_key = literal_column("messages_fts.rowid")
        statement = (
            select(*columns)
            .select_from(_FTS)
            .join(_MESSAGES, _MESSAGES.c.id == order_key)
            .where(text("messages_fts MATCH :terms"))
        )
    statement = (
        statement.join(_CONVERSATIONS, _CONVERSATIONS.c.id == _MESSAGES.c.conversation_id)
        .join(_NUMBERS, _NUMBERS.c.id == _CONVERSATIONS.c.number_id)
        .where(visible, _MESSAGES.c.direction != Direction.EVENT.value)
    )
    if paged:
        statement = statement.where(order_key < bindparam("before"))
    return statement.order_by(order_key.desc()).limit(written_limit(limit))


def _terms(dialect: str, words: tuple[str, ...]) -> str:
    """The words as the database's query: each a quoted phrase for FTS5 (no operator can reach
    it), plain words for plainto_tsquery (which knows no operators)."""
    if dialect == "postgresql":
        return " ".join(words)
    return " ".join(f'"{word}"' for word in words)


# PostgreSQL's statistics of the indexed words: the most common ones and the share of messages
# each is in.
_WORD_STATISTICS = text(
    "SELECT most_common_elems::text::text[] AS words, most_common_elem_freqs AS shares FROM pg_stats"
    " WHERE schemaname = current_schema() AND tablename = 'messages' AND attname = 'search_vector'"
)
COMMON_SHARE = 0.01  # a search whose rarest word is in 1% of messages or more reads newest first


def _rare(words: tuple[str, ...]) -> bool:
    """Whether the rarest of the words is in fewer than COMMON_SHARE of the messages (all the words
    together are in no more: words searched together tend to occur together).

    PostgreSQL estimates a word missing from its statistics at 0.5% of the messages (its default),
    and then reads the messages newest first looking for it: at a million messages, a word that no
    message has took a second. A word missing from the statistics is rarer than every word in them,
    so such a search reads the GIN index first (its cost is the number of matches)."""
    row = db.session.execute(_WORD_STATISTICS).first()
    if row is None or not row.words:
        return True
    shares = dict(zip(row.words, row.shares, strict=False))
    return min(shares.get(word, 0.0) for word in words) < COMMON_SHARE


def _messages(
    user: User, words: tuple[str, ...], before: int | None, limit: int
) -> tuple[list[MessageHit], int | None]:
    if not words:
        return [], None
    dialect = db.session.get_bind().dialect.name
    rare = dialect == "postgresql" and _rare(words)
    statement = _message_statement(dialect, user.is_admin, before is not None, limit + 1, rare)
    params: dict = {"user_id": user.id, "terms": _terms(dialect, words)}
    if before is not None:
        params["before"] = before
    rows = db.session.execute(statement, params).all()
    more = len(rows) > limit
    rows = rows[:limit]
    names = display_names([row.contact_phone for row in rows])
    hits = [
        MessageHit(
            message_id=row.id,
            conversation_id=row.conversation_id,
            display_name=names[row.contact_phone],
            phone=format_phone(row.contact_phone),
            number_label=row.label or format_phone(row.number_phone),
            direction=row.direction,
            status=row.status,
            created_at=row.created_at,
            excerpt=excerpt(row.body, words),
        )
        for row in rows
    ]
    return hits, (rows[-1].id if more and rows else None)


def _pattern(words: tuple[str, ...], prefix: bool) -> re.Pattern:
    alternatives = "|".join(re.escape(word) for word in sorted(words, key=len, reverse=True))
    tail = "" if prefix else r"(?![^\W_])"
    return re.compile(rf"(?<![^\W_])(?:{alternatives}){tail}", re.IGNORECASE)


def highlight(text_: str, words: tuple[str, ...], prefix: bool = False) -> Markup:
    """`text_` escaped, with each occurrence of a word (whole, or its start when `prefix`) wrapped
    in <mark>. Built from escaped pieces: nothing the user or a contact typed becomes mark-up."""
    if not words:
        return escape(text_)
    pieces: list[Markup] = []
    position = 0
    for match in _pattern(words, prefix).finditer(text_):
        pieces.append(escape(text_[position : match.start()]))
        pieces.append(Markup("<mark>%s</mark>") % text_[match.start() : match.end()])
        position = match.end()
    pieces.append(escape(text_[position:]))
    return Markup("").join(pieces)


def excerpt(body: str, words: tuple[str, ...], length: int = EXCERPT_LENGTH) -> Markup:
    """A short part of the message around its first matched word, highlighted."""
    body = " ".join(body.split())
    if len(body) > length:
        match = _pattern(words, False).search(body) if words else None
        start = max(0, (match.start() if match else 0) - length // 3)
        end = min(len(body), start + length)
        start = max(0, end - length)
        body = ("…" if start else "") + body[start:end] + ("…" if end < len(body) else "")
    return highlight(body, words)
