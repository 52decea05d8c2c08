"""Reusable numbers and their Unsolicited Message Settings."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Column, ForeignKey, String, Table, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.extensions import db
from webapp.models.org import Office, User
from webapp.models.types import UTCDateTime, utcnow


class Backing(StrEnum):
    AGENT = "agent"
    BOT = "bot"


number_agents = Table(
    "number_agents",
    db.metadata,
    Column("number_id", ForeignKey("reusable_numbers.id", ondelete="CASCADE"), primary_key=True),
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True),
)

number_inboxes = Table(
    "number_inboxes",
    db.metadata,
    Column("number_id", ForeignKey("reusable_numbers.id", ondelete="CASCADE"), primary_key=True),
    Column("office_id", ForeignKey("offices.id", ondelete="CASCADE"), primary_key=True, index=True),
)


class ReusableNumber(db.Model):
    __tablename__ = "reusable_numbers"

    id: Mapped[int] = mapped_column(primary_key=True)
    phone: Mapped[str] = mapped_column(String(20), unique=True)  # E.164
    office_id: Mapped[int] = mapped_column(ForeignKey("offices.id"), index=True)
    label: Mapped[str] = mapped_column(String(120), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    provider: Mapped[str] = mapped_column(String(40))
    backing: Mapped[str] = mapped_column(String(8), default=Backing.AGENT.value)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    office: Mapped[Office] = relationship()
    agents: Mapped[list[User]] = relationship(secondary=number_agents, order_by="User.name")
    inboxes: Mapped[list[Office]] = relationship(secondary=number_inboxes, order_by="Office.name")

    @property
    def display_label(self) -> str:
        return self.label or self.phone

    def __repr__(self) -> str:
        return f"<ReusableNumber {self.phone}>"
