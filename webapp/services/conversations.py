"""Conversations: one per (reusable number, contact phone), and the changes agents make to them."""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import lru_cache
from typing import NamedTuple

from sqlalchemy import (
    Boolean,
    and_,
    bindparam,
    case,
    exists,
    false,
    func,
    literal_column,
    select,
    true,
    update,
)

from webapp.extensions import db
from webapp.models import (
    ApiKey,
    AuthorKind,
    Conversation,
    Direction,
    Message,
    MessagePicture,
    Mode,
    Participant,
    ReadMark,
    ReusableNumber,
    Status,
    User,
    utcnow,
)
from webapp.services import webhooks
from webapp.services.dbutil import (
    dialect_insert,
    insert_ignoring_conflict,
    upsert,
    written_limit,
)
from webapp.services.segments import shows_nothing

PREVIEW_LENGTH = 120


class ConversationError(Exception):
    """An action the conversation's state does not allow; the message says why."""


@lru_cache(maxsize=4)
def _activity_statement(dialect: str, by_agent: bool):
    """Built once per database: every inbound message and every text sent runs it.

    For an agent's text it also tells whether the agent already participates and has read every
    reply (`agent_id`): then those two writes would change nothing, and are skipped.
    """
    c = Conversation.__table__.c
    insert = dialect_insert(dialect)
    statement = insert(Conversation.__table__).values(
        number_id=bindparam("number_id"),
        contact_phone=bindparam("contact_phone"),
        mode=bindparam("mode"),
        needs_attention=bindparam("new_attention", type_=Boolean),
        last_activity_at=bindparam("now"),
        last_inbound_at=bindparam("inbound_at"),
        last_message_preview=bindparam("preview"),
        created_at=bindparam("now"),
    )
    new = statement.excluded
    attention = case(
        (bindparam("clear_attention", type_=Boolean), false()),
        (and_(bindparam("raise_attention", type_=Boolean), c.mode == Mode.AGENT.value), true()),
        else_=c.needs_attention,
    )
    return statement.on_conflict_do_update(
        index_elements=["number_id", "contact_phone"],
        set_={
            "last_activity_at": new.last_activity_at,
            "last_message_preview": new.last_message_preview,
            "last_inbound_at": func.coalesce(new.last_inbound_at, c.last_inbound_at),
            "needs_attention": attention,
        },
    ).returning(c.id, c.mode, *(_agent_state(c) if by_agent else ()))


def _agent_state(c) -> tuple:
    agent = bindparam("agent_id")
    # SQLAlchemy does not correlate a subquery in RETURNING with the row written: name its id.
    row_id = literal_column("conversations.id")
    participating = exists().where(Participant.conversation_id == row_id, Participant.user_id == agent)
    read_at = (
        select(ReadMark.read_at)
        .where(ReadMark.conversation_id == row_id, ReadMark.user_id == agent)
        .scalar_subquery()
    )
    # The times, not "is it read" in SQL: SQLite 3.40 answers IS NULL wrongly in an upsert's
    # RETURNING (a NULL last_inbound_at tested as not NULL).
    return participating.label("participating"), c.last_inbound_at, read_at.label("read_at")


class NumberRef(NamedTuple):
    """What sending and receiving need of a reusable number, read as a plain row (every text
    asks, and an ORM object costs more than the query)."""

    id: int
    phone: str
    office_id: int
    backing: str
    provider: str


NUMBER_REF_COLUMNS = tuple(ReusableNumber.__table__.c[name] for name in NumberRef._fields)


class Activity(NamedTuple):
    conversation_id: int
    mode: str
    # For an agent's text (record_activity's `agent_id`): whether the agent participates already,
    # the contact's last reply and when the agent last read the conversation.
    participating: bool = False
    last_inbound_at: datetime | None = None
    read_at: datetime | None = None

    @property
    def read(self) -> bool:
        """The agent has read every reply (the opposite of the inbox's "unread")."""
        return self.last_inbound_at is None or (
            self.read_at is not None and self.read_at >= self.last_inbound_at
        )


