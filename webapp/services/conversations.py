"""Conversations: one per (reusable number, contact phone), and the changes agents make to them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from sqlalchemy import bindparam, select

from webapp.extensions import db
from webapp.models import (
    AuthorKind,
    Conversation,
    Direction,
    Message,
    Mode,
    Participant,
    ReadMark,
    ReusableNumber,
    Status,
    User,
    utcnow,
)
from webapp.services.dbutil import dialect_insert, insert_ignoring_conflict, read_rows, upsert

PREVIEW_LENGTH = 120


class ConversationError(Exception):
    """An action the conversation's state does not allow; the message says why."""


@lru_cache(maxsize=2)
def _upsert_statement(dialect: str):
    """Built once per database: every inbound message and compose runs it."""
    insert = dialect_insert(dialect)
    statement = insert(Conversation).values(
        number_id=bindparam("number_id"),
        contact_phone=bindparam("contact_phone"),
        mode=bindparam("mode"),
        needs_attention=False,
        last_activity_at=bindparam("now"),
        last_message_preview="",
        created_at=bindparam("now"),
    )
    # A no-op update, so that RETURNING also gives the row that was already there.
    return (
        statement.on_conflict_do_update(
            index_elements=["number_id", "contact_phone"],
            set_={"number_id": statement.excluded.number_id},
        )
        .returning(Conversation)
        .execution_options(populate_existing=True)
    )


def get_or_create(number: ReusableNumber, contact_phone: str) -> Conversation:
    """The conversation of a number and phone, created in the number's backing mode if new.

    One statement, safe under concurrency: an upsert on the unique (number, phone) constraint
    returns the row whether this call made it or found it.
    """
    statement = _upsert_statement(db.session.get_bind().dialect.name)
    params = {"number_id": number.id, "contact_phone": contact_phone, "mode": number.backing}
    return db.session.scalars(statement, {**params, "now": utcnow()}).one()


def touch(conversation: Conversation, body: str, has_media: bool, at: datetime | None = None) -> None:
    """Move the conversation to the top of lists with this message as its preview."""
    conversation.last_activity_at = at or utcnow()
    preview = body or ("(picture)" if has_media else "")
    conversation.last_message_preview = preview[:PREVIEW_LENGTH]


def add_participant(conversation: Conversation, user: User) -> None:
    insert_ignoring_conflict(
        Participant, ["conversation_id", "user_id"], conversation_id=conversation.id, user_id=user.id
    )


def is_unread(conversation: Conversation, user: User) -> bool:
    """Has a contact's message arrived since the user last read the conversation?"""
    if conversation.last_inbound_at is None:
        return False
    read_at = db.session.scalar(
        select(ReadMark.read_at).where(
            ReadMark.user_id == user.id, ReadMark.conversation_id == conversation.id
        )
    )
    return read_at is None or read_at < conversation.last_inbound_at


def mark_read(conversation: Conversation, user: User) -> None:
    now = utcnow()
    upsert(
        ReadMark,
        ["user_id", "conversation_id"],
        values={"user_id": user.id, "conversation_id": conversation.id, "read_at": now},
        update={"read_at": now},
    )


def clear_attention(conversation: Conversation, user: User) -> None:
    """Does Not Need Attention: clear the flag without replying."""
    conversation.needs_attention = False
    add_event(conversation, f"{user.name} marked this as not needing attention", user)


def switch_mode(conversation: Conversation, user: User) -> str:
    """Toggle bot ↔ agent mode; refused while the conversation needs attention."""
    if conversation.needs_attention:
        raise ConversationError(
            "This conversation needs attention: reply or mark it Does Not Need Attention "
            "before switching mode."
        )
    conversation.mode = Mode.BOT.value if conversation.mode == Mode.AGENT else Mode.AGENT.value
    add_event(conversation, f"{user.name} switched this conversation to {conversation.mode} mode", user)
    return conversation.mode


def escalate(conversation: Conversation, reason: str) -> None:
    """Hand a bot-mode conversation to people: agent mode, and Needs Attention for everyone it is
    visible to. Recorded in its history."""
    conversation.mode = Mode.AGENT.value
    conversation.needs_attention = True
    add_event(conversation, f"{reason} Switched to agent mode.")


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


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One line of a conversation's thread, as the conversation pane shows it."""

    id: int
    direction: str
    body: str
    media_urls: list
    author_kind: str
    author_name: str | None
    created_at: datetime
    status: str
    error_reason: str | None

    @property
    def is_delayed(self) -> bool:
        """Queued for longer than a healthy queue takes: the agent should know it is late."""
        return self.status == Status.QUEUED and (utcnow() - self.created_at).total_seconds() > 30


# Built once: every open conversation and every live refresh reads it.
HISTORY = (
    select(
        Message.id,
        Message.direction,
        Message.body,
        Message.media_urls,
        Message.author_kind,
        User.name,
        Message.created_at,
        Message.status,
        Message.error_reason,
    )
    .outerjoin(User, User.id == Message.author_user_id)
    .where(Message.conversation_id == bindparam("conversation_id"))
    .order_by(Message.id.desc())
    .limit(bindparam("limit"))
)


def history(conversation: Conversation, limit: int = 500) -> list[HistoryEntry]:
    """The conversation's messages, oldest first (the newest `limit`), with their authors' names."""
    rows = read_rows(HISTORY, {"conversation_id": conversation.id, "limit": limit})
    return [HistoryEntry(*row) for row in reversed(rows.all())]
