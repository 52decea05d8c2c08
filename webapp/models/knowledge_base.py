"""The knowledge base a bot answers from: per office, question phrasings → an answer."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.extensions import db
from webapp.models.org import Office, User
from webapp.models.types import UTCDateTime, utcnow


class IdkAction(StrEnum):
    """What happens when the bot does not know the answer (set per office)."""

    ESCALATE = "escalate"  # hand the conversation to agents: agent mode, Needs Attention
    MESSAGE = "message"  # send the office's custom "I don't know" message


class KnowledgeBaseEntry(db.Model):
    __tablename__ = "knowledge_base_entries"
    __table_args__ = (Index("ix_knowledge_base_entries_office", "office_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    office_id: Mapped[int] = mapped_column(ForeignKey("offices.id", ondelete="CASCADE"))
    # Phrasings or keywords a contact might use, one per line.
    question: Mapped[str] = mapped_column(Text)
    answer: Mapped[str] = mapped_column(Text)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    office: Mapped[Office] = relationship()
    updated_by: Mapped[User | None] = relationship()

    @property
    def phrasings(self) -> list[str]:
        return [line.strip() for line in self.question.splitlines() if line.strip()]