def record_activity(
    number: ReusableNumber | NumberRef,
    contact_phone: str,
    preview: str,
    at: datetime,
    *,
    inbound: bool = False,
    raise_attention: bool = False,
    clear_attention: bool = False,
    agent_id: int | None = None,
) -> Activity:
    """Find or create the conversation of a number and phone (new ones take the number's backing
    mode) and move it to the top of lists with a message's preview, in one statement that is safe
    under concurrency (an upsert on the unique number and phone).

    `raise_attention`: a contact's reply routed to people (Needs Attention, in agent mode only);
    `clear_attention`: an agent answered. Neither: the flag stays as it is.
    `agent_id`: the agent who sent the text, to learn whether they participate and have read it.
    """
    statement = _activity_statement(db.session.get_bind().dialect.name, agent_id is not None)
    mode = number.backing
    params = {
        "number_id": number.id,
        "contact_phone": contact_phone,
        "mode": mode,
        "new_attention": raise_attention and mode == Mode.AGENT,
        "now": at,
        "inbound_at": at if inbound else None,
        "preview": preview[:PREVIEW_LENGTH],
        "clear_attention": clear_attention,
        "raise_attention": raise_attention,
        "agent_id": agent_id,
    }
    db.session.flush()  # pending ORM changes go first, as the ORM's own statements would
    return Activity(*db.session.execute(statement, params).one())


_conversations = Conversation.__table__.c
# Built once: an inbound text to an office with webhook endpoints runs it. A write that changes
# nothing: it locks the row (SQLite's write lock) before reading it.
_ATTENTION_LOCKED = (
    update(Conversation.__table__)
    .where(
        _conversations.number_id == bindparam("of_number_id"),
        _conversations.contact_phone == bindparam("of_contact_phone"),
    )
    .values(needs_attention=_conversations.needs_attention)
    .returning(_conversations.needs_attention)
)


def needs_attention_locked(number_id: int, contact_phone: str) -> bool:
    """Does the conversation of a number and phone need attention now (False when there is none
    yet)? Its row stays locked until the transaction ends: of two texts arriving together, only
    one finds it not needing attention."""
    params = {"of_number_id": number_id, "of_contact_phone": contact_phone}
    return bool(db.session.execute(_ATTENTION_LOCKED, params).scalar())


def preview_of(body: str, has_media: bool) -> str:
    return body or ("(picture)" if has_media else "")


def add_participant(conversation_id: int, user: User) -> None:
    insert_ignoring_conflict(
        Participant, ["conversation_id", "user_id"], conversation_id=conversation_id, user_id=user.id
    )


def mark_read(conversation_id: int, user: User) -> None:
    now = utcnow()
    upsert(
        ReadMark,
        ["user_id", "conversation_id"],
        values={"user_id": user.id, "conversation_id": conversation_id, "read_at": now},
        update={"read_at": now},
    )


# How the history records a Does Not Need Attention (reports count them by it too).
DISMISSED_NOTE = "marked this as not needing attention"


def clear_attention(conversation: Conversation, user: User) -> None:
    """Does Not Need Attention: clear the flag without replying."""
    conversation.needs_attention = False
    add_event(conversation, f"{user.name} {DISMISSED_NOTE}", user)


def locked(conversation_id: int) -> Conversation | None:
    """The conversation as committed now, its row locked until the transaction ends: of two
    changes to it at once (a Cancel and a colleague's reply, Switch Mode and the bot's answer),
    the second sees the first (PostgreSQL; SQLite has one writer at a time anyway). FOR NO KEY
    UPDATE: rows that only refer to the conversation (a note, an event) need not wait for it."""
    return db.session.get(
        Conversation, conversation_id, with_for_update={"key_share": True}, populate_existing=True
    )


