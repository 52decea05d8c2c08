"""Conversations (one per reusable number and contact phone), participants and messages."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import JSON, FetchedValue, ForeignKey, Index, String, Text, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.extensions import db
from webapp.models.numbers import ReusableNumber
from webapp.models.org import User
from webapp.models.types import UTCDateTime, utcnow


class Mode(StrEnum):
    AGENT = "agent"
    BOT = "bot"


class Direction(StrEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"
    EVENT = "event"  # a line in the history, e.g. a mode switch
    NOTE = "note"  # an agent's internal note: never sent, not a reply


# The directions of texts a contact and the office exchanged (not events, not notes).
TEXT_DIRECTIONS = (Direction.INBOUND.value, Direction.OUTBOUND.value)


class AuthorKind(StrEnum):
    CONTACT = "contact"
    AGENT = "agent"
    BOT = "bot"
    SYSTEM = "system"
    API = "api"  # sent through the CRM API; the key's name is the author


class Status(StrEnum):
    RECEIVED = "received"
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    DELIVERED = "delivered"
    UNDELIVERED = "undelivered"
    FAILED = "failed"
    SCHEDULED = "scheduled"  # held until `send_at` (quiet hours, or an agent's Send later)
    CANCELLED = "cancelled"  # a scheduled message withdrawn before it went


FINAL_STATUSES = frozenset({Status.DELIVERED, Status.UNDELIVERED, Status.FAILED, Status.CANCELLED})


class Conversation(db.Model):
    __tablename__ = "conversations"
    __table_args__ = (
        UniqueConstraint("number_id", "contact_phone"),
        # The inbox tabs: a number's conversations that (do not) need attention, newest first.
        Index(
            "ix_conversations_inbox", "number_id", "needs_attention", "last_activity_at", "id"
        ),
        Index("ix_conversations_contact_phone", "contact_phone"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    number_id: Mapped[int] = mapped_column(ForeignKey("reusable_numbers.id"))
    contact_phone: Mapped[str] = mapped_column(String(20))  # E.164
    mode: Mapped[str] = mapped_column(String(8), default=Mode.AGENT.value)
    needs_attention: Mapped[bool] = mapped_column(default=False)
    last_activity_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_inbound_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_message_preview: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    number: Mapped[ReusableNumber] = relationship()


class Participant(db.Model):
    """An agent who sent or replied in a conversation."""

    __tablename__ = "conversation_participants"
    __table_args__ = (
        Index("ix_participants_user", "user_id", "conversation_id"),
        # The user's tabs, newest first, from one index range (see inbox._branches); the number
        # last, so that a participation's visibility is checked from the index alone.
        Index(
            "ix_participants_inbox",
            "user_id",
            "needs_attention",
            "last_activity_at",
            "conversation_id",
            "number_id",
        ),
    )

    conversation_id: Mapped[int] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    joined_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Copies of the conversation's inbox fields, written only by database triggers (migration 0006).
    number_id: Mapped[int | None] = mapped_column(server_default=FetchedValue())
    needs_attention: Mapped[bool | None] = mapped_column(server_default=FetchedValue())
    last_activity_at: Mapped[datetime | None] = mapped_column(
        UTCDateTime, server_default=FetchedValue()
    )


class ReadMark(db.Model):
    """When a user last looked at a conversation; later inbound messages make it unread."""

    __tablename__ = "conversation_reads"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    conversation_id: Mapped[int] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), primary_key=True
    )
    read_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Message(db.Model):
    __tablename__ = "messages"
    __table_args__ = (
        # Idempotency of provider webhooks is enforced here, not by check-then-insert.
        UniqueConstraint("provider", "provider_message_id"),
        Index("ix_messages_conversation", "conversation_id", "id"),
        Index("ix_messages_status", "status", "updated_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    direction: Mapped[str] = mapped_column(String(10))
    body: Mapped[str] = mapped_column(Text, default="")
    media_urls: Mapped[list] = mapped_column(JSON, default=list)
    author_kind: Mapped[str] = mapped_column(String(10))
    author_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    author_api_key_id: Mapped[int | None] = mapped_column(ForeignKey("api_keys.id"))
    status: Mapped[str] = mapped_column(String(12), default="")
    error_code: Mapped[str | None] = mapped_column(String(20))
    error_reason: Mapped[str | None] = mapped_column(String(300))
    provider: Mapped[str | None] = mapped_column(String(40))
    provider_message_id: Mapped[str | None] = mapped_column(String(100))
    # A compose form's one-time key: a repeated submit finds the message it already made.
    idempotency_key: Mapped[str | None] = mapped_column(String(64), unique=True)
    attempts: Mapped[int] = mapped_column(default=0)  # since the last Retry
    # How many times an agent pressed Retry: each attempt's status callback URL carries it, so a
    # late report of an attempt before a Retry is told from one of the text sent again.
    retries: Mapped[int] = mapped_column(default=0, server_default="0")
    # An inbound text Parley answered itself, as it read it on arrival: "optout", "optin" or "help"
    # (optouts.Intent; the provider's reading or its own). None for a reply and every other message.
    keyword: Mapped[str | None] = mapped_column(String(10))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    # A scheduled message goes at this time (the worker releases it then).
    send_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Held (scheduled) by the office's quiet hours, not for a time an agent chose (Send later):
    # such a message follows the quiet hours when they are switched off or changed.
    held_by_quiet_hours: Mapped[bool] = mapped_column(default=False, server_default=false())
    # When the office's retention policy erased its text and pictures.
    erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    author: Mapped[User | None] = relationship()
    conversation: Mapped[Conversation] = relationship()

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_STATUSES



class MessagePicture(db.Model):
    """A picture of a message: one an agent attached, or a contact's copied from the provider
    (`source_url`, the provider's link it came from). The file is in the media storage under
    `storage_key`, and its links are made from the random `token`."""

    __tablename__ = "message_pictures"
    __table_args__ = (Index("ix_message_pictures_message", "message_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"))
    token: Mapped[str] = mapped_column(String(64), unique=True)
    content_type: Mapped[str] = mapped_column(String(20))
    size_bytes: Mapped[int]
    width: Mapped[int]
    height: Mapped[int]
    storage_key: Mapped[str] = mapped_column(String(200))
    source_url: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
