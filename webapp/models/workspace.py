"""The agent's workspace: an office's saved replies, and who has a conversation open."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from webapp.extensions import db
from webapp.models.types import UTCDateTime, utcnow


class SavedReply(db.Model):
    """A text agents of an office insert into a message, with merge fields such as {first_name}."""

    __tablename__ = "saved_replies"
    __table_args__ = (Index("ix_saved_replies_office", "office_id", "title"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    office_id: Mapped[int] = mapped_column(ForeignKey("offices.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(100))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Presence(db.Model):
    """An agent seen with a conversation open (and when they last typed in its reply box)."""

    __tablename__ = "conversation_presence"

    conversation_id: Mapped[int] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    typing_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