def after_withdrawn_text(conversation: Conversation, message_id: int, answering: bool) -> None:
    """A held text was withdrawn (cancelled), so it never goes: the list's preview shows the
    newest text left, and when `answering` (an agent's reply or the bot's answer) the question it
    answered waits for people again (`ask_people_again`)."""
    refresh_preview(conversation)
    if answering:
        ask_people_again(conversation, message_id)


def refresh_preview(conversation: Conversation) -> None:
    """The list's preview from the newest text that went or is to go (after one was withdrawn, or
    retention erased the one it showed)."""
    texts = Message.direction.in_((Direction.INBOUND.value, Direction.OUTBOUND.value))
    newest = db.session.execute(
        select(Message.body, exists().where(MessagePicture.message_id == Message.id))
        .where(Message.conversation_id == conversation.id, texts, Message.status != Status.CANCELLED.value)
        .order_by(Message.id.desc())
        .limit(1)
    ).first()
    conversation.last_message_preview = preview_of(*newest)[:PREVIEW_LENGTH] if newest else ""


# How far back a withdrawn answer looks for the contact's question past their keyword texts.
_QUESTION_LOOKBACK = 20


def ask_people_again(conversation: Conversation, answered_at_id: int) -> None:
    """An agent-mode conversation needs attention again when the contact's latest question came
    before `answered_at_id` (the answer that will not go, or the moment people took over) and
    nobody has answered it, nor pressed Does Not Need Attention, since."""
    if conversation.needs_attention or conversation.mode != Mode.AGENT:
        return
    latest = db.session.execute(
        select(Message.id, Message.keyword)
        .where(Message.conversation_id == conversation.id, Message.direction == Direction.INBOUND.value)
        .order_by(Message.id.desc())
        .limit(_QUESTION_LOOKBACK)
    ).all()
    # STOP, HELP… (as inbound read them) are answered by Parley: no question for people.
    asked = next((row.id for row in latest if row.keyword is None), None)
    if asked is None or answered_at_id < asked:
        return  # no question, or a newer one (which raised the flag itself, in agent mode)
    answered = db.session.scalar(
        select(Message.id)
        .where(
            Message.conversation_id == conversation.id,
            Message.id > asked,
            (
                (Message.direction == Direction.OUTBOUND.value)
                & Message.author_kind.in_((AuthorKind.AGENT.value, AuthorKind.BOT.value))
                & (Message.status != Status.CANCELLED.value)
            )
            | ((Message.direction == Direction.EVENT.value) & Message.body.endswith(DISMISSED_NOTE)),
        )
        .limit(1)
    )
    if answered is None:
        conversation.needs_attention = True
        webhooks.conversation_event(conversation.id, "conversation.needs_attention")


def switch_mode(conversation: Conversation, user: User) -> str:
    """Toggle bot ↔ agent mode; refused while the conversation needs attention."""
    conversation = locked(conversation.id) or conversation
    if conversation.needs_attention:
        raise ConversationError(
            "This conversation needs attention: reply or mark it Does Not Need Attention "
            "before switching mode."
        )
    conversation.mode = Mode.BOT.value if conversation.mode == Mode.AGENT else Mode.AGENT.value
    add_event(conversation, f"{user.name} switched this conversation to {conversation.mode} mode", user)
    if conversation.mode == Mode.AGENT:
        _withdraw_held_bot_answers(conversation)
        # People own it now: a question the bot has not answered yet (its answer under way or
        # waiting in the queue will not come) waits for them.
        of_it = Message.conversation_id == conversation.id
        newest = db.session.scalar(select(func.max(Message.id)).where(of_it))
        if newest is not None:
            ask_people_again(conversation, newest)
    return conversation.mode


def _withdraw_held_bot_answers(conversation: Conversation) -> None:
    """People took over: a bot answer held for later (quiet hours) would reach the contact after
    them, so it is withdrawn, as an agent's Cancel would."""
    messages = Message.__table__.c
    withdrawn = db.session.scalars(
        update(Message.__table__)
        .where(
            messages.conversation_id == conversation.id,
            messages.author_kind == AuthorKind.BOT.value,
            messages.status == Status.SCHEDULED.value,
        )
        .values(status=Status.CANCELLED.value, updated_at=utcnow())
        .returning(messages.id)
    ).all()
    if not withdrawn:
        return
    if len(withdrawn) == 1:
        add_event(conversation, "The bot's answer held for later was withdrawn; it will not be sent.")
    else:
        said = f"The bot's {len(withdrawn)} answers held for later were withdrawn; they will not be sent."
        add_event(conversation, said)
    after_withdrawn_text(conversation, max(withdrawn), answering=False)  # switch_mode asks people


def escalate(conversation: Conversation, reason: str) -> None:
    """Hand a bot-mode conversation to people: agent mode, and Needs Attention for everyone it is
    visible to. Recorded in its history."""
    starts_needing_attention = not conversation.needs_attention
    conversation.mode = Mode.AGENT.value
    conversation.needs_attention = True
    add_event(conversation, f"{reason} Switched to agent mode.")
    _withdraw_held_bot_answers(conversation)  # they would reach the contact after people's answer
    if starts_needing_attention:
        webhooks.conversation_event(conversation.id, "conversation.needs_attention")


def bot_answer_failed(conversation_id: int, reason: str | None, maybe_sent: bool = False) -> None:
    """A bot's answer failed to go (or to be delivered), or `maybe_sent` it went unconfirmed, so
    the contact's question is (or may be) unanswered: people get it, as when the bot cannot answer
    at all. Its own transaction, after the one that recorded the failure (the message's lock is
    not held while the conversation's is taken)."""
    conversation = locked(conversation_id)
    if conversation is not None and conversation.mode == Mode.BOT:
        because = f" ({reason.rstrip('.')})" if reason else ""
        what = "may not have reached the contact" if maybe_sent else "could not be sent"
        escalate(conversation, f"The bot's answer {what}{because}; this needs an agent.")
    db.session.commit()


def add_event(conversation: Conversation, text: str, user: User | None = None) -> Message:
    """A note in the conversation's history (who did what), not a text message."""
    event = Message(
        conversation_id=conversation.id,
        direction=Direction.EVENT.value,
        body=text,
        author_kind=AuthorKind.SYSTEM.value if user is None else AuthorKind.AGENT.value,
        author_user_id=user.id if user else None,
        status="",
    )
    db.session.add(event)
    return event


# A note is for colleagues, not a contact: longer than a text may be, still bounded.
MAX_NOTE_LENGTH = 5000


def add_note(conversation: Conversation, user: User, text: str) -> Message:
    """An internal note in the conversation's timeline: never sent, not a reply (Needs Attention,
    participation, the list's preview and order stay as they were)."""
    text = text.strip()
    if shows_nothing(text):
        raise ConversationError("Write the note before adding it: an empty note was not added.")
    length = len(text)
    if length > MAX_NOTE_LENGTH:
        raise ConversationError(
            f"A note can be at most {MAX_NOTE_LENGTH:,} characters; this has {length:,}. "
            "Shorten it to add it."
        )
    note = Message(
        conversation_id=conversation.id,
        direction=Direction.NOTE.value,
        body=text,
        author_kind=AuthorKind.AGENT.value,
        author_user_id=user.id,
        status="",
    )
    db.session.add(note)
    db.session.flush()
    webhooks.message_event(note.id, "note.added")
    return note


# A message queued longer than this shows "sending is delayed".
DELAYED_AFTER = timedelta(seconds=30)


class Thumbnail(NamedTuple):
    """A picture of a message, as the thread shows it."""

    token: str  # its links are made from it
    width: int
    height: int
    source_url: str | None  # a contact's picture: the provider's link it replaces


class HistoryEntry(NamedTuple):
    """One line of a conversation's thread, as the conversation pane shows it (a tuple: a thread
    builds hundreds of them)."""

    id: int
    direction: str
    body: str
    media_urls: tuple[str, ...]
    author_kind: str
    author_name: str | None
    created_at: datetime
    status: str
    error_reason: str | None
    send_at: datetime | None = None  # a scheduled message goes then
    erased: bool = False  # its text was erased by retention (an empty text is not)
    pictures: tuple[Thumbnail, ...] = ()  # an agent's attached picture, or a contact's

    @property
    def links(self) -> list[str]:
        """The message's media links that have no picture kept in their place."""
        kept = {picture.source_url for picture in self.pictures}
        return [url for url in self.media_urls or () if url not in kept]

    @property
    def is_delayed(self) -> bool:
        """Queued for longer than a healthy queue takes: the agent should know it is late."""
        return self.status == Status.QUEUED and utcnow() - self.created_at > DELAYED_AFTER


# Tables, not mapped classes, in statements built once: they run as Core statements (see
# docs/performance.md).
_API_KEYS = ApiKey.__table__
_MESSAGES = Message.__table__
_PICTURES = MessagePicture.__table__
_USERS = User.__table__


# A conversation shows its newest messages, at most this many.
HISTORY_LENGTH = 500

# The newest HISTORY_LENGTH messages, counted before their pictures are joined: a message with
# several pictures is still one message of the thread, shown with all of them.
_NEWEST = (
    select(_MESSAGES.c.id)
    .where(_MESSAGES.c.conversation_id == bindparam("conversation_id"))
    .order_by(_MESSAGES.c.id.desc())
    .limit(written_limit(HISTORY_LENGTH))
    .subquery("newest")
)

# Built once: every open conversation and every live refresh reads it.
HISTORY = (
    select(
        _MESSAGES.c.id,
        _MESSAGES.c.direction,
        _MESSAGES.c.body,
        _MESSAGES.c.media_urls,
        _MESSAGES.c.author_kind,
        # An agent, or the API key that sent it.
        func.coalesce(_USERS.c.name, _API_KEYS.c.name),
        _MESSAGES.c.created_at,
        _MESSAGES.c.status,
        _MESSAGES.c.error_reason,
        _MESSAGES.c.send_at,
        _MESSAGES.c.erased_at.is_not(None),
        _PICTURES.c.id,
        _PICTURES.c.token,
        _PICTURES.c.width,
        _PICTURES.c.height,
        _PICTURES.c.source_url,
    )
    .select_from(_NEWEST)
    .join(_MESSAGES, _MESSAGES.c.id == _NEWEST.c.id)
    .outerjoin(_USERS, _USERS.c.id == _MESSAGES.c.author_user_id)
    .outerjoin(_PICTURES, _PICTURES.c.message_id == _MESSAGES.c.id)
    .outerjoin(_API_KEYS, _API_KEYS.c.id == _MESSAGES.c.author_api_key_id)
    .order_by(_MESSAGES.c.id)
)


def history(conversation_id: int) -> list[HistoryEntry]:
    """The conversation's messages, oldest first (the newest HISTORY_LENGTH), with their authors'
    names."""
    rows = db.session.execute(HISTORY, {"conversation_id": conversation_id}).all()
    entries: list[HistoryEntry] = []
    pictures: dict[int, list] = {}  # a message with several pictures has a row for each
    for row in rows:
        *fields, picture_id, token, width, height, source_url = row
        message_id = fields[0]
        if token is not None:
            thumbnail = Thumbnail(token, width, height, source_url)
            pictures.setdefault(message_id, []).append((picture_id, thumbnail))
        if not entries or entries[-1].id != message_id:
            # Hashable all through: the thread renders each message from its values alone.
            fields[3] = tuple(fields[3] or ())
            entries.append(HistoryEntry(*fields))
    if pictures:
        entries = [
            entry._replace(pictures=tuple(t for _, t in sorted(pictures[entry.id])))
            if entry.id in pictures
            else entry
            for entry in entries
        ]
    return entries
